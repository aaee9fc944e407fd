"""portal_notices hands out no id twice on SQLite either: 0010 copied the table to add its partial index and
the copy lost AUTOINCREMENT, which every other table has (PostgreSQL's sequences never reuse an id)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == 'sqlite':
        # AUTOINCREMENT is part of SQLite's table definition: the table is copied into one that has it.
        with op.batch_alter_table('portal_notices', recreate='always',
                                  table_kwargs={'sqlite_autoincrement': True}):
            pass


def downgrade():
    pass  # the ids handed out stay as they are
