"""The sync job: claim -> settle what is in doubt -> next step -> pre-flight -> Cal.com -> record.

Never lose: a claim is a lease, renewed while this worker lives; a crash leaves the row to be
reclaimed. Never double-book: every call is written down (``sent``) before it goes out; a call
whose answer never came is settled by looking up what was *sent* (by ``metadata
.synconsole_appointment_id``, at the start that was sent, for the attendee that was sent) before
anything else is sent. Then :func:`synconsole.core.changes.next_step` says what the appointment
still needs (create, cancel, reschedule, or cancel then create for a new host or attendee), one
call at a time, each step recorded. Never hammer: every call goes through the client's shared rate
limiter, consecutive transient failures open a circuit, and a refused key pauses the job.

Here: the batches, the claim and its plan, one appointment's way through its steps. The steps'
Cal.com calls and the settling of a call in doubt are in ``sync_calls.py``, the recording of their
outcomes in ``sync_outcomes.py``, the values passed around in ``sync_types.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from contextlib import asynccontextmanager
from typing import Any, Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from synconsole.calcom.client import CalcomClient
from synconsole.calcom.errors import CalcomError
from synconsole.config import Settings
from synconsole.core import categories as cats
from synconsole.core import changes, clock, queue
from synconsole.core.classify import Failure, check_before_sending
from synconsole.core.db import Database
from synconsole.core.logsetup import log
from synconsole.core.scrub import scrub_text
from synconsole.core.models import OP_CREATE, OP_RESCHEDULE, OUTCOME_FAILED, Appointment, Customer, Staff
from synconsole.jobs.sync_calls import SyncCalls, _sent_for
from synconsole.jobs.sync_types import (
    AuthRefused,
    Circuit,
    SyncReport,
    _Batch,
    _Context,
    _free_slot,
    _Slot,
    _slot,
    _Stop,
    _Work,
)

logger = logging.getLogger("synconsole.sync")

#: on a stop, how long calls in flight may still take before they are abandoned (left in doubt)
STOP_GRACE_S = 5.0


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class SyncEngine(SyncCalls):
    def __init__(self, db: Database, settings: Settings, client: CalcomClient, *, worker: str | None = None,
                 backoff: queue.Backoff | None = None, account: str | None = None,
                 clients: Callable[[str], CalcomClient | None] | None = None) -> None:
        self.db = db
        self.settings = settings
        self.client = client
        #: the Cal.com account whose appointments this engine claims (None: all, the one-account case)
        self.account = account
        self.calcom = settings.account(account)
        #: another account's client (a rebook's cancel goes through the account that booked it)
        self._clients = clients
        self.worker = worker or worker_id()
        self.backoff = backoff or queue.Backoff(settings.sync.backoff_base_s, settings.sync.backoff_max_s)
        self.circuit = Circuit(settings.alerts.outage_consecutive_failures, max(5.0, settings.sync.backoff_base_s))
        self.stopping = False
        self.auth_error: CalcomError | None = None
        #: claimed appointments still waiting for a place for their call (drain claims more below that)
        self._waiting = 0
        self._place_taken = asyncio.Event()
        #: claim tokens with rows still being worked on: their leases are renewed while we live
        self._held: set[str] = set()
        #: appointment id -> a recurring occurrence a lookup found (its series is settled on adoption)
        self._found: dict[str, dict[str, Any]] = {}

    def stop(self) -> None:
        """Stop claiming; calls in flight finish, claims not yet sent are released (also those
        waiting for the rate limit: they fail as not sent instead of waiting out the window). A call
        still on the wire after :data:`STOP_GRACE_S` is abandoned: its row stays in doubt."""
        self.stopping = True
        self.client.stop(STOP_GRACE_S)

    # --- batches --------------------------------------------------------------------------------

    async def run_once(self, limit: int | None = None) -> SyncReport:
        """Claim one batch and see every claimed appointment to a recorded outcome."""
        report = SyncReport()
        async with self._renewing():
            batch = await self._claim(limit, report)
            if batch is not None:
                await self._run(batch, asyncio.Semaphore(self.calcom.max_concurrency), report)
        return report

    @asynccontextmanager
    async def _renewing(self):
        task = asyncio.ensure_future(self._keep_leases())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _keep_leases(self) -> None:
        """Renew the leases of everything this worker holds, a third of a lease apart, so no other
        worker reclaims a row this one still works on (a row may wait minutes for the rate limit)."""
        lease_s = self.settings.sync.lease_s
        while True:
            await asyncio.sleep(lease_s / 3)
            tokens = sorted(self._held)
            if not tokens:
                continue
            try:
                await asyncio.to_thread(queue.renew, self.db, tokens, lease_s)
            except SQLAlchemyError as exc:
                log(logger, logging.WARNING, "could not renew leases; retrying", error=str(exc)[:200])

    async def drain(self, limit: int | None = None) -> SyncReport:
        """Run batches until nothing is due now (``sync --once``), at most ``limit`` appointments.

        Batches overlap: the next one is claimed as soon as the last appointments of the current
        one have their places, so the ``max_concurrency`` places never wait for a batch's slowest
        call (one batch after the other left them idle at every batch's end). While the circuit
        is open nothing overlaps: the probe's answer decides whether to go on."""
        places = self.calcom.max_concurrency
        gate = asyncio.Semaphore(places)
        reports: list[SyncReport] = []
        tasks: list[asyncio.Task] = []
        claimed = 0
        async with self._renewing():
            try:
                while not self.stopping and self.auth_error is None:
                    if limit is not None and claimed >= limit:
                        break
                    report = SyncReport()
                    reports.append(report)
                    batch = await self._claim(None if limit is None else limit - claimed, report)
                    claimed += report.claimed
                    if batch is None:
                        break
                    task = asyncio.ensure_future(self._run(batch, gate, report))
                    tasks.append(task)
                    if self.circuit.open:  # a probe: its answer first
                        await asyncio.wait(tasks)
                    while not task.done() and self._waiting >= places:
                        self._place_taken.clear()
                        taken = asyncio.ensure_future(self._place_taken.wait())
                        await asyncio.wait([task, taken], return_when=asyncio.FIRST_COMPLETED)
                        taken.cancel()
                    if any(t.done() and not t.cancelled() and t.exception() is not None for t in tasks):
                        break
                    if self.circuit.open and not self.circuit.probe_due(clock.now()):
                        break
            finally:
                if tasks:
                    await asyncio.gather(*tasks, return_exceptions=True)
        total = SyncReport()
        for report in reports:
            total.add(report)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()
        return total

    async def _claim(self, limit: int | None, report: SyncReport) -> _Batch | None:
        """Claim a batch and load what its appointments need; ``None`` when there is nothing to send."""
        if self.stopping:
            report.skipped = "stopping"
            return None
        now = clock.now()
        size = min(limit or self.settings.sync.batch_size, self.settings.sync.batch_size)
        if self.circuit.open:
            if not self.circuit.probe_due(now):
                report.skipped = "circuit open (Cal.com failing); waiting to probe"
                return None
            self.circuit.last_probe = now
            size = 1
        claimed = await asyncio.to_thread(queue.claim, self.db, self.worker, limit=size,
                                          lease_s=self.settings.sync.lease_s, now=now, account=self.account)
        report.claimed = len(claimed)
        if not claimed:
            return None
        token = claimed[0].claimed_by
        self._held.add(token)
        batch = await asyncio.to_thread(self._plan, claimed, token)
        for appt, failure, step in batch.refused:
            with contextlib.suppress(_Stop):
                await self._refuse(_Work(appt, None, None, now, None, None), step, failure, report)
        return batch

    def _plan(self, claimed: list[Appointment], token: str) -> _Batch:
        """For the whole batch at once: what each appointment needs next, pre-flight for creates and
        moves (refusals are recorded without taking a place for a call), and the calls written down
        in one transaction before any is sent. Appointments in doubt are planned after settling."""
        ctx = self._context(claimed)
        now = clock.now()
        batch = _Batch([], ctx, token)
        intents: list[tuple[Appointment, dict[str, Any]]] = []
        with self.db.session() as session:
            for appt in claimed:
                work = self._work(appt, ctx)
                step = None if appt.needs_lookup else changes.next_step(appt, work.known, work.want, now)
                if step in (OP_CREATE, OP_RESCHEDULE):
                    failure = check_before_sending(session, appt, work.customer, work.staff, now=now,
                                                   settings=self.settings, move=step == OP_RESCHEDULE)
                    if failure is not None:
                        batch.refused.append((appt, failure, step))
                        continue
                if step is not None and changes.is_call(step):
                    sent = _sent_for(work, step)
                    batch.planned[appt.id] = (step, sent)
                    intents.append((appt, {"sent": sent, "sync_op": step}))
                batch.todo.append(appt)
        written = queue.note_many(self.db, intents)
        batch.planned = {i: plan for i, plan in batch.planned.items() if i in written}
        return batch

    async def _run(self, batch: _Batch, gate: asyncio.Semaphore, report: SyncReport) -> None:
        self._waiting += len(batch.todo)
        try:
            results = await asyncio.gather(*(self._guarded(gate, a, batch.ctx, report, batch.planned)
                                             for a in batch.todo), return_exceptions=True)
        finally:
            self._held.discard(batch.token)
        auth = next((r for r in results if isinstance(r, AuthRefused)), None)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, AuthRefused):
                raise r
        if auth is not None:
            self.auth_error = auth.error
            report.skipped = f"Cal.com refused the API key ({auth.error.summary()})"

    async def _guarded(self, gate: asyncio.Semaphore, appt: Appointment, ctx: _Context, report: SyncReport,
                       planned: dict[str, tuple[str, dict[str, Any]]]) -> None:
        slot = _Slot(gate)
        try:
            await slot.take()
        finally:
            self._waiting -= 1
            self._place_taken.set()
        _slot.set(slot)  # this task's own context: gather runs each appointment in a task
        try:
            if self.stopping or self.auth_error is not None:
                slot.free()
                released = await asyncio.to_thread(queue.release, self.db, [appt])
                report.released += released
                return
            await self._process(appt, ctx, report, planned=planned.get(appt.id))
        finally:
            slot.free()

    def _context(self, claimed: list[Appointment]) -> _Context:
        with self.db.session() as session:
            customer_ids = {a.customer_id for a in claimed}
            staff_ids = {a.staff_id for a in claimed if a.staff_id}
            customers = {c.id: c for c in session.exec(select(Customer).where(Customer.id.in_(customer_ids)))}
            staff = {s.id: s for s in session.exec(select(Staff).where(Staff.id.in_(staff_ids)))} if staff_ids else {}
        return _Context(customers, staff)

    # --- one appointment ------------------------------------------------------------------------

    def _work(self, appt: Appointment, ctx: _Context) -> _Work:
        customer = ctx.customers.get(appt.customer_id)
        staff = ctx.staff.get(appt.staff_id) if appt.staff_id else None
        return _Work(appt, customer, staff, clock.now(), changes.booked_of(appt), changes.wanted(appt, customer, staff))

    async def _process(self, appt: Appointment, ctx: _Context, report: SyncReport, *,
                       planned: tuple[str, dict[str, Any]] | None = None) -> None:
        """Settle what is in doubt, then take the steps :func:`changes.next_step` names (at most a
        cancel and a create), writing each down before it is sent and its outcome after."""
        work = self._work(appt, ctx)
        work.planned = planned
        try:
            if appt.needs_lookup:
                await self._settle(work, report)
            for _ in range(3):
                step = changes.next_step(appt, work.known, work.want, clock.now())
                if not changes.is_call(step):
                    await self._finish(work, step, report)
                    return
                if work.planned is not None and work.planned[0] != step:  # pragma: no cover - same inputs
                    work.planned = None
                if step in (OP_CREATE, OP_RESCHEDULE) and work.planned is None:
                    failure = await asyncio.to_thread(self._check, work, step == OP_RESCHEDULE)
                    if failure is not None:
                        await self._refuse(work, step, failure, report)
                        return
                await self._step(work, step, report)
            raise AssertionError(f"appointment {appt.id}: no final state after three steps")  # pragma: no cover
        except _Stop:
            return
        except (AuthRefused, SQLAlchemyError):
            raise
        except Exception as exc:  # noqa: BLE001 - one appointment's surprise must not stop the batch
            await self._crashed(work, exc, report)

    async def _crashed(self, work: _Work, exc: Exception, report: SyncReport) -> None:
        """Something unexpected while handling this appointment: finish it as failed, with the error,
        so it is neither left in flight nor reclaimed forever; what was sent stays for a lookup."""
        _free_slot()
        now = clock.now()
        message = f"internal error while syncing: {type(exc).__name__}: {str(exc)[:500]}"
        failure = Failure(cats.UNKNOWN, message, None, None)
        values = {**work.pending, **queue.failed(work.appt, failure, now=now, attempted=bool(work.calls))}
        if work.calls:
            values["attempts"] = queue.C.attempts + work.calls
        self._attempt(work, work.appt.sync_op or "sync", None, OUTCOME_FAILED, category=failure.category,
                      error_message=message)
        if await asyncio.to_thread(queue.record, self.db, work.appt, values, work.attempts):
            report.failed += 1
            report.by_category[failure.category] = report.by_category.get(failure.category, 0) + 1
        else:
            report.lost_lease += 1
        log(logger, logging.ERROR, "appointment failed on an internal error", appointment=work.appt.id,
            error=scrub_text(message[:300]))

    def _check(self, work: _Work, move: bool) -> Failure | None:
        with self.db.session() as session:
            return check_before_sending(session, work.appt, work.customer, work.staff, now=clock.now(),
                                        settings=self.settings, move=move)
