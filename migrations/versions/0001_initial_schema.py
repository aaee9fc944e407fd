"""initial schema: portals, provider accounts, messages

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('portals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.String(length=64), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('client_endpoint', sa.String(length=255), nullable=False),
    sa.Column('access_token', sa.Text(), nullable=True),
    sa.Column('refresh_token', sa.Text(), nullable=True),
    sa.Column('token_expires_at', sa.DateTime(), nullable=True),
    sa.Column('application_token', sa.Text(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('state_reason', sa.Text(), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('region', sa.String(length=2), nullable=False),
    sa.Column('sender_registered', sa.Boolean(), nullable=False),
    sa.Column('sender_checked_at', sa.DateTime(), nullable=True),
    sa.Column('report_not_before', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('member_id')
    )
    with op.batch_alter_table('portals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portals_state'), ['state'], unique=False)

    op.create_table('provider_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('portal_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('sender', sa.String(length=64), nullable=True),
    sa.Column('credentials', sa.Text(), nullable=False),
    sa.Column('callback_secret_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['portal_id'], ['portals.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('callback_secret_hash')
    )
    with op.batch_alter_table('provider_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_provider_accounts_portal_id'), ['portal_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('portal_id', sa.Integer(), nullable=False),
    sa.Column('bitrix_message_id', sa.String(length=64), nullable=False),
    sa.Column('recipient', sa.String(length=32), nullable=True),
    sa.Column('recipient_raw', sa.String(length=255), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('segments', sa.Integer(), nullable=False),
    sa.Column('origin', sa.JSON(), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('provider', sa.String(length=32), nullable=True),
    sa.Column('provider_message_id', sa.String(length=128), nullable=True),
    sa.Column('provider_status', sa.String(length=255), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=True),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error_text', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('reported_status', sa.String(length=16), nullable=True),
    sa.Column('report_pending', sa.Boolean(), nullable=False),
    sa.Column('report_to_bitrix', sa.Boolean(), nullable=False),
    sa.Column('reported_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['provider_accounts.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['portal_id'], ['portals.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('portal_id', 'bitrix_message_id', name='uq_messages_portal_bitrix_id')
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_report', ['report_pending', 'portal_id'], unique=False)
        batch_op.create_index('ix_messages_state_due', ['state', 'due_at'], unique=False)
        batch_op.create_index('ix_messages_portal_created', ['portal_id', 'created_at'], unique=False)



def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_portal_created')
        batch_op.drop_index('ix_messages_state_due')
        batch_op.drop_index('ix_messages_report')

    op.drop_table('messages')
    with op.batch_alter_table('provider_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_provider_accounts_portal_id'))

    op.drop_table('provider_accounts')
    with op.batch_alter_table('portals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portals_state'))

    op.drop_table('portals')
