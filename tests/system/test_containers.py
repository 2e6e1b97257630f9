"""The whole system as containers of the built image, in the production profile.

Each service runs from the one image as its own container — read-only root,
uid 10001, no capabilities, host network (no bridge here; every port is on
loopback) — against the machine's PostgreSQL, MariaDB, Redis and RabbitMQ
(tests/_prod.py makes and drops the databases and the namespace). The image's
own ``emporium seed`` fills the shop; a checkout passes through the
containerised gateway; ``docker stop`` of a service mid-saga loses nothing.

Runs wherever a Docker daemon answers; skipped loudly otherwise, and failed
under ``EMPORIUM_REQUIRE_SERVICES=1`` (``.ci/run`` starts dockerd).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from emporium.launcher.nats import free_port
from emporium.launcher.specs import DEFAULT_TABLE
from tests._image import DockerUnavailableError, build_image, docker
from tests._poll import eventually
from tests._prod import ADMIN_PASSWORD, production_env
from tests.e2e._shop import APPROVED, add_to_cart, checkout, signed_in, wait_for_status

pytestmark = [pytest.mark.e2e]

EMPORIUM = str(Path(sys.executable).parent / "emporium")


@dataclass
class Containers:
    tag: str
    env: dict[str, str]
    ports: dict[str, int]

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def name(self, service: str) -> str:
        return f"emp-{self.tag}-{service}"


@pytest.fixture(scope="module")
def image() -> str:
    try:
        return build_image()
    except DockerUnavailableError as error:
        if os.environ.get("EMPORIUM_REQUIRE_SERVICES") == "1":
            pytest.fail(f"EMPORIUM_REQUIRE_SERVICES=1 and Docker is unavailable: {error}")
        pytest.skip(f"SKIPPED LOUDLY: Docker is unavailable: {error}")


def _run(containers: Containers, image: str, service: str, module: str) -> None:
    port = containers.ports[service]
    service_env = {
        **containers.env,
        "EMPORIUM_HOST": "127.0.0.1",
        "EMPORIUM_PORT": str(port),
        "EMPORIUM_INSTANCE": service,
    }
    flags = [f"--env={name}" for name in service_env]
    docker(
        "run",
        "--detach",
        "--name",
        containers.name(service),
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/var/lib/emporium",
        "--user",
        "10001:10001",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        *flags,
        image,
        "python",
        "-m",
        module,
        env=service_env,
    )


def _ready(containers: Containers, service: str) -> None:
    url = f"http://127.0.0.1:{containers.ports[service]}/health/ready"

    def probe() -> int:
        try:
            return httpx.get(url, timeout=2).status_code
        except httpx.HTTPError:
            return 0

    try:
        eventually(probe, lambda code: code == 200, timeout=90, interval=0.5, message=url)
    except AssertionError:
        logs = docker("logs", "--tail", "30", containers.name(service), check=False)
        raise AssertionError(f"{service} never ready:\n{logs.stdout}\n{logs.stderr}") from None


@pytest.fixture(scope="module")
def containers(image: str) -> Iterator[Containers]:
    tag = uuid.uuid4().hex[:8]
    with production_env("rabbitmq") as env:
        ports = {spec.name: free_port() for spec in DEFAULT_TABLE.services}
        upstreams = {
            name: [f"http://127.0.0.1:{port}"] for name, port in ports.items() if name != "gateway"
        }
        shared = {
            **env,
            "EMPORIUM_LOG_LEVEL": "WARNING",
            "EMPORIUM_INTERNAL_URL": f"http://127.0.0.1:{ports['gateway']}",
            "EMPORIUM_GATEWAY_UPSTREAMS": json.dumps(upstreams),
            "EMPORIUM_SHIPPING_DISPATCH_DELAY_SECONDS": "1",
            "EMPORIUM_GATEWAY_SIGNUP_BURST": "1000000",
            "EMPORIUM_GATEWAY_LOGIN_ADDRESS_BURST": "1000000",
            **{f"EMPORIUM_UPSTREAM_{name.upper()}": url[0] for name, url in upstreams.items()},
        }
        system = Containers(tag, shared, ports)
        try:
            for spec in DEFAULT_TABLE.services:
                _run(system, image, spec.name, spec.module)
            for spec in DEFAULT_TABLE.services:
                _ready(system, spec.name)
            seeded = docker(
                "run",
                "--rm",
                "--network",
                "host",
                "--read-only",
                "--user",
                "10001:10001",
                "--env=EMPORIUM_ADMIN_PASSWORD",
                image,
                "emporium",
                "seed",
                "--demo",
                "--stock",
                "20",
                "--gateway",
                system.gateway,
                env={"EMPORIUM_ADMIN_PASSWORD": ADMIN_PASSWORD},
                timeout=180,
            )
            assert "seeded 30 new products" in seeded.stdout, seeded.stdout
            yield system
        finally:
            names = [system.name(spec.name) for spec in DEFAULT_TABLE.services]
            docker("rm", "--force", *names, check=False, timeout=120)


def test_every_service_runs_read_only_as_an_unprivileged_user(containers: Containers) -> None:
    for spec in DEFAULT_TABLE.services:
        (inspected,) = json.loads(docker("inspect", containers.name(spec.name)).stdout)
        assert inspected["HostConfig"]["ReadonlyRootfs"] is True, spec.name
        assert inspected["HostConfig"]["NetworkMode"] == "host", spec.name
        uid = docker("exec", containers.name(spec.name), "id", "-u").stdout.strip()
        assert uid == "10001", spec.name
    written = docker("exec", containers.name("orders"), "touch", "/opt/x", check=False)
    assert written.returncode != 0


def test_a_checkout_through_the_containerised_gateway_ships(containers: Containers) -> None:
    with httpx.Client(base_url=containers.gateway, timeout=10) as client:
        user = signed_in(client)
        (product,) = client.get("/api/catalog/products", params={"limit": 1}).json()["items"]
        add_to_cart(client, user, product, quantity=1)
        order = checkout(client, user, APPROVED)
        wait_for_status(client, user, order["id"], "SHIPPED", within=60)


def test_docker_stop_of_a_service_mid_saga_loses_nothing(containers: Containers) -> None:
    with httpx.Client(base_url=containers.gateway, timeout=10) as client:
        user = signed_in(client)
        (product,) = client.get("/api/catalog/products", params={"limit": 1, "offset": 5}).json()[
            "items"
        ]
        add_to_cart(client, user, product, quantity=1)
        order = checkout(client, user, APPROVED)
        docker("stop", "--time", "10", containers.name("payments"), timeout=60)
        docker("start", containers.name("payments"))
        _ready(containers, "payments")
        wait_for_status(client, user, order["id"], "SHIPPED", within=90)
        # The gateway ejected payments while it was stopped; it comes back within seconds.
        eventually(
            lambda: client.get(f"/api/payments/{order['id']}", headers=user).json(),
            lambda payment: payment.get("status") == "CAPTURED",
            timeout=30,
            interval=0.5,
            message="the payment was never captured",
        )
    audited = subprocess.run(
        [EMPORIUM, "audit", "--gateway", containers.gateway],
        env={**os.environ, "EMPORIUM_ADMIN_PASSWORD": ADMIN_PASSWORD},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert audited.returncode == 0, audited.stdout + audited.stderr
