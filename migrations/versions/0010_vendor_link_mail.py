"""vendor links in mails: the random half of a link the app can rebuild with its key when it mails the vendor

Revision ID: 0010_vendor_link_mail
Revises: 0009_backups
Create Date: 2026-12-07 13:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010_vendor_link_mail'
down_revision: str | None = '0009_backups'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('vendor_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mail_nonce', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('vendor_links', schema=None) as batch_op:
        batch_op.drop_column('mail_nonce')
