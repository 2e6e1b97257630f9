"""recommendations: index the inbox's processed_at, which the hourly pruner deletes by

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 14:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A store adopted from before migrations may have it already (create_all).
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbox_processed_at"), ["processed_at"], unique=False, if_not_exists=True
        )


def downgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_processed_at"), if_exists=True)
