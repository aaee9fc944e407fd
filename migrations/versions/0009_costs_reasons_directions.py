"""costs, reasons and directions: what a message cost and in which currency (where its provider said), why it was
held or refused, and whether it went out or came in

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('cost', sa.Numeric(precision=14, scale=6), nullable=True))
        batch.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
        batch.add_column(sa.Column('reason', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('direction', sa.String(length=3), nullable=False, server_default='out'))


def downgrade():
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('direction')
        batch.drop_column('reason')
        batch.drop_column('currency')
        batch.drop_column('cost')
