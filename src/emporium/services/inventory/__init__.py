"""inventory: stock per SKU and reservations per order."""
