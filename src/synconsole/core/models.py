"""SQLModel tables. Times are stored as naive UTC and come back as aware UTC datetimes.

Error bodies are ``Text``: unbounded on SQLite and PostgreSQL (the seed lost errors to a 64 KB
column; a test round-trips 10 MB on both).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import Grouping
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from synconsole.core import clock

# sync states
PENDING = "pending"
IN_FLIGHT = "in_flight"
RETRY_SCHEDULED = "retry_scheduled"
SYNCED = "synced"
FAILED = "failed"
CANCELLED = "cancelled"  # cancelled locally and, where it was booked, in Cal.com: nothing left to do
SKIPPED = "skipped"  # completed without ever being booked: nothing to do
SYNC_STATES = (PENDING, IN_FLIGHT, RETRY_SCHEDULED, SYNCED, FAILED, CANCELLED, SKIPPED)
QUEUED_STATES = (PENDING, IN_FLIGHT, RETRY_SCHEDULED)

# appointment status (from the booking platform)
SCHEDULED = "scheduled"
STATUS_CANCELLED = "cancelled"
COMPLETED = "completed"
STATUSES = (SCHEDULED, STATUS_CANCELLED, COMPLETED)

# the next Cal.com operation a queued appointment needs (core/changes.py decides it)
OP_CREATE = "create"
OP_CANCEL = "cancel"
OP_RESCHEDULE = "reschedule"
OP_REBOOK = "rebook"  # a new host or attendee: cancel the booking, then create the new one
SYNC_OPS = (OP_CREATE, OP_CANCEL, OP_RESCHEDULE, OP_REBOOK)

# attempt outcomes
OUTCOME_SUCCESS = "success"
OUTCOME_FAILED = "failed"
OUTCOME_RETRY = "retry"
OUTCOME_UNKNOWN = "unknown"
OUTCOME_PREFLIGHT = "preflight"  # refused locally before any call


class UTCDateTime(TypeDecorator):
    """Aware UTC in Python, naive UTC in the database (one format on every backend)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime bound to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _now_field() -> Any:
    return Field(default_factory=clock.now, sa_type=UTCDateTime, nullable=False)


class Customer(SQLModel, table=True):
    __tablename__ = "customers"

    id: str = Field(primary_key=True, max_length=191)
    name: str = Field(default="")
    email: str | None = None
    phone: str | None = None
    time_zone: str = Field(default="UTC")
    created_at: datetime = _now_field()
    updated_at: datetime = _now_field()


class Staff(SQLModel, table=True):
    __tablename__ = "staff"

    id: str = Field(primary_key=True, max_length=191)
    name: str = Field(default="")
    calcom_username: str | None = None
    calcom_user_id: int | None = None
    #: one Cal.com user, however many staff records point at it (local host-overlap checks use it)
    host_key: str | None = Field(default=None, index=True)
    event_type_id: int | None = None
    #: optional per-service event type ids: {"haircut": 102}
    event_type_ids: dict | None = Field(default=None, sa_type=sa.JSON)
    time_zone: str = Field(default="UTC")
    active: bool = Field(default=True)
    #: the Cal.com account (``[calcom]`` = default, or a ``[[calcom.accounts]]`` id) this host books through
    calcom_account: str = Field(default="default", max_length=64)
    created_at: datetime = _now_field()
    updated_at: datetime = _now_field()
    #: its event types take phone-only attendees (their phone field is shown, email optional); Cal.com's
    #: default booking fields require an email, so without this a customer without one is missing_contact
    phone_bookings: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class Appointment(SQLModel, table=True):
    __tablename__ = "appointments"
    __table_args__ = (
        # due work: the claim query walks this index
        sa.Index("ix_appointments_due", "sync_state", "next_retry_at"),
        # failed-appointment metrics and the category pane
        sa.Index("ix_appointments_failed", "sync_state", "status", "category", "first_failed_at", "snoozed_until"),
        sa.Index("ix_appointments_category", "category"),
        sa.Index("ix_appointments_start", "start_at"),
        sa.Index("ix_appointments_staff_start", "staff_id", "start_at"),
        # covering for the pending / stuck_pending counts (SQLite's planner scans otherwise)
        sa.Index("ix_appointments_queued", "sync_state", "queued_at", "last_attempt_at"),
        sa.Index("ix_appointments_lease", "sync_state", "lease_until"),
        # partial: only the few drifted rows are in it, so the drift alert count is an index lookup
        sa.Index("ix_appointments_drift", "status", sqlite_where=sa.text("drift IS NOT NULL"),
                 postgresql_where=sa.text("drift IS NOT NULL")),
    )

    id: str = Field(primary_key=True, max_length=191)
    customer_id: str = Field(foreign_key="customers.id", index=True)
    staff_id: str | None = Field(default=None, foreign_key="staff.id")
    service: str | None = None
    start_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    end_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    duration_minutes: int = Field(default=30)
    time_zone: str | None = None
    status: str = Field(default=SCHEDULED)

    sync_state: str = Field(default=PENDING)
    #: the next step in Cal.com while queued (create, cancel, reschedule, rebook)
    sync_op: str = Field(default=OP_CREATE)
    category: str | None = None
    fingerprint: str | None = Field(default=None, index=True)
    booking_uid: str | None = Field(default=None, index=True)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    last_http_status: int | None = None
    first_failed_at: datetime | None = _ts()
    last_attempt_at: datetime | None = _ts()
    next_retry_at: datetime | None = _ts()
    #: when it last became pending; stuck_pending compares against it
    queued_at: datetime | None = _ts()
    synced_at: datetime | None = _ts()
    claimed_by: str | None = None
    lease_until: datetime | None = _ts()
    #: an earlier call may have reached Cal.com without us seeing the answer (timeout, 5xx, a
    #: crash mid-call): it is settled, by looking up what was ``sent``, before anything else is sent
    needs_lookup: bool = Field(default=False)
    #: the live booking in Cal.com as far as synconsole knows it (uid, start, event type, host,
    #: attendee as sent); None when there is none (core/changes.py: Booking)
    booked: dict | None = Field(default=None, sa_type=sa.JSON(none_as_null=True))
    #: the call in progress or in doubt, written before it is sent: {"op", "uid", "booking"}
    sent: dict | None = Field(default=None, sa_type=sa.JSON(none_as_null=True))
    #: counts changes of what Cal.com should hold (start, staff, customer, status, contact); a sync
    #: outcome written under an older revision puts the appointment back in the queue
    revision: int = Field(default=0)
    #: set by the reconcile job when Cal.com's booking no longer matches (cancelled or moved there)
    drift: str | None = Field(default=None, sa_type=sa.Text)
    version: int = Field(default=1)
    snoozed_until: datetime | None = _ts()
    note: str | None = Field(default=None, sa_type=sa.Text)
    cancel_reason: str | None = Field(default=None, sa_type=sa.Text)

    created_at: datetime = _now_field()
    updated_at: datetime = _now_field()


