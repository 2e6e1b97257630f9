"""Orders' HTTP API in-process: idempotency, validation, ownership, cancel, upstreams down."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from emporium.chassis import Database
from emporium.chassis.testing import TokenFactory
from emporium.contracts import Money
from emporium.contracts import inventory as inv
from emporium.contracts import payments as pay
from emporium.launcher.nats import EmbeddedNats
from tests._poll import eventually_async
from tests.integration._orders_fakes import (
    ADDRESS,
    GOOD_CARD,
    FakeUpstreams,
    Orders,
    Participants,
    running_orders,
)
from tests.integration._services import unique_namespace


@pytest.fixture
async def upstreams() -> AsyncIterator[FakeUpstreams]:
    async with FakeUpstreams().serving() as fake:
        yield fake


@pytest.fixture
async def orders(
    tmp_path: Path, var_dir: Path, embedded_nats: EmbeddedNats, upstreams: FakeUpstreams
) -> AsyncIterator[tuple[Orders, Participants]]:
    namespace = unique_namespace()
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'participants.db'}")
    participants = Participants(database, namespace)
    participants.hold.add(pay.CapturePayment.type)  # orders wait in PENDING, authorized
    async with (
        participants.running(embedded_nats.url),
        # A long poll here is woken by the saga's own commit, never by a recheck.
        running_orders(
            var_dir,
            embedded_nats.url,
            namespace,
            upstreams,
            TokenFactory(),
            status_wait_recheck_seconds=30,
        ) as o,
    ):
        yield o, participants


def customer(orders: Orders, *lines: tuple[str, int, int]) -> dict[str, str]:
    headers = orders.tokens.headers(uuid.uuid4())
    orders.upstreams.fill_cart(headers, *(lines or (("SKU-A", 1, 1000),)))
    return headers


async def test_same_key_and_body_answer_the_same_order(orders: tuple[Orders, Participants]) -> None:
    api, _ = orders
    user = customer(api)
    key = str(uuid.uuid4())
    first = await api.place(user, key=key)
    again = await api.place(user, key=key)
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    listed = (await api.client.get("/api/orders", headers=user)).json()
    assert listed["total"] == 1


async def test_same_key_with_another_body_is_a_422(orders: tuple[Orders, Participants]) -> None:
    api, _ = orders
    user = customer(api)
    key = str(uuid.uuid4())
    assert (await api.place(user, key=key)).status_code == 202
    other = await api.place(user, key=key, card={**GOOD_CARD, "exp_year": 2036})
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]


async def test_same_key_with_another_cvc_is_the_same_order(
    orders: tuple[Orders, Participants],
) -> None:
    # The CVC is not kept in any form (PCI DSS 3.3), so it cannot tell two requests apart.
    api, _ = orders
    user = customer(api)
    key = str(uuid.uuid4())
    first = await api.place(user, key=key)
    again = await api.place(user, key=key, card={**GOOD_CARD, "cvc": "999"})
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]


async def test_an_overlong_idempotency_key_is_a_400(orders: tuple[Orders, Participants]) -> None:
    api, _ = orders
    response = await api.place(customer(api), key="k" * 256)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_missing_idempotency_key_is_a_428(orders: tuple[Orders, Participants]) -> None:
    api, _ = orders
    body = {"shipping_address": ADDRESS, "payment": GOOD_CARD}
    response = await api.client.post("/api/orders", json=body, headers=customer(api))
    assert response.status_code == 428
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("card", "field", "judged_by_payments"),
    [
        ({**GOOD_CARD, "number": "4242424242424241"}, "number", 1),
        ({**GOOD_CARD, "exp_year": 2001}, "exp_year", 1),
        # A shape the schema refuses (docs/api.md): answered before any call.
        ({**GOOD_CARD, "cvc": "12"}, "cvc", 0),
        ({**GOOD_CARD, "cvc": "1234"}, "cvc", 1),  # 4 digits only for Amex: payments' rule
    ],
)
async def test_bad_card_is_a_422_naming_the_field_and_never_echoing_it(
    orders: tuple[Orders, Participants],
    card: dict[str, object],
    field: str,
    judged_by_payments: int,
) -> None:
    api, _ = orders
    user = customer(api)
    response = await api.place(user, card=card)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "payment", field]
    assert str(card["number"]) not in response.text
    assert api.upstreams.hits["payments"] == judged_by_payments  # the rest is payments' verdict
    listed = (await api.client.get("/api/orders", headers=user)).json()
    assert listed["total"] == 0


async def test_empty_cart_is_a_422(orders: tuple[Orders, Participants]) -> None:
    api, _ = orders
    response = await api.place(api.tokens.headers(uuid.uuid4()))
    assert response.status_code == 422
    assert "empty" in response.json()["detail"]


async def test_card_refused_by_payments_is_a_422(orders: tuple[Orders, Participants]) -> None:
    api, _ = orders
    api.upstreams.refused_cards.add("4000000000009995")
    response = await api.place(customer(api), card={**GOOD_CARD, "number": "4000000000009995"})
    assert response.status_code == 422


@pytest.mark.parametrize("service", ["cart", "shipping", "payments"])
async def test_an_upstream_down_is_a_fast_503_and_no_order(
    orders: tuple[Orders, Participants], service: str
) -> None:
    api, _ = orders
    user = customer(api)
    api.upstreams.down.add(service)
    response = await api.place(user)
    assert response.status_code == 503
    assert service in response.json()["detail"]
    assert (await api.client.get("/api/orders", headers=user)).json()["total"] == 0


async def test_another_users_order_is_a_404_to_read_and_to_cancel(
    orders: tuple[Orders, Participants],
) -> None:
    api, _ = orders
    order_id = (await api.place(customer(api))).json()["id"]
    stranger = api.tokens.headers(uuid.uuid4())
    assert (await api.client.get(f"/api/orders/{order_id}", headers=stranger)).status_code == 404
    cancel = await api.client.post(f"/api/orders/{order_id}/cancel", headers=stranger)
    assert cancel.status_code == 404


async def held_order(orders: tuple[Orders, Participants]) -> tuple[dict[str, str], str]:
    """A customer's order PENDING, authorized, its capture held: (their headers, its id)."""
    api, participants = orders
    user = customer(api)
    order_id = (await api.place(user)).json()["id"]
    await participants.eventually(pay.CapturePayment, uuid.UUID(order_id))
    return user, order_id


