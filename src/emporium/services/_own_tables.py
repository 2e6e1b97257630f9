"""A bridge, to be deleted once ``create_service`` takes the service's ``metadata``.

Each service now keeps its tables in its own ``MetaData`` (no longer the
chassis' ``Base.metadata``, which made every imported service's tables in any
process). Until the chassis' start-up ``create_all`` is given that metadata,
:func:`create_with_chassis` hooks it onto the chassis' own ``create_all`` so
the service's store is still made at start-up, in the same transaction.

When ``create_service(..., metadata=...)`` exists, each ``main.py`` passes its
metadata there instead of calling this, and this module goes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, MetaData, event

from emporium.chassis import Base

__all__ = ["create_with_chassis"]

_hooked: list[MetaData] = []


def create_with_chassis(metadata: MetaData) -> None:
    """Create ``metadata``'s tables whenever the chassis creates its own (idempotent).

    Called from a service's ``create_app`` only, so a process makes the tables
    of the services it runs, not of every service it happened to import.
    """
    if any(hooked is metadata for hooked in _hooked):
        return

    def create(_target: MetaData, connection: Connection, **_kw: Any) -> None:
        metadata.create_all(connection)

    event.listen(Base.metadata, "after_create", create)
    _hooked.append(metadata)
