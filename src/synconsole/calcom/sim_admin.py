"""Admin endpoints of the simulator for tests and the demo (no auth, not rate limited, no faults)."""

from __future__ import annotations

import random
from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .sim_responses import json_object
from .sim_state import ACTIVE, SimState, busy_block

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


ROUTES = [
    Route("/_sim/faults", admin_faults, methods=["GET", "POST"]),
    Route("/_sim/bookings", admin_bookings, methods=["GET"]),
    Route("/_sim/stats", admin_stats, methods=["GET"]),
    Route("/_sim/busy", admin_busy, methods=["POST"]),
    Route("/_sim/reset", admin_reset, methods=["POST"]),
    Route("/_sim/health", admin_health, methods=["GET"]),
]
