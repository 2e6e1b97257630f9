"""This service's schema history: run by the chassis at start-up and by ``emporium migrate``."""

from pathlib import Path

from emporium.chassis.migrations import Migrations
from emporium.services.catalog.models import metadata

__all__ = ["MIGRATIONS"]

MIGRATIONS = Migrations("catalog", metadata, Path(__file__).parent, messaging=True)
