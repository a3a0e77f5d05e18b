"""Staff: whether the staff member's Cal.com event types take phone-only attendees.

Cal.com's default booking fields require an email; only an event type whose phone field is shown
(and email optional) books an attendee with a phone alone.

Revision ID: 0008
Revises: 0010
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0010'  # the brief said 0007; 0010 (notify) took that place on main first
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('staff', sa.Column('phone_bookings', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.execute("ALTER TABLE staff DROP COLUMN phone_bookings")
