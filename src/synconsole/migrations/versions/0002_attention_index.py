"""attention index: the console's default order (open work, most urgent first) as an index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

# the same expression as synconsole.core.models.ATTENTION (a test compares them), written out so this
# revision does not change when the models do; PostgreSQL wants an expression in parentheses
ATTENTION = sa.text(
    "(CASE WHEN (sync_state = 'failed') THEN 0 WHEN (sync_state = 'retry_scheduled') THEN 1 "
    "WHEN (sync_state = 'in_flight') THEN 2 WHEN (sync_state = 'pending') THEN 3 ELSE 4 END)"
)

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_appointments_attention', 'appointments', [ATTENTION, 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_appointments_attention', table_name='appointments')
