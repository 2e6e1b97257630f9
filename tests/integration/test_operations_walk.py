"""docs/operations.md, "From empty servers to a seeded shop", run as written.

The section's ``sh`` blocks are joined into one bash script and run with a
``SHOP`` name of this test's own, a free gateway port and a temporary var dir;
afterwards the launcher is stopped and the shop's databases, roles, Redis keys
and broker names are dropped.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from emporium.launcher.nats import free_port
from tests._prod import _drop_rabbit, _drop_redis
from tests._servers import MARIADB_URL, POSTGRES_URL, RABBITMQ_URL, REDIS_URL, require_server

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## From empty servers to a seeded shop"
POSTGRES_STORES = [
    "identity",
    "catalog",
    "inventory",
    "cart",
    "payments",
    "notifications",
    "orders",
    "recommendations",
]

pytestmark = pytest.mark.e2e


def walk_script() -> str:
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) >= 4, "the walk lost its commands"
    return "set -euo pipefail\n" + "\n".join(blocks)


def _drop(shop: str) -> None:
    for store in POSTGRES_STORES:
        for statement in (
            f"DROP DATABASE IF EXISTS {shop}_{store} WITH (FORCE)",
            f"DROP ROLE IF EXISTS {shop}_{store}",
        ):
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc", statement],
                capture_output=True,
                timeout=60,
                check=False,
            )
    subprocess.run(
        [
            "mariadb",
            "-h",
            "127.0.0.1",
            "-u",
            "root",
            "-e",
            f"DROP DATABASE IF EXISTS {shop}_shipping; "
            f"DROP USER IF EXISTS '{shop}_shipping'@'%'; "
            f"DROP USER IF EXISTS '{shop}_shipping'@'localhost';",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    asyncio.run(_drop_redis(REDIS_URL, shop))
    asyncio.run(_drop_rabbit(RABBITMQ_URL, shop))


@pytest.fixture
def shop() -> Iterator[tuple[str, dict[str, str]]]:
    for url, what in (
        (POSTGRES_URL, "PostgreSQL"),
        (MARIADB_URL, "MariaDB"),
        (REDIS_URL, "Redis"),
        (RABBITMQ_URL, "RabbitMQ"),
    ):
        require_server(url, what)
    for tool in ("psql", "mariadb", "openssl", "curl"):
        if shutil.which(tool) is None:
            pytest.fail(f"the walk needs {tool}")
    name = f"walk{uuid.uuid4().hex[:8]}"
    var_dir = Path(tempfile.mkdtemp(prefix="emp-walk-"))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EMPORIUM_")}
    env = {
        **clean,
        "PATH": f"{Path(sys.executable).parent}:{clean['PATH']}",
        "SHOP": name,
        "EMPORIUM_VAR_DIR": str(var_dir),
        "EMPORIUM_GATEWAY_PORT": str(free_port()),
        "EMPORIUM_BROKER_URL": RABBITMQ_URL,
    }
    try:
        yield name, env
    finally:
        subprocess.run(["emporium", "down"], env=env, capture_output=True, timeout=60, check=False)
        _drop(name)
        shutil.rmtree(var_dir, ignore_errors=True)


def test_the_operations_walk_turns_empty_servers_into_a_seeded_shop(
    shop: tuple[str, dict[str, str]],
) -> None:
    _, env = shop
    result = subprocess.run(
        ["bash", "-c", walk_script()],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "seeded 30 new products and stocked 30 items" in result.stdout
    assert result.stdout.rstrip().endswith("30 products")
