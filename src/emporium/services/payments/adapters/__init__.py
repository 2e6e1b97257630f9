"""Payments' adapters: table mapping, repository and the simulated card processor."""
