"""catalog: products, categories, prices, search."""
