"""The catalog's read model: each public read encoded once per catalog version.

A product, a page of a listing or of a search is kept as the bytes of its
response and its strong ETag in the chassis' :class:`~emporium.chassis.read_model.ReadModel`
until the catalog changes. Reads stay what they were (:func:`.caching.cached`
serves the same body and tag as before); only the work of making them is
shared. Any product event clears the whole model: writes are rare next to
reads, and one change can move a product in or out of any page, so clearing
all is both simplest and correct.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from emporium.chassis.messaging import Outbox
from emporium.chassis.read_model import Encoded
from emporium.chassis.read_model import ReadModel as _ReadModel
from emporium.contracts.catalog import PRODUCT_CHANGES

__all__ = ["Encoded", "ReadModel"]


class ReadModel(_ReadModel):
    """The chassis read model, cleared by every product event (a component of catalog)."""

    def __init__(
        self,
        outbox: Outbox | None = None,
        *,
        ttl: float = 5.0,
        max_entries: int = 2048,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            outbox, events=PRODUCT_CHANGES, ttl=ttl, max_entries=max_entries, clock=clock
        )
