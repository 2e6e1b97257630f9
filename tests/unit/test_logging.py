"""The chassis' JSON log lines: one object per record, the fields every tool reads."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from emporium.chassis import context
from emporium.chassis.logging import configure_logging


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    configure_logging("demo", "demo-1")
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    yield stream
    logging.getLogger().handlers.clear()


def last(stream: io.StringIO) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(stream.getvalue().splitlines()[-1])
    return found


def test_a_request_log_line_carries_message_extras_service_and_ids(lines: io.StringIO) -> None:
    rid = context.request_id.set("0123456789abcdef0123456789abcdef")
    parent = context.traceparent.set("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    try:
        logging.getLogger("emporium.access").info(
            "%s %s %d", "GET", "/api/x", 200, extra={"status": 200, "duration_ms": 1.5}
        )
    finally:
        context.traceparent.reset(parent)
        context.request_id.reset(rid)
    line = last(lines)
    assert line["event"] == "GET /api/x 200"
    assert line["level"] == "info"
    assert line["logger"] == "emporium.access"
    assert (line["status"], line["duration_ms"]) == (200, 1.5)
    assert (line["service"], line["instance"]) == ("demo", "demo-1")
    assert line["request_id"] == "0123456789abcdef0123456789abcdef"
    assert line["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert line["timestamp"].endswith("Z")
    # Nothing of the record's own bookkeeping leaks into the line.
    assert not {"args", "msg", "levelno", "pathname", "lineno", "thread"} & set(line)


def test_secrets_are_redacted_in_extras_too(lines: io.StringIO) -> None:
    logging.getLogger("demo").warning("signing in", extra={"password": "hunter2", "user": "ann"})
    line = last(lines)
    assert line["password"] == "[redacted]"
    assert line["user"] == "ann"
    assert line["level"] == "warning"


def test_an_exception_is_in_the_same_line(lines: io.StringIO) -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        logging.getLogger("demo").exception("handler failed")
    line = last(lines)
    assert line["level"] == "error"
    assert "ValueError: bad value" in line["exception"]
    assert len(lines.getvalue().splitlines()) == 1