#: The states that still need Cal.com or a human, most urgent first; every other state ranks last.
ATTENTION_STATES = (FAILED, RETRY_SCHEDULED, IN_FLIGHT, PENDING)


def _attention() -> sa.ColumnElement[int]:
    """The console's default order as one indexed expression. Literals, not bound parameters: an
    index on an expression is only used when the query carries the very same expression."""
    state = Appointment.__table__.c.sync_state
    return sa.case(
        *((state == sa.literal_column(f"'{s}'"), sa.literal_column(str(rank)))
          for rank, s in enumerate(ATTENTION_STATES)),
        else_=sa.literal_column(str(len(ATTENTION_STATES))),
    )


#: failed 0, retry_scheduled 1, in_flight 2, pending 3, the rest 4
ATTENTION = _attention()
#: open work: what still needs Cal.com or a human (the console's default scope)
OPEN_WORK = ATTENTION < sa.literal_column(str(len(ATTENTION_STATES)))
#: what the console's filters and sorts read, so that over the open work they read only the index
OPEN_WORK_COLUMNS = ("id", "sync_state", "status", "category", "staff_id", "start_at", "snoozed_until",
                     "first_failed_at", "queued_at", "created_at", "customer_id", "attempts", "drift")
# Partial: only the open work (a few percent of the table) is in it. Its pages come off the index in
# attention order and stop after one page; a filter that matches little reads index entries, not
# rows scattered over the table. (Parentheses: PostgreSQL wants an indexed expression grouped.)
sa.Index("ix_appointments_open_work", Grouping(ATTENTION),
         *(Appointment.__table__.c[name] for name in OPEN_WORK_COLUMNS),
         sqlite_where=OPEN_WORK, postgresql_where=OPEN_WORK)


