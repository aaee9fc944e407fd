"""retention: per-day counts of deleted messages; indexes for retention and per-portal status reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('daily_message_counts',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('portal_id', sa.Integer(), nullable=False),
                    sa.Column('day', sa.Date(), nullable=False),
                    sa.Column('provider', sa.String(length=32), nullable=False),
                    sa.Column('sent', sa.Integer(), nullable=False),
                    sa.Column('delivered', sa.Integer(), nullable=False),
                    sa.Column('undelivered', sa.Integer(), nullable=False),
                    sa.Column('failed', sa.Integer(), nullable=False),
                    sa.Column('segments', sa.Integer(), nullable=False),
                    sa.ForeignKeyConstraint(['portal_id'], ['portals.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('portal_id', 'day', 'provider', name='uq_daily_message_counts_key'))
    op.create_index('ix_messages_state_updated', 'messages', ['state', 'updated_at'])
    # The report index gains `id`: report_portal reads a portal's untold messages in id order.
    op.drop_index('ix_messages_report', table_name='messages')
    op.create_index('ix_messages_report', 'messages', ['report_pending', 'portal_id', 'id'])


def downgrade():
    op.drop_index('ix_messages_report', table_name='messages')
    op.create_index('ix_messages_report', 'messages', ['report_pending', 'portal_id'])
    op.drop_index('ix_messages_state_updated', table_name='messages')
    op.drop_table('daily_message_counts')
