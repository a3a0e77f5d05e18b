"""live sources: per-source state (watermarks, poll lease, health) and the bad rows they gave.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('source_state',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('watermarks', sa.JSON(), nullable=True),
    sa.Column('lease_owner', sa.String(), nullable=True),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('last_poll_at', sa.DateTime(), nullable=True),
    sa.Column('last_ok_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('down_since', sa.DateTime(), nullable=True),
    sa.Column('next_poll_at', sa.DateTime(), nullable=True),
    sa.Column('polls', sa.Integer(), nullable=False),
    sa.Column('rows_seen', sa.Integer(), nullable=False),
    sa.Column('rows_changed', sa.Integer(), nullable=False),
    sa.Column('bad_rows', sa.Integer(), nullable=False),
    sa.Column('last_result', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('source_bad_rows',
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('query', sa.String(length=32), nullable=False),
    sa.Column('row_id', sa.String(length=191), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('first_seen', sa.DateTime(), nullable=False),
    sa.Column('last_seen', sa.DateTime(), nullable=False),
    sa.Column('times', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('source', 'query', 'row_id')
    )
    op.create_index('ix_source_bad_rows_seen', 'source_bad_rows', ['source', 'last_seen'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_source_bad_rows_seen', table_name='source_bad_rows')
    op.drop_table('source_bad_rows')
    op.drop_table('source_state')
