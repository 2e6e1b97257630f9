"""Every message payments consumes, and what it does with it (one explicit table)."""

from __future__ import annotations

from emporium.chassis.messaging import Handler
from emporium.contracts import Message
from emporium.contracts.payments import (
    AuthorizePayment,
    CapturePayment,
    RefundPayment,
    VoidPayment,
)
from emporium.services.payments.service_layer import PaymentsService, PaymentsUnitOfWork


def message_handlers(service: PaymentsService) -> dict[type[Message], Handler]:
    """The handler table; the chassis runs each with its inbox row, exactly once per id."""

    async def authorize(command: AuthorizePayment, uow: PaymentsUnitOfWork) -> None:
        await service.authorize(command, uow)

    async def capture(command: CapturePayment, uow: PaymentsUnitOfWork) -> None:
        await service.capture(command, uow)

    async def void(command: VoidPayment, uow: PaymentsUnitOfWork) -> None:
        await service.void(command, uow)

    async def refund(command: RefundPayment, uow: PaymentsUnitOfWork) -> None:
        await service.refund(command, uow)

    return {
        AuthorizePayment: authorize,
        CapturePayment: capture,
        VoidPayment: void,
        RefundPayment: refund,
    }
