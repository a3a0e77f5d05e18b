"""Random lives of appointments against the simulator over real HTTP: the platform's edits (moves,
cancellations, new staff, new customers, new emails), operator actions (cancel, reschedule, assign,
retry, undo), sync rounds with dropped answers, 5xx, failing lookups, and crashes of the worker at
any database write, in any order. After the dust settles, for every appointment:

- at most one active booking in Cal.com;
- none if it is cancelled, exactly one if it is scheduled;
- and that one has the appointment's latest start, host (event type) and attendee.

A crash is the worker dying at its k-th database write: every later write of that worker fails,
while the calls it already sent still complete in Cal.com (as with SIGKILL); its leases then run
out and another engine takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlmodel import select

from synconsole.calcom.client import CalcomClient
from synconsole.simulator import Faults, SimulatorServer
from synconsole.config import parse_settings
from synconsole.core import clock, queue
from synconsole.core.actions import Actions, Target
from synconsole.core.db import Database, open_database
from synconsole.core.importer import import_text
from synconsole.core.models import IN_FLIGHT, Appointment, Customer, Staff
from synconsole.errors import UserError
from synconsole.jobs.sync import SyncEngine

from tests.lifecycle.conftest import EVENT_TYPES, KEY, start_at

N = 3  # appointments per example, each on a day of its own (so no two ever overlap)
HOURS = (8, 10, 13, 15)
STAFF = {"s-1": ("fabian", 101), "s-1b": ("fabian", 101), "s-2": ("maria", 102), "s-3": ("maria", 103)}
CUSTOMERS = ("c-1", "c-2", "c-3")
EMAILS = ("anna@example.com", "Anna@Example.com", "anna.beispiel@example.org")
LEASE_S = 60

ids = st.integers(0, N - 1)
hours = st.sampled_from(HOURS)
platform = st.one_of(
    st.tuples(st.just("move"), ids, hours),
    st.tuples(st.just("cancel"), ids),
    st.tuples(st.just("uncancel"), ids),
    st.tuples(st.just("staff"), ids, st.sampled_from(sorted(STAFF))),
    st.tuples(st.just("customer"), ids, st.sampled_from(CUSTOMERS)),
    st.tuples(st.just("email"), st.sampled_from(EMAILS)),
)
operator = st.one_of(
    st.tuples(st.just("op_cancel"), ids),
    st.tuples(st.just("op_reschedule"), ids, hours),
    st.tuples(st.just("op_assign"), ids, st.sampled_from(sorted(STAFF))),
    st.tuples(st.just("op_retry"), ids),
    st.tuples(st.just("op_undo"),),
)
sync_round = st.tuples(
    st.just("sync"),
    st.sampled_from((0.0, 0.5, 1.0, 1.0)),  # share of answers dropped after Cal.com committed
    st.sampled_from((0.0, 0.3)),  # share of requests answered 500 before anything happens
    st.sampled_from((0.0, 0.5, 1.0)),  # share of booking lists (lookups) answered 500
    st.one_of(st.none(), st.integers(1, 8)),  # the worker dies at this database write
)
tick = st.tuples(st.just("tick"), st.sampled_from((1, 5, 61)))  # minutes
#: rounds of a life: a few changes, a sync with faults, maybe time passing; the first round books
#: everything (most changes matter once there are bookings)
rounds = st.lists(st.tuples(st.lists(st.one_of(platform, platform, operator), max_size=3), sync_round,
                            st.lists(tick, max_size=1)), min_size=1, max_size=5)
steps = rounds.map(lambda rs: [("sync", 0.0, 0.0, 0.0, None),
                               *(step for changes, sync, later in rs for step in (*changes, sync, *later))])


class Crash(Exception):
    """The worker is gone: this database write (and every later one) never happens."""


class CrashingDatabase:
    """The worker's view of the database, dying at its ``at``-th write."""

    def __init__(self, db: Database, at: int | None) -> None:
        self._db = db
        self.at = at
        self.writes = 0

    def __getattr__(self, name):
        return getattr(self._db, name)

    @contextlib.contextmanager
    def write(self):
        self.writes += 1
        if self.at is not None and self.writes >= self.at:
            raise Crash(f"worker died at write {self.writes}")
        with self._db.write() as session:
            yield session


