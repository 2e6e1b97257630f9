"""Payments in-process on a real store and broker, driven as the orders saga drives it.

A probe plays orders: it publishes payments' commands through its own outbox
(same namespace) and collects the answers with a handler table of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Database, UnitOfWork
from emporium.chassis.messaging import Backoff, Messaging
from emporium.chassis.testing import TokenFactory
from emporium.contracts import Message
from emporium.contracts.money import Money
from emporium.contracts.payments import (
    AuthorizePayment,
    CapturePayment,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentCaptureRefused,
    PaymentDeclined,
    PaymentRefunded,
    PaymentVoided,
    RefundPayment,
    VoidPayment,
)
from emporium.services.payments.main import create_app
from emporium.services.payments.settings import PaymentsSettings
from tests._poll import eventually_async
from tests.integration._services import chassis_settings, running, unique_namespace

ANSWERS = (
    PaymentAuthorized,
    PaymentDeclined,
    PaymentCaptured,
    PaymentCaptureRefused,
    PaymentVoided,
    PaymentRefunded,
)
APPROVES, DECLINED, NO_FUNDS = "4242424242424242", "4000000000000002", "4000000000009995"


class SagaProbe:
    """Publishes commands through an outbox and records every answer payments sends."""

    def __init__(self, database: Database, broker_url: str, namespace: str) -> None:
        self.database = database
        self.answers: list[Message] = []

        async def record(message: Message, _uow: UnitOfWork) -> None:
            self.answers.append(message)

        self.messaging = Messaging(
            broker_url,
            service=f"probe{uuid.uuid4().hex[:8]}",
            database=database,
            handlers=dict.fromkeys(ANSWERS, record),
            namespace=namespace,
            retry_backoff=Backoff(0.05, 0.2),
            poll_interval=0.1,
        )

    async def send(self, *commands: Message) -> None:
        async with self.database.unit_of_work() as uow:
            for command in commands:
                await self.messaging.outbox.add(uow.session, command)
            await uow.commit()

    async def answers_for(self, order_id: uuid.UUID, count: int) -> list[Message]:
        """The first ``count`` answers about ``order_id``, waiting up to 20 s for them."""

        async def found() -> list[Message]:
            return [a for a in self.answers if getattr(a, "order_id", None) == order_id]

        return await eventually_async(
            found,
            lambda answers: len(answers) >= count,
            timeout=20,
            message=f"fewer than {count} answers for {order_id}",
        )


@asynccontextmanager
async def payments_and_probe(
    tmp_path: Path, broker_url: str, tokens: TokenFactory
) -> AsyncIterator[tuple[httpx.AsyncClient, SagaProbe]]:
    namespace = unique_namespace()

    def create(settings: ChassisSettings) -> FastAPI:
        return create_app(settings, PaymentsSettings(), auth=tokens.verifier())

    probe_db = Database(f"sqlite+aiosqlite:///{tmp_path / 'probe.db'}")
    await probe_db.create_all()
    probe = SagaProbe(probe_db, broker_url, namespace)
    try:
        async with running(create, chassis_settings(tmp_path / "var", broker_url, namespace)) as c:
            await probe.messaging.start()
            try:
                yield c, probe
            finally:
                await probe.messaging.stop()
    finally:
        await probe_db.dispose()


async def _tokenize(client: httpx.AsyncClient, headers: dict[str, str], number: str) -> str:
    card = {"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}
    response = await client.post("/api/payments/cards", json=card, headers=headers)
    assert response.status_code == 201, response.text
    token: str = response.json()["card_token"]
    return token


def _authorize(order: uuid.UUID, user: uuid.UUID, token: str, amount: int = 1999) -> Message:
    return AuthorizePayment(
        order_id=order, user_id=user, amount=Money(amount=amount), card_token=token
    )


async def test_each_command_twice_authorizes_captures_and_refunds_once(
    tmp_path: Path, broker_url: str
) -> None:
    tokens, user, order = TokenFactory(), uuid.uuid4(), uuid.uuid4()
    owner = tokens.headers(user)
    async with payments_and_probe(tmp_path, broker_url, tokens) as (client, probe):
        token = await _tokenize(client, owner, APPROVES)

        # A saga that resends: new message ids, same order.
        await probe.send(_authorize(order, user, token), _authorize(order, user, token))
        answers = await probe.answers_for(order, 2)
        assert all(isinstance(a, PaymentAuthorized) for a in answers)
        assert len({a.payment_id for a in answers if isinstance(a, PaymentAuthorized)}) == 1

        await probe.send(CapturePayment(order_id=order), CapturePayment(order_id=order))
        captured = (await probe.answers_for(order, 4))[2:]
        assert [(type(a), a.amount.amount) for a in captured if isinstance(a, PaymentCaptured)] == [
            (PaymentCaptured, 1999)
        ] * 2

        mine = await client.get(f"/api/payments/{order}", headers=owner)
        assert mine.status_code == 200
        body = mine.json()
        assert (body["status"], body["amount"], body["brand"], body["last4"]) == (
            "CAPTURED",
            {"amount": 1999, "currency": "USD"},
            "visa",
            "4242",
        )
        assert body["captured_amount"]["amount"] == 1999

        admin = tokens.headers(uuid.uuid4(), role="admin")
        assert (await client.get(f"/api/payments/{order}", headers=admin)).status_code == 200
        other = await client.get(f"/api/payments/{order}", headers=tokens.headers(uuid.uuid4()))
        assert other.status_code == 404
        assert other.headers["content-type"] == "application/problem+json"
        assert (await client.get(f"/api/payments/{order}")).status_code == 401
        audit = await client.get("/api/payments", params={"status": "CAPTURED"}, headers=admin)
        assert [i["captured_amount"]["amount"] for i in audit.json()["items"]] == [1999]
        assert (await client.get("/api/payments", headers=owner)).status_code == 403

        await probe.send(RefundPayment(order_id=order), RefundPayment(order_id=order))
        refunds = (await probe.answers_for(order, 6))[4:]
        assert [a.amount.amount for a in refunds if isinstance(a, PaymentRefunded)] == [1999] * 2
        final = (await client.get(f"/api/payments/{order}", headers=owner)).json()
        assert (final["status"], final["refunded_amount"]["amount"]) == ("REFUNDED", 1999)


async def test_declines_and_blind_compensations_are_all_answered_without_taking_money(
    tmp_path: Path, broker_url: str
) -> None:
    tokens, user, stranger = TokenFactory(), uuid.uuid4(), uuid.uuid4()
    declined, no_funds, not_mine, never, late = (uuid.uuid4() for _ in range(5))
    async with payments_and_probe(tmp_path, broker_url, tokens) as (client, probe):
        owner = tokens.headers(user)
        cards = [await _tokenize(client, owner, n) for n in (DECLINED, NO_FUNDS)]
        strangers_card = await _tokenize(client, tokens.headers(stranger), APPROVES)
        await probe.send(
            _authorize(declined, user, cards[0]),
            _authorize(no_funds, user, cards[1]),
            _authorize(not_mine, user, strangers_card),
            VoidPayment(order_id=late),  # compensation overtaking its authorization
            RefundPayment(order_id=never),
        )
        reasons = {}
        for order in (declined, no_funds, not_mine):
            [answer] = await probe.answers_for(order, 1)
            assert isinstance(answer, PaymentDeclined)
            reasons[order] = answer.reason
        assert reasons == {
            declined: "card_declined",
            no_funds: "insufficient_funds",
            not_mine: "card_token_not_owned",
        }
        [voided] = await probe.answers_for(late, 1)
        [refunded] = await probe.answers_for(never, 1)
        assert isinstance(voided, PaymentVoided)
        assert isinstance(refunded, PaymentRefunded)
        assert refunded.amount.amount == 0

        await probe.send(
            VoidPayment(order_id=declined),
            CapturePayment(order_id=no_funds),
            _authorize(late, user, strangers_card),
        )
        assert isinstance((await probe.answers_for(declined, 2))[1], PaymentVoided)
        refusal = (await probe.answers_for(no_funds, 2))[1]
        assert isinstance(refusal, PaymentCaptureRefused)
        assert refusal.reason == "DECLINED"
        late_answer = (await probe.answers_for(late, 2))[1]
        assert isinstance(late_answer, PaymentDeclined)
        assert late_answer.reason == "cancelled_before_authorization"

        body = (await client.get(f"/api/payments/{declined}", headers=owner)).json()
        assert (body["status"], body["reason"], body["last4"]) == (
            "DECLINED",
            "card_declined",
            "0002",
        )
        admin = tokens.headers(uuid.uuid4(), role="admin")
        audit = (await client.get("/api/payments?limit=500", headers=admin)).json()
        assert audit["total"] == 5
        assert all(item["captured_amount"]["amount"] == 0 for item in audit["items"])
