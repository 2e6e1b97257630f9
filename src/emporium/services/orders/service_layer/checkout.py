"""Placing an order (``POST /api/orders``) and cancelling one on the customer's word.

Placing is admitted first (the saga backlog must leave time to finish it, see
:mod:`.admission`), then reads the cart, quotes shipping and tokenizes the card
(synchronous calls, before any write), then, if the caller's deadline still
leaves time, creates the order PENDING with its saga state, history and first
messages in ONE transaction that the deadline no longer interrupts. The
Idempotency-Key makes a retried request find the order it created instead of a
second one.

The key's rules live here, not in the route: it must be sent (428 otherwise)
and be at most :data:`MAX_KEY` characters. A retry is recognised by a keyed
hash of the request (:meth:`Checkout.fingerprint`) that never includes the CVC
nor the full card number (PCI DSS 3.3: no card verification code is kept, in
any form, once the card is tokenized).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol
from uuid import UUID, uuid4

from sqlalchemy.exc import IntegrityError

from emporium.chassis import Clock, deadline, transactionally, utcnow
from emporium.services.orders.adapters.upstreams import CardToken, CartView, PaymentCard, Quote
from emporium.services.orders.domain import Order, OrderLine
from emporium.services.orders.service_layer.admission import SagaBacklog
from emporium.services.orders.service_layer.publishing import publish_recorded
from emporium.services.orders.service_layer.unit_of_work import OrdersUnitOfWork
from emporium.services.orders.service_layer.watch import OrderWatch

MAX_KEY = 255
# Time the write needs, at least: with less left, the caller would get its 202 too late.
WRITE_MARGIN = 0.05


class CheckoutRefusedError(Exception):
    """The customer must change something first; ``status`` is the HTTP answer."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class UnknownOrderError(LookupError):
    pass


@dataclass(frozen=True)
class PlaceOrder:
    user_id: UUID
    authorization: str
    idempotency_key: str | None
    shipping_address: dict[str, Any]
    card: PaymentCard


class Participants(Protocol):
    """The synchronous answers checkout needs before it writes anything."""

    async def read_cart(self, authorization: str) -> CartView: ...

    async def quote(
        self, authorization: str, country: str, items: list[dict[str, Any]]
    ) -> Quote: ...

    async def tokenize(self, authorization: str, card: PaymentCard) -> CardToken: ...


