"""identity: users, credentials, roles, access and refresh tokens, signing keys."""
