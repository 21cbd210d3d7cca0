"""form drafts, vendor portal links, disclosure channels, event currency, submission hashes, first-run passwords

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 06:16:19.155823
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('form_drafts',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('base_version_id', sa.Integer(), nullable=True),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['base_version_id'], ['form_versions.id'], name=op.f('fk_form_drafts_base_version_id_form_versions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_form_drafts_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_form_drafts'))
    )
    op.create_table('vendor_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vendor_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('in_mails', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_visit_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_vendor_links_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_vendor_links_vendor_id_vendors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vendor_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_vendor_links_token_hash'))
    )
    with op.batch_alter_table('vendor_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vendor_links_event_id'), ['event_id'], unique=False)
        batch_op.create_index('ix_vendor_links_vendor_id_event_id', ['vendor_id', 'event_id'], unique=False)

    with op.batch_alter_table('disclosures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=32), nullable=False, server_default='mail'))

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=False, server_default='EUR'))

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submission_hash', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_orders_event_id_submission_hash', ['event_id', 'submission_hash'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False, server_default=sa.false()))



def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_event_id_submission_hash')
        batch_op.drop_column('submission_hash')

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('currency')

    with op.batch_alter_table('disclosures', schema=None) as batch_op:
        batch_op.drop_column('channel')

    with op.batch_alter_table('vendor_links', schema=None) as batch_op:
        batch_op.drop_index('ix_vendor_links_vendor_id_event_id')
        batch_op.drop_index(batch_op.f('ix_vendor_links_event_id'))

    op.drop_table('vendor_links')
    op.drop_table('form_drafts')
