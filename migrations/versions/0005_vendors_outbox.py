"""vendors outbox disclosures templates snapshots

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 21:51:24.645439
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('mail_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('confirmation', 'vendor_order', 'vendor_batch', 'alarm', name='messagekind', native_enum=False, length=32), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_mail_templates_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_templates')),
    sa.UniqueConstraint('event_id', 'kind', name=op.f('uq_mail_templates_event_id_kind'))
    )
    op.create_table('vendors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('emails', sa.JSON(), nullable=False),
    sa.Column('mode', sa.Enum('per_order', 'batch', name='vendormode', native_enum=False, length=32), nullable=False),
    sa.Column('visible_fields', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_vendors_owner_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vendors'))
    )
    with op.batch_alter_table('vendors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vendors_owner_id'), ['owner_id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('confirmation', 'vendor_order', 'vendor_batch', 'alarm', name='messagekind', native_enum=False, length=32), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('vendor_id', sa.Integer(), nullable=True),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('attachment_name', sa.String(length=200), nullable=True),
    sa.Column('attachment', sa.LargeBinary(), nullable=True),
    sa.Column('status', sa.Enum('held', 'pending', 'sending', 'sent', 'failed', name='messagestatus', native_enum=False, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_outbox_event_id_events'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_outbox_order_id_orders'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_outbox_vendor_id_vendors'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('message_id', name=op.f('uq_outbox_message_id'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_outbox_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_vendor_id'), ['vendor_id'], unique=False)

    op.create_table('disclosures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vendor_id', sa.Integer(), nullable=True),
    sa.Column('vendor_name', sa.String(length=200), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['outbox.id'], name=op.f('fk_disclosures_message_id_outbox'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_disclosures_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_disclosures_vendor_id_vendors'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosures'))
    )
    with op.batch_alter_table('disclosures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disclosures_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_disclosures_vendor_id'), ['vendor_id'], unique=False)

    op.create_table('vendor_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('vendor_id', sa.Integer(), nullable=True),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('is_delta', sa.Boolean(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_vendor_snapshots_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['outbox.id'], name=op.f('fk_vendor_snapshots_message_id_outbox'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_vendor_snapshots_vendor_id_vendors'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vendor_snapshots'))
    )
    with op.batch_alter_table('vendor_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vendor_snapshots_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_vendor_snapshots_vendor_id'), ['vendor_id'], unique=False)

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vendor_cutoff_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vendor_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_items_vendor_id'), ['vendor_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_items_vendor_id_vendors'), 'vendors', ['vendor_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_items_vendor_id_vendors'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_items_vendor_id'))
        batch_op.drop_column('vendor_id')

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('vendor_cutoff_at')

    with op.batch_alter_table('vendor_snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vendor_snapshots_vendor_id'))
        batch_op.drop_index(batch_op.f('ix_vendor_snapshots_event_id'))

    op.drop_table('vendor_snapshots')
    with op.batch_alter_table('disclosures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disclosures_vendor_id'))
        batch_op.drop_index(batch_op.f('ix_disclosures_order_id'))

    op.drop_table('disclosures')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_vendor_id'))
        batch_op.drop_index('ix_outbox_status_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_outbox_order_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_event_id'))

    op.drop_table('outbox')
    with op.batch_alter_table('vendors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vendors_owner_id'))

    op.drop_table('vendors')
    op.drop_table('mail_templates')
