"""The sync's Cal.com calls, one step each: create (and a recurring series' extra occurrences
cancelled), reschedule, cancel or rebook's cancel; and settling a call whose answer never came, by
looking up what was sent."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Callable

from synconsole.calcom.client import METADATA_APPOINTMENT_KEY, CalcomClient, valid_uid
from synconsole.calcom.errors import CalcomError
from synconsole.core import categories as cats
from synconsole.core import clock, errorbody, queue
from synconsole.core.changes import Booking
from synconsole.core.classify import MAX_DURATION, Failure, failure_from_response
from synconsole.core.logsetup import log
from synconsole.core.models import OP_CANCEL, OP_CREATE, OP_REBOOK, OP_RESCHEDULE, OUTCOME_FAILED, OUTCOME_SUCCESS
from synconsole.core.scrub import scrub_text
from synconsole.jobs.sync_outcomes import SyncOutcomes
from synconsole.jobs.sync_types import SyncReport, _free_slot, _Stop, _Work

logger = logging.getLogger("synconsole.sync")

DEFAULT_CANCEL_REASON = "Cancelled in the booking platform"
#: a recurring event type books a series for one appointment: the occurrences after the first go
SERIES_REASON = ("Booked by synconsole for one appointment: only its first occurrence is wanted "
                 "(the event type is a recurring one)")
REBOOK_REASON = "Rebooked by synconsole: the appointment's host or attendee changed"
CONCURRENT_DUPLICATE = "booking_conflict_error"
#: around a start that was sent: a lookup must not depend on the length Cal.com gave the booking
LOOKUP_MARGIN = timedelta(minutes=1)


class SyncCalls(SyncOutcomes):
    """The steps' Cal.com calls, a part of :class:`~synconsole.jobs.sync.SyncEngine` (whose
    ``__init__`` sets the attributes below)."""

    account: str | None
    _clients: Callable[[str], CalcomClient | None] | None
    _found: dict[str, dict[str, Any]]

    # --- settling a call whose answer never came ----------------------------------------------------

    async def _settle(self, work: _Work, report: SyncReport) -> None:
        """Find out what the call in doubt did, from what was sent (not from what the row says now)."""
        sent = work.appt.sent or self._legacy_sent(work)
        before = work.known
        try:
            work.known = await self._outcome_of(work, sent)
        except CalcomError as err:
            await self._failure(work, err, report, operation="lookup", in_doubt=True)
        found = self._found.pop(work.appt.id, None)
        if work.known != before:  # the call in doubt did go through: its outcome, adopted
            op = sent.get("op", OP_CREATE)
            summary = (_summary(sent, work.appt.id) if op == OP_CREATE
                       else {"operation": op, "booking_uid": sent.get("uid")})
            uid = work.known.uid if work.known is not None else sent.get("uid")
            self._attempt(work, op, {**summary, "adopted": True}, OUTCOME_SUCCESS, booking_uid=uid)
            report.adopted += 1
            log(logger, logging.INFO, f"adopted the outcome of an earlier {op}", appointment=work.appt.id,
                booking_uid=uid)
        work.pending.update(self._known_values(work), needs_lookup=False, sent=None)
        if found is not None and work.known is not None and found.get("uid") == work.known.uid:
            await self._settle_series(work, found, None, report)

    def _legacy_sent(self, work: _Work) -> dict[str, Any]:
        """A row in doubt from before calls were written down: what it would have sent."""
        appt = work.appt
        if appt.sync_op == OP_CREATE or not appt.booking_uid:
            return {"op": OP_CREATE, "booking": (work.want or Booking(None, appt.start_at)).to_json()}
        return {"op": appt.sync_op if appt.sync_op != OP_REBOOK else OP_CANCEL, "uid": appt.booking_uid,
                "booking": replace(work.known or Booking(appt.booking_uid, appt.start_at), start=appt.start_at)
                .to_json()}

    async def _outcome_of(self, work: _Work, sent: dict[str, Any]) -> Booking | None:
        """The live booking after the call in ``sent`` (raises CalcomError when Cal.com cannot say)."""
        asked = Booking.from_json(sent.get("booking"))
        if sent.get("op") == OP_CREATE:
            found = await self._find(work.appt.id, asked)
            return asked.with_uid(found["uid"]) if found is not None else work.known
        uid = sent.get("uid") or (work.known.uid if work.known else None)
        if not uid:
            return work.known
        try:
            booking = await self._booked_client(work.known).get_booking(uid)
        except CalcomError as err:
            if err.status == 404:
                return None
            raise
        if booking.get("status") in ("accepted", "pending"):
            return work.known if sent.get("op") == OP_RESCHEDULE else (work.known or asked)
        moved_to = booking.get("rescheduledToUid")
        if sent.get("op") == OP_RESCHEDULE and valid_uid(moved_to) and asked is not None:
            return asked.with_uid(moved_to)
        return None

    async def _find(self, appointment_id: str, asked: Booking | None) -> dict[str, Any] | None:
        """The active booking carrying this appointment's id at the start that was sent: first for
        the attendee and event type that were sent, then (Cal.com matches emails exactly, and only
        shows what the key may see) across every attendee and event type."""
        if asked is None:
            return None
        window = dict(appointment_id=appointment_id, start=asked.start - LOOKUP_MARGIN,
                      end=asked.start + MAX_DURATION + LOOKUP_MARGIN)
        searches = [dict(attendee_email=asked.email, event_type_id=asked.event_type_id), {}]
        if not asked.email and asked.event_type_id is None:
            searches = [{}]
        for filters in searches:
            for found in await self.client.find_bookings(**window, **filters):
                if (found.get("status") in ("accepted", "pending") and _starts_at(found, asked.start)
                        and valid_uid(found.get("uid"))):  # never adopt (store, put in a URL) a non-uid
                    if found.get("recurringBookingUid"):
                        self._found[appointment_id] = found  # its series is settled after adoption
                    return found
        return None

    # --- one Cal.com call -----------------------------------------------------------------------

    async def _step(self, work: _Work, step: str, report: SyncReport) -> None:
        if self.auth_error is not None:  # refused meanwhile: give the claim back unsent
            _free_slot()
            report.released += await asyncio.to_thread(queue.release, self.db, [work.appt])
            raise _Stop()
        if step == OP_CREATE:
            await self._create(work, report)
        elif step == OP_RESCHEDULE:
            await self._reschedule(work, report)
        else:
            await self._cancel(work, report, rebook=step == OP_REBOOK)

    async def _write_ahead(self, work: _Work, step: str, report: SyncReport) -> dict[str, Any]:
        """Write down what is about to be sent, with whatever the last step learned (unless the
        batch's claim wrote it already); returns it."""
        if work.planned is not None:
            sent = work.planned[1]
            work.planned = None
            return sent
        sent = _sent_for(work, step)
        values = {**work.pending, "sent": sent, "sync_op": step}
        if not await asyncio.to_thread(queue.note, self.db, work.appt, values, work.attempts):
            self._lost(work, report)
        work.pending.clear()
        work.attempts = []
        return sent

    async def _create(self, work: _Work, report: SyncReport) -> None:
        want = work.want  # next_step gives create only with something to book; pre-flight passed
        assert want is not None
        sent = await self._write_ahead(work, OP_CREATE, report)
        try:
            answer = await self.client.create_booking(**_request(want, work.appt.id))
        except CalcomError as err:
            if err.outcome_unknown or (err.status == 409 and CONCURRENT_DUPLICATE in err.message):
                found = await self._quietly(self._find(work.appt.id, want), work, err)
                if found is not None:
                    work.known = want.with_uid(found["uid"])
                    self._attempt(work, OP_CREATE, {**_summary(sent, work.appt.id), "adopted": True},
                                  OUTCOME_SUCCESS, booking_uid=found["uid"])
                    report.adopted += 1
                    work.pending.update(self._known_values(work), sent=None, needs_lookup=False)
                    self._found.pop(work.appt.id, None)  # found is at hand here
                    await self._settle_series(work, found, None, report)
                    return
            await self._failure(work, err, report, operation=OP_CREATE, summary=_summary(sent, work.appt.id),
                                in_doubt=err.outcome_unknown)
        series = answer if isinstance(answer, list) else None
        booking = _first_occurrence(series, want.start) if series is not None else answer
        work.known = want.with_uid(booking["uid"])
        self._attempt(work, OP_CREATE, _summary(sent, work.appt.id), OUTCOME_SUCCESS, booking_uid=booking["uid"])
        self._done_log(work, OP_CREATE, booking["uid"])
        work.pending.update(self._known_values(work), sent=None)
        if series is not None or booking.get("recurringBookingUid"):
            await self._settle_series(work, booking, series, report)
        report.synced += 1

    async def _settle_series(self, work: _Work, kept: dict[str, Any], series: list[dict[str, Any]] | None,
                             report: SyncReport) -> None:
        """A recurring event type booked a series for one appointment. Keep the occurrence at the
        appointment's start (``kept``) and cancel every other one now, each an attempt in the log, so
        no booking is left that synconsole does not know of. ``series``: the create's answer; None
        when the booking was adopted by a lookup (its siblings are looked up by ``recurringBookingUid``).
        An occurrence that cannot be cancelled fails the appointment (manual review) with its uid."""
        group = kept.get("recurringBookingUid")
        if series is None:
            if not group:
                return
            try:
                series = await self._siblings(work, kept, group)
            except CalcomError as err:
                series, lookup_error = [], err
            else:
                lookup_error = None
        else:
            lookup_error = None
        extras = [b for b in series if b.get("uid") != kept["uid"] and valid_uid(b.get("uid"))
                  and b.get("status") in ("accepted", "pending")]
        et = work.want.event_type_id if work.want is not None else kept.get("eventTypeId")
        log(logger, logging.WARNING, "recurring event type: Cal.com booked a series for one appointment; "
            "cancelling the other occurrences", appointment=work.appt.id, event_type=et, occurrences=len(extras) + 1)
        left: list[tuple[str, CalcomError]] = []
        for extra in extras:
            summary = {"operation": OP_CANCEL, "booking_uid": extra["uid"], "cancellationReason": SERIES_REASON,
                       "series_of": kept["uid"]}
            try:
                await self.client.cancel_booking(extra["uid"], SERIES_REASON)
            except CalcomError as err:
                category = failure_from_response(err.status, err.code, err.message,
                                                 self.settings.categories.rules).category
                if err.outcome_unknown and await self._quietly(self._cancelled(extra["uid"]), work, err, False):
                    category = "booking_gone"  # the answer was lost; the cancel went through
                if not cats.get(category).cancel_done:
                    left.append((extra["uid"], err))
                    self._attempt(work, OP_CANCEL, summary, OUTCOME_FAILED, booking_uid=extra["uid"],
                                  http_status=err.status, error_code=err.code, category=category,
                                  error_message=errorbody.cut_message(err.message))
                    continue
            self._attempt(work, OP_CANCEL, summary, OUTCOME_SUCCESS, booking_uid=extra["uid"])
        if not left and lookup_error is None:
            return
        if lookup_error is not None:
            why = f"its other occurrences could not be looked up ({lookup_error.summary()[:200]})"
        else:
            why = "these occurrences could not be cancelled: " + "; ".join(
                f"{uid} ({err.summary()[:120]})" for uid, err in left)
        failure = Failure("no_event_type",
                          f"Event type {et} is a recurring event type: Cal.com booked a series for one appointment "
                          f"(kept {kept['uid']} at its start); {why}. Cancel them in Cal.com, and map "
                          f"staff {work.appt.staff_id} to an event type that is not recurring.",
                          left[0][1].status if left else None)
        _free_slot()
        now = clock.now()
        values = {**queue.failed(work.appt, failure, now=now, attempted=False), **work.pending,
                  "attempts": queue.C.attempts + work.calls}
        if await asyncio.to_thread(queue.record, self.db, work.appt, values, work.attempts):
            report.failed += 1
            report.by_category[failure.category] = report.by_category.get(failure.category, 0) + 1
        else:
            report.lost_lease += 1
        raise _Stop()

    async def _cancelled(self, uid: str) -> bool:
        booking = await self.client.get_booking(uid)
        return booking.get("status") not in ("accepted", "pending")

    async def _siblings(self, work: _Work, kept: dict[str, Any], group: str) -> list[dict[str, Any]]:
        """The other bookings of a recurring series synconsole made for this appointment (its id in
        the metadata, the same ``recurringBookingUid``), from the kept occurrence's start on."""
        found: list[dict[str, Any]] = []
        email = work.want.email if work.want is not None else None
        filters: dict[str, Any] = {"after_start": clock.parse_utc(str(kept.get("start")))}
        if email:
            filters["attendee_email"] = email
        async for booking in self.client.iter_bookings(take=250, **filters):
            metadata = booking.get("metadata") if isinstance(booking.get("metadata"), dict) else {}
            if (booking.get("recurringBookingUid") == group
                    and str(metadata.get(METADATA_APPOINTMENT_KEY)) == str(work.appt.id)):
                found.append(booking)
        return found

    async def _reschedule(self, work: _Work, report: SyncReport) -> None:
        known = work.known
        assert known is not None and known.uid
        moved = replace(known, start=work.appt.start_at)
        sent = await self._write_ahead(work, OP_RESCHEDULE, report)
        summary = {"operation": OP_RESCHEDULE, "booking_uid": known.uid, "start": clock.iso(moved.start)}
        try:
            booking = await self.client.reschedule_booking(known.uid, moved.start)
        except CalcomError as err:
            if err.outcome_unknown:
                after = await self._quietly(self._outcome_of(work, sent), work, err, default=known)
                if after is not None and after.uid != known.uid:
                    work.known = after
                    self._attempt(work, OP_RESCHEDULE, {**summary, "adopted": True}, OUTCOME_SUCCESS,
                                  booking_uid=after.uid)
                    report.rescheduled += 1
                    work.pending.update(self._known_values(work), sent=None, needs_lookup=False)
                    return
            await self._failure(work, err, report, operation=OP_RESCHEDULE, summary=summary,
                                in_doubt=err.outcome_unknown)
        work.known = moved.with_uid(booking["uid"])
        self._attempt(work, OP_RESCHEDULE, summary, OUTCOME_SUCCESS, booking_uid=booking["uid"])
        report.rescheduled += 1
        self._done_log(work, OP_RESCHEDULE, booking["uid"])
        work.pending.update(self._known_values(work), sent=None)

    async def _cancel(self, work: _Work, report: SyncReport, *, rebook: bool) -> None:
        known = work.known
        assert known is not None and known.uid
        reason = REBOOK_REASON if rebook else (work.appt.cancel_reason or DEFAULT_CANCEL_REASON)
        sent = await self._write_ahead(work, OP_REBOOK if rebook else OP_CANCEL, report)
        summary = {"operation": OP_REBOOK if rebook else OP_CANCEL, "booking_uid": known.uid,
                   "cancellationReason": reason}
        try:
            await self._booked_client(known).cancel_booking(known.uid, reason)
        except CalcomError as err:
            gone = err.status in (400, 404) and cats.get(failure_from_response(
                err.status, err.code, err.message, self.settings.categories.rules).category).cancel_done
            if gone:
                summary["nothing_to_cancel"] = errorbody.cut_message(err.message)[:300]
            if not gone and err.outcome_unknown:
                gone = await self._quietly(self._outcome_of(work, sent), work, err, default=known) is None
            if not gone:
                await self._failure(work, err, report, operation=summary["operation"], summary=summary,
                                    in_doubt=err.outcome_unknown)
        work.known = None
        self._attempt(work, summary["operation"], summary, OUTCOME_SUCCESS, booking_uid=known.uid)
        if rebook:
            report.rebooked += 1
        else:
            report.cancelled += 1
        self._done_log(work, summary["operation"], known.uid)
        work.pending.update(self._known_values(work), sent=None, needs_lookup=False)

    def _booked_client(self, known: Booking | None) -> CalcomClient:
        """The client of the account ``known`` was booked in: after a staff member moved to another
        account, the old booking is cancelled with the key that made it."""
        if (self.account is None or self._clients is None or known is None or not known.account
                or known.account == self.account):  # one account (self.account None): it made them all
            return self.client
        client = self._clients(known.account)
        if client is None:
            raise RuntimeError(f"booking {known.uid} was made through Cal.com account {known.account}, which has "
                               "no key configured ([[calcom.accounts]]): it cannot be cancelled from here")
        return client

    async def _quietly(self, lookup, work: _Work, err: CalcomError, default: Any = None) -> Any:
        """Right after an unknown outcome: what did the call do? A failing lookup is no answer."""
        try:
            return await lookup
        except CalcomError as lookup_err:
            log(logger, logging.INFO, "lookup after unknown outcome failed", appointment=work.appt.id,
                error=scrub_text(lookup_err.summary()[:300]), first_error=scrub_text(err.summary()[:300]))
            return default


def _sent_for(work: _Work, step: str) -> dict[str, Any]:
    """What a step sends, as it is written down before it goes out (``Appointment.sent``)."""
    if step == OP_CREATE:
        return {"op": OP_CREATE, "booking": work.want.to_json()}
    if step == OP_RESCHEDULE:
        return {"op": OP_RESCHEDULE, "uid": work.known.uid,
                "booking": replace(work.known, start=work.appt.start_at).to_json()}
    return {"op": OP_CANCEL, "uid": work.known.uid}


def _request(want: Booking, appointment_id: str) -> dict[str, Any]:
    """The create call for ``want`` (changes.wanted): attendee email, else phone."""
    return {
        "start": want.start,
        "event_type_id": want.event_type_id,
        "attendee_name": want.name or f"Customer {want.customer_id}",
        "attendee_time_zone": want.time_zone or "UTC",
        "attendee_email": want.email,
        "attendee_phone": want.phone if not want.email else None,
        "metadata": {METADATA_APPOINTMENT_KEY: appointment_id},
    }


def _summary(sent: dict[str, Any], appointment_id: str) -> dict[str, Any]:
    """What a create sent, for the attempt log: no secrets, contact details masked."""
    from synconsole.core.pii import mask_email, mask_phone

    asked = sent.get("booking") or {}
    return {
        "operation": "create",
        "start": clock.iso(clock.parse_utc(asked["start"])) if asked.get("start") else None,
        "eventTypeId": asked.get("event_type_id"),
        "attendee": {"name": asked.get("name"), "timeZone": asked.get("time_zone"),
                     "email": mask_email(asked.get("email")), "phoneNumber": mask_phone(asked.get("phone"))},
        "metadata": {METADATA_APPOINTMENT_KEY: appointment_id},
    }


def _first_occurrence(series: list[dict[str, Any]], start: datetime) -> dict[str, Any]:
    """The occurrence of a series at the appointment's start (Cal.com's first), else the earliest."""
    at_start = [b for b in series if _starts_at(b, start)]
    return at_start[0] if at_start else min(series, key=lambda b: str(b.get("start")))


def _starts_at(booking: dict[str, Any], start: datetime) -> bool:
    try:
        return clock.parse_utc(str(booking.get("start"))) == start
    except ValueError:
        return False
