"""initial schema: customers, staff, appointments, sync attempts, audit events, snapshots, alerts.

The audit log is append-only: triggers refuse UPDATE and DELETE on audit_events on both backends.

Revision ID: 0001
Revises: 
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


APPEND_ONLY_MESSAGE = "audit_events is append-only"


def _create_audit_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )


def _drop_audit_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")


def upgrade() -> None:
    op.create_table('alert_state',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('severity', sa.String(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('first_seen', sa.DateTime(), nullable=True),
    sa.Column('last_seen', sa.DateTime(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('source', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(), nullable=False),
    sa.Column('action', sa.String(), nullable=False),
    sa.Column('targets', sa.JSON(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('result', sa.String(), nullable=False),
    sa.Column('undoes', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'], unique=False)

    op.create_table('job_state',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('paused_by', sa.String(), nullable=True),
    sa.Column('paused_reason', sa.Text(), nullable=True),
    sa.Column('last_run_at', sa.DateTime(), nullable=True),
    sa.Column('last_finished_at', sa.DateTime(), nullable=True),
    sa.Column('last_result', sa.Text(), nullable=True),
    sa.Column('last_ok', sa.Boolean(), nullable=True),
    sa.Column('last_duration_ms', sa.Integer(), nullable=True),
    sa.Column('last_worker', sa.String(), nullable=True),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('customers',
    sa.Column('id', sa.String(length=191), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('email', sa.String(), nullable=True),
    sa.Column('phone', sa.String(), nullable=True),
    sa.Column('time_zone', sa.String(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('metric_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('pending', sa.Integer(), nullable=False),
    sa.Column('manual_review', sa.Integer(), nullable=False),
    sa.Column('ancient_failures', sa.Integer(), nullable=False),
    sa.Column('success_rate_24h', sa.Float(), nullable=True),
    sa.Column('critical_alerts', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('metric_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_metric_snapshots_at'), ['at'], unique=False)

    op.create_table('staff',
    sa.Column('id', sa.String(length=191), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('calcom_username', sa.String(), nullable=True),
    sa.Column('calcom_user_id', sa.Integer(), nullable=True),
    sa.Column('host_key', sa.String(), nullable=True),
    sa.Column('event_type_id', sa.Integer(), nullable=True),
    sa.Column('event_type_ids', sa.JSON(), nullable=True),
    sa.Column('time_zone', sa.String(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_host_key'), ['host_key'], unique=False)

    op.create_table('appointments',
    sa.Column('id', sa.String(length=191), nullable=False),
    sa.Column('customer_id', sa.String(), nullable=False),
    sa.Column('staff_id', sa.String(), nullable=True),
    sa.Column('service', sa.String(), nullable=True),
    sa.Column('start_at', sa.DateTime(), nullable=False),
    sa.Column('end_at', sa.DateTime(), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('time_zone', sa.String(), nullable=True),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('sync_state', sa.String(), nullable=False),
    sa.Column('sync_op', sa.String(), nullable=False),
    sa.Column('category', sa.String(), nullable=True),
    sa.Column('fingerprint', sa.String(), nullable=True),
    sa.Column('booking_uid', sa.String(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_http_status', sa.Integer(), nullable=True),
    sa.Column('first_failed_at', sa.DateTime(), nullable=True),
    sa.Column('last_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('next_retry_at', sa.DateTime(), nullable=True),
    sa.Column('queued_at', sa.DateTime(), nullable=True),
    sa.Column('synced_at', sa.DateTime(), nullable=True),
    sa.Column('claimed_by', sa.String(), nullable=True),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('needs_lookup', sa.Boolean(), nullable=False),
    sa.Column('drift', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('snoozed_until', sa.DateTime(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('reschedule_to', sa.DateTime(), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appointments_booking_uid'), ['booking_uid'], unique=False)
        batch_op.create_index('ix_appointments_category', ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointments_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_appointments_due', ['sync_state', 'next_retry_at'], unique=False)
        batch_op.create_index('ix_appointments_failed', ['sync_state', 'status', 'category', 'first_failed_at', 'snoozed_until'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointments_fingerprint'), ['fingerprint'], unique=False)
        batch_op.create_index('ix_appointments_lease', ['sync_state', 'lease_until'], unique=False)
        batch_op.create_index('ix_appointments_drift', ['status'], unique=False,
                              sqlite_where=sa.text('drift IS NOT NULL'), postgresql_where=sa.text('drift IS NOT NULL'))
        batch_op.create_index('ix_appointments_queued', ['sync_state', 'queued_at', 'last_attempt_at'], unique=False)
        batch_op.create_index('ix_appointments_staff_start', ['staff_id', 'start_at'], unique=False)
        batch_op.create_index('ix_appointments_start', ['start_at'], unique=False)

    op.create_table('audit_targets',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.String(length=191), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['audit_events.id'], ),
    sa.PrimaryKeyConstraint('event_id', 'appointment_id')
    )
    with op.batch_alter_table('audit_targets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_targets_appointment_id'), ['appointment_id'], unique=False)

    op.create_table('sync_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.String(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('worker', sa.String(), nullable=False),
    sa.Column('operation', sa.String(), nullable=False),
    sa.Column('request_summary', sa.JSON(), nullable=True),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('error_code', sa.String(), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('error_body', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(), nullable=False),
    sa.Column('category', sa.String(), nullable=True),
    sa.Column('booking_uid', sa.String(), nullable=True),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sync_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_sync_attempts_appointment', ['appointment_id', 'id'], unique=False)
        batch_op.create_index('ix_sync_attempts_at', ['at'], unique=False)

    _create_audit_triggers()


def downgrade() -> None:
    _drop_audit_triggers()
    with op.batch_alter_table('sync_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_attempts_at')
        batch_op.drop_index('ix_sync_attempts_appointment')

    op.drop_table('sync_attempts')
    with op.batch_alter_table('audit_targets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_targets_appointment_id'))

    op.drop_table('audit_targets')
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_index('ix_appointments_start')
        batch_op.drop_index('ix_appointments_staff_start')
        batch_op.drop_index('ix_appointments_queued')
        batch_op.drop_index('ix_appointments_drift')
        batch_op.drop_index('ix_appointments_lease')
        batch_op.drop_index(batch_op.f('ix_appointments_fingerprint'))
        batch_op.drop_index('ix_appointments_failed')
        batch_op.drop_index('ix_appointments_due')
        batch_op.drop_index(batch_op.f('ix_appointments_customer_id'))
        batch_op.drop_index('ix_appointments_category')
        batch_op.drop_index(batch_op.f('ix_appointments_booking_uid'))

    op.drop_table('appointments')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_host_key'))

    op.drop_table('staff')
    with op.batch_alter_table('metric_snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_metric_snapshots_at'))

    op.drop_table('metric_snapshots')
    op.drop_table('customers')
    op.drop_table('job_state')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))
        batch_op.drop_index(batch_op.f('ix_audit_events_action'))

    op.drop_table('audit_events')
    op.drop_table('alert_state')
