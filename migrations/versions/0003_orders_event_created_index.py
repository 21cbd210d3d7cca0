"""index orders by event and time for the Orders page

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 21:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_orders_event_id_created_at", "orders", ["event_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_orders_event_id_created_at", table_name="orders")
