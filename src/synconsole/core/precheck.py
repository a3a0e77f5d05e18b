"""Check appointments before they are booked: the sync's pre-flight, run on rows not imported yet.

The booking platform (or an operator with ``synconsole check FILE``) asks, for rows in the import
format, "would these fail to sync?". The answers are the classifier's own pre-flight checks
(:mod:`synconsole.core.classify`: :func:`~synconsole.core.classify.check_row`,
:func:`~synconsole.core.classify.find_overlap`, :func:`~synconsole.core.classify.blocks_in_memory`),
never a second copy of the rules:

- staff present, active, mapped to an event type and to a Cal.com user; a usable customer
  contact; a start not in the past (``check_row``);
- no overlap with an appointment of the same Cal.com host already in the database
  (``find_overlap``), nor with another row of the same file (``blocks_in_memory`` decides which of
  two overlapping rows the sync would refuse, the same way it decides in the database), including
  two staff records that map to one Cal.com user;
- optionally, Cal.com's own answer: is the start one of the free slots the slots endpoint offers
  (:class:`SlotsAvailability`, one call per event type and day, cached).

Staff and customer rows in the same file count as known (they would be imported with the
appointments; a file row replaces the database row of the same id, as the import does). Rows are
validated exactly like the import (:func:`synconsole.core.importer.validate`); a row the import
would reject is a problem too. Nothing is written to the database.

The appointment rows of one file are held in memory (the pre-booking check is for the rows about to
be created, not for bulk loads of millions; ``synconsole import --dry-run`` streams those).
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Callable, Iterable

import sqlalchemy as sa
from sqlmodel import Session, select

from synconsole.config import DEFAULT_ACCOUNT, CalcomSettings, Settings
from synconsole.core import clock
from synconsole.core.classify import (
    MAX_DURATION,
    Failure,
    blocks_in_memory,
    busy_failure,
    check_row,
    event_type_for,
    find_busy_block,
    find_overlap,
    intervals_overlap,
    overlap_failure,
)
from synconsole.core.importer import KINDS, RowError, validate
from synconsole.core.db import Database
from synconsole.core.models import SCHEDULED, Appointment, Customer, Staff
from synconsole.errors import UsageError
from synconsole.secret import Secret

CHUNK = 400
_BEFORE_SENDING = " (checked before sending)"

#: ``availability(staff, appointment)`` -> why the start is not free in Cal.com, or None if it is;
#: raises :class:`AvailabilityUnknown` when it cannot tell (Cal.com unreachable, key refused)
Availability = Callable[[Staff, Appointment], "str | None"]


class AvailabilityUnknown(Exception):
    """Cal.com could not be asked; the message says why (never the API key)."""


@dataclass(frozen=True)
class Problem:
    """One reason a row would not import or not sync. ``line`` is the file's line number (CSV: the
    line the record ends on), or the 1-based position when rows come without line numbers."""

    line: int
    id: str | None
    problem: str
    category: str | None = None
    kind: str | None = "appointment"

    def __str__(self) -> str:
        what = f"{self.kind} {self.id}: " if self.kind and self.id else (f"{self.kind}: " if self.kind else "")
        return f"line {self.line}: {what}{self.problem}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Row:
    line: int
    appt: Appointment


def _numbered(rows: Iterable[Any]) -> Iterable[tuple[int, Any]]:
    """Accept ``(line, row)`` pairs (as :func:`synconsole.core.importer.open_rows` yields them) or
    plain dicts (numbered from 1)."""
    for position, item in enumerate(rows, start=1):
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], int):
            yield item
        else:
            yield position, item


def check_rows(
    rows: Iterable[Any],
    session: Session,
    settings: Settings,
    *,
    now: datetime | None = None,
    availability: Availability | None = None,
) -> list[Problem]:
    """Every problem of ``rows`` (import format), in line order; an empty list means all would sync.

    ``rows``: dicts, or ``(line, dict | RowError)`` pairs from ``importer.open_rows``. Only
    scheduled appointments without a booking uid are checked (those are what the sync would book);
    booked ones still count as taking their host's time."""
    now = now or clock.now()
    problems: list[Problem] = []
    file_staff: dict[str, Staff] = {}
    file_customers: dict[str, Customer] = {}
    appts: dict[str, _Row] = {}  # last row of an id wins, as in the import
    for line, row in _numbered(rows):
        if isinstance(row, RowError):
            problems.append(Problem(line, None, str(row), "invalid", None))
            continue
        if not isinstance(row, dict):
            problems.append(Problem(line, None, "expected a JSON object", "invalid", None))
            continue
        try:
            kind, values = validate(row, now)
        except RowError as exc:
            ident = row.get("id")
            kind = row.get("kind") if row.get("kind") in KINDS else None
            problems.append(Problem(line, str(ident) if isinstance(ident, (str, int)) else None, str(exc),
                                    "invalid", kind))
            continue
        if kind == "staff":
            file_staff[values["id"]] = Staff(**values)
        elif kind == "customer":
            file_customers[values["id"]] = Customer(**values)
        else:
            appts.pop(values["id"], None)
            appts[values["id"]] = _Row(line, Appointment(**values))

    staff = _known(session, Staff, file_staff, {r.appt.staff_id for r in appts.values() if r.appt.staff_id})
    customers = _known(session, Customer, file_customers, {r.appt.customer_id for r in appts.values()})
    file_ids = set(appts)
    checked = [r for r in appts.values() if r.appt.status == SCHEDULED and not r.appt.booking_uid]
    # the checks of the row itself (and the import's reference checks) first
    failures: dict[str, Failure | Problem | None] = {}
    for r in checked:
        appt = r.appt
        if appt.customer_id not in customers:
            failures[appt.id] = Problem(r.line, appt.id, f"customer_id: customer {appt.customer_id!r} not found "
                                        "(not in this file, not in the database)", "invalid")
        elif appt.staff_id and appt.staff_id not in staff:
            failures[appt.id] = Problem(r.line, appt.id, f"staff_id: staff {appt.staff_id!r} not found "
                                        "(not in this file, not in the database)", "invalid")
        else:
            member = staff.get(appt.staff_id) if appt.staff_id else None
            failures[appt.id] = check_row(appt, customers[appt.customer_id], member, now=now, settings=settings)
    # rows that take their host's time: booked ones, and those that pass their own checks (a row
    # refused anyway, like a failed appointment in the database, blocks nobody)
    by_host: dict[str, list[_Row]] = {}
    for r in appts.values():
        member = staff.get(r.appt.staff_id or "")
        takes_time = r.appt.status == SCHEDULED and (bool(r.appt.booking_uid) or failures.get(r.appt.id) is None)
        if takes_time and member is not None and member.host_key:
            by_host.setdefault(member.host_key, []).append(r)
    for rows_of_host in by_host.values():
        rows_of_host.sort(key=lambda x: (x.appt.start_at, x.appt.id))
    starts = {host: [x.appt.start_at for x in rows_of_host] for host, rows_of_host in by_host.items()}
    in_db = _database_intervals(session, [r for r in checked if failures[r.appt.id] is None], staff, file_ids)

    for r in sorted(checked, key=lambda x: x.line):
        appt = r.appt
        failure = failures[appt.id]
        if isinstance(failure, Problem):
            problems.append(failure)
            continue
        member = staff.get(appt.staff_id) if appt.staff_id else None
        if failure is None and member is not None and member.host_key:
            failure = _file_overlap(r, by_host.get(member.host_key, []), starts.get(member.host_key, []),
                                    member.host_key)
            if failure is None and _may_overlap(in_db.get(member.host_key), appt):
                other = find_overlap(session, appt, member.host_key, exclude=file_ids)
                if other is not None:
                    failure = overlap_failure(other, member.host_key, where=f"in the database, {other.sync_state}")
            if failure is None:
                block = find_busy_block(session, appt, member.host_key)
                if block is not None:
                    failure = busy_failure(block, member.host_key)
        if failure is not None:
            problems.append(_problem(r.line, appt.id, failure))
            continue
        if availability is not None and member is not None:
            try:
                why = availability(member, appt)
            except AvailabilityUnknown as exc:
                problems.append(Problem(r.line, appt.id, f"availability not checked: {exc}", "not_checked"))
                continue
            if why:
                problems.append(Problem(r.line, appt.id, f"unavailable: {why}", "unavailable"))
    problems.sort(key=lambda p: p.line)
    return problems


