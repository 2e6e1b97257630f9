"""From what the aggregate recorded to integration messages in the outbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emporium.contracts import Message, Money
from emporium.contracts import inventory as inv
from emporium.contracts import orders as ords
from emporium.contracts import payments as pay
from emporium.services.orders.domain import Order
from emporium.services.orders.domain import events as ev

if TYPE_CHECKING:
    from emporium.services.orders.service_layer.unit_of_work import OrdersUnitOfWork


async def publish_recorded(uow: OrdersUnitOfWork, order: Order) -> None:
    """Everything ``order`` recorded, as messages in ``uow``'s outbox (its transaction)."""
    await uow.publish(
        *(integration_message(order, recorded) for recorded in order.collect_events())
    )


def integration_message(order: Order, recorded: ev.DomainEvent) -> Message:
    match recorded:
        case ev.ReserveStock(order_id, lines):
            stock = [inv.StockLine(sku=sku, quantity=quantity) for sku, quantity in lines]
            return inv.ReserveStock(order_id=order_id, lines=stock)
        case ev.CommitStock(order_id):
            return inv.CommitStock(order_id=order_id)
        case ev.ReleaseStock(order_id, _reason):
            return inv.ReleaseStock(order_id=order_id)
        case ev.AuthorizePayment(order_id, user_id, amount, currency, card_token):
            return pay.AuthorizePayment(
                order_id=order_id,
                user_id=user_id,
                amount=Money(amount=amount, currency=currency),
                card_token=card_token,
            )
        case ev.CapturePayment(order_id):
            return pay.CapturePayment(order_id=order_id)
        case ev.VoidPayment(order_id, reason):
            return pay.VoidPayment(order_id=order_id, reason=reason)
        case ev.RefundPayment(order_id, reason):
            return pay.RefundPayment(order_id=order_id, reason=reason)
        case ev.OrderPlaced(order_id):
            return ords.OrderPlaced(order_id=order_id, user_id=order.user_id, total=_total(order))
        case ev.OrderConfirmed(order_id):
            return ords.OrderConfirmed(
                order_id=order_id,
                user_id=order.user_id,
                lines=[
                    ords.OrderLine(
                        product_id=line.product_id,
                        sku=line.sku,
                        name=line.name,
                        quantity=line.quantity,
                        unit_price=Money(amount=line.unit_price, currency=order.currency),
                    )
                    for line in order.lines
                ],
                total=_total(order),
                shipping_address=ords.Address.model_validate(order.shipping_address),
            )
        case ev.OrderCancelled(order_id, reason):
            return ords.OrderCancelled(order_id=order_id, user_id=order.user_id, reason=reason)
        case ev.OrderShipped(order_id, tracking_number):
            return ords.OrderShipped(
                order_id=order_id, user_id=order.user_id, tracking_number=tracking_number
            )
    raise TypeError(f"no integration message for {recorded!r}")  # pragma: no cover


def _total(order: Order) -> Money:
    return Money(amount=order.total, currency=order.currency)
