"""install ids and sender codes: ids never reused on SQLite, a portal's install id (page tokens name it), and the
messageservice CODE each message came through (its statuses are reported under it)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# Every table with an integer id, parents before children (SQLite copies each one whole).
TABLES = ('portals', 'provider_accounts', 'sender_names', 'messages', 'portal_notices', 'encryption_canary',
          'daily_message_counts')


def upgrade():
    sqlite = op.get_bind().dialect.name == 'sqlite'
    with op.batch_alter_table('portals') as batch:
        batch.add_column(sa.Column('install_id', sa.String(length=32), nullable=True))
    random_hex = 'lower(hex(randomblob(16)))' if sqlite else "md5(random()::text || clock_timestamp()::text)"
    op.execute(f"UPDATE portals SET install_id = {random_hex}")
    with op.batch_alter_table('portals') as batch:
        batch.alter_column('install_id', existing_type=sa.String(length=32), nullable=False)
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('sender_code', sa.String(length=64), nullable=True))
    if sqlite:
        # AUTOINCREMENT is part of SQLite's table definition: each table is copied into one that has it.
        # (PostgreSQL's sequences never hand out an id twice.)
        for table in TABLES:
            with op.batch_alter_table(table, recreate='always', table_kwargs={'sqlite_autoincrement': True}):
                pass


def downgrade():
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('sender_code')
    with op.batch_alter_table('portals') as batch:
        batch.drop_column('install_id')
