"""How work reaches orders: HTTP routes and the saga's message handler table."""
