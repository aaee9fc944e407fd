"""sender names: a portal's list of sender names (one messageservice sender each) and the name a message asked for

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'sender_names',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('portal_id', sa.Integer(), sa.ForeignKey('portals.id', ondelete='CASCADE'), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        # The CODE suffix of the name's messageservice sender: derived once, never changed.
        sa.Column('suffix', sa.String(length=16), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('is_default', sa.Boolean(), nullable=False),
        sa.Column('registered', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('portal_id', 'suffix', name='uq_sender_names_portal_suffix'),
    )
    op.create_index('ix_sender_names_portal_id', 'sender_names', ['portal_id'])
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('sender', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('sender')
    op.drop_index('ix_sender_names_portal_id', table_name='sender_names')
    op.drop_table('sender_names')
