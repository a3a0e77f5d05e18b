"""Alert events: the Cal.com accounts an alert is about (a refused key names its account), so a
``[[notify]]`` target with ``accounts = [...]`` hears only of its own.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('alert_events', sa.Column('accounts', sa.String(length=1000), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE alert_events DROP COLUMN accounts")
