"""The orders service: orders and the checkout saga that orchestrates inventory and payments."""
