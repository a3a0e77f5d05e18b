"""Failure injection and the per-key rate limit, as an ASGI layer around the ``/v2`` routes.

Randomness comes from ``random.Random(faults.seed)``: runs are repeatable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from .responses import MSG_INTERNAL, MSG_THROTTLED, OUTAGE_BODY, bare_body, envelope_body
from .state import iso_ms

if TYPE_CHECKING:
    from .state import SimState

log = logging.getLogger("synconsole.simulator")


@dataclass
class Faults:
    """Failure injection; change the fields at any time (or ``POST /_sim/faults``)."""

    latency_s: float = 0.0  # added before every /v2 request
    error_rate_5xx: float = 0.0  # share answered with the bare 500, before anything happens
    timeout_rate: float = 0.0  # share that never answer (until the client gives up or hang_s)
    timeout_after_commit: bool = True  # True: the request is executed first, then hangs
    hang_s: float = 300.0  # longest a hanging request waits for the client to disconnect
    drop_after_commit_rate: float = 0.0  # share of successful POSTs whose answer is lost
    drop_mode: str = "disconnect"  # "disconnect": connection cut mid-body; "empty_500": 500, no body
    outages: list[tuple[float, float]] = field(default_factory=list)  # [start, end) in clock seconds: 503
    commit_delay_s: float = 0.0  # time a create holds its slot before committing (widens the 409 race)
    list_error_rate: float = 0.0  # share of booking lists (GET /v2/bookings) answered with the bare 500
    get_error_rate: float = 0.0  # share of single bookings (GET /v2/bookings/{uid}) answered with it
    seed: int = 0

    def validate(self) -> None:
        for name in ("error_rate_5xx", "timeout_rate", "drop_after_commit_rate", "list_error_rate", "get_error_rate"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"faults: {name} must be between 0 and 1")
        for name in ("latency_s", "hang_s", "commit_delay_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0 or not math.isfinite(value):
                raise ValueError(f"faults: {name} must be a number >= 0")
        if self.drop_mode not in ("disconnect", "empty_500"):
            raise ValueError("faults: drop_mode must be 'disconnect' or 'empty_500'")
        clean = []
        for window in self.outages:
            if not isinstance(window, (list, tuple)) or len(window) != 2 or not window[0] < window[1]:
                raise ValueError("faults: outages must be [start, end] pairs with start < end")
            clean.append((float(window[0]), float(window[1])))
        self.outages = clean

    def in_outage(self, now: float) -> bool:
        return any(start <= now < end for start, end in self.outages)

    def update(self, changes: dict[str, Any], now: float) -> bool:
        """Apply a partial update (admin endpoint); ``outage_s`` adds a window from now.

        Returns True when the seed changed. Raises ValueError (and changes nothing) on bad input.
        """
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known - {"outage_s", "reset"})
        if unknown:
            raise ValueError(f"faults: unknown field {unknown[0]!r}")
        candidate = Faults() if changes.get("reset") else Faults(**asdict(self))
        for name in known & set(changes):
            setattr(candidate, name, changes[name])
        if "outage_s" in changes:
            span = changes["outage_s"]
            if not isinstance(span, (int, float)) or span <= 0:
                raise ValueError("faults: outage_s must be a positive number of seconds")
            candidate.outages = [*candidate.outages, (now, now + float(span))]
        candidate.validate()
        seed_changed = candidate.seed != self.seed or bool(changes.get("reset"))
        for f in fields(self):
            setattr(self, f.name, getattr(candidate, f.name))
        return seed_changed


class FaultLayer:
    """Wraps the /v2 routes: outages, latency, 5xx, hangs, the rate limit and its headers, drops."""

    def __init__(self, app, sim: SimState) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/v2" or path.startswith("/v2/")):
            await self.app(scope, receive, send)
            return
        sim, faults = self.sim, self.sim.faults
        if faults.in_outage(sim.clock()):
            sim.count_fault("outage")
            await _send(send, 503, OUTAGE_BODY, content_type=b"text/html")
            return
        if faults.latency_s > 0:
            await asyncio.sleep(faults.latency_s)
        if sim.roll(faults.error_rate_5xx) or (scope["method"] == "GET" and _lookup_fails(sim, path)):
            sim.count_fault("error_5xx")
            await _send(send, 500, json.dumps(bare_body(500, MSG_INTERNAL)).encode())
            return
        hang_after_commit = False
        if sim.roll(faults.timeout_rate):
            sim.count_fault("timeout")
            if not faults.timeout_after_commit:
                await _hang(receive, faults.hang_s)
                return
            hang_after_commit = True

        verdict = sim.throttle.hit(_throttle_key(scope), sim.clock())
        rate_headers = [(k.lower().encode(), v.encode()) for k, v in verdict.headers().items()]
        if not verdict.allowed:
            body = envelope_body(429, "ThrottlerException", MSG_THROTTLED, path=path, timestamp=iso_ms(sim.now()))
            await _send(send, 429, json.dumps(body).encode(), extra=rate_headers)
            return

        start, body = await self._run(scope, receive)
        status = start["status"]
        if scope["method"] == "POST" and 200 <= status < 300 and sim.roll(faults.drop_after_commit_rate):
            sim.count_fault("drop_after_commit")
            if faults.drop_mode == "empty_500":
                await _send(send, 500, b"")
                return
            # Cut the connection mid-body: the server returns without completing the response.
            await send({"type": "http.response.start", "status": status, "headers": _headers(start, body, rate_headers)})
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            return
        if hang_after_commit:
            await _hang(receive, faults.hang_s)
            return
        await send({"type": "http.response.start", "status": status, "headers": _headers(start, body, rate_headers)})
        await send({"type": "http.response.body", "body": body})

    async def _run(self, scope, receive) -> tuple[dict[str, Any], bytes]:
        """Run the routes, keeping their answer so it can be dropped or delayed."""
        messages: list[dict[str, Any]] = []

        async def capture(message: dict[str, Any]) -> None:
            messages.append(message)

        try:
            await self.app(scope, receive, capture)
        except Exception:  # a simulator bug: answer like Cal.com's 500s, and say so in the log
            log.exception("simulator error on %s %s", scope.get("method"), scope.get("path"))
            return {"status": 500, "headers": [(b"content-type", b"application/json")]}, json.dumps(bare_body(500, MSG_INTERNAL)).encode()
        start = next(m for m in messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        return start, body


def _headers(start: dict[str, Any], body: bytes, extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    return [*kept, (b"content-length", str(len(body)).encode()), *extra]


async def _send(send, status: int, body: bytes, *, content_type: bytes = b"application/json", extra=()) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _hang(receive, max_s: float) -> None:
    """Answer nothing until the client hangs up (or ``max_s`` passes)."""

    async def until_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(until_disconnect(), max_s)


def _lookup_fails(sim: SimState, path: str) -> bool:
    if path == "/v2/bookings":
        return sim.roll(sim.faults.list_error_rate)
    parts = path.split("/")  # /v2/bookings/{uid}
    return len(parts) == 4 and parts[2] == "bookings" and sim.roll(sim.faults.get_error_rate)


def _throttle_key(scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return value.decode("latin-1")
    client = scope.get("client") or ("?", 0)
    return f"ip:{client[0]}"
