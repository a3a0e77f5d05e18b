"""Writing down what a step did: the attempt log, the final state, a refusal before sending, a
failed call (retry, in doubt, failed, or the whole sync paused on a refused key)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from synconsole.calcom.client import CalcomClient
from synconsole.calcom.errors import KIND_NOT_SENT, CalcomError
from synconsole.config import Settings
from synconsole.core import categories as cats
from synconsole.core import clock, errorbody, queue
from synconsole.core.classify import Failure, failure_from_response
from synconsole.core.db import Database
from synconsole.core.logsetup import log
from synconsole.core.models import OUTCOME_FAILED, OUTCOME_PREFLIGHT, OUTCOME_RETRY, OUTCOME_UNKNOWN, SyncAttempt
from synconsole.core.scrub import scrub_text
from synconsole.jobs.sync_types import AuthRefused, Circuit, SyncReport, _free_slot, _Stop, _Work

logger = logging.getLogger("synconsole.sync")


class SyncOutcomes:
    """Recording the steps' outcomes, a part of :class:`~synconsole.jobs.sync.SyncEngine` (whose
    ``__init__`` sets the attributes below)."""

    db: Database
    settings: Settings
    client: CalcomClient
    worker: str
    backoff: queue.Backoff
    circuit: Circuit
    auth_error: CalcomError | None

    def _known_values(self, work: _Work) -> dict[str, Any]:
        known = work.known
        values: dict[str, Any] = {"booked": known.to_json() if known is not None else None}
        if known is not None:
            values["booking_uid"] = known.uid
        return values

    def _attempt(self, work: _Work, operation: str, summary: dict | None, outcome: str, **fields: Any) -> None:
        now = clock.now()
        work.attempts.append(SyncAttempt(appointment_id=work.appt.id, at=now, worker=self.worker, operation=operation,
                                         request_summary=summary, outcome=outcome,
                                         duration_ms=_ms(work.started, now), **fields))
        if outcome != OUTCOME_PREFLIGHT:
            work.calls += 1

    async def _finish(self, work: _Work, state: str, report: SyncReport) -> None:
        """Nothing more to send: write the final state (synced, cancelled, skipped)."""
        _free_slot()
        now = clock.now()
        if work.calls:
            self.circuit.success()
        else:
            report.settled += 1
        values = {**queue.done(state, now=now), **self._known_values(work), **work.pending}
        if work.calls:
            values.update(attempts=queue.C.attempts + work.calls, last_attempt_at=now)
        if not await asyncio.to_thread(queue.record, self.db, work.appt, values, work.attempts):
            self._lost(work, report)
        if not work.calls:
            log(logger, logging.INFO, f"no Cal.com call needed: {state}", appointment=work.appt.id)

    def _done_log(self, work: _Work, operation: str, booking_uid: str | None) -> None:
        log(logger, logging.INFO, f"{operation} done", appointment=work.appt.id, booking_uid=booking_uid,
            duration_ms=_ms(work.started, clock.now()))

    async def _refuse(self, work: _Work, step: str, failure: Failure, report: SyncReport) -> None:
        """Pre-flight refused the next step: nothing is sent; a booking that exists stays as it is."""
        _free_slot()
        now = clock.now()
        self._attempt(work, step, None, OUTCOME_PREFLIGHT, category=failure.category, error_message=failure.message)
        values = {**queue.failed(work.appt, failure, now=now, attempted=False), **work.pending,
                  "sync_op": step}
        if work.calls:
            values.update(attempts=queue.C.attempts + work.calls, last_attempt_at=now)
        if await asyncio.to_thread(queue.record, self.db, work.appt, values, work.attempts):
            report.preflight += 1
            report.by_category[failure.category] = report.by_category.get(failure.category, 0) + 1
            log(logger, logging.INFO, "refused before sending", appointment=work.appt.id, category=failure.category)
        else:
            self._lost(work, report)

    def _lost(self, work: _Work, report: SyncReport | None) -> None:
        if report is not None:
            report.lost_lease += 1
        log(logger, logging.WARNING, "claim lost before the outcome was written", appointment=work.appt.id)
        raise _Stop()

    async def _failure(self, work: _Work, err: CalcomError, report: SyncReport, *, operation: str,
                       summary: dict | None = None, in_doubt: bool) -> None:
        """Record a failed call (or lookup) and stop. ``in_doubt``: the call may have reached Cal.com;
        what was sent stays written down and is settled first next time."""
        _free_slot()
        appt = work.appt
        if err.kind == KIND_NOT_SENT:  # stopping: nothing reached Cal.com, give the claim back
            report.released += await asyncio.to_thread(queue.release, self.db, [appt])
            raise _Stop()
        now = clock.now()
        message = errorbody.cut_message(err.message)
        failure = failure_from_response(err.status, err.code, message, self.settings.categories.rules)
        policy = cats.get(failure.category)
        if policy.pauses_sync:  # at once, before any await: the rest of the batch is released unsent
            self.auth_error = err
        transient = policy.retried
        if policy.retry == cats.RETRY_BACKOFF:
            self.circuit.failure(now)
        elif policy.retry != cats.RETRY_AFTER_RESET:
            self.circuit.success()  # Cal.com answered: it is up
        attempts_after = appt.attempts + work.calls + 1
        if policy.pauses_sync:
            values = queue.retry_later(appt, failure, now=now, delay_s=0)
            outcome = OUTCOME_RETRY
        elif (transient or in_doubt) and attempts_after < self.settings.sync.max_attempts:
            delay = (self._rate_limit_delay() if policy.retry == cats.RETRY_AFTER_RESET
                     else self.backoff.delay(attempts_after))
            values = queue.retry_later(appt, failure, now=now, delay_s=delay)
            outcome = OUTCOME_UNKNOWN if in_doubt else OUTCOME_RETRY
        else:
            values = queue.failed(appt, failure, now=now)
            outcome = OUTCOME_FAILED
        values.update(work.pending)
        values["attempts"] = queue.C.attempts + work.calls + 1
        values["sync_op"] = operation if operation != "lookup" else appt.sync_op
        if in_doubt:
            values["needs_lookup"] = True
            values.pop("sent", None)  # keep what was sent: it is what the next lookup searches for
        elif operation != "lookup":
            values["sent"] = None
        body = await asyncio.to_thread(errorbody.for_attempt, self.db, appt.id, err.body)
        self._attempt(work, operation, summary, outcome, http_status=err.status, error_code=err.code,
                      error_message=message, error_body=body, category=failure.category)
        ok = await asyncio.to_thread(queue.record, self.db, appt, values, work.attempts)
        if not ok:
            report.lost_lease += 1
        elif outcome == OUTCOME_FAILED:
            report.failed += 1
            report.by_category[failure.category] = report.by_category.get(failure.category, 0) + 1
        else:
            report.retry += 1
        log(logger, logging.INFO if transient else logging.WARNING, f"{operation} failed", appointment=appt.id,
            status=err.status, category=failure.category, outcome=outcome, error=scrub_text(message[:300]))
        if policy.pauses_sync:
            raise AuthRefused(err)
        raise _Stop()

    def _rate_limit_delay(self) -> float:
        wait = self.client.limiter.stats().blocked_for_s
        return wait + 1.0 if wait > 0 else 60.0


def _ms(started: datetime, now: datetime) -> int:
    return max(0, int((now - started).total_seconds() * 1000))
