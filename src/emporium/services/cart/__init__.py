"""cart: one shopping cart per signed-in user, priced from catalog snapshots."""
