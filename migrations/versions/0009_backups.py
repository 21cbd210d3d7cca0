"""backups: a record of each backup run, and when a purge's data leaves the backups

Revision ID: 0009_backups
Revises: 0008
Create Date: 2026-12-07 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009_backups'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('backup_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('keep_days', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backup_runs'))
    )
    with op.batch_alter_table('backup_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_backup_runs_taken_at'), ['taken_at'], unique=False)

    with op.batch_alter_table('purge_receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('backups_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('purge_receipts', schema=None) as batch_op:
        batch_op.drop_column('backups_until')

    with op.batch_alter_table('backup_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_backup_runs_taken_at'))

    op.drop_table('backup_runs')
