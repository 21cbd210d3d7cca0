"""line status: a vendor moves its own lines of an order it shares with other vendors

Revision ID: 0012_line_status
Revises: 0011_submission_lookup
Create Date: 2026-12-07 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012_line_status'
down_revision: str | None = '0011_submission_lookup'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS = sa.Enum('received', 'sent_to_vendor', 'in_production', 'shipped', 'delivered', 'cancelled',
                 name='orderstatus', native_enum=False, length=32)


def upgrade() -> None:
    # Nullable columns added with plain ALTER TABLE: SQLite adds them without copying the tables.
    op.add_column('order_lines', sa.Column('status', STATUS, nullable=True))
    op.add_column('order_status_changes', sa.Column('part', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('order_status_changes', schema=None) as batch_op:
        batch_op.drop_column('part')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_column('status')
