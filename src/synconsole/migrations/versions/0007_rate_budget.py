"""rate budget: one row per Cal.com account, the token bucket every process draws from.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rate_budget',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('limit_per_minute', sa.Integer(), nullable=False),
    sa.Column('burst', sa.Integer(), nullable=False),
    sa.Column('tokens', sa.Float(), nullable=False),
    sa.Column('refreshed_at', sa.Float(), nullable=False),
    sa.Column('blocked_until', sa.Float(), nullable=False),
    sa.Column('reservations', sa.Integer(), nullable=False),
    sa.Column('granted', sa.Integer(), nullable=False),
    sa.Column('requests_429', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('rate_budget')
