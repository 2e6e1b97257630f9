"""What customers read: short, plain English, naming the order, reason and tracking."""

from __future__ import annotations

import uuid

from emporium.contracts.money import Money
from emporium.contracts.orders import OrderCancelled, OrderConfirmed, OrderLine
from emporium.contracts.shipping import ShipmentDispatched
from emporium.services.notifications.drafts import Kind, cancelled, confirmed, price, shipped

ORDER = uuid.UUID("1234abcd-0000-4000-8000-000000000000")
USER = uuid.uuid4()


def test_confirmed_names_the_order_items_and_total() -> None:
    line = OrderLine(
        product_id=uuid.uuid4(), sku="A", name="A", quantity=3, unit_price=Money(amount=1000)
    )
    draft = confirmed(
        OrderConfirmed(order_id=ORDER, user_id=USER, lines=[line], total=Money(amount=123456))
    )
    assert draft.kind is Kind.ORDER_CONFIRMED
    assert draft.user_id == USER
    assert draft.subject == "Your order 1234abcd is confirmed"
    assert "3 items" in draft.body
    assert "$1,234.56" in draft.body


def test_cancelled_says_why_in_words() -> None:
    draft = cancelled(OrderCancelled(order_id=ORDER, user_id=USER, reason="PAYMENT_DECLINED"))
    assert draft.kind is Kind.ORDER_CANCELLED
    assert draft.subject == "Your order 1234abcd was cancelled: payment declined"


def test_cancelled_with_an_unknown_reason_still_reads_as_words() -> None:
    draft = cancelled(OrderCancelled(order_id=ORDER, user_id=USER, reason="FRAUD_SUSPECTED"))
    assert draft.subject.endswith("cancelled: fraud suspected")


def test_shipped_gives_the_tracking_number_and_carrier() -> None:
    event = ShipmentDispatched(
        order_id=ORDER, user_id=USER, tracking_number="EMP0A1B2C3D4E5F", carrier="Emporium Post"
    )
    draft = shipped(event)
    assert draft.kind is Kind.ORDER_SHIPPED
    assert draft.subject == "Your order 1234abcd has shipped: tracking EMP0A1B2C3D4E5F"
    assert "Emporium Post" in draft.body


def test_prices_other_than_dollars_name_their_currency() -> None:
    assert price(Money(amount=5, currency="EUR")) == "0.05 EUR"
    assert price(Money(amount=100)) == "$1.00"
