"""an optional picture per item

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 21:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch_op:
        batch_op.add_column(sa.Column("image", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("image_type", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_column("image_type")
        batch_op.drop_column("image")
