"""notifications: the messages Emporium sends its customers about their orders."""
