"""Cal.com accounts: one row per account (its shared rate budget, and whether its sync is paused),
and each staff member's account.

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
    op.create_table('calcom_accounts',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('limit_per_minute', sa.Integer(), nullable=False),
    sa.Column('burst', sa.Integer(), nullable=False),
    sa.Column('tokens', sa.Float(), nullable=False),
    sa.Column('refreshed_at', sa.Float(), nullable=False),
    sa.Column('blocked_until', sa.Float(), nullable=False),
    sa.Column('reservations', sa.Integer(), nullable=False),
    sa.Column('granted', sa.Integer(), nullable=False),
    sa.Column('requests_429', sa.Integer(), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('paused_reason', sa.Text(), nullable=True),
    sa.Column('paused_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.add_column('staff', sa.Column('calcom_account', sa.String(length=64), nullable=False,
                                     server_default='default'))


def downgrade() -> None:
    op.execute("ALTER TABLE staff DROP COLUMN calcom_account")
    op.drop_table('calcom_accounts')