@dataclass
class Life:
    db: Database
    sim_url: str
    now: datetime
    days: list[datetime]
    rows: dict[str, dict] = field(default_factory=dict)  # the platform's own rows
    customer_email: str = EMAILS[0]

    def __post_init__(self) -> None:
        self.settings = parse_settings({
            "database": {"url": self.db.url},
            "calcom": {"base_url": self.sim_url, "api_key": KEY, "rate_limit_per_minute": 100_000,
                       "max_concurrency": 2, "timeout_s": 5.0},
            "sync": {"batch_size": 2, "lease_s": LEASE_S, "backoff_base_s": 1.0, "backoff_max_s": 2.0,
                     "max_attempts": 1000},
            "alerts": {"outage_consecutive_failures": 1000},
        })
        self.actions = Actions(self.db, self.settings, actor="fuzz")

    # --- the platform -------------------------------------------------------------------------

    def push(self, *rows: dict) -> None:
        result = import_text(self.db, "".join(json.dumps(r) + "\n" for r in rows), now=self.now)
        assert result.ok, result.summary()

    def appointment(self, i: int) -> dict:
        return self.rows[f"a{i}"]

    def edit(self, i: int, **changes) -> None:
        row = self.appointment(i)
        row.update(changes)
        self.push(row)

    def start(self, i: int, hour: int) -> str:
        return clock.iso(self.days[i].replace(hour=hour))

    # --- the sync -------------------------------------------------------------------------------

    def faults(self, **changes) -> None:
        assert httpx.post(f"{self.sim_url}/_sim/faults", json=changes, timeout=10).status_code == 200

    def sync(self, crash_at: int | None = None) -> None:
        async def go() -> None:
            client = CalcomClient(self.sim_url, KEY, timeout_s=5.0, rate_limit_per_minute=100_000,
                                  max_concurrency=2)
            try:
                engine = SyncEngine(CrashingDatabase(self.db, crash_at), self.settings, client, worker="fuzz")
                with contextlib.suppress(Crash):
                    await engine.drain()
            finally:
                await client.aclose()

        asyncio.run(go())

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)
        clock.freeze(self.now)

    def settle(self) -> None:
        """No more faults, leases and retries run out, the sync runs until nothing is left."""
        self.faults(drop_after_commit_rate=0.0, error_rate_5xx=0.0, list_error_rate=0.0)
        for _ in range(12):
            self.advance(LEASE_S / 60 + 1)
            self.sync()
            with self.db.session() as s:
                if queue.count_due(s, self.now) == 0 and not s.execute(
                        sa.select(sa.func.count()).where(Appointment.sync_state == IN_FLIGHT)).scalar_one():
                    return
        raise AssertionError("the sync did not settle in 12 rounds")


def run(life: Life, step: tuple) -> None:
    kind, *args = step
    target = lambda i: Target(ids=(f"a{i}",))  # noqa: E731
    try:
        if kind == "move":
            life.edit(args[0], start=life.start(args[0], args[1]))
        elif kind == "cancel":
            life.edit(args[0], status="cancelled")
        elif kind == "uncancel":
            life.edit(args[0], status="scheduled")
        elif kind == "staff":
            life.edit(args[0], staff_id=args[1])
        elif kind == "customer":
            life.edit(args[0], customer_id=args[1])
        elif kind == "email":
            life.customer_email = args[0]
            life.push({"kind": "customer", "id": "c-1", "name": "Anna", "email": args[0]})
        elif kind == "op_cancel":
            life.actions.cancel(target(args[0]), reason="customer called")
        elif kind == "op_reschedule":
            life.actions.reschedule(f"a{args[0]}", life.days[args[0]].replace(hour=args[1]))
        elif kind == "op_assign":
            life.actions.assign_staff(target(args[0]), args[1])
        elif kind == "op_retry":
            life.actions.retry(target(args[0]))
        elif kind == "op_undo":
            life.actions.undo()
        elif kind == "sync":
            drop, error, list_error, crash_at = args
            life.faults(drop_after_commit_rate=drop, error_rate_5xx=error, list_error_rate=list_error)
            life.sync(crash_at)
        elif kind == "tick":
            life.advance(args[0])
    except UserError:
        pass  # an operator action refused (nothing to undo, already cancelled, …): so be it


