"""``emporium up`` in the prod profile refuses to start, within seconds, naming every problem."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from emporium.launcher.nats import free_port
from tests._prod import production_env
from tests._servers import MARIADB_URL, POSTGRES_URL, fresh_database, require_server

EMPORIUM = str(Path(sys.executable).parent / "emporium")

REQUIRED_IN_PROD = [
    "EMPORIUM_IDENTITY_DATABASE_URL",
    "EMPORIUM_ADMIN_PASSWORD",
    "EMPORIUM_IDENTITY_SIGNING_KEY",
    "EMPORIUM_IDENTITY_KEY_ENCRYPTION_KEY",
    "EMPORIUM_CATALOG_DATABASE_URL",
    "EMPORIUM_INVENTORY_DATABASE_URL",
    "EMPORIUM_CART_DATABASE_URL",
    "EMPORIUM_CART_REDIS_URL",
    "EMPORIUM_PAYMENTS_DATABASE_URL",
    "EMPORIUM_SHIPPING_DATABASE_URL",
    "EMPORIUM_NOTIFICATIONS_DATABASE_URL",
    "EMPORIUM_ORDERS_DATABASE_URL",
    "EMPORIUM_ORDERS_REQUEST_HASH_KEY",
    "EMPORIUM_RECOMMENDATIONS_DATABASE_URL",
    "EMPORIUM_RECOMMENDATIONS_REDIS_URL",
    "EMPORIUM_STOREFRONT_SESSION_KEY",
]


def _up(env: dict[str, str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EMPORIUM_")}
    started = time.monotonic()
    result = subprocess.run(
        [
            EMPORIUM,
            "up",
            "--detach",
            "--var-dir",
            str(tmp_path / "var"),
            "--gateway-port",
            str(free_port()),
        ],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result, time.monotonic() - started


def test_up_in_prod_without_settings_names_every_one_and_fails_in_seconds(
    tmp_path: Path,
) -> None:
    result, took = _up({"EMPORIUM_PROFILE": "prod"}, tmp_path)
    assert result.returncode != 0
    missing = [name for name in REQUIRED_IN_PROD if name not in result.stderr]
    assert missing == [], result.stderr
    assert took < 5, f"up took {took:.1f} s to refuse"
    # Nothing was started: no launcher, no broker, no instance logs.
    assert not (tmp_path / "var" / "run" / "launcher.pid").exists()


@pytest.fixture
def database_without_its_role() -> Iterator[str]:
    """A PostgreSQL URL whose role does not exist (the database does)."""
    server = require_server(POSTGRES_URL, "PostgreSQL")
    with fresh_database(server, prefix="norole") as url:
        yield (
            sa.make_url(url)
            .set(username="nobody_here", password="a secret pw")
            .render_as_string(hide_password=False)
        )


def test_up_in_prod_with_a_missing_database_role_names_the_store_and_hides_its_password(
    tmp_path: Path, database_without_its_role: str
) -> None:
    require_server(MARIADB_URL, "MariaDB")
    with production_env("rabbitmq") as env:
        env["EMPORIUM_ORDERS_DATABASE_URL"] = database_without_its_role
        result, took = _up(env, tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip().startswith("- ")]
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert "orders" in line
    assert "EMPORIUM_ORDERS_DATABASE_URL" in line
    assert "nobody_here" in line
    assert "a secret pw" not in result.stderr
    assert took < 15, f"up took {took:.1f} s to refuse"


def test_check_passes_on_a_complete_production_environment(tmp_path: Path) -> None:
    with production_env("nats") as env:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("EMPORIUM_")}
        result = subprocess.run(
            [EMPORIUM, "check"],
            env={**clean, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert "reached every store and broker" in result.stdout