def check_appointment(
    appointment: dict[str, Any],
    session: Session,
    settings: Settings,
    *,
    now: datetime | None = None,
    availability: Availability | None = None,
    related: Iterable[dict[str, Any]] = (),
) -> list[Problem]:
    """Check one appointment at creation time, before it is written (for the booking platform).

    ``appointment`` is an import-format appointment row (``kind`` may be left out); ``related``
    are staff or customer rows not in the database yet (a new caller, say). Returns the problems
    (empty: the sync would book it). Line numbers: the appointment is line 1, ``related`` follow."""
    row = {"kind": "appointment", **appointment}
    return check_rows([row, *related], session, settings, now=now, availability=availability)


def _problem(line: int, appointment_id: str, failure: Failure) -> Problem:
    message = failure.message.replace(_BEFORE_SENDING, "")
    return Problem(line, appointment_id, f"{failure.category}: {message}", failure.category)


def _file_overlap(row: _Row, same_host: list[_Row], starts: list[datetime], host: str) -> Failure | None:
    """The first row of this file of the same Cal.com host that overlaps ``row`` and that the sync
    would book before it (so ``row`` is the one refused). ``same_host`` is sorted by start and
    ``starts`` are its starts: only rows starting within MAX_DURATION before ``row`` can overlap."""
    appt = row.appt
    for other in same_host[bisect_right(starts, appt.start_at - MAX_DURATION):]:
        o = other.appt
        if o.start_at >= appt.end_at:
            break
        if o.id != appt.id and intervals_overlap(o.start_at, o.end_at, appt.start_at, appt.end_at) \
                and blocks_in_memory(o, appt):
            return overlap_failure(o, host, where=f"line {other.line} of this file")
    return None


