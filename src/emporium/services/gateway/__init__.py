"""The API gateway: the one door clients use, balancing over every service's instances."""

from emporium.services.gateway.main import create_app, main

__all__ = ["create_app", "main"]
