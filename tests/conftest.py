"""Fixtures every tier shares: the machine's servers, the embedded broker, whole systems.

Server URLs and the skip-loudly-or-fail rule live in :mod:`tests._servers`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from emporium.launcher.nats import EmbeddedNats
from tests._servers import MARIADB_URL, POSTGRES_URL, RABBITMQ_URL, REDIS_URL, require_server
from tests._system import System, running_system


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


@pytest.fixture
def mariadb_url() -> str:
    return require_server(MARIADB_URL, "MariaDB")


@pytest.fixture
def redis_url() -> str:
    return require_server(REDIS_URL, "Redis")


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


@pytest.fixture(scope="module")
def system(request: pytest.FixtureRequest) -> Iterator[System]:
    """The whole Emporium an e2e or chaos module drives, started once per module.

    The module tunes it with a ``SYSTEM_ENV`` dict of extra environment, and runs
    on both brokers with
    ``pytest.mark.parametrize("system", ["nats", "rabbitmq"], indirect=True, scope="module")``.
    """
    broker: str = getattr(request, "param", "nats")
    extra_env: dict[str, str] = getattr(request.module, "SYSTEM_ENV", {})
    with running_system(broker=broker, extra_env=extra_env) as system:
        yield system


@pytest.fixture
def client(system: System) -> Iterator[httpx.Client]:
    """An HTTP client on the system's gateway, as an outside client sees it."""
    with system.client() as client:
        yield client
