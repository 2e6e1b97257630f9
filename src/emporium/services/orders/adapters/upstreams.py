"""The synchronous calls checkout makes: cart, shipping quote, card tokenization.

Each call is made on the customer's behalf and carries their ``Authorization``
header. Any failure to get an answer (down, timing out, circuit open, 5xx, a
body that is not what the contract says) is :class:`UpstreamDownError`, which
the route turns into a fast 503; nothing is created then.

Whether a card is good (Luhn, expiry, CVC length per brand) is payments' rule
alone: orders sends the card as typed and relays payments' refusal, naming the
field it concerns, as :class:`CardRefusedError`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from emporium.chassis.http import Response, ServiceClient, UpstreamFailure
from emporium.chassis.settings import Route
from emporium.contracts import Money

logger = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)


class UpstreamDownError(Exception):
    def __init__(self, service: str, why: str) -> None:
        super().__init__(f"{service} unavailable: {why}")
        self.service = service


class UpstreamRefusedError(Exception):
    """An upstream refused the request for a reason the customer must fix (a 4xx)."""

    def __init__(self, service: str, status: int, detail: str) -> None:
        super().__init__(detail)
        self.service, self.status, self.detail = service, status, detail


class CardRefusedError(UpstreamRefusedError):
    """Payments refused the card; ``field`` is the input it names (``number``,
    ``exp_month``, ``exp_year``, ``cvc``), or ``""`` if its answer named none."""

    def __init__(self, status: int, detail: str, field: str) -> None:
        super().__init__("payments", status, detail)
        self.field = field


@dataclass(frozen=True, repr=False)
class PaymentCard:
    """The card as typed at checkout, held only until payments has tokenized it.

    ``repr`` hides the number and the CVC so no log line or traceback carries them.
    """

    number: str
    exp_month: int
    exp_year: int
    cvc: str

    @property
    def last4(self) -> str:
        return "".join(ch for ch in self.number if ch.isdigit())[-4:]

    def __repr__(self) -> str:
        return f"PaymentCard(****{self.last4}, {self.exp_month:02d}/{self.exp_year})"


class CartLine(BaseModel):
    product_id: str
    sku: str
    name: str
    quantity: int
    unit_price: Money


class CartView(BaseModel):
    items: list[CartLine]
    total: Money
    checkout_ready: bool | None = None


class Quote(BaseModel):
    amount: Money
    carrier: str = ""
    eta_days: int | None = None


class CardToken(BaseModel):
    card_token: str
    brand: str
    last4: str


@dataclass
class Upstreams:
    """A chassis component holding one resilient client per upstream."""

    cart: ServiceClient
    shipping: ServiceClient
    payments: ServiceClient

    @classmethod
    def at(cls, cart: Route, shipping: Route, payments: Route, *, timeout: float) -> Upstreams:
        """Clients of the three, each reached by its route (the chassis' ``route``)."""

        def client(name: str, route: Route) -> ServiceClient:
            return ServiceClient(route.url, name=name, timeout=timeout, endpoints=route.endpoints)

        return cls(client("cart", cart), client("shipping", shipping), client("payments", payments))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for client in (self.cart, self.shipping, self.payments):
            await client.close()

    async def ready(self) -> bool:
        # Upstreams being down must not take orders out of the balancer: its reads work.
        return True

    async def read_cart(self, authorization: str) -> CartView:
        response = await _call("cart", self.cart, "GET", "/api/cart", authorization)
        return _parse("cart", CartView, _expect(response, "cart", 200))

    async def quote(self, authorization: str, country: str, items: list[dict[str, Any]]) -> Quote:
        body = {"country": country, "items": items}
        response = await _call(
            "shipping", self.shipping, "POST", "/api/shipping/quotes", authorization, body, True
        )
        return _parse("shipping", Quote, _expect(response, "shipping", 200, 201))

    async def tokenize(self, authorization: str, card: PaymentCard) -> CardToken:
        """Exchange the card for a payments token (``CardRefusedError`` if payments says no)."""
        body = {
            "number": card.number,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "cvc": card.cvc,
        }
        response = await _call(
            "payments", self.payments, "POST", "/api/payments/cards", authorization, body
        )
        if response.status == 422:
            raise CardRefusedError(response.status, _card_message(response), _card_field(response))
        return _parse("payments", CardToken, _expect(response, "payments", 200, 201))


async def _call(
    service: str,
    client: ServiceClient,
    method: str,
    path: str,
    authorization: str,
    body: dict[str, Any] | None = None,
    idempotent: bool | None = None,
) -> Response:
    try:
        return await client.request(
            method, path, json=body, headers={"Authorization": authorization}, idempotent=idempotent
        )
    except UpstreamFailure as exc:
        # The message names the upstream and the path, never the body (card data).
        logger.warning("checkout upstream failed: %s", exc, extra={"upstream": service})
        raise UpstreamDownError(service, type(exc).__name__) from None


def _expect(response: Response, service: str, *ok: int) -> Response:
    if response.status in ok:
        return response
    if 400 <= response.status < 500 and response.status not in (401, 403, 404, 429):
        raise UpstreamRefusedError(service, response.status, _detail(response))
    raise UpstreamDownError(service, f"answered {response.status}")


def _detail(response: Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return str(body["detail"])
    return "the request was refused"


def _card_message(response: Response) -> str:
    """Payments' own words for the field it refused (written for the shopper),
    else its problem's detail."""
    try:
        message = response.json()["errors"][0]["msg"]
    except (ValueError, KeyError, IndexError, TypeError):
        return _detail(response)
    return str(message) if isinstance(message, str) and message else _detail(response)


def _card_field(response: Response) -> str:
    """The input payments' problem names: the last part of its first error's ``loc``
    (payments answers ``{"errors": [{"loc": ["body", "cvc"], ...}]}``)."""
    try:
        body = response.json()
        field = body["errors"][0]["loc"][-1]
    except (ValueError, KeyError, IndexError, TypeError):
        return ""
    return field if isinstance(field, str) else ""


def _parse(service: str, model: type[T], response: Response) -> T:
    try:
        return model.model_validate_json(response.content)
    except ValidationError:
        raise UpstreamDownError(service, "answer does not match its contract") from None
