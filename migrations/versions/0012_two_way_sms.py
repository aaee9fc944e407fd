"""two-way SMS: reply numbers, the Open Lines they feed, incoming messages; a provider account's pull cursor;
an operator's answer remembers its line

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'reply_numbers',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('portal_id', sa.Integer(), sa.ForeignKey('portals.id', ondelete='CASCADE'), nullable=False),
        sa.Column('account_id', sa.Integer(), sa.ForeignKey('provider_accounts.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('number', sa.String(length=32), nullable=False),
        sa.Column('hooked', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('hook_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('number', name='uq_reply_numbers_number'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_reply_numbers_portal_id', 'reply_numbers', ['portal_id'])
    op.create_index('ix_reply_numbers_account_id', 'reply_numbers', ['account_id'])
    op.create_table(
        'open_lines',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('portal_id', sa.Integer(), sa.ForeignKey('portals.id', ondelete='CASCADE'), nullable=False),
        sa.Column('line', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('reply_numbers', sa.JSON(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('configured', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('portal_id', 'line', name='uq_open_lines_portal_line'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_open_lines_portal_id', 'open_lines', ['portal_id'])
    op.create_table(
        'incoming_messages',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('portal_id', sa.Integer(), sa.ForeignKey('portals.id', ondelete='CASCADE'), nullable=False),
        sa.Column('account_id', sa.Integer(), sa.ForeignKey('provider_accounts.id', ondelete='SET NULL'),
                  nullable=True),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('provider_message_id', sa.String(length=128), nullable=False),
        sa.Column('sender', sa.String(length=32), nullable=False),
        sa.Column('receiver', sa.String(length=32), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=True),
        sa.Column('stop_word', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('line', sa.String(length=16), nullable=True),
        sa.Column('bitrix_chat_id', sa.String(length=32), nullable=True),
        sa.Column('bitrix_session_id', sa.String(length=32), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('due_at', sa.DateTime(), nullable=True),
        sa.Column('lease', sa.String(length=16), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('raw', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('portal_id', 'provider', 'provider_message_id', name='uq_incoming_provider_id'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_incoming_state_due', 'incoming_messages', ['state', 'due_at'])
    op.create_index('ix_incoming_portal_created', 'incoming_messages', ['portal_id', 'created_at'])
    op.create_index('ix_incoming_portal_sender', 'incoming_messages', ['portal_id', 'sender', 'created_at'])
    # Plain ALTER TABLE ADD COLUMN (SQLite has it): a batch would copy the table, and SQLite's copy would lose the
    # AUTOINCREMENT that keeps message ids from being reused.
    op.add_column('provider_accounts', sa.Column('replies_cursor', sa.String(length=64), nullable=True))
    op.add_column('provider_accounts', sa.Column('replies_due_at', sa.DateTime(), nullable=True))
    op.add_column('provider_accounts', sa.Column('replies_lease', sa.String(length=16), nullable=True))
    op.add_column('messages', sa.Column('line', sa.String(length=16), nullable=True))
    op.add_column('messages', sa.Column('line_confirmed', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('line_confirmed')
        batch.drop_column('line')
    with op.batch_alter_table('provider_accounts') as batch:
        batch.drop_column('replies_lease')
        batch.drop_column('replies_due_at')
        batch.drop_column('replies_cursor')
    op.drop_table('incoming_messages')
    op.drop_table('open_lines')
    op.drop_table('reply_numbers')
