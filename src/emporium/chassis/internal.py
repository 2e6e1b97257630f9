"""Paths every instance serves for the platform alone, under ``/internal/``.

Kept apart from the modules that serve them (and import a web framework to
do it), so that the launcher and the command line can name them cheaply. The
gateway never serves nor proxies anything under ``/internal/`` publicly.
"""

from __future__ import annotations

__all__ = ["FAULT_PATH"]

# GET, PUT and DELETE the instance's injected fault (chassis.faults).
FAULT_PATH = "/internal/fault"
