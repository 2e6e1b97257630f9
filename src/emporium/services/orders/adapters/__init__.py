"""Orders' adapters: the ORM mapping and repository, and the HTTP clients it checks out with."""
