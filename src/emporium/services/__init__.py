"""Emporium's services: one subpackage per bounded context, each its own process."""
