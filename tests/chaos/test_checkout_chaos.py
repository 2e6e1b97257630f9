"""The checkout saga while things go wrong: contention, a participant down, orders killed.

Each test starts its own system with the launcher, drives it through the gateway
on loopback, and ends with ``emporium audit`` finding the invariants intact.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from emporium.launcher.control import ControlClient
from emporium.launcher.settings import VarLayout
from tests._poll import eventually
from tests._system import System, running_system
from tests.e2e._shop import (
    add_to_cart,
    admin,
    available,
    checkout,
    place_order,
    product_at,
    signed_in,
    wait_for_available,
    wait_for_status,
)

pytestmark = pytest.mark.e2e

SHORT_DEADLINE = {
    "EMPORIUM_ORDERS_SAGA_STEP_TIMEOUT_SECONDS": "8",
    "EMPORIUM_SHIPPING_DISPATCH_DELAY_SECONDS": "1",
}
SYSTEM_ENV = SHORT_DEADLINE


def audit(system: System) -> dict[str, Any]:
    result = system.cli("audit", "--json", "--saga-deadline", "30")
    report: dict[str, Any] = json.loads(result.stdout)
    assert result.returncode == 0, f"audit found violations:\n{result.stdout}\n{result.stderr}"
    assert report["ok"] is True
    assert report["counts"]["skus"] > 0
    assert report["counts"]["orders"] > 0
    return report


def test_100_concurrent_checkouts_for_20_units_confirm_exactly_20(
    system: System, client: httpx.Client
) -> None:
    staff = admin(client)
    product = product_at(client, offset=5)
    with ThreadPoolExecutor(max_workers=8) as pool:
        users = list(pool.map(lambda _: signed_in(client), range(100)))
        for user in users:
            add_to_cart(client, user, product, quantity=1)
        stocked = client.put(
            f"/api/inventory/items/{product['sku']}", json={"on_hand": 20}, headers=staff
        )
        assert stocked.status_code == 200, stocked.text

        def buy(user: dict[str, str]) -> tuple[dict[str, str], str]:
            with system.client() as own:
                placed = place_order(own, user)
                assert placed.status_code == 202, placed.text
                return user, str(placed.json()["id"])

        orders = list(ThreadPoolExecutor(max_workers=32).map(buy, users))

        def outcome(pair: tuple[dict[str, str], str]) -> tuple[str, str | None]:
            user, order_id = pair
            order = eventually(
                lambda: client.get(f"/api/orders/{order_id}", headers=user).json(),
                lambda found: found["status"] != "PENDING",
                timeout=60,
                interval=0.3,
                message=f"{order_id} still PENDING",
            )
            return order["status"], order.get("reason")

        outcomes = Counter(pool.map(outcome, orders))
    print(f"outcomes {dict(outcomes)}")
    confirmed = outcomes[("CONFIRMED", None)] + outcomes[("SHIPPED", None)]
    assert confirmed == 20, outcomes
    assert outcomes[("CANCELLED", "OUT_OF_STOCK")] == 80, outcomes
    assert available(client, product["sku"]) == 0
    audit(system)


@pytest.fixture(scope="module")
def slow_payments() -> Iterator[System]:
    """Payments takes half a second per processor call, so a test can freeze it mid-saga."""
    env = {**SHORT_DEADLINE, "EMPORIUM_PAYMENTS_LATENCY_MS": "500"}
    with running_system(extra_env=env) as system:
        yield system


def _payments_pid(system: System) -> int:
    [payments] = system.instances("payments")
    return int(payments["pid"])


def test_payments_down_the_order_waits_and_confirms_when_payments_returns(
    slow_payments: System,
) -> None:
    system = slow_payments
    with system.client() as client:
        user = signed_in(client)
        add_to_cart(client, user, product_at(client, offset=6), quantity=1)
        pid = _payments_pid(system)
        order = checkout(client, user)
        os.kill(pid, signal.SIGSTOP)  # frozen: there, but answering nothing
        try:
            time.sleep(3)
            status = client.get(f"/api/orders/{order['id']}", headers=user).json()["status"]
            assert status == "PENDING"
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_for_status(client, user, order["id"], "CONFIRMED", within=20)
    audit(system)


def test_broker_down_reads_and_checkouts_go_on_and_the_outbox_drains_when_it_returns(
    slow_payments: System,
) -> None:
    """Fault isolation: the broker is not on the request path, so its outage delays, never fails."""
    system = slow_payments
    with system.client() as client:
        user = signed_in(client)
        product = product_at(client, offset=8)
        add_to_cart(client, user, product, quantity=1)
        code, answer = _broker(system, "stop", resume_after=60)  # the launcher's own safety net
        assert code == 200, answer
        try:
            # Every service stays in rotation: reads answer (from catalog itself,
            # past the gateway's cache), the checkout is taken.
            fresh = {"Cache-Control": "no-cache"}
            for _ in range(20):
                path = f"/api/catalog/products/{product['id']}"
                assert client.get(path, headers=fresh).status_code == 200
            order = checkout(client, user)
            assert order["status"] == "PENDING"
            ready = httpx.get(f"{_instance_url(system, 'orders')}/health/ready", timeout=5)
            assert ready.status_code == 200
            assert ready.json()["checks"]["broker"] is False
        finally:
            code, answer = _broker(system, "start")
            assert code == 200, answer
        # The order's events waited in the outbox; the saga finishes once the broker is back.
        wait_for_status(client, user, order["id"], "CONFIRMED", within=30)
    audit(system)


def _broker(system: System, action: str, resume_after: float | None = None) -> tuple[int, Any]:
    control = ControlClient(VarLayout.at(system.var_dir).socket)
    return asyncio.run(control.broker(action, resume_after))


def _instance_url(system: System, service: str) -> str:
    return f"http://127.0.0.1:{system.instances(service)[0]['port']}"


def test_payments_down_past_the_deadline_cancels_with_timeout_and_releases_stock(
    slow_payments: System,
) -> None:
    system = slow_payments
    with system.client() as client:
        user = signed_in(client)
        product = product_at(client, offset=7)
        add_to_cart(client, user, product, quantity=2)
        stock_before = available(client, product["sku"])
        pid = _payments_pid(system)
        order = checkout(client, user)
        os.kill(pid, signal.SIGSTOP)
        try:
            cancelled = wait_for_status(client, user, order["id"], "CANCELLED", within=30)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert cancelled["reason"] == "TIMEOUT"
        wait_for_available(client, product["sku"], stock_before)
        # Payments wakes up and authorizes late: the saga voids it, nothing stays captured.
        time.sleep(3)
    audit(system)


def test_orders_killed_mid_saga_finishes_after_the_restart() -> None:
    # The default step deadline (30 s): a killed process's unacknowledged
    # messages come back after the broker's ack wait and its outbox rows after
    # the relay's lease, both well inside it.
    with running_system() as system, system.client() as client:
        user = signed_in(client)
        add_to_cart(client, user, product_at(client, offset=8), quantity=1)
        [orders_instance] = system.instances("orders")
        order = checkout(client, user)
        os.kill(orders_instance["pid"], signal.SIGKILL)
        eventually(
            lambda: [i["health"] for i in system.instances("orders")],
            lambda health: "ready" in health,
            timeout=30,
            message="orders was not restarted",
        )
        wait_for_status(client, user, order["id"], "CONFIRMED", within=40)
        [restarted] = system.instances("orders")
        assert restarted["restarts"] == 1
        audit(system)


def test_replicated_saga_participants_sell_exactly_the_stock_and_stay_consistent() -> None:
    """Two replicas each of orders, inventory, payments and cart share the work."""
    replicas = ["orders=2,inventory=2,payments=2,cart=2"]
    with running_system(replicas=replicas, extra_env=SHORT_DEADLINE) as system:
        assert len(system.instances("orders")) == 2
        with system.client() as client:
            product = product_at(client, offset=4)
            with ThreadPoolExecutor(max_workers=6) as pool:
                users = list(pool.map(lambda _: signed_in(client), range(40)))
            for user in users:
                add_to_cart(client, user, product, quantity=1)
            stocked = client.put(
                f"/api/inventory/items/{product['sku']}",
                json={"on_hand": 25},
                headers=admin(client),
            )
            assert stocked.status_code == 200, stocked.text

            def buy(user: dict[str, str]) -> tuple[dict[str, str], str]:
                with system.client() as own:
                    placed = place_order(own, user)
                    assert placed.status_code == 202, placed.text
                    return user, str(placed.json()["id"])

            with ThreadPoolExecutor(max_workers=16) as pool:
                orders = list(pool.map(buy, users))
            statuses: Counter[str] = Counter()
            for user, order_id in orders:
                status = eventually(
                    lambda: _status(client, user, order_id),  # noqa: B023  (called right here)
                    lambda found: found != "PENDING",
                    timeout=60,
                    interval=0.3,
                    message=f"{order_id} still PENDING",
                )
                statuses[status] += 1
        print(f"statuses {dict(statuses)}")
        assert statuses["CONFIRMED"] + statuses["SHIPPED"] == 25, statuses
        assert statuses["CANCELLED"] == 15, statuses
        audit(system)


def _status(client: httpx.Client, user: dict[str, str], order_id: str) -> str:
    return str(client.get(f"/api/orders/{order_id}", headers=user).json()["status"])