async def test_a_long_poll_answers_as_soon_as_the_saga_settles_the_order(
    orders: tuple[Orders, Participants],
) -> None:
    api, participants = orders
    user, order_id = await held_order(orders)
    url = f"/api/orders/{order_id}"
    poll = asyncio.create_task(api.client.get(url, params={"wait": 10}, headers=user))
    await asyncio.sleep(0.5)
    assert not poll.done()  # held while PENDING

    captured = pay.PaymentCaptured(order_id=uuid.UUID(order_id), amount=Money(amount=1))
    started = time.monotonic()
    await participants.reply(captured)
    answer = await asyncio.wait_for(poll, 10)
    assert answer.status_code == 200
    assert answer.json()["status"] == "CONFIRMED"
    assert time.monotonic() - started < 5  # the commit woke it: the recheck is 30 s


async def test_a_long_poll_on_an_order_that_stays_pending_answers_when_its_time_is_up(
    orders: tuple[Orders, Participants],
) -> None:
    api, _ = orders
    user, order_id = await held_order(orders)
    started = time.monotonic()
    answer = await api.client.get(f"/api/orders/{order_id}", params={"wait": 0.5}, headers=user)
    assert 0.4 < time.monotonic() - started < 5
    assert (answer.status_code, answer.json()["status"]) == (200, "PENDING")


async def test_a_long_poll_cancelled_by_the_customer_answers_at_once(
    orders: tuple[Orders, Participants],
) -> None:
    api, _ = orders
    user, order_id = await held_order(orders)
    poll = asyncio.create_task(
        api.client.get(f"/api/orders/{order_id}", params={"wait": 10}, headers=user)
    )
    await asyncio.sleep(0.3)
    started = time.monotonic()
    assert (await api.client.post(f"/api/orders/{order_id}/cancel", headers=user)).is_success
    answer = await asyncio.wait_for(poll, 10)
    assert answer.json()["status"] == "CANCELLED"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("wait", ["-1", "10.5", "soon"])
async def test_a_wait_outside_0_to_10_seconds_is_a_422(
    orders: tuple[Orders, Participants], wait: str
) -> None:
    api, _ = orders
    user = customer(api)
    order_id = (await api.place(user)).json()["id"]
    answer = await api.client.get(f"/api/orders/{order_id}", params={"wait": wait}, headers=user)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["loc"][-1] == "wait"


async def test_a_long_poll_on_another_users_order_is_a_404_at_once(
    orders: tuple[Orders, Participants],
) -> None:
    api, _ = orders
    order_id = (await api.place(customer(api))).json()["id"]
    stranger = api.tokens.headers(uuid.uuid4())
    started = time.monotonic()
    answer = await api.client.get(f"/api/orders/{order_id}", params={"wait": 10}, headers=stranger)
    assert answer.status_code == 404
    assert time.monotonic() - started < 2