def _database_intervals(session: Session, rows: list[_Row], staff: dict[str, Staff],
                        file_ids: set[str]) -> dict[str, tuple[list[datetime], list[datetime]]]:
    """Per Cal.com host of ``rows``: the (sorted starts, ends) of its scheduled appointments in the
    database around the rows' times. Only a pre-filter: where one could overlap, find_overlap (the
    sync's own rule) decides; elsewhere the query per row is skipped."""
    hosts = sorted({staff[r.appt.staff_id].host_key for r in rows if r.appt.staff_id in staff})
    if not hosts:
        return {}
    low = min(r.appt.start_at for r in rows) - MAX_DURATION
    high = max(r.appt.end_at for r in rows)
    a = Appointment
    found: dict[str, list[tuple[datetime, datetime]]] = {}
    for start in range(0, len(hosts), CHUNK):
        stmt = (sa.select(Staff.host_key, a.id, a.start_at, a.end_at)
                .join(Staff, Staff.id == a.staff_id)
                .where(Staff.host_key.in_(hosts[start:start + CHUNK]), a.status == SCHEDULED,
                       a.start_at > low, a.start_at < high))
        for host, appointment_id, begin, end in session.execute(stmt):
            if appointment_id not in file_ids:
                found.setdefault(host, []).append((begin, end))
    return {h: ([b for b, _ in sorted(v)], [e for _, e in sorted(v)]) for h, v in found.items()}


def _may_overlap(intervals: tuple[list[datetime], list[datetime]] | None, appt: Appointment) -> bool:
    if not intervals:
        return False
    begins, ends = intervals
    for i in range(bisect_right(begins, appt.start_at - MAX_DURATION), len(begins)):
        if begins[i] >= appt.end_at:
            return False
        if intervals_overlap(begins[i], ends[i], appt.start_at, appt.end_at):
            return True
    return False


