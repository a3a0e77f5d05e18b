"""Async client for the parts of Cal.com API v2 synconsole uses (bookings and slots).

Standalone on purpose: it takes plain arguments (no settings object) and never imports the core
or Textual. Every failure is a :class:`~synconsole.calcom.errors.CalcomError`.

Safety rules it follows:
- A create (or any POST) is never retried here: Cal.com has no idempotency key, so only the
  caller, after looking the booking up with :meth:`CalcomClient.find_booking`, may try again.
- GETs are retried once, and only when the connection failed or was dropped (not on a timeout,
  which may mean an overloaded server, and not on any HTTP status).
- Every request reserves a slot of the shared :class:`~synconsole.calcom.ratelimit.RateLimiter`
  before it is sent.
- The API key lives only in the ``Authorization`` header of outgoing requests; it is kept out of
  reprs, logs and errors, and scrubbed from any error body that would echo it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import date, datetime
from typing import Any

import httpx

from .errors import (
    KIND_CONNECTION,
    KIND_INVALID_RESPONSE,
    KIND_NOT_SENT,
    KIND_TIMEOUT,
    CalcomError,
    parse_error_body,
)
from .answers import (  # noqa: F401 (iso_utc, valid_uid: re-exported)
    NOT_A_UID,
    check_booking,
    check_created,
    check_list,
    check_slots,
    checked_uid,
    invalid_response,
    iso_param,
    iso_utc,
    valid_uid,
)
from .ratelimit import RateLimiter
from synconsole.secret import Secret

log = logging.getLogger("synconsole.calcom")

BOOKINGS_API_VERSION = "2024-08-13"
SLOTS_API_VERSION = "2024-09-04"
METADATA_APPOINTMENT_KEY = "synconsole_appointment_id"
MAX_TAKE = 250
_MASK = "***"
_ACTIVE_STATUSES = ("accepted", "pending")


class CalcomClient:
    """One connection pool, shared pacing, typed errors. Use ``async with`` or call :meth:`aclose`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 30.0,
        rate_limit_per_minute: int = 120,
        max_concurrency: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not api_key:
            raise ValueError("Cal.com API key is empty")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.base_url = base_url.rstrip("/")
        self._key = Secret(api_key)
        self.timeout_s = float(timeout_s)
        self.max_concurrency = int(max_concurrency)
        self.limiter = limiter or RateLimiter(rate_limit_per_minute, clock=clock, sleep=sleep)
        self._clock = clock
        self._semaphore = asyncio.Semaphore(self.max_concurrency)
        #: requests still waiting for a connection slot or the rate limit: nothing sent yet
        self._unsent: set[asyncio.Task] = set()
        #: requests on the wire (each its own task, so it can be abandoned alone)
        self._in_flight: set[asyncio.Future] = set()
        self._aborting = False
        self._abandoning = False
        #: the whole call (connect, headers, body) must be done by then: a per-read timeout alone
        #: never trips on a server that sends one byte a second
        self.deadline_s = self.timeout_s * 2
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(self.timeout_s),
            transport=transport,
            limits=httpx.Limits(
                max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency
            ),
            headers={"Accept": "application/json", "User-Agent": "synconsole"},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"CalcomClient(base_url={self.base_url!r}, api_key={_MASK!r})"

    async def __aenter__(self) -> CalcomClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def abort_unsent(self) -> int:
        """Make every request that is still waiting (for a slot or the rate limit) fail as not sent,
        so a graceful stop does not wait a whole rate-limit window; calls in flight go on."""
        self._aborting = True
        for task in list(self._unsent):
            task.cancel()
        return len(self._unsent)

    def abandon_in_flight(self) -> int:
        """Give up on the calls still on the wire (the stop's grace period is over): each fails as a
        timeout, so its outcome is unknown and the caller looks it up later."""
        self._aborting = True
        self._abandoning = True
        for future in list(self._in_flight):
            future.cancel()
        return len(self._in_flight)

    def stop(self, grace_s: float) -> None:
        """Stop: unsent requests fail as not sent now; calls in flight get ``grace_s`` seconds to
        finish, then are abandoned."""
        self.abort_unsent()
        if self._in_flight:
            asyncio.get_running_loop().call_later(grace_s, self.abandon_in_flight)

    # -- bookings ------------------------------------------------------------------------------
    async def create_booking(
        self,
        *,
        start: datetime,
        event_type_id: int,
        attendee_name: str,
        attendee_time_zone: str,
        attendee_email: str | None = None,
        attendee_phone: str | None = None,
        metadata: Mapping[str, str] | None = None,
        length_in_minutes: int | None = None,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Create a booking. Never retried: on an unknown outcome use :meth:`find_booking` first.

        A recurring event type books the whole series: Cal.com's ``data`` is then a list of bookings
        (each with ``recurringBookingUid``), and so is the return value."""
        attendee: dict[str, Any] = {"name": attendee_name, "timeZone": attendee_time_zone}
        if attendee_email:
            attendee["email"] = attendee_email
        if attendee_phone:
            attendee["phoneNumber"] = attendee_phone
        body: dict[str, Any] = {
            "start": iso_utc(start),
            "eventTypeId": int(event_type_id),
            "attendee": attendee,
        }
        if metadata:
            body["metadata"] = {str(k): v for k, v in metadata.items()}
        if length_in_minutes is not None:
            body["lengthInMinutes"] = int(length_in_minutes)
        return await self._call("POST", "/v2/bookings", json_body=body, check=check_created)

    async def get_booking(self, uid: str) -> dict[str, Any]:
        return await self._call("GET", f"/v2/bookings/{checked_uid(uid)}", check=check_booking)

    async def list_bookings(
        self,
        *,
        attendee_email: str | None = None,
        attendee_name: str | None = None,
        after_start: datetime | str | None = None,
        before_end: datetime | str | None = None,
        status: str | list[str] | tuple[str, ...] | None = None,
        event_type_id: int | None = None,
        booking_uid: str | None = None,
        take: int = 100,
        skip: int = 0,
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """One page of bookings: ``(items, pagination)``.

        ``status`` takes Cal.com's list filter values (``upcoming``, ``recurring``, ``past``,
        ``cancelled``, ``unconfirmed``), one or several.
        """
        if not 1 <= int(take) <= MAX_TAKE:
            raise ValueError(f"take must be between 1 and {MAX_TAKE}")
        if int(skip) < 0:
            raise ValueError("skip must not be negative")
        params: dict[str, str] = {"take": str(int(take)), "skip": str(int(skip))}
        if attendee_email:
            params["attendeeEmail"] = attendee_email
        if attendee_name:
            params["attendeeName"] = attendee_name
        if after_start is not None:
            params["afterStart"] = iso_param(after_start)
        if before_end is not None:
            params["beforeEnd"] = iso_param(before_end)
        if status:
            params["status"] = status if isinstance(status, str) else ",".join(status)
        if event_type_id is not None:
            params["eventTypeId"] = str(int(event_type_id))
        if booking_uid is not None:
            params["bookingUid"] = checked_uid(booking_uid)
        envelope = await self._call(
            "GET", "/v2/bookings", params=params, whole_envelope=True, check=check_list
        )
        return envelope["data"], envelope["pagination"]

    async def iter_bookings(self, *, take: int = 100, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        """Every booking matching the filters of :meth:`list_bookings`, page after page."""
        skip = 0
        while True:
            items, pagination = await self.list_bookings(take=take, skip=skip, **filters)
            for item in items:
                yield item
            skip += len(items)
            if not items or not pagination.get("hasNextPage"):
                return

    async def cancel_booking(self, uid: str, reason: str) -> dict[str, Any]:
        """Cancel; Cal.com requires a reason when the caller is the host, so it is always sent."""
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("a cancellation reason is required")
        return await self._call(
            "POST",
            f"/v2/bookings/{checked_uid(uid)}/cancel",
            json_body={"cancellationReason": reason},
            check=check_booking,
        )

    async def reschedule_booking(self, uid: str, start: datetime, reason: str | None = None) -> dict[str, Any]:
        """Move a booking. Cal.com answers with a NEW booking (new uid); the old one is cancelled."""
        body: dict[str, Any] = {"start": iso_utc(start)}
        if reason:
            body["reschedulingReason"] = reason
        return await self._call(
            "POST", f"/v2/bookings/{checked_uid(uid)}/reschedule", json_body=body, check=check_booking
        )

    async def find_bookings(
        self,
        *,
        appointment_id: str,
        start: datetime,
        end: datetime,
        attendee_email: str | None = None,
        attendee_phone: str | None = None,
        event_type_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """All bookings in ``[start, end]`` whose ``metadata.synconsole_appointment_id`` matches.

        Cal.com's list endpoint filters by attendee email but not by phone, so without an email the
        lookup is the time window (and event type, when given) alone; the metadata match decides.
        ``attendee_phone`` is accepted for symmetry and is not a filter.
        """
        del attendee_phone  # no such list filter in the API (see the OpenAPI document)
        filters: dict[str, Any] = {"after_start": start, "before_end": end}
        if attendee_email:
            filters["attendee_email"] = attendee_email
        if event_type_id is not None:
            filters["event_type_id"] = event_type_id
        wanted = str(appointment_id)
        found = []
        async for booking in self.iter_bookings(take=MAX_TAKE, **filters):
            metadata = booking.get("metadata")
            if isinstance(metadata, dict) and str(metadata.get(METADATA_APPOINTMENT_KEY)) == wanted:
                found.append(booking)
        return found

    async def find_booking(
        self,
        *,
        appointment_id: str,
        start: datetime,
        end: datetime,
        attendee_email: str | None = None,
        attendee_phone: str | None = None,
        event_type_id: int | None = None,
    ) -> dict[str, Any] | None:
        """The booking synconsole made for ``appointment_id`` in that window, or None.

        How the sync engine adopts a booking whose create outcome was unknown. An active one
        (accepted or pending; the oldest if several) wins over cancelled ones; when only cancelled
        or rejected ones exist, the most recently updated is returned so the caller sees it.
        """
        matches = await self.find_bookings(
            appointment_id=appointment_id,
            start=start,
            end=end,
            attendee_email=attendee_email,
            attendee_phone=attendee_phone,
            event_type_id=event_type_id,
        )
        if not matches:
            return None
        bad = [b for b in matches if not valid_uid(b.get("uid"))]
        if bad:  # never adopt (store, index, put in a URL) what is not a uid
            raise CalcomError(status=200, message=f"booking lookup: a booking for appointment {appointment_id} has "
                              f"an invalid uid ({len(str(bad[0].get('uid')))} characters)",
                              kind=KIND_INVALID_RESPONSE)
        active = [b for b in matches if b.get("status") in _ACTIVE_STATUSES]
        if active:
            if len(active) > 1:
                log.warning(
                    "%d active Cal.com bookings carry appointment id %s", len(active), appointment_id
                )
            return min(active, key=lambda b: (str(b.get("createdAt", "")), b.get("id") or 0))
        return max(matches, key=lambda b: (str(b.get("updatedAt", "")), b.get("id") or 0))

    # -- slots and health ------------------------------------------------------------------------
    async def get_slots(
        self,
        event_type_id: int,
        start: datetime | date | str,
        end: datetime | date | str,
        time_zone: str = "UTC",
        duration: int | None = None,
        *,
        range_format: bool = False,
    ) -> dict[str, list[dict[str, Any]]]:
        """Free slots by day (``YYYY-MM-DD`` in ``time_zone``); days without slots are left out."""
        params: dict[str, str] = {
            "eventTypeId": str(int(event_type_id)),
            "start": iso_param(start),
            "end": iso_param(end),
            "timeZone": time_zone,
        }
        if duration is not None:
            params["duration"] = str(int(duration))
        if range_format:
            params["format"] = "range"
        return await self._call("GET", "/v2/slots", params=params, check=check_slots)

    async def ping(self) -> float:
        """A cheap authenticated call (list one booking); returns its duration in seconds.

        Raises :class:`CalcomError` when Cal.com is unreachable or the key is refused (401).
        """
        started = self._clock()
        await self.list_bookings(take=1)
        return max(0.0, self._clock() - started)

    # -- plumbing ------------------------------------------------------------------------------
    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        whole_envelope: bool = False,
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        version = SLOTS_API_VERSION if path.startswith("/v2/slots") else BOOKINGS_API_VERSION
        headers = {"Authorization": f"Bearer {self._key.reveal()}", "cal-api-version": version}
        content = None
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        attempts = 2 if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            try:
                response = await self._send(method, path, params, headers, content)
            except CalcomError as err:
                if attempt < attempts and err.kind == KIND_CONNECTION:
                    log.debug("%s %s: connection failed, retrying once", method, path)
                    continue
                raise
            return self._parse(response, whole_envelope, check)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        headers: dict[str, str],
        content: bytes | None,
    ) -> httpx.Response:
        task = asyncio.current_task()
        if self._aborting:
            raise CalcomError(status=None, message="not sent: the client is stopping", kind=KIND_NOT_SENT)
        self._unsent.add(task)
        try:
            await self._semaphore.acquire()
            try:
                await self.limiter.acquire()
            except BaseException:
                self._semaphore.release()
                raise
        except asyncio.CancelledError:
            if self._aborting:
                raise CalcomError(status=None, message="not sent: the client is stopping",
                                  kind=KIND_NOT_SENT) from None
            raise
        finally:
            self._unsent.discard(task)
        try:
            status: int | None = None
            response_headers: Mapping[str, str] | None = None
            started = self._clock()
            async def whole() -> httpx.Response:
                answer = await self._http.request(method, path, params=params, headers=headers, content=content)
                await answer.aread()
                return answer

            wire = asyncio.ensure_future(asyncio.wait_for(whole(), self.deadline_s))
            self._in_flight.add(wire)
            try:
                response = await wire
                status, response_headers = response.status_code, response.headers
            except asyncio.CancelledError:
                if self._abandoning and wire.cancelled() and not task.cancelling():
                    raise CalcomError(status=None, message="no answer before the stop's grace period ended "
                                      "(abandoned; the outcome is unknown)", kind=KIND_TIMEOUT) from None
                raise
            except asyncio.TimeoutError:
                raise CalcomError(status=None, message=f"no complete answer within {self.deadline_s:g} s",
                                  kind=KIND_TIMEOUT) from None
            except httpx.TimeoutException as exc:
                raise CalcomError(
                    status=None,
                    message=self._scrub(f"no answer within {self.timeout_s:g} s ({type(exc).__name__})"),
                    kind=KIND_TIMEOUT,
                ) from None
            except httpx.TransportError as exc:
                raise CalcomError(
                    status=None,
                    message=self._scrub(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__),
                    kind=KIND_CONNECTION,
                ) from None
            finally:
                self._in_flight.discard(wire)
                self.limiter.release(status, response_headers)
                log.debug(
                    "%s %s -> %s in %.0f ms",
                    method,
                    path,
                    status if status is not None else "no answer",
                    (self._clock() - started) * 1000,
                )
            return response
        finally:
            self._semaphore.release()

    def _parse(
        self, response: httpx.Response, whole_envelope: bool, check: Callable[[Any], str | None] | None
    ) -> Any:
        status = response.status_code
        raw = self._scrub(response.content.decode("utf-8", errors="replace"))
        if not 200 <= status < 300:
            headers = {k: self._scrub(v) for k, v in response.headers.items()}
            raise parse_error_body(status, raw, headers)
        try:
            envelope = json.loads(raw)
        except ValueError:
            raise invalid_response(status, "success status with a body that is not JSON", raw) from None
        if not isinstance(envelope, dict) or envelope.get("status") != "success" or "data" not in envelope:
            raise invalid_response(status, "success status without a success envelope", raw)
        problem = check(envelope) if check else None
        if problem:
            err = invalid_response(status, problem, raw)
            if problem.startswith(NOT_A_UID):  # readable, and booked: not an unknown outcome
                err.details = {"invalid_uid": True}
            raise err
        return envelope if whole_envelope else envelope["data"]

    def _scrub(self, text: str) -> str:
        key = self._key.reveal()
        return text.replace(key, _MASK) if key and key in text else text
