"""Shared fixtures: how tests reach the machine's servers.

A test that needs PostgreSQL, MariaDB, Redis or RabbitMQ reads its URL from the
environment (standard local port by default). Where the server is unreachable
the test is skipped with a loud reason, unless ``EMPORIUM_REQUIRE_SERVICES=1``
(set by ``.ci/run``), in which case it fails.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from emporium.launcher.nats import EmbeddedNats

POSTGRES_URL = os.environ.get(
    "EMPORIUM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get(
    "EMPORIUM_TEST_MARIADB_URL", "mysql+aiomysql://root@127.0.0.1:3306/test"
)
REDIS_URL = os.environ.get("EMPORIUM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("EMPORIUM_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port
    if port is None:
        return False
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_server(url: str, what: str) -> str:
    """Return ``url`` if its server answers; otherwise skip loudly (or fail in CI)."""
    if _reachable(url):
        return url
    message = f"{what} is unreachable at {url}: start it or set its EMPORIUM_TEST_* URL"
    if os.environ.get("EMPORIUM_REQUIRE_SERVICES") == "1":
        pytest.fail(f"EMPORIUM_REQUIRE_SERVICES=1 and {message}")
    pytest.skip(f"SKIPPED LOUDLY: {message}")


@pytest.fixture(scope="session")
def embedded_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """One embedded NATS JetStream server for the whole test session (free port)."""
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rabbitmq_url() -> str:
    return require_server(RABBITMQ_URL, "RabbitMQ")


@pytest.fixture
def postgres_url() -> str:
    return require_server(POSTGRES_URL, "PostgreSQL")


@pytest.fixture(params=["nats", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest, embedded_nats: EmbeddedNats) -> str:
    """Every messaging test runs against the embedded NATS and the machine's RabbitMQ."""
    if request.param == "nats":
        return embedded_nats.url
    return require_server(RABBITMQ_URL, "RabbitMQ")


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    path = tmp_path / "var"
    path.mkdir()
    return path
