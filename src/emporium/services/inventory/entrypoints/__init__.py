"""How work reaches inventory: HTTP routes, broker messages, and the expiry sweeper."""
