"""submission lookup: the repeated-submission check's index also orders by created_at

Revision ID: 0011_submission_lookup
Revises: 0010_vendor_link_mail
Create Date: 2026-12-07 15:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0011_submission_lookup'
down_revision: str | None = '0010_vendor_link_mail'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain index operations: no batch mode, so SQLite never copies the orders table for them.
    op.create_index("ix_orders_event_id_submission_hash_created_at", "orders",
                    ["event_id", "submission_hash", "created_at"])
    op.drop_index("ix_orders_event_id_submission_hash", table_name="orders")


def downgrade() -> None:
    op.create_index("ix_orders_event_id_submission_hash", "orders", ["event_id", "submission_hash"])
    op.drop_index("ix_orders_event_id_submission_hash_created_at", table_name="orders")
