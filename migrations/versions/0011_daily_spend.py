"""daily spend: what deleted messages cost, per portal, day, provider and currency ("" counts the messages a
provider took without a price), so that the spend in the statistics outlives retention as the counts do

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'daily_spend',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('portal_id', sa.Integer(), sa.ForeignKey('portals.id', ondelete='CASCADE'), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('amount', sa.Numeric(18, 6), nullable=False),
        sa.Column('messages', sa.Integer(), nullable=False),
        sa.UniqueConstraint('portal_id', 'day', 'provider', 'currency', name='uq_daily_spend_key'),
        sqlite_autoincrement=True,
    )


def downgrade():
    op.drop_table('daily_spend')
