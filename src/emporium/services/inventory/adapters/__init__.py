"""Inventory's adapters: the table mapping and the repository."""
