"""guard rails: a portal's guard settings, the counters its caps count in, the repeats it suppresses, its stop
list, which messages passed the guard rails, and notices about the portal itself (caps) rather than an account

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('portals') as batch:
        batch.add_column(sa.Column('guards', sa.JSON(), nullable=True))
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('admitted_at', sa.DateTime(), nullable=True))
    # Messages that went to a provider (or failed) before this passed their guard rails already: a retry is not
    # counted against a cap again, nor taken for a repeat of itself.
    op.execute("UPDATE messages SET admitted_at = created_at WHERE attempts > 0 OR state NOT IN ('received', "
               "'retry_wait')")
    op.create_table(
        'guard_counters',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('portal_id', sa.Integer(), sa.ForeignKey('portals.id', ondelete='CASCADE'), nullable=False),
        sa.Column('period', sa.String(length=12), nullable=False),
        sa.Column('messages', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('granted', sa.Integer(), nullable=False, server_default='0'),
        sa.UniqueConstraint('portal_id', 'period', name='uq_guard_counters_period'),
        sqlite_autoincrement=True,
    )
    op.create_table(
        'guard_repeats',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('portal_id', sa.Integer(), sa.ForeignKey('portals.id', ondelete='CASCADE'), nullable=False),
        sa.Column('recipient', sa.String(length=32), nullable=False),
        sa.Column('text_key', sa.String(length=64), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('portal_id', 'recipient', 'text_key', name='uq_guard_repeats_key'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_guard_repeats_sent_at', 'guard_repeats', ['sent_at'])
    op.create_table(
        'stop_list',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('portal_id', sa.Integer(), sa.ForeignKey('portals.id', ondelete='CASCADE'), nullable=False),
        sa.Column('number', sa.String(length=32), nullable=False),
        sa.Column('reason', sa.String(length=8), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('portal_id', 'number', name='uq_stop_list_number'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_stop_list_portal_created', 'stop_list', ['portal_id', 'created_at'])
    with op.batch_alter_table('portal_notices') as batch:
        batch.alter_column('account_id', existing_type=sa.Integer(), nullable=True)
    # One notice per cause for the portal itself (account_id NULL): NULLs never collide in the unique constraint.
    op.create_index('uq_portal_notices_portal_cause', 'portal_notices', ['portal_id', 'cause'], unique=True,
                    sqlite_where=sa.text('account_id IS NULL'), postgresql_where=sa.text('account_id IS NULL'))


def downgrade():
    op.drop_index('uq_portal_notices_portal_cause', table_name='portal_notices')
    op.execute("DELETE FROM portal_notices WHERE account_id IS NULL")
    with op.batch_alter_table('portal_notices') as batch:
        batch.alter_column('account_id', existing_type=sa.Integer(), nullable=False)
    op.drop_index('ix_stop_list_portal_created', table_name='stop_list')
    op.drop_table('stop_list')
    op.drop_index('ix_guard_repeats_sent_at', table_name='guard_repeats')
    op.drop_table('guard_repeats')
    op.drop_table('guard_counters')
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('admitted_at')
    with op.batch_alter_table('portals') as batch:
        batch.drop_column('guards')
