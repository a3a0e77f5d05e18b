"""Admin endpoints of the simulator for tests and the demo (no auth, not rate limited, no faults)."""

from __future__ import annotations

import random
from datetime import timedelta
from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .responses import json_object
from .state import ACTIVE, SimState, busy_block, parse_iso
from .webhooks import CANCELLED, CREATED, RESCHEDULED, Subscriber

async def admin_faults(request: Request) -> Response:
    sim: SimState = request.app.state.sim
    if request.method == "POST":
        body, error = await json_object(request)
        if error:
            return error
        try:
            if sim.faults.update(body, sim.clock()):
                sim.fault_rng = random.Random(sim.faults.seed)
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(asdict(sim.faults))


async def admin_bookings(request: Request) -> Response:
    sim: SimState = request.app.state.sim
    wanted = request.query_params.get("appointment_id")
    items, by_id, active_by_id = [], {}, {}
    for booking in sim.store.bookings.values():
        appointment = booking.metadata.get("synconsole_appointment_id")
        if appointment is not None:
            key = str(appointment)
            by_id[key] = by_id.get(key, 0) + 1
            if booking.status in ACTIVE:
                active_by_id[key] = active_by_id.get(key, 0) + 1
        if wanted is None or str(appointment) == wanted:
            items.append(booking.to_api(sim.hosts))
    return JSONResponse(
        {"count": len(items), "bookings": items, "by_appointment_id": by_id, "active_by_appointment_id": active_by_id}
    )


async def admin_stats(request: Request) -> Response:
    sim: SimState = request.app.state.sim
    return JSONResponse(
        {
            "bookings": len(sim.store.bookings),
            "throttle": sim.throttle.stats(),
            "faults_injected": dict(sim.faults_injected),
        }
    )


async def admin_busy(request: Request) -> Response:
    sim: SimState = request.app.state.sim
    body, error = await json_object(request)
    if error:
        return error
    try:
        block = busy_block(body, set(sim.hosts))
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    sim.store.busy.append(block)
    return JSONResponse({"busy": len(sim.store.busy)})


async def admin_reset(request: Request) -> Response:
    request.app.state.sim.reset()
    return JSONResponse({"reset": True})


async def admin_health(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def admin_webhooks(request: Request) -> Response:
    """``POST {url, secret}``: subscribe (secret optional: unsigned, as Cal.com without one); ``GET``:
    the subscription (never its secret)."""
    sim: SimState = request.app.state.sim
    if request.method == "POST":
        body, error = await json_object(request)
        if error:
            return error
        url, secret = body.get("url"), body.get("secret")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return JSONResponse({"error": "url: expected an http(s) URL"}, status_code=400)
        if secret is not None and not isinstance(secret, str):
            return JSONResponse({"error": "secret: expected a string"}, status_code=400)
        sim.subscriber = Subscriber(url, secret)
    sub = sim.subscriber
    return JSONResponse({"url": sub.url, "sent": sub.sent, "failed": sub.failed} if sub else {"url": None})


async def admin_change(request: Request) -> Response:
    """A change made in Cal.com itself (the host in Cal.com's web app): ``cancel`` ``{reason}`` or
    ``reschedule`` ``{start}`` of a booking, posted to the webhook subscriber like Cal.com does."""
    sim: SimState = request.app.state.sim
    body, error = await json_object(request)
    if error:
        return error
    if request.path_params["action"] not in ("cancel", "reschedule"):
        return JSONResponse({"error": "expected /_sim/bookings/{uid}/cancel or /reschedule"}, status_code=404)
    booking = sim.store.bookings.get(request.path_params["uid"])
    if booking is None or booking.status not in ACTIVE:
        return JSONResponse({"error": "no active booking with this uid"}, status_code=404)
    now = sim.now()
    if request.path_params["action"] == "cancel":
        booking.status = "cancelled"
        booking.cancellation_reason = str(body.get("reason") or "cancelled by the host")
        booking.updated_at = now
        sim.notify(CANCELLED, booking)
        return JSONResponse(booking.to_api(sim.hosts))
    start = parse_iso(body.get("start"))
    if start is None:
        return JSONResponse({"error": "start: expected an ISO 8601 time"}, status_code=400)
    new = sim.store.add(dict(event_type=booking.event_type, hosts=booking.hosts, start=start,
                             end=start + (booking.end - booking.start), attendee=dict(booking.attendee),
                             metadata=dict(booking.metadata), created_at=now, updated_at=now,
                             rescheduled_from_uid=booking.uid, rescheduling_reason=body.get("reason")))
    booking.status = "cancelled"
    booking.rescheduled_to_uid = new.uid
    booking.updated_at = now
    sim.notify(RESCHEDULED, new)
    return JSONResponse(new.to_api(sim.hosts))


async def admin_foreign_booking(request: Request) -> Response:
    """``POST {event_type_id, start, name, email}``: a customer books a host directly in Cal.com
    (no synconsole metadata); posted as BOOKING_CREATED."""
    sim: SimState = request.app.state.sim
    body, error = await json_object(request)
    if error:
        return error
    et = sim.event_types.get(body.get("event_type_id")) if isinstance(body.get("event_type_id"), int) else None
    start = parse_iso(body.get("start"))
    if et is None or start is None:
        return JSONResponse({"error": "expected {event_type_id (known), start (ISO 8601)}"}, status_code=400)
    now = sim.now()
    end = start + timedelta(minutes=et.length)
    attendee = {"name": str(body.get("name") or "Walk-in"), "email": str(body.get("email") or "walkin@example.com"),
                "timeZone": "UTC"}
    booking = sim.store.add(dict(event_type=et, hosts=tuple(et.hosts), start=start, end=end, attendee=attendee,
                                 metadata={}, created_at=now, updated_at=now))
    sim.notify(CREATED, booking)
    return JSONResponse(booking.to_api(sim.hosts), status_code=201)


ROUTES = [
    Route("/_sim/faults", admin_faults, methods=["GET", "POST"]),
    Route("/_sim/bookings", admin_bookings, methods=["GET"]),
    Route("/_sim/bookings", admin_foreign_booking, methods=["POST"]),
    Route("/_sim/bookings/{uid}/{action:str}", admin_change, methods=["POST"]),
    Route("/_sim/webhooks", admin_webhooks, methods=["GET", "POST"]),
    Route("/_sim/stats", admin_stats, methods=["GET"]),
    Route("/_sim/busy", admin_busy, methods=["POST"]),
    Route("/_sim/reset", admin_reset, methods=["POST"]),
    Route("/_sim/health", admin_health, methods=["GET"]),
]
