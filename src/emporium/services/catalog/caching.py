"""Conditional GET: strong ETags from the representation, and Cache-Control.

A read is serialized once, to the bytes that will be sent; the ETag is a hash
of those bytes, so it is strong (same tag, same bytes), the same on every
replica, and changes exactly when the representation does. A request whose
``If-None-Match`` names it gets ``304 Not Modified`` without the body.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from emporium.chassis.read_model import etag_of, not_modified

__all__ = [
    "IMAGE_MAX_AGE",
    "LIST_MAX_AGE",
    "PRODUCT_MAX_AGE",
    "cached",
    "etag_of",
    "not_modified",
    "respond",
]

# Lists change whenever any product does: keep them short. A product or its
# image changes rarely, and a client that revalidates pays only a 304.
LIST_MAX_AGE = 10
PRODUCT_MAX_AGE = 60
IMAGE_MAX_AGE = 86400


def cached(request: Request, body: bytes, media_type: str, max_age: int) -> Response:
    """``body`` with its ETag and Cache-Control, or a 304 if the client has it."""
    return respond(request, body, etag_of(body), media_type, max_age)


def respond(request: Request, body: bytes, etag: str, media_type: str, max_age: int) -> Response:
    """As :func:`cached`, for a body whose ETag is already known (the read model's)."""
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if not_modified(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)
