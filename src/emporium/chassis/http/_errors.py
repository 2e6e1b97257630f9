"""The exceptions a caller of :class:`ServiceClient` handles.

Every failure to get a usable answer from an upstream is an
:class:`UpstreamFailure` naming that upstream, so one error handler can turn
all of them into a fast ``503``/``504`` problem+json answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from emporium.chassis.http._response import Response

__all__ = ["UpstreamError", "UpstreamFailure", "UpstreamTimeout", "UpstreamUnavailable"]


# Named for what happened upstream, not "...Error": the names decision 0004 gives
# (docs/decisions/0004-http-client.md), kept as the API.
class UpstreamFailure(Exception):
    """An upstream gave no usable answer. ``attempts`` counts requests actually sent."""

    def __init__(self, upstream: str, message: str, *, attempts: int = 0) -> None:
        super().__init__(f"{upstream}: {message}")
        self.upstream = upstream
        self.attempts = attempts


class UpstreamUnavailable(UpstreamFailure):
    """The circuit is open or the bulkhead full (nothing was sent), or the upstream
    could not be reached.

    ``retry_after`` is how long, in seconds, the circuit stays open: a handler can
    copy it into a ``Retry-After`` header.
    """

    def __init__(
        self,
        upstream: str,
        message: str,
        *,
        reason: Literal["circuit_open", "bulkhead_full", "connection"],
        attempts: int = 0,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(upstream, message, attempts=attempts)
        self.reason = reason
        self.retry_after = retry_after


class UpstreamTimeout(UpstreamFailure):
    """No complete answer arrived within the per-attempt timeout or the overall deadline,
    or the caller's own deadline (:mod:`emporium.chassis.deadline`) left no time to ask."""


class UpstreamError(UpstreamFailure):
    """The upstream answered 5xx (after any retries); ``response`` is its last answer."""

    def __init__(self, upstream: str, response: Response, *, attempts: int = 0) -> None:
        super().__init__(upstream, f"answered {response.status}", attempts=attempts)
        self.response = response

    @property
    def status(self) -> int:
        return self.response.status
