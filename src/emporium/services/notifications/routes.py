"""Notifications' HTTP API: the signed-in customer's own messages, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from emporium.chassis.auth import CurrentUser
from emporium.services.notifications.store import NotificationRepository

__all__ = ["router"]

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


class NotificationOut(BaseModel):
    id: UUID
    subject: str
    body: str
    created_at: datetime
    order_id: UUID
    kind: str


class NotificationsOut(BaseModel):
    items: list[NotificationOut]


@router.get("", response_model=NotificationsOut)
async def list_notifications(
    request: Request, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> NotificationsOut:
    # Always the caller's own messages, admins included: there is no user filter to abuse.
    async with request.app.state.runtime.db.session() as session:
        found = await NotificationRepository(session).for_user(user.user_id, limit)
    return NotificationsOut(
        items=[
            NotificationOut(
                id=n.id,
                subject=n.subject,
                body=n.body,
                created_at=n.created_at,
                order_id=n.order_id,
                kind=n.kind,
            )
            for n in found
        ]
    )
