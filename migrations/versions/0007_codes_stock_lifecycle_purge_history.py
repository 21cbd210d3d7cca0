"""codes, stock and limits; lifecycle leases; purge receipts; order status history; lookup tokens

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 23:22:33.016542
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('job_leases',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=100), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_job_leases'))
    )
    op.create_table('purge_receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_purge_receipts_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purge_receipts'))
    )
    with op.batch_alter_table('purge_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purge_receipts_event_id'), ['event_id'], unique=False)

    op.create_table('redemption_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('hint', sa.String(length=16), nullable=False),
    sa.Column('max_uses', sa.Integer(), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('item_keys', sa.JSON(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_redemption_codes_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemption_codes')),
    sa.UniqueConstraint('event_id', 'code_hash', name=op.f('uq_redemption_codes_event_id_code_hash'))
    )
    with op.batch_alter_table('redemption_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_redemption_codes_event_id'), ['event_id'], unique=False)

    op.create_table('stock_pools',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('sold', sa.Integer(), nullable=False, server_default='0'),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_stock_pools_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_pools')),
    sa.UniqueConstraint('event_id', 'name', name=op.f('uq_stock_pools_event_id_name'))
    )
    with op.batch_alter_table('stock_pools', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_pools_event_id'), ['event_id'], unique=False)

    op.create_table('code_redemptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['code_id'], ['redemption_codes.id'], name=op.f('fk_code_redemptions_code_id_redemption_codes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_code_redemptions_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_code_redemptions')),
    sa.UniqueConstraint('order_id', name=op.f('uq_code_redemptions_order_id'))
    )
    with op.batch_alter_table('code_redemptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_code_redemptions_code_id'), ['code_id'], unique=False)

    op.create_table('email_claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('email_hash', sa.String(length=64), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_email_claims_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_email_claims_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_claims')),
    sa.UniqueConstraint('event_id', 'email_hash', name=op.f('uq_email_claims_event_id_email_hash')),
    sa.UniqueConstraint('order_id', name=op.f('uq_email_claims_order_id'))
    )
    with op.batch_alter_table('email_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_claims_event_id'), ['event_id'], unique=False)

    op.create_table('order_status_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('received', 'sent_to_vendor', 'in_production', 'shipped', 'delivered', 'cancelled', name='orderstatus', native_enum=False, length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('tracking', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_status_changes_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_status_changes'))
    )
    with op.batch_alter_table('order_status_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_status_changes_order_id'), ['order_id'], unique=False)

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code_mode', sa.Enum('none', 'form', 'items', name='codemode', native_enum=False, length=32), nullable=False, server_default='none'))
        batch_op.add_column(sa.Column('close_when_sold_out', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('one_order_per_email', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('sold_out_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('recorded_phase', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requires_code', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('pool_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_items_pool_id'), ['pool_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_items_pool_id_stock_pools'), 'stock_pools', ['pool_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lookup_token_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_orders_lookup_token_hash'), ['lookup_token_hash'])

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.Enum('email', 'sms', name='messagechannel', native_enum=False, length=32), nullable=False, server_default='email'))
        batch_op.add_column(sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stock', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('sold', sa.Integer(), nullable=False, server_default='0'))


    # Orders placed before the history existed start it with their current status, at their placing time.
    op.execute("INSERT INTO order_status_changes (order_id, status, at, actor) "
               "SELECT id, status, created_at, 'system' FROM orders")
    # Units already ordered count against stock from now on.
    op.execute("UPDATE variants SET sold = COALESCE((SELECT SUM(l.quantity) FROM order_lines l "
               "JOIN orders o ON o.id = l.order_id WHERE l.variant_id = variants.id "
               "AND o.status <> 'cancelled'), 0)")


def downgrade() -> None:
    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.drop_column('sold')
        batch_op.drop_column('stock')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('purged_at')
        batch_op.drop_column('channel')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_orders_lookup_token_hash'), type_='unique')
        batch_op.drop_column('changed_at')
        batch_op.drop_column('lookup_token_hash')

    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_items_pool_id_stock_pools'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_items_pool_id'))
        batch_op.drop_column('pool_id')
        batch_op.drop_column('requires_code')

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('purged_at')
        batch_op.drop_column('recorded_phase')
        batch_op.drop_column('sold_out_at')
        batch_op.drop_column('one_order_per_email')
        batch_op.drop_column('close_when_sold_out')
        batch_op.drop_column('code_mode')

    with op.batch_alter_table('order_status_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_status_changes_order_id'))

    op.drop_table('order_status_changes')
    with op.batch_alter_table('email_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_claims_event_id'))

    op.drop_table('email_claims')
    with op.batch_alter_table('code_redemptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_code_redemptions_code_id'))

    op.drop_table('code_redemptions')
    with op.batch_alter_table('stock_pools', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_pools_event_id'))

    op.drop_table('stock_pools')
    with op.batch_alter_table('redemption_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_redemption_codes_event_id'))

    op.drop_table('redemption_codes')
    with op.batch_alter_table('purge_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purge_receipts_event_id'))

    op.drop_table('purge_receipts')
    op.drop_table('job_leases')
