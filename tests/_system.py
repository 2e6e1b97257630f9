"""Start and stop a whole Emporium with the real launcher, as a user would.

``emporium up --detach`` in a short temporary var dir with a free gateway port,
``emporium status --json`` to see it, ``emporium down`` to stop it. Each system
gets its own broker namespace so a shared RabbitMQ never mixes two runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from emporium.launcher.nats import free_port
from tests._servers import RABBITMQ_URL, require_server

EMPORIUM = str(Path(sys.executable).parent / "emporium")
# The suite signs the admin in again and again (every `admin()` and every
# `emporium audit`/`deadletters` call); the per-address-and-email budget (5, then one
# per 10 s) is tested on its own (tests/integration/test_gateway_edge.py).
UNTHROTTLED_SIGN_INS = {
    "EMPORIUM_GATEWAY_SIGNUP_BURST": "1000000",
    "EMPORIUM_GATEWAY_LOGIN_ADDRESS_BURST": "1000000",
    "EMPORIUM_GATEWAY_LOGIN_BURST": "1000000",
    "EMPORIUM_GATEWAY_CHECKOUT_BURST": "1000000",
}


@dataclass
class System:
    var_dir: Path
    gateway_port: int
    env: dict[str, str]

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def cli(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [EMPORIUM, *args, "--var-dir", str(self.var_dir)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def status(self) -> list[dict[str, Any]]:
        result = self.cli("status", "--json")
        assert result.returncode == 0, result.stderr
        instances: list[dict[str, Any]] = json.loads(result.stdout)
        return instances

    def instances(self, service: str) -> list[dict[str, Any]]:
        return [i for i in self.status() if i["service"] == service]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway, timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        chunks = []
        for log in sorted((self.var_dir / "log").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            chunks.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(chunks)


@contextmanager
def running_system(
    replicas: Sequence[str] = (), broker: str = "nats", extra_env: dict[str, str] | None = None
) -> Iterator[System]:
    """A detached Emporium for the duration of the block; always stopped after.

    On ``broker="rabbitmq"`` it uses the machine's RabbitMQ (skipped loudly when
    unreachable, failed under ``EMPORIUM_REQUIRE_SERVICES=1``).
    """
    on_broker: dict[str, str] = {}
    if broker == "rabbitmq":
        on_broker["EMPORIUM_RABBITMQ_URL"] = require_server(RABBITMQ_URL, "RabbitMQ")
    var_dir = Path(tempfile.mkdtemp(prefix="emp-"))  # short: Unix socket paths are limited
    env = {
        **os.environ,
        "EMPORIUM_BROKER_NAMESPACE": f"e2e{uuid.uuid4().hex[:10]}",
        "EMPORIUM_LOG_LEVEL": "WARNING",
        **on_broker,
        # The suites sign up and log in hundreds of customers from one address;
        # the per-address sign-up and login budgets (anti-spraying) would stop
        # them. tests/security runs with the real defaults.
        **UNTHROTTLED_SIGN_INS,
        **(extra_env or {}),
    }
    system = System(var_dir, free_port(), env)
    args = ["up", "--detach", "--gateway-port", str(system.gateway_port), "--broker", broker]
    for replica in replicas:
        args += ["--replicas", replica]
    started = system.cli(*args, timeout=120)
    try:
        assert started.returncode == 0, (
            f"emporium up failed:\n{started.stdout}\n{started.stderr}\n{system.log_tail()}"
        )
        yield system
    finally:
        system.cli("down", timeout=60)
        shutil.rmtree(var_dir, ignore_errors=True)
