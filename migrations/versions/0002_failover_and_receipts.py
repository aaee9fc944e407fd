"""failover chain and receipts: attempt log, callback secrets, per-account poll slot

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('provider_accounts') as batch:
        batch.add_column(sa.Column('callback_secret', sa.Text(), nullable=True))
        batch.add_column(sa.Column('poll_not_before', sa.DateTime(), nullable=True))
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('attempt_log', sa.JSON(), nullable=True))
    op.create_index('ix_messages_account_provider_id', 'messages', ['account_id', 'provider_message_id'])


def downgrade():
    op.drop_index('ix_messages_account_provider_id', table_name='messages')
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('attempt_log')
    with op.batch_alter_table('provider_accounts') as batch:
        batch.drop_column('poll_not_before')
        batch.drop_column('callback_secret')