class Checkout:
    """Places orders (idempotent per key) and cancels them on the customer's word."""

    def __init__(
        self,
        unit_of_work: Callable[[], OrdersUnitOfWork],
        upstreams: Participants,
        *,
        hash_key: bytes,
        step_timeout: timedelta,
        admission: SagaBacklog | None = None,
        clock: Clock = utcnow,
        watch: OrderWatch | None = None,
    ) -> None:
        self.admission = admission
        self.watch = watch
        self.unit_of_work = unit_of_work
        self.upstreams = upstreams
        self.hash_key = hash_key
        self.step_timeout = step_timeout
        self.clock = clock

    def fingerprint(self, command: PlaceOrder) -> str:
        """A keyed hash of the canonical body, to tell a retry from another request.

        The card enters only as what may be kept and shown: last four digits and
        expiry. Never the CVC (PCI DSS 3.3), never the full number. The brand is
        left out on purpose: it is payments' rule, and asking payments before
        the replay check would make a retry depend on payments and vault the
        card again (payments' tokens are new on every call, so they cannot serve).
        """
        card = command.card
        body = {
            "shipping_address": command.shipping_address,
            "payment": [card.last4, card.exp_month, card.exp_year],
        }
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hmac.new(self.hash_key, canonical.encode(), hashlib.sha256).hexdigest()

    async def place(self, command: PlaceOrder) -> tuple[Order, bool]:
        """The order for this key: ``(order, True)`` if created now, ``False`` if replayed.

        Raises :class:`CheckoutRefusedError` (key missing or too long, empty or
        unbuyable cart, mixed currencies), ``CardRefusedError`` (payments refused
        the card), ``UpstreamDownError``, ``SagaBacklogFullError`` (too busy to
        finish it in time), ``DeadlineExceededError`` (the caller stopped
        waiting); nothing is created then.
        """
        key = _check_key(command.idempotency_key)
        if self.admission is None:
            return await self._place(command, key)
        # First: a refusal must cost nothing, and must leave nothing behind.
        self.admission.reserve()
        created = False
        try:
            order, created = await self._place(command, key)
        finally:
            if created:
                self.admission.admitted()
            else:
                self.admission.released()
        return order, created

    async def _place(self, command: PlaceOrder, key: str) -> tuple[Order, bool]:
        fingerprint = self.fingerprint(command)
        if (existing := await self._replay(command.user_id, key, fingerprint)) is not None:
            return existing, False
        cart = await self.upstreams.read_cart(command.authorization)
        if not cart.items:
            raise CheckoutRefusedError(422, "The cart is empty")
        if cart.checkout_ready is False:
            raise CheckoutRefusedError(
                409, "The cart has lines that cannot be bought; remove them first"
            )
        currency = cart.total.currency
        if any(item.unit_price.currency != currency for item in cart.items):
            raise CheckoutRefusedError(409, "The cart mixes currencies")
        items = [{"sku": item.sku, "quantity": item.quantity} for item in cart.items]
        country = str(command.shipping_address["country"])
        quote = await self.upstreams.quote(command.authorization, country, items)
        if quote.amount.currency != currency:
            raise CheckoutRefusedError(409, "Shipping is not quoted in the cart's currency")
        token = await self.upstreams.tokenize(command.authorization, command.card)
        order = Order(
            id=uuid4(),
            user_id=command.user_id,
            lines=[
                OrderLine(UUID(i.product_id), i.sku, i.name, i.quantity, i.unit_price.amount)
                for i in cart.items
            ],
            shipping=quote.amount.amount,
            currency=currency,
            shipping_address=command.shipping_address,
            card_token=token.card_token,
            card_brand=token.brand,
            card_last4=token.last4,
            idempotency_key=key,
            request_hash=fingerprint,
            now=self.clock(),
        )
        order.place(self.clock(), self.step_timeout)
        if (left := deadline.remaining()) is not None and left < WRITE_MARGIN:
            raise deadline.DeadlineExceededError("no time left to create the order")
        try:
            # Past this point the order is created and answered, late or not:
            # cut in half, the caller would get a 504 for an order that exists.
            with deadline.finishing():
                async with self.unit_of_work() as uow:
                    uow.orders.add(order)
                    await publish_recorded(uow, order)
                    await uow.commit()
        except IntegrityError:
            # The same key raced in from another request and won: answer with its order.
            if (existing := await self._replay(command.user_id, key, fingerprint)) is not None:
                return existing, False
            raise
        return order, True

    async def _replay(self, user_id: UUID, key: str, fingerprint: str) -> Order | None:
        async with self.unit_of_work() as uow:  # a read: rolled back on exit
            existing = await uow.orders.by_key(user_id, key)
        if existing is None:
            return None
        if not hmac.compare_digest(existing.request_hash, fingerprint):
            raise CheckoutRefusedError(
                422, "This Idempotency-Key was used for a different request; use a new key"
            )
        return existing

    async def cancel(self, order_id: UUID, user_id: UUID) -> Order:
        """The customer's cancel (``CannotCancelError`` once shipped or cancelled).

        A saga reply that changes the order meanwhile wins the race; the cancel
        is then decided again on the order's new state.
        """

        async def cancel(uow: OrdersUnitOfWork) -> Order:
            order = await uow.orders.get(order_id)
            if order is None or order.user_id != user_id:
                raise UnknownOrderError(order_id)
            order.cancel_by_customer(self.clock())
            await publish_recorded(uow, order)
            await uow.flush()
            if self.watch is not None:
                self.watch.after_commit(uow, order.id)
            return order

        return await transactionally(self.unit_of_work, cancel, retries=2)


def _check_key(key: str | None) -> str:
    """The Idempotency-Key, if the request may be placed with it."""
    if key is None or not key.strip():
        raise CheckoutRefusedError(
            428, "Send an Idempotency-Key header (e.g. a fresh UUID) with each order"
        )
    if len(key) > MAX_KEY:
        raise CheckoutRefusedError(400, f"The Idempotency-Key must be at most {MAX_KEY} characters")
    return key
