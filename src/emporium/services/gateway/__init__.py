"""The API gateway: the one door clients use, balancing over every service's instances."""
