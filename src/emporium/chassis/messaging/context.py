"""Request and trace context that rides in message headers.

The HTTP middleware sets :data:`request_id` and :data:`traceparent`; the outbox
copies them into the headers of every message added while they are set, and a
consumer sets them again while its handler runs, so logs and traces follow a
request across the broker.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from emporium.chassis.context import request_id, traceparent

__all__ = [
    "REQUEST_ID_HEADER",
    "TRACEPARENT_HEADER",
    "bound_context",
    "context_headers",
    "request_id",
    "traceparent",
]

REQUEST_ID_HEADER = "x-request-id"
TRACEPARENT_HEADER = "traceparent"

# One set of context variables for the whole chassis: the HTTP middleware, the
# outbound client and the logs read the same ones.


def context_headers() -> dict[str, str]:
    """The headers to attach to a message published now (only those that are set)."""
    headers: dict[str, str] = {}
    if (rid := request_id.get()) is not None:
        headers[REQUEST_ID_HEADER] = rid
    if (tp := traceparent.get()) is not None:
        headers[TRACEPARENT_HEADER] = tp
    return headers


@contextmanager
def bound_context(headers: Mapping[str, str]) -> Iterator[None]:
    """Set the context variables from a received message's headers, for its handler."""
    rid_token = request_id.set(headers.get(REQUEST_ID_HEADER))
    tp_token = traceparent.set(headers.get(TRACEPARENT_HEADER))
    try:
        yield
    finally:
        traceparent.reset(tp_token)
        request_id.reset(rid_token)
