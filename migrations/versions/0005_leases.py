"""leases: a lease token on messages and on a portal's status reports, so that only the holder's writes land

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('lease_token', sa.String(length=16), nullable=False, server_default=''))
    with op.batch_alter_table('portals') as batch:
        batch.add_column(sa.Column('report_lease', sa.String(length=16), nullable=True))
    # The job claims per provider account (polling, reconciliation) and per portal (sending): each claim reads
    # one account's or portal's due rows.
    op.create_index('ix_messages_account_state_due', 'messages', ['account_id', 'state', 'due_at'])
    op.create_index('ix_messages_portal_state_due', 'messages', ['portal_id', 'state', 'due_at'])


def downgrade():
    op.drop_index('ix_messages_portal_state_due', table_name='messages')
    op.drop_index('ix_messages_account_state_due', table_name='messages')
    with op.batch_alter_table('portals') as batch:
        batch.drop_column('report_lease')
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('lease_token')
