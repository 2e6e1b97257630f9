"""The production profile, whole, on the machine's servers: PostgreSQL, MariaDB,
Redis, and RabbitMQ or the machine's NATS (``nats://127.0.0.1:4222``, never the
embedded one) — each run on databases, Redis keys and a broker namespace it
creates and drops itself (tests/_prod.py).

It starts empty, as a production shop does; ``emporium seed`` fills it once,
however often it runs. Then a customer's whole life: account, browsing, cart,
the checkout saga with its approved, declined, out-of-stock and crash paths,
and a clean audit.
"""

from __future__ import annotations

import json
import os
import signal
import stat
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests._poll import eventually
from tests._prod import ADMIN_PASSWORD, production_env
from tests._system import System, running_system
from tests.e2e._shop import (
    APPROVED,
    DECLINED,
    add_to_cart,
    available,
    checkout,
    login,
    signed_in,
    wait_for_available,
    wait_for_status,
)

pytestmark = [pytest.mark.e2e]

STOCK = 20


@pytest.fixture(scope="module", params=["rabbitmq", "nats"])
def prod(request: pytest.FixtureRequest) -> Iterator[System]:
    broker: str = request.param
    with (
        production_env(broker) as env,
        running_system(
            broker="rabbitmq" if broker == "rabbitmq" else "nats",
            extra_env={**env, "EMPORIUM_SHIPPING_DISPATCH_DELAY_SECONDS": "1"},
        ) as system,
    ):
        seeded = system.cli("seed", "--demo", "--stock", str(STOCK), timeout=120)
        assert seeded.returncode == 0, seeded.stderr + system.log_tail()
        assert "seeded 30 new products and stocked 30 items" in seeded.stdout
        yield system


@pytest.fixture
def client(prod: System) -> Iterator[httpx.Client]:
    with prod.client() as client:
        yield client


def _staff(client: httpx.Client) -> dict[str, str]:
    return login(client, "admin@emporium.local", ADMIN_PASSWORD)


def _product(client: httpx.Client, sku: str) -> dict[str, Any]:
    found = client.get("/api/catalog/products", params={"q": "", "limit": 100}).json()["items"]
    (product,) = [p for p in found if p["sku"] == sku]
    return dict(product)


def test_seeding_again_adds_nothing_and_refills_nothing(prod: System) -> None:
    again = prod.cli("seed", "--demo", "--stock", "99", timeout=120)
    assert again.returncode == 0, again.stderr
    assert "seeded 0 new products and stocked 0 items" in again.stdout


def test_the_prod_profile_runs_on_the_external_broker_and_shows_no_secret(prod: System) -> None:
    state_file = prod.var_dir / "run" / "state"
    state = json.loads(state_file.read_text())
    broker = state["summary"]["broker_url"]
    assert broker.startswith(("amqp://guest:***@", "nats://127.0.0.1:4222")), broker
    assert "emporium-admin" not in state["summary"]["admin_login"]
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    status = prod.cli("status")
    assert ":guest@" not in status.stdout, status.stdout
    log = (prod.var_dir / "log" / "launcher.log").read_text()
    assert ":guest@" not in log
    assert not (prod.var_dir / "nats").exists() or not any((prod.var_dir / "nats").iterdir())


def test_a_customer_signs_up_browses_and_fills_a_cart(client: httpx.Client) -> None:
    user = signed_in(client)
    me = client.get("/api/identity/me", headers=user).json()
    assert me["role"] == "customer"
    found = client.get("/api/catalog/products", params={"q": "skillet"}).json()
    assert [p["sku"] for p in found["items"]] == ["KIT-001"]
    categories = client.get("/api/catalog/categories").json()
    assert len(categories) >= 6
    product = _product(client, "KIT-002")
    add_to_cart(client, user, product, quantity=3)
    cart = client.get("/api/cart", headers=user).json()
    assert cart["total"]["amount"] == 3 * product["price"]["amount"]


def test_a_paid_order_is_confirmed_shipped_and_its_stock_sold(client: httpx.Client) -> None:
    user = signed_in(client)
    product = _product(client, "OUT-001")
    add_to_cart(client, user, product, quantity=2)
    order = checkout(client, user, APPROVED)
    wait_for_status(client, user, order["id"], "CONFIRMED", within=20)
    payment = client.get(f"/api/payments/{order['id']}", headers=user).json()
    assert payment["status"] == "CAPTURED"
    wait_for_status(client, user, order["id"], "SHIPPED", within=30)
    assert available(client, product["sku"]) == STOCK - 2


def test_a_declined_card_cancels_and_returns_the_stock(client: httpx.Client) -> None:
    user = signed_in(client)
    product = _product(client, "BOK-001")
    add_to_cart(client, user, product, quantity=1)
    order = checkout(client, user, DECLINED)
    cancelled = wait_for_status(client, user, order["id"], "CANCELLED", within=20)
    assert cancelled["reason"] == "PAYMENT_DECLINED"
    wait_for_available(client, product["sku"], STOCK)


def test_not_enough_stock_cancels_with_nothing_charged(client: httpx.Client) -> None:
    staff, user = _staff(client), signed_in(client)
    product = _product(client, "AUD-001")
    assert client.put(
        f"/api/inventory/items/{product['sku']}", json={"on_hand": 1}, headers=staff
    ).is_success
    add_to_cart(client, user, product, quantity=2)
    order = checkout(client, user, APPROVED)
    cancelled = wait_for_status(client, user, order["id"], "CANCELLED", within=20)
    assert cancelled["reason"] == "OUT_OF_STOCK"
    assert client.get(f"/api/payments/{order['id']}", headers=user).status_code == 404


def test_orders_killed_mid_saga_resumes_and_confirms(prod: System, client: httpx.Client) -> None:
    user = signed_in(client)
    product = _product(client, "HOM-001")
    add_to_cart(client, user, product, quantity=1)
    (orders,) = prod.instances("orders")
    order = checkout(client, user, APPROVED)
    os.kill(orders["pid"], signal.SIGKILL)
    eventually(
        lambda: prod.instances("orders")[0],
        lambda now: now["pid"] != orders["pid"] and now["health"] == "ready",
        timeout=30,
        interval=0.3,
        message="the launcher never restarted orders",
    )
    # Confirmed, and maybe shipped already by the time we look.
    wait_for_status(client, user, order["id"], "SHIPPED", within=60)
    payment = client.get(f"/api/payments/{order['id']}", headers=user).json()
    assert payment["status"] == "CAPTURED"


def test_the_audit_finds_every_invariant_holding(prod: System) -> None:
    audited = prod.cli("audit", "--saga-deadline", "60", timeout=120)
    assert audited.returncode == 0, audited.stdout + audited.stderr
