"""inventory: stock per SKU (and, later, reservations)."""