def _known(session: Session, model: type, from_file: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
    """Rows of ``model`` by id: the file's, else the database's."""
    found = dict(from_file)
    missing = sorted(i for i in wanted if i not in found)
    for start in range(0, len(missing), CHUNK):
        chunk = missing[start:start + CHUNK]
        for item in session.exec(select(model).where(model.id.in_(chunk))):
            found[item.id] = item
    return found


# --- Cal.com availability ------------------------------------------------------------------------


class SlotsAvailability:
    """``availability`` for :func:`check_rows`: is the start one of the free slots Cal.com offers?

    One ``GET /v2/slots`` per event type and UTC day, cached for the life of the object. Runs the
    async client on its own event loop, so call it from synchronous code (not from inside a running
    event loop). Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 30.0, rate_limit_per_minute: int = 120,
                 accounts: dict[str, CalcomSettings] | None = None, db: Database | None = None):
        self._loop = asyncio.new_event_loop()
        self._timeout_s = timeout_s
        self._db = db
        self._accounts = {DEFAULT_ACCOUNT: CalcomSettings(base_url=base_url, api_key=Secret(api_key),
                                                          timeout_s=timeout_s,
                                                          rate_limit_per_minute=rate_limit_per_minute)}
        for account in (accounts or {}).values():
            if account.id != DEFAULT_ACCOUNT:
                self._accounts[account.id] = account
        self._clients: dict[str, Any] = {}
        self._cache: dict[tuple[str, int, date], set[datetime] | AvailabilityUnknown] = {}
        self.calls = 0

    @classmethod
    def from_settings(cls, settings: Settings, *, timeout_s: float | None = None,
                      db: Database | None = None) -> "SlotsAvailability":
        """Slots asked of the account each staff member books through (``staff.calcom_account``);
        with ``db``, each query takes its token from the key's budget every process shares."""
        if not settings.calcom.api_key:
            raise UsageError("--availability needs a Cal.com API key: set [calcom] api_key, api_key_env or "
                             "SYNCONSOLE_CALCOM_API_KEY")
        return cls(settings.calcom.base_url, settings.calcom.api_key.reveal(),
                   timeout_s=settings.calcom.timeout_s if timeout_s is None else timeout_s,
                   rate_limit_per_minute=settings.calcom.rate_limit_per_minute,
                   accounts={a.id: a for a in settings.accounts}, db=db)

    def __call__(self, staff: Staff, appt: Appointment) -> str | None:
        event_type = event_type_for(staff, appt.service)
        if event_type is None:  # check_row reports it first; nothing to ask
            return None
        account = staff.calcom_account or DEFAULT_ACCOUNT
        day = appt.start_at.astimezone(UTC).date()
        free = self._cache.get((account, event_type, day))
        if free is None:
            free = self._fetch(account, event_type, day)
            self._cache[(account, event_type, day)] = free
        if isinstance(free, AvailabilityUnknown):
            raise free
        if appt.start_at in free:
            return None
        return (f"{clock.iso(appt.start_at)} is not among the free slots Cal.com offers for event type "
                f"{event_type} that day (host busy, outside working hours or the booking window)")

    def _client_for(self, account: str):
        if account not in self._clients:
            from synconsole.core.clients import account_client

            self._clients[account] = account_client(self._accounts[account], self._db, timeout_s=self._timeout_s,
                                                    max_concurrency=1)
        return self._clients[account]

    def _fetch(self, account: str, event_type: int, day: date) -> set[datetime] | AvailabilityUnknown:
        from synconsole.calcom.errors import CalcomError

        if account not in self._accounts:
            return AvailabilityUnknown(f"staff books through Cal.com account {account!r}, which is not configured "
                                       f"(accounts: {', '.join(self._accounts)})")
        if not self._accounts[account].api_key:
            return AvailabilityUnknown(f"Cal.com account {account!r} has no API key")
        self.calls += 1
        try:
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            by_day = self._loop.run_until_complete(
                self._client_for(account).get_slots(event_type, start, start + timedelta(days=1), "UTC"))
        except CalcomError as err:
            return AvailabilityUnknown(f"Cal.com slots for event type {event_type} on {day.isoformat()}: "
                                       f"{err.summary()}")
        from synconsole.core.slots import slot_starts

        return set(slot_starts(by_day))

    def close(self) -> None:
        if not self._loop.is_closed():
            for client in self._clients.values():
                self._loop.run_until_complete(client.aclose())
            self._loop.close()

    def __enter__(self) -> "SlotsAvailability":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
