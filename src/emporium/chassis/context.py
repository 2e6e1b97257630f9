"""Per-request context that follows a request across calls and messages.

The HTTP middleware sets these from incoming headers; the outbound HTTP client
and the outbox copy them into what they send; message consumers set them from
message headers. Logs read them too.
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["request_id", "traceparent", "tracestate"]

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
traceparent: ContextVar[str | None] = ContextVar("traceparent", default=None)
tracestate: ContextVar[str | None] = ContextVar("tracestate", default=None)
