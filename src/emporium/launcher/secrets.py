"""Secrets never printed: URLs shown with their password masked, secret files owner-only."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = ["MASK", "mask_text", "mask_url", "write_private"]

MASK = "***"
# user:password@ in any URL inside free text (an error, a traceback).
_CREDENTIALS = re.compile(r"(?P<head>[a-zA-Z][\w+.-]*://[^:/@\s]*:)[^@\s]+@")


def mask_text(text: str) -> str:
    """``text`` with the password of every URL in it masked."""
    return _CREDENTIALS.sub(rf"\g<head>{MASK}@", text)


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (each part of a comma list too)."""
    return ",".join(_mask_one(part) for part in url.split(","))


def _mask_one(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by its owner only (0600)."""
    temp = path.with_name(f".{path.name}-{os.getpid()}")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(temp, path)
