"""pause and notices: a portal's pause switch and its admins, balance thresholds, and the notices sent to admins

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('portals') as batch:
        batch.add_column(sa.Column('paused', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('admin_user_ids', sa.JSON(), nullable=True))
    with op.batch_alter_table('provider_accounts') as batch:
        batch.add_column(sa.Column('balance_threshold', sa.Float(), nullable=True))
        batch.add_column(sa.Column('balance_checked_at', sa.DateTime(), nullable=True))
    op.create_table(
        'portal_notices',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('portal_id', sa.Integer(), sa.ForeignKey('portals.id', ondelete='CASCADE'), nullable=False),
        sa.Column('account_id', sa.Integer(), sa.ForeignKey('provider_accounts.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('cause', sa.String(length=32), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=True),
        sa.Column('noted_at', sa.DateTime(), nullable=True),
        sa.Column('due_at', sa.DateTime(), nullable=True),
        sa.Column('lease', sa.String(length=16), nullable=True),
        sa.Column('last_sent_at', sa.DateTime(), nullable=True),
        sa.Column('quiet_until', sa.DateTime(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.UniqueConstraint('portal_id', 'account_id', 'cause', name='uq_portal_notices_cause'),
    )
    op.create_index('ix_portal_notices_due', 'portal_notices', ['due_at'])


def downgrade():
    op.drop_index('ix_portal_notices_due', table_name='portal_notices')
    op.drop_table('portal_notices')
    with op.batch_alter_table('provider_accounts') as batch:
        batch.drop_column('balance_checked_at')
        batch.drop_column('balance_threshold')
    with op.batch_alter_table('portals') as batch:
        batch.drop_column('admin_user_ids')
        batch.drop_column('paused')
