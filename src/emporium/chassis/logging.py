"""Structured JSON logs for every process.

Every record (from structlog or the standard ``logging`` module) becomes one
JSON line carrying ``service``, ``instance`` and, inside a request or message
handler, ``request_id`` and ``trace_id``. Library code keeps using
``logging.getLogger(__name__)``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.types import EventDict, Processor

from emporium.chassis import context

__all__ = ["JsonFormatter", "configure_logging", "foreign_chain", "skip_unused_record_fields"]

_SECRET_KEYS = frozenset(
    {"password", "card_number", "number", "cvc", "token", "access_token", "refresh_token"}
)


def _add_context(_logger: Any, _method: str, event: EventDict) -> EventDict:
    rid = context.request_id.get()
    if rid is not None:
        event.setdefault("request_id", rid)
    parent = context.traceparent.get()
    if parent is not None and len(parent) >= 35:
        event.setdefault("trace_id", parent[3:35])
    return event


def _redact(_logger: Any, _method: str, event: EventDict) -> EventDict:
    for key in _SECRET_KEYS.intersection(event):
        event[key] = "[redacted]"
    return event


class JsonFormatter(logging.Formatter):
    """One JSON line per standard-library record, with the fields structlog gives it.

    The same object structlog's ``ProcessorFormatter`` renders (``event``,
    ``level``, ``logger``, the record's extras, then ``processors``), at about
    0.6 of its cost: it neither copies the record nor walks the stack for a
    name the record already has. Every request writes a line (the access log),
    so this is on every request's path (decision 0026).
    """

    _RECORD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def __init__(self, processors: list[Processor]) -> None:
        super().__init__()
        self.processors = processors
        self.render = structlog.processors.JSONRenderer()

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "_from_structlog", False) and isinstance(record.msg, dict):
            event: EventDict = dict(record.msg)  # a structlog logger's: processed already
        else:
            event = {
                "event": record.getMessage(),
                "level": record.levelname.lower(),
                "logger": record.name,
            }
            for key, value in record.__dict__.items():
                if key not in self._RECORD:
                    event[key] = value
            for processor in self.processors:
                event = processor(None, event["level"], event)  # type: ignore[assignment]
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            event["stack"] = self.formatStack(record.stack_info)
        event.pop("_record", None)
        event.pop("_from_structlog", None)
        return str(self.render(None, "", event))


def skip_unused_record_fields() -> None:
    """Stop the standard library working out, for every record, what no line shows.

    The caller's frame, thread and process (the logging HOWTO's
    "Optimization"). With :class:`JsonFormatter`, a line costs about 0.6 of
    what it did (decision 0026). For a serving process only: tests keep the
    file and line in pytest's captured logs.
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def foreign_chain() -> list[Processor]:
    """structlog's processors for a standard-library record, as its ``ProcessorFormatter``
    runs them (the console format; the JSON format before decision 0026)."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_context,
        _redact,
        structlog.stdlib.ExtraAdder(),
    ]


def configure_logging(
    service: str, instance: str, *, level: str = "INFO", fmt: str = "json"
) -> None:
    """Route stdlib logging and structlog into one JSON (or console) stream on stderr."""
    shared = foreign_chain()
    formatter: logging.Formatter
    if fmt == "json":
        formatter = JsonFormatter(
            [
                structlog.contextvars.merge_contextvars,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                _add_context,
                _redact,
            ]
        )
    else:
        formatter = structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.dev.ConsoleRenderer(colors=False),
            ],
        )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log is replaced by the chassis request log.
    logging.getLogger("uvicorn.access").disabled = True
    # FastStream installs its own coloured stderr handler at import; route its
    # records through ours instead, and keep its per-task chatter below WARNING.
    faststream = logging.getLogger("faststream")
    faststream.handlers.clear()
    faststream.propagate = True
    faststream.setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service, instance=instance)