class SyncAttempt(SQLModel, table=True):
    __tablename__ = "sync_attempts"
    __table_args__ = (
        sa.Index("ix_sync_attempts_appointment", "appointment_id", "id"),
        sa.Index("ix_sync_attempts_at", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    appointment_id: str = Field(foreign_key="appointments.id")
    at: datetime = _now_field()
    worker: str = Field(default="")
    operation: str = Field(default=OP_CREATE)
    #: what was sent, without secrets
    request_summary: dict | None = Field(default=None, sa_type=sa.JSON)
    http_status: int | None = None
    error_code: str | None = None
    error_message: str | None = Field(default=None, sa_type=sa.Text)
    #: the full response body, unbounded
    error_body: str | None = Field(default=None, sa_type=sa.Text)
    duration_ms: int | None = None
    outcome: str = Field(default=OUTCOME_SUCCESS)
    category: str | None = None
    booking_uid: str | None = None


class AuditEvent(SQLModel, table=True):
    """Append-only (database triggers refuse UPDATE and DELETE)."""

    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime, nullable=False, index=True)
    actor: str
    action: str = Field(index=True)
    targets: list | None = Field(default=None, sa_type=sa.JSON)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    before: dict | None = Field(default=None, sa_type=sa.JSON)
    after: dict | None = Field(default=None, sa_type=sa.JSON)
    result: str = Field(default="ok")
    #: an undo points at the event it reverses
    undoes: int | None = None


class AuditTarget(SQLModel, table=True):
    """Which appointments an audit event touched, so one appointment's trail is an index lookup."""

    __tablename__ = "audit_targets"

    event_id: int = Field(foreign_key="audit_events.id", primary_key=True)
    appointment_id: str = Field(primary_key=True, max_length=191, index=True)


class MetricSnapshot(SQLModel, table=True):
    __tablename__ = "metric_snapshots"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime, nullable=False, index=True)
    failed: int = 0
    pending: int = 0
    manual_review: int = 0
    ancient_failures: int = 0
    success_rate_24h: float | None = None
    critical_alerts: int = 0
    #: the full metrics document (by_category, by_age, by_kind, alerts)
    data: dict | None = Field(default=None, sa_type=sa.JSON)


class AlertState(SQLModel, table=True):
    """Alerts raised by events rather than computed from data (auth, log fallback, ...), and the
    last evaluated state of every alert, so transitions can be audited and shown."""

    __tablename__ = "alert_state"

    id: str = Field(primary_key=True, max_length=64)
    severity: str = Field(default="warning")
    active: bool = Field(default=False)
    count: int = 0
    message: str = Field(default="", sa_type=sa.Text)
    first_seen: datetime | None = _ts()
    last_seen: datetime | None = _ts()
    resolved_at: datetime | None = _ts()
    #: event alerts stay active until cleared; computed ones follow the data
    source: str = Field(default="computed")


class AlertEvent(SQLModel, table=True):
    """One transition of an alert, append-only: ``fired``, ``resolved`` or ``acknowledged`` (by
    ``actor``, with a note). The alert history of the console's ``!`` and ``synconsole alerts
    --history``: an alert that fired and cleared between two looks is still on record."""

    __tablename__ = "alert_events"

    id: int | None = Field(default=None, primary_key=True)
    alert_id: str = Field(max_length=64, index=True)
    at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime, nullable=False, index=True)
    kind: str  # fired | resolved | acknowledged
    severity: str = Field(default="warning")
    count: int = 0
    message: str = Field(default="", sa_type=sa.Text)
    #: who acknowledged it, or the job that saw the transition (``job:alerts``)
    actor: str | None = None
    note: str | None = Field(default=None, sa_type=sa.Text)
    #: the Cal.com accounts it is about, comma-separated (None: not about one account)
    accounts: str | None = Field(default=None, max_length=1000)


class JobState(SQLModel, table=True):
    """Shared state of one background job, so every process (consoles, workers, the CLI) sees the
    same pause flag and the last run, wherever it happened."""

    __tablename__ = "job_state"

    id: str = Field(primary_key=True, max_length=64)
    paused: bool = Field(default=False)
    paused_by: str | None = None
    paused_reason: str | None = Field(default=None, sa_type=sa.Text)
    last_run_at: datetime | None = _ts()
    last_finished_at: datetime | None = _ts()
    last_result: str | None = Field(default=None, sa_type=sa.Text)
    last_ok: bool | None = None
    last_duration_ms: int | None = None
    last_worker: str | None = None
    runs: int = 0


class SourceState(SQLModel, table=True):
    """One live source (``[[sources]]``): how far it has been read, who polls it now, its health."""

    __tablename__ = "source_state"

    id: str = Field(primary_key=True, max_length=64)  # the source's name
    #: per query (staff, customers, appointments): the newest watermark read, as the source gave it
    watermarks: dict | None = Field(default=None, sa_type=sa.JSON(none_as_null=True))
    #: one poller at a time, across processes
    lease_owner: str | None = None
    lease_until: datetime | None = _ts()
    last_poll_at: datetime | None = _ts()
    last_ok_at: datetime | None = _ts()
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    failures: int = 0  # consecutive failed polls
    down_since: datetime | None = _ts()
    next_poll_at: datetime | None = _ts()  # backoff after a failure
    polls: int = 0
    rows_seen: int = 0
    rows_changed: int = 0
    bad_rows: int = 0
    last_result: str | None = Field(default=None, sa_type=sa.Text)


