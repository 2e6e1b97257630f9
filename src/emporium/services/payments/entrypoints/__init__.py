"""How work reaches payments: HTTP routes and the saga's commands from the broker."""