def check(life: Life) -> None:
    bookings = httpx.get(f"{life.sim_url}/_sim/bookings", timeout=10).json()["bookings"]
    with life.db.session() as s:
        appts = {a.id: a for a in s.exec(select(Appointment))}
        customers = {c.id: c for c in s.exec(select(Customer))}
        staff = {m.id: m for m in s.exec(select(Staff))}
    for ident, appt in appts.items():
        active = [b for b in bookings if b["metadata"].get("synconsole_appointment_id") == ident
                  and b["status"] in ("accepted", "pending")]
        where = f"{ident} ({appt.status}, {appt.sync_state}, {appt.category}: {appt.last_error})"
        assert len(active) <= 1, f"{where}: {len(active)} active bookings"
        if appt.status == "cancelled":
            assert not active, f"{where}: cancelled, still booked"
            continue
        assert len(active) == 1, f"{where}: scheduled, not booked"
        (booking,) = active
        member, customer = staff[appt.staff_id], customers[appt.customer_id]
        assert clock.parse_utc(booking["start"]) == appt.start_at, where
        assert booking["eventTypeId"] == member.event_type_id, where
        assert booking["hosts"][0]["username"] == member.calcom_username, where
        attendee = booking["attendees"][0]
        expected = customer.email or f"{customer.phone.lstrip('+')}@sms.cal.com"
        assert attendee["email"].lower() == expected.lower(), where
        assert (appt.sync_state, appt.booking_uid) == ("synced", booking["uid"]), where


@pytest.fixture(scope="module")
def sim():
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, faults=Faults()) as server:
        yield server


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """An empty migrated SQLite database, copied for every example."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    open_database(f"sqlite:///{path}").dispose()
    return path


def _people() -> list[dict]:
    rows = [{"kind": "staff", "id": i, "name": i, "calcom_username": user, "event_type_id": et,
             "phone_bookings": True} for i, (user, et) in STAFF.items()]
    return rows + [{"kind": "customer", "id": "c-1", "name": "Anna", "email": EMAILS[0]},
                   {"kind": "customer", "id": "c-2", "name": "Ben", "phone": "+4915112345678"},
                   {"kind": "customer", "id": "c-3", "name": "Cleo", "email": "cleo@example.com"}]


def live(db: Database, sim_url: str, life_steps: list[tuple]) -> None:
    httpx.post(f"{sim_url}/_sim/reset", timeout=10)
    now = datetime.now(clock.UTC).replace(microsecond=0)
    clock.freeze(now)
    try:
        days = [start_at(days=3 + i, hour=HOURS[0]) for i in range(N)]
        life = Life(db, sim_url, now, days)
        life.push(*_people())
        for i in range(N):
            life.rows[f"a{i}"] = {"kind": "appointment", "id": f"a{i}", "customer_id": CUSTOMERS[i % 3],
                                  "staff_id": ("s-1", "s-2", "s-3")[i % 3], "start": life.start(i, HOURS[0]),
                                  "duration_minutes": 30, "status": "scheduled"}
        life.push(*life.rows.values())
        for step in life_steps:
            run(life, step)
        life.settle()
        check(life)
    finally:
        clock.freeze(None)


def _sqlite_example(template: Path, tmp_path: Path, sim_url: str, life_steps: list[tuple]) -> None:
    path = tmp_path / "life.db"
    path.unlink(missing_ok=True)
    shutil.copy(template, path)
    db = open_database(f"sqlite:///{path}")
    try:
        live(db, sim_url, life_steps)
    finally:
        db.dispose()


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(life_steps=steps)
def test_random_lives_end_with_exactly_the_right_bookings(sim, template, tmp_path, life_steps):
    _sqlite_example(template, tmp_path, sim.url, life_steps)


#: the long runs (-m slow): SYNCONSOLE_FUZZ_EXAMPLES sets how many lives on SQLite (a third on PostgreSQL)
MANY = int(os.environ.get("SYNCONSOLE_FUZZ_EXAMPLES", "300"))


@pytest.mark.slow
@pytest.mark.long_run
@settings(max_examples=MANY, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(life_steps=steps)
def test_many_random_lives_on_sqlite(sim, template, tmp_path, life_steps):
    _sqlite_example(template, tmp_path, sim.url, life_steps)


@pytest.mark.slow
@pytest.mark.long_run
@pytest.mark.postgres
@settings(max_examples=max(10, MANY // 3), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(life_steps=steps)
def test_many_random_lives_on_postgresql(sim, pg_url, life_steps):
    db = open_database(pg_url)
    try:
        with db.engine.begin() as conn:  # a clean slate (TRUNCATE passes the audit log's row triggers)
            conn.exec_driver_sql("TRUNCATE audit_targets, audit_events, sync_attempts, appointments, customers, "
                                 "staff, metric_snapshots, alert_state, job_state CASCADE")
        live(db, sim.url, life_steps)
    finally:
        db.dispose()