class SourceBadRow(SQLModel, table=True):
    """A row a source gave that could not be imported: reported once per row and reason."""

    __tablename__ = "source_bad_rows"
    __table_args__ = (sa.Index("ix_source_bad_rows_seen", "source", "last_seen"),)

    source: str = Field(primary_key=True, max_length=64)
    query: str = Field(primary_key=True, max_length=32)
    row_id: str = Field(primary_key=True, max_length=191)
    reason: str = Field(default="", sa_type=sa.Text)
    first_seen: datetime = _now_field()
    last_seen: datetime = _now_field()
    times: int = 1


class RateBudget(SQLModel, table=True):
    """One Cal.com account's request budget, shared by every process (core/budget.py), and whether
    its sync is paused (a refused key pauses that account only). Times are epoch seconds: processes
    on several machines compare them."""

    __tablename__ = "calcom_accounts"

    id: str = Field(primary_key=True, max_length=64)  # the account
    limit_per_minute: int = 120
    burst: int = 4
    tokens: float = Field(default=0.0, sa_type=sa.Float)
    refreshed_at: float = Field(default=0.0, sa_type=sa.Float)
    blocked_until: float = Field(default=0.0, sa_type=sa.Float)
    reservations: int = 0
    granted: int = 0
    requests_429: int = 0
    paused: bool = Field(default=False)
    paused_reason: str | None = Field(default=None, sa_type=sa.Text)
    paused_at: datetime | None = _ts()
    #: the minute the budget is counting (epoch seconds) and the tokens granted in it
    window_start: float = Field(default=0.0, sa_type=sa.Float, sa_column_kwargs={"server_default": "0"})
    window_granted: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class NotifyOutbox(SQLModel, table=True):
    """One message for one ``[[notify]]`` target. The unique (target, key) row is what makes a
    transition go out once however many workers and consoles see it: each tries to insert it, one
    succeeds; each tries to claim it, one succeeds (``claimed_until`` is a lease)."""

    __tablename__ = "notify_outbox"
    __table_args__ = (sa.UniqueConstraint("target", "key", name="uq_notify_outbox_target_key"),
                      sa.Index("ix_notify_outbox_due", "status", "next_attempt_at"))

    id: int | None = Field(default=None, primary_key=True)
    target: str = Field(max_length=64)
    #: what this message is about, e.g. ``fired:12`` (the alert event's id), ``escalated:12:30``
    key: str = Field(max_length=191)
    alert_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)  # fired | escalated | resolved | test
    severity: str = Field(default="warning", max_length=16)
    title: str = Field(default="", sa_type=sa.Text)
    body: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = Field(default_factory=clock.now, sa_type=UTCDateTime, nullable=False)
    status: str = Field(default="pending", max_length=16)  # pending | retry | sent | failed | throttled
    attempts: int = 0
    next_attempt_at: datetime | None = _ts()
    claimed_by: str | None = Field(default=None, max_length=191)
    claimed_until: datetime | None = _ts()
    sent_at: datetime | None = _ts()
    last_error: str | None = Field(default=None, sa_type=sa.Text)


class WebhookEvent(SQLModel, table=True):
    """One Cal.com webhook delivery, recorded before it is processed (the receiver answers at once;
    core/webhooks.py processes it). ``delivery_key`` (the SHA-256 of the raw body) is unique, so a
    redelivery of the same event is a no-op. ``data`` keeps only what processing needs (uids, status,
    times, our appointment id), never the attendee's contact."""

    __tablename__ = "calcom_webhook_events"
    __table_args__ = (sa.UniqueConstraint("delivery_key", name="uq_calcom_webhook_events_delivery_key"),
                      sa.Index("ix_calcom_webhook_events_outcome", "outcome", "id"))

    id: int | None = Field(default=None, primary_key=True)
    delivery_key: str = Field(max_length=64)
    trigger: str = Field(max_length=64)
    booking_uid: str | None = Field(default=None, max_length=255)
    appointment_id: str | None = Field(default=None, max_length=191)
    received_at: datetime = _now_field()
    processed_at: datetime | None = _ts()
    #: pending | drift | echo | unknown | ignored | busy | cancelled_locally | rebooked
    outcome: str = Field(default="pending", max_length=32)
    detail: str | None = Field(default=None, sa_type=sa.Text)
    data: dict | None = Field(default=None, sa_type=sa.JSON(none_as_null=True))


class CalcomBusyBlock(SQLModel, table=True):
    """A booking made in Cal.com by someone else (a customer booked the host directly): the host is
    busy then. Kept from webhooks (BOOKING_CREATED without our metadata; a cancel removes it), so
    pre-flight and ``/v1/check`` see the conflict before anything is sent."""

    __tablename__ = "calcom_busy_blocks"
    __table_args__ = (sa.Index("ix_calcom_busy_blocks_host_start", "host_key", "start_at"),)

    booking_uid: str = Field(primary_key=True, max_length=255)
    host_key: str = Field(max_length=191)
    start_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    end_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created_at: datetime = _now_field()
