"""This service's schema history: run by the chassis at start-up and by ``emporium migrate``."""

from pathlib import Path

from emporium.chassis.migrations import Migrations
from emporium.services.recommendations.sql_store import METADATA

__all__ = ["MIGRATIONS"]

MIGRATIONS = Migrations("recommendations", METADATA, Path(__file__).parent, messaging=True)
