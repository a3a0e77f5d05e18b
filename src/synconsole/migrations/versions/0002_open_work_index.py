"""open-work index: the console's default view (open work, most urgent first) read off one index.

Partial (only the open work is in it) and covering what the console's filters and sorts read.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

# synconsole.core.models.ATTENTION, OPEN_WORK and OPEN_WORK_COLUMNS (a test compares them), written
# out so this revision does not change when the models do; PostgreSQL wants the expression grouped
ATTENTION = (
    "(CASE WHEN (sync_state = 'failed') THEN 0 WHEN (sync_state = 'retry_scheduled') THEN 1 "
    "WHEN (sync_state = 'in_flight') THEN 2 WHEN (sync_state = 'pending') THEN 3 ELSE 4 END)"
)
COLUMNS = ["id", "sync_state", "status", "category", "staff_id", "start_at", "snoozed_until",
           "first_failed_at", "queued_at", "created_at", "customer_id", "attempts", "drift"]

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    where = sa.text(f"{ATTENTION} < 4")
    op.create_index('ix_appointments_open_work', 'appointments', [sa.text(ATTENTION), *COLUMNS], unique=False,
                    sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index('ix_appointments_open_work', table_name='appointments')
