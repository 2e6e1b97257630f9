"""storefront: the web shop, server-rendered; a backend-for-frontend that owns no data."""
