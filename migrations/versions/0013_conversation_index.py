"""the message log's conversations: a portal's messages to one number, newest first, read by an index (the
replies from a number have theirs since 0012)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_messages_portal_recipient', 'messages', ['portal_id', 'recipient', 'created_at'])


def downgrade():
    op.drop_index('ix_messages_portal_recipient', table_name='messages')
