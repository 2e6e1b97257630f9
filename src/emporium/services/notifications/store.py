"""Notifications' table and repository: one row per customer, order and kind."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.chassis import service_metadata
from emporium.chassis.messaging import make_inbox_table, make_outbox_table
from emporium.services.notifications.drafts import Draft

__all__ = ["Notification", "NotificationRepository", "metadata", "notifications"]

# Notifications' store only: creating it makes no other service's tables. Constraint
# names follow the chassis' convention, so stores made before keep theirs.
metadata = service_metadata()
# The chassis' outbox and inbox, made in this store with the service's tables.
outbox = make_outbox_table(metadata)
inbox = make_inbox_table(metadata)

notifications = sa.Table(
    "notifications_messages",
    metadata,
    # A sequence gives "newest first" even for messages stored in the same microsecond.
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.Uuid, nullable=False, unique=True),
    sa.Column("user_id", sa.Uuid, nullable=False),
    sa.Column("order_id", sa.Uuid, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    # One message per event per customer, even if the event is republished
    # under a new message id (the inbox only catches the same id).
    sa.UniqueConstraint("user_id", "order_id", "kind", name="uq_notifications_messages_event"),
    sa.Index("ix_notifications_messages_user_seq", "user_id", "seq"),
)


@dataclass(frozen=True)
class Notification:
    id: UUID
    user_id: UUID
    order_id: UUID
    kind: str
    subject: str
    body: str
    created_at: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class NotificationRepository:
    """Notifications in one session's transaction; never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, draft: Draft) -> Notification | None:
        """Store ``draft`` unless that customer already has it; the new message or None."""
        exists = sa.select(sa.literal(1)).where(
            notifications.c.user_id == draft.user_id,
            notifications.c.order_id == draft.order_id,
            notifications.c.kind == draft.kind.value,
        )
        if (await self.session.execute(exists)).first() is not None:
            return None
        stored = Notification(
            id=uuid.uuid4(),
            user_id=draft.user_id,
            order_id=draft.order_id,
            kind=draft.kind.value,
            subject=draft.subject,
            body=draft.body,
            created_at=_utcnow(),
        )
        await self.session.execute(sa.insert(notifications).values(**asdict(stored)))
        return stored

    async def for_user(self, user_id: UUID, limit: int) -> list[Notification]:
        columns = [notifications.c[name] for name in Notification.__dataclass_fields__]
        query = (
            sa.select(*columns)
            .where(notifications.c.user_id == user_id)
            .order_by(notifications.c.seq.desc())
            .limit(limit)
        )
        rows = (await self.session.execute(query)).mappings()
        return [Notification(**row) for row in rows]
