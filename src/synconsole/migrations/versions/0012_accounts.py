"""Cal.com accounts: what each account's shared budget granted in the current minute (``status``
and the console show an account's budget use).

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('calcom_accounts', sa.Column('window_start', sa.Float(), nullable=False, server_default='0'))
    op.add_column('calcom_accounts', sa.Column('window_granted', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    op.execute("ALTER TABLE calcom_accounts DROP COLUMN window_granted")
    op.execute("ALTER TABLE calcom_accounts DROP COLUMN window_start")
