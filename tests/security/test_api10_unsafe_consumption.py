"""API10:2023 Unsafe Consumption of APIs: the card processor payments depends on
answers slowly and fails half the time (its seam: EMPORIUM_PAYMENTS_LATENCY_MS
and _FAILURE_RATE). The saga neither hangs nor crashes: the order is cancelled
with reason TIMEOUT, nothing stays captured, stock returns, every process
stays up, and the audit finds the system consistent."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests._poll import eventually
from tests._system import System, running_system
from tests.e2e._shop import add_to_cart, available, checkout, product_at, wait_for_available
from tests.security.conftest import ADMIN_PASSWORD, connect, suite_env

pytestmark = [pytest.mark.e2e, pytest.mark.security]


@pytest.fixture(scope="module")
def unreliable_processor() -> Iterator[System]:
    env = suite_env(
        EMPORIUM_PAYMENTS_LATENCY_MS="4000",
        EMPORIUM_PAYMENTS_FAILURE_RATE="0.5",
        EMPORIUM_ORDERS_SAGA_STEP_TIMEOUT_SECONDS="2",
    )
    with running_system(extra_env=env) as system:
        yield system


def test_a_slow_failing_processor_cancels_the_order_and_leaves_everything_consistent(
    unreliable_processor: System,
) -> None:
    system = unreliable_processor
    with connect(system) as caller:
        user = caller.customer()
        product = product_at(caller.http, 0)
        before = available(caller.http, product["sku"])
        add_to_cart(caller.http, user, product, quantity=1)
        order = checkout(caller.http, user)
        eventually(
            lambda: (
                caller.http.get(f"/api/orders/{order['id']}", headers=user).json()["status"]
                == "CANCELLED"
            ),
            timeout=45,
            message="the order to time out",
        )
        cancelled = caller.http.get(f"/api/orders/{order['id']}", headers=user).json()
        assert cancelled["reason"] == "TIMEOUT"
        payment = caller.http.get(f"/api/payments/{order['id']}", headers=user)
        assert payment.status_code == 404 or payment.json()["status"] != "CAPTURED"
        wait_for_available(caller.http, product["sku"], before, within=30)
    instances = system.status()
    assert all(i["health"] == "ready" for i in instances), instances
    assert all(i["restarts"] == 0 for i in instances), instances
    audit = system.cli("audit", "--json", timeout=120)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert json.loads(audit.stdout)
    assert ADMIN_PASSWORD not in audit.stdout
