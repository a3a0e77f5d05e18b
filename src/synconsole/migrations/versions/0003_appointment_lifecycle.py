"""appointment lifecycle: what Cal.com holds (booked), the call in doubt (sent), change revisions.

``booked`` is filled for appointments that have a live booking (uid and start as far as known);
a pending reschedule of the old kind (``reschedule_to``) becomes the new start of the appointment
with the booking still at the old one, and the ``reschedule_to`` column goes away.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_LIVE = "booking_uid IS NOT NULL AND sync_state NOT IN ('cancelled', 'skipped')"
#: the host it was booked with, as far as the staff record says now
_HOST = "(SELECT host_key FROM staff WHERE staff.id = appointments.staff_id)"


def upgrade() -> None:
    op.add_column('appointments', sa.Column('booked', sa.JSON(), nullable=True))
    op.add_column('appointments', sa.Column('sent', sa.JSON(), nullable=True))
    op.add_column('appointments', sa.Column('revision', sa.Integer(), nullable=False, server_default=sa.text('0')))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE appointments SET booked = json_strip_nulls(json_build_object('uid', booking_uid, 'start', "
                   "to_char(start_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'staff_id', staff_id, 'customer_id', "
                   f"customer_id, 'host', {_HOST})) WHERE " + _LIVE)
        op.execute("UPDATE appointments SET end_at = reschedule_to + (end_at - start_at), start_at = reschedule_to "
                   "WHERE reschedule_to IS NOT NULL")
    else:
        op.execute("UPDATE appointments SET booked = json_object('uid', booking_uid, 'start', "
                   "strftime('%Y-%m-%dT%H:%M:%SZ', start_at), 'staff_id', staff_id, 'customer_id', customer_id, "
                   f"'host', {_HOST}) WHERE " + _LIVE)
        op.execute("UPDATE appointments SET end_at = datetime(julianday(reschedule_to) + julianday(end_at) "
                   "- julianday(start_at)), start_at = reschedule_to WHERE reschedule_to IS NOT NULL")
    # ALTER TABLE … DROP COLUMN on both (SQLite >= 3.35): no table rebuild for a million rows
    op.execute("ALTER TABLE appointments DROP COLUMN reschedule_to")


def downgrade() -> None:
    op.add_column('appointments', sa.Column('reschedule_to', sa.DateTime(), nullable=True))
    op.execute("ALTER TABLE appointments DROP COLUMN revision")
    op.execute("ALTER TABLE appointments DROP COLUMN sent")
    op.execute("ALTER TABLE appointments DROP COLUMN booked")
