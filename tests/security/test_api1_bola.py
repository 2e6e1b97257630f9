"""API1:2023 Broken Object Level Authorization: every owner-scoped object
(orders, payments, shipments, cart, notifications) is invisible and untouchable
to another customer, who gets exactly what a missing object gets (404)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests._poll import eventually
from tests._system import System
from tests.e2e._shop import add_to_cart, checkout, product_at, wait_for_status
from tests.security.conftest import Caller, connect, is_problem

pytestmark = [pytest.mark.e2e, pytest.mark.security]


@dataclass(frozen=True)
class Victim:
    headers: dict[str, str]
    order_id: str
    cart_product_id: str


@pytest.fixture(scope="module")
def victim(system: System) -> Iterator[Victim]:
    """A customer with a shipped order, its notifications, and a cart in progress."""
    with connect(system) as caller:
        user = caller.customer()
        add_to_cart(caller.http, user, product_at(caller.http, 0), quantity=1)
        order = checkout(caller.http, user)
        wait_for_status(caller.http, user, order["id"], "SHIPPED", within=40)
        in_cart = product_at(caller.http, 1)
        add_to_cart(caller.http, user, in_cart, quantity=1)
        eventually(
            lambda: len(caller.http.get("/api/notifications", headers=user).json()["items"]) >= 2,
            timeout=20,
            message="the victim's two notifications",
        )
        yield Victim(user, order["id"], in_cart["id"])


def test_another_customers_order_is_404_to_read_and_to_cancel(
    victim: Victim, caller: Caller
) -> None:
    me = caller.customer()
    nobody = str(uuid.uuid4())
    read = caller.http.get(f"/api/orders/{victim.order_id}", headers=me)
    missing = caller.http.get(f"/api/orders/{nobody}", headers=me)
    assert is_problem(read, 404)
    assert is_problem(missing, 404)
    # Word for word what a missing order gets: existence is not revealed.
    assert read.json()["detail"].replace(victim.order_id, "ID") == missing.json()["detail"].replace(
        nobody, "ID"
    )
    cancel = caller.http.post(f"/api/orders/{victim.order_id}/cancel", headers=me)
    assert is_problem(cancel, 404)


def test_another_customers_orders_are_not_in_my_list_nor_can_i_list_everyones(
    victim: Victim, caller: Caller
) -> None:
    me = caller.customer()
    mine = caller.http.get("/api/orders", headers=me).json()
    assert victim.order_id not in {order["id"] for order in mine["items"]}
    assert is_problem(caller.http.get("/api/orders?scope=all", headers=me), 403)


def test_another_customers_payment_is_404(victim: Victim, caller: Caller) -> None:
    me = caller.customer()
    assert caller.http.get(f"/api/payments/{victim.order_id}", headers=victim.headers).is_success
    assert is_problem(caller.http.get(f"/api/payments/{victim.order_id}", headers=me), 404)


def test_another_customers_shipment_is_404(victim: Victim, caller: Caller) -> None:
    me = caller.customer()
    path = f"/api/shipping/shipments?order_id={victim.order_id}"
    assert caller.http.get(path, headers=victim.headers).is_success
    assert is_problem(caller.http.get(path, headers=me), 404)


def test_my_cart_calls_never_read_or_change_another_customers_cart(
    victim: Victim, caller: Caller
) -> None:
    me = caller.customer()
    assert caller.http.get("/api/cart", headers=me).json()["items"] == []
    removed = caller.http.delete(f"/api/cart/items/{victim.cart_product_id}", headers=me)
    assert removed.status_code in (204, 404)
    assert caller.http.delete("/api/cart", headers=me).status_code == 204
    theirs = caller.http.get("/api/cart", headers=victim.headers).json()
    assert [line["product_id"] for line in theirs["items"]] == [victim.cart_product_id]


def test_another_customers_notifications_are_not_in_mine(victim: Victim, caller: Caller) -> None:
    me = caller.customer()
    theirs = caller.http.get("/api/notifications", headers=victim.headers).json()["items"]
    assert victim.order_id in {n["order_id"] for n in theirs}
    mine = caller.http.get("/api/notifications", headers=me).json()["items"]
    assert mine == []
