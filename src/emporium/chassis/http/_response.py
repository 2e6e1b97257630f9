"""What a :class:`ServiceClient` call returns: an upstream's answer, fully read."""

from __future__ import annotations

import json as _json
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDictProxy

__all__ = ["Response"]


@dataclass(frozen=True, slots=True)
class Response:
    """An HTTP answer whose body has already been read; the connection is back in the pool."""

    status: int
    headers: CIMultiDictProxy[str]
    content: bytes

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` if it is not JSON)."""
        return _json.loads(self.content)
