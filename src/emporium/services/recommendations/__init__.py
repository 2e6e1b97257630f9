"""recommendations: products often bought together, learned only from events."""
