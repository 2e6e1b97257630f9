"""Alembic's entry point for this service: the chassis runs it (no alembic.ini)."""

from emporium.chassis.migrations import run_env

run_env()
