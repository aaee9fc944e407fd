"""trust and integrity: handler keys, provider keys, refresh lease, account health, encryption canary

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
import json

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('portals') as batch:
        batch.add_column(sa.Column('handler_key', sa.Text(), nullable=True))
        batch.add_column(sa.Column('handler_key_hash', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('sender_keyed', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('refresh_lease', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('refresh_lease_until', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('refresh_interrupted_at', sa.DateTime(), nullable=True))
        batch.create_unique_constraint('uq_portals_handler_key_hash', ['handler_key_hash'])
    with op.batch_alter_table('provider_accounts') as batch:
        batch.add_column(sa.Column('timeouts_in_row', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('skip_until', sa.DateTime(), nullable=True))
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('provider_key', sa.String(length=40), nullable=True))
        batch.add_column(sa.Column('author_id', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('possible_duplicate', sa.Boolean(), nullable=False, server_default=sa.false()))
    # Messages already handed to providers keep the key those providers know them by: their row id.
    messages = sa.table('messages', sa.column('id', sa.Integer), sa.column('provider_key', sa.String),
                        sa.column('origin', sa.JSON), sa.column('author_id', sa.String))
    connection = op.get_bind()
    connection.execute(messages.update().values(provider_key=sa.cast(messages.c.id, sa.String)))
    for row in connection.execute(sa.select(messages.c.id, messages.c.origin)).all():
        origin = row.origin if not isinstance(row.origin, str) else json.loads(row.origin)
        author = (origin or {}).get('user_id') if isinstance(origin, dict) else None
        if author:
            connection.execute(messages.update().where(messages.c.id == row.id)
                               .values(author_id=str(author)[:32]))
    with op.batch_alter_table('messages') as batch:
        batch.alter_column('provider_key', existing_type=sa.String(length=40), nullable=False)
        batch.create_unique_constraint('uq_messages_provider_key', ['provider_key'])
    op.create_index('ix_messages_portal_author', 'messages', ['portal_id', 'author_id', 'created_at'])
    op.create_table('encryption_canary',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('value', sa.Text(), nullable=False),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))


def downgrade():
    op.drop_table('encryption_canary')
    op.drop_index('ix_messages_portal_author', table_name='messages')
    with op.batch_alter_table('messages') as batch:
        batch.drop_constraint('uq_messages_provider_key', type_='unique')
        batch.drop_column('possible_duplicate')
        batch.drop_column('author_id')
        batch.drop_column('provider_key')
    with op.batch_alter_table('provider_accounts') as batch:
        batch.drop_column('skip_until')
        batch.drop_column('timeouts_in_row')
    with op.batch_alter_table('portals') as batch:
        batch.drop_constraint('uq_portals_handler_key_hash', type_='unique')
        batch.drop_column('refresh_interrupted_at')
        batch.drop_column('refresh_lease_until')
        batch.drop_column('refresh_lease')
        batch.drop_column('sender_keyed')
        batch.drop_column('handler_key_hash')
        batch.drop_column('handler_key')
