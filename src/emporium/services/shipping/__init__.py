"""shipping: delivery quotes, shipments and their dispatch, tracking numbers."""
