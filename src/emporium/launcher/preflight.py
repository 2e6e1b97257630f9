"""The preflight: every service's settings, and in prod every store and broker, checked at once.

``emporium up`` runs it before starting anything, and ``emporium check`` runs
it alone. It returns one list of :class:`Problem` lines, each naming the
setting or the server and what to do, in seconds: a missing setting is not
left to crash-loop every instance until the ready timeout, its cause buried in
tracebacks. Servers are reached concurrently, each with a short timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from emporium.chassis.settings import PLACEHOLDER_MARKERS, ServiceSettings
from emporium.launcher.migrate import settings_class
from emporium.launcher.secrets import mask_url
from emporium.launcher.specs import ServiceTable

__all__ = ["Problem", "preflight"]

CONNECT_TIMEOUT = 4.0


@dataclass(frozen=True)
class Problem:
    """One thing to fix: who reported it and the line saying what to do."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def _settings_problems(settings: BaseSettings, profile: str) -> list[str]:
    problems = getattr(settings, "problems", None)
    if problems is None:
        return []
    found: list[str] = problems(profile)
    return found


def _validation_lines(error: ValidationError, prefix: str) -> list[str]:
    lines = []
    for detail in error.errors():
        field = ".".join(str(part) for part in detail["loc"]) or "?"
        lines.append(f"{prefix}{field.upper()}: {detail['msg']}")
    return lines


def _placeholders(environ: Mapping[str, str]) -> list[Problem]:
    return [
        Problem(name, "is a placeholder value; the prod profile refuses it: set a real one")
        for name, value in sorted(environ.items())
        if name.startswith("EMPORIUM_") and any(m in value.lower() for m in PLACEHOLDER_MARKERS)
    ]


async def preflight(
    table: ServiceTable,
    *,
    profile: str,
    broker_url: str | None,
    environ: Mapping[str, str],
    connect: bool | None = None,
) -> list[Problem]:
    """Every problem found; empty when everything can start.

    ``connect`` (default: in prod) also reaches every store, Redis and the
    broker. ``broker_url`` None means the launcher starts its own broker.
    """
    connect = profile == "prod" if connect is None else connect
    problems: list[Problem] = []
    servers: dict[str, tuple[str, str]] = {}  # url -> (who uses it, which setting)
    if profile == "prod":
        problems += _placeholders(environ)
    seen_settings: set[str] = set()
    for spec in table.services:
        cls = settings_class(spec)
        if cls is None:
            continue
        prefix = str(cls.model_config.get("env_prefix", "EMPORIUM_"))
        try:
            settings = cls()
        except ValidationError as error:
            problems += [Problem(spec.name, line) for line in _validation_lines(error, prefix)]
            continue
        for line in _settings_problems(settings, profile):
            setting = line.split(" ", 1)[0].rstrip(":")
            if setting in seen_settings:
                continue  # one line per setting, however many services need it
            seen_settings.add(setting)
            problems.append(Problem(spec.name, line))
        if isinstance(settings, ServiceSettings) and settings.database_url:
            servers.setdefault(settings.database_url, (spec.name, f"{prefix}DATABASE_URL"))
        redis_url = getattr(settings, "redis_url", "")
        if isinstance(redis_url, str) and redis_url:
            servers.setdefault(redis_url, (spec.name, f"{prefix}REDIS_URL"))
    if connect:
        checks: list[Awaitable[Problem | None]] = [
            _reach(url, who, setting) for url, (who, setting) in servers.items()
        ]
        if broker_url:
            checks.append(_reach(broker_url, "broker", "EMPORIUM_BROKER_URL"))
        problems += [p for p in await asyncio.gather(*checks) if p is not None]
    return problems


async def _reach(url: str, who: str, setting: str) -> Problem | None:
    scheme = urlsplit(url).scheme.split("+")[0]
    probe: Callable[[str], Awaitable[None]] | None = _PROBES.get(scheme)
    if probe is None:
        return None
    try:
        await asyncio.wait_for(probe(url), CONNECT_TIMEOUT)
    except TimeoutError:
        reason = f"no answer within {CONNECT_TIMEOUT:g} s"
    except Exception as error:
        reason = _first_line(error)
    else:
        return None
    return Problem(
        who,
        f"cannot reach {mask_url(url)} ({setting}): {reason} — start the server, "
        "create the role and database, or fix the URL",
    )


def _first_line(error: BaseException) -> str:
    cause: BaseException = getattr(error, "orig", None) or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}".rstrip(": ")


async def _sql(url: str) -> None:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
    finally:
        await engine.dispose()


async def _redis(url: str) -> None:
    import redis.asyncio as aioredis

    client: Any = aioredis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _nats(url: str) -> None:
    import nats

    client = await nats.connect(
        servers=[part.strip() for part in url.split(",") if part.strip()],
        connect_timeout=CONNECT_TIMEOUT,
        allow_reconnect=False,
        max_reconnect_attempts=0,
    )
    with contextlib.suppress(Exception):
        await client.close()


async def _amqp(url: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(url, timeout=CONNECT_TIMEOUT)
    await connection.close()


_PROBES: dict[str, Callable[[str], Awaitable[None]]] = {
    "postgresql": _sql,
    "mysql": _sql,
    "mariadb": _sql,
    "redis": _redis,
    "rediss": _redis,
    "nats": _nats,
    "tls": _nats,
    "amqp": _amqp,
    "amqps": _amqp,
}