async def test_customer_cancel_of_a_pending_order_voids_and_releases(
    orders: tuple[Orders, Participants],
) -> None:
    api, participants = orders
    user = customer(api)
    order_id = (await api.place(user)).json()["id"]
    await participants.eventually(pay.CapturePayment, uuid.UUID(order_id))  # authorized
    cancelled = await api.client.post(f"/api/orders/{order_id}/cancel", headers=user)
    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["reason"]) == (
        "CANCELLED",
        "CUSTOMER_CANCELLED",
    )
    again = await api.client.post(f"/api/orders/{order_id}/cancel", headers=user)
    assert again.status_code == 409
    await participants.eventually(pay.VoidPayment, uuid.UUID(order_id))
    await participants.eventually(inv.ReleaseStock, uuid.UUID(order_id))


async def test_customer_cancel_of_a_confirmed_order_refunds_and_releases(
    orders: tuple[Orders, Participants],
) -> None:
    api, participants = orders
    participants.hold.clear()
    user = customer(api)
    order_id = (await api.place(user)).json()["id"]
    await api.wait_for(order_id, user, "CONFIRMED")
    cancelled = await api.client.post(f"/api/orders/{order_id}/cancel", headers=user)
    assert cancelled.status_code == 200
    assert [h["status"] for h in cancelled.json()["history"]] == [
        "PENDING",
        "CONFIRMED",
        "CANCELLED",
    ]
    await participants.eventually(pay.RefundPayment, uuid.UUID(order_id))
    await participants.eventually(inv.ReleaseStock, uuid.UUID(order_id))
    assert participants.count(pay.VoidPayment, uuid.UUID(order_id)) == 0


async def test_listing_is_newest_first_paginated_and_admin_sees_all(
    orders: tuple[Orders, Participants],
) -> None:
    api, _ = orders
    user = customer(api)
    ids = [(await api.place(user)).json()["id"] for _ in range(3)]
    page = (await api.client.get("/api/orders?limit=2", headers=user)).json()
    assert [o["id"] for o in page["items"]] == ids[::-1][:2]
    assert page["total"] == 3
    forbidden = await api.client.get("/api/orders?scope=all", headers=user)
    assert forbidden.status_code == 403
    admin = api.tokens.headers(uuid.uuid4(), role="admin")
    audit = (await api.client.get("/api/orders?scope=all&status=PENDING", headers=admin)).json()
    assert set(ids) <= {o["id"] for o in audit["items"]}
    assert all(o["idempotency_key"] for o in audit["items"])


async def test_an_admin_retry_sends_the_waiting_steps_command_again_with_one_effect(
    orders: tuple[Orders, Participants],
) -> None:
    api, participants = orders
    user = customer(api)
    order_id = (await api.place(user)).json()["id"]
    await participants.eventually(pay.CapturePayment, uuid.UUID(order_id))  # held: no answer
    admin = api.tokens.headers(uuid.uuid4(), role="admin")

    async def the_saga() -> dict[str, Any]:
        listed = (await api.client.get("/api/orders/admin/sagas", headers=admin)).json()
        [saga] = [s for s in listed["items"] if s["order_id"] == order_id]
        return dict(saga)

    # CommitStock is answered; the retry must come after orders has recorded that answer.
    saga = await eventually_async(
        the_saga, lambda s: s["awaiting"] == ["CapturePayment"], timeout=10, message="no commit"
    )

    retried = await api.client.post(f"/api/orders/admin/sagas/{order_id}/retry", headers=admin)

    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["step"]) == ("PENDING", "CONFIRMING")
    assert retried.json()["deadline"] > saga["deadline"]

    async def captures() -> int:
        return participants.count(pay.CapturePayment, uuid.UUID(order_id))

    # A new message id, so it is delivered again; CommitStock was answered, so not re-sent.
    await eventually_async(captures, lambda n: n == 2, timeout=10, message="no second capture")
    assert participants.count(inv.CommitStock, uuid.UUID(order_id)) == 1
    assert (await api.client.post(f"/api/orders/{order_id}/cancel", headers=user)).is_success
    again = await api.client.post(f"/api/orders/admin/sagas/{order_id}/retry", headers=admin)
    assert again.status_code == 409


async def test_saga_retry_is_admin_only_and_404_for_an_unknown_order(
    orders: tuple[Orders, Participants],
) -> None:
    api, _ = orders
    unknown = f"/api/orders/admin/sagas/{uuid.uuid4()}/retry"
    assert (await api.client.post(unknown, headers=customer(api))).status_code == 403
    admin = api.tokens.headers(uuid.uuid4(), role="admin")
    assert (await api.client.post(unknown, headers=admin)).status_code == 404
