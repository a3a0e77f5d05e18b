"""A Cal.com API v2 simulator (bookings and slots), faithful to ``shared/calcom/API-NOTES.md``.

Used by the tests (over real HTTP on 127.0.0.1), by ``synconsole demo`` and by
``synconsole simulator``. What it reproduces (``API-NOTES.md``, its "Corrections" first): the
success envelopes, both error body shapes with Cal.com's exact messages, the ``cal-api-version``
pitfall, validation (unknown body fields refused, unknown query parameters dropped, contact, IANA
time zones, metadata limits), the booking core's check of the event type's booking fields (email
required by default, so a phone-only attendee is refused; a phone checked only where the event
type shows it), availability (past, notice and window, host busy, working hours, busy blocks, the
concurrent-duplicate 409), cancel and reschedule rules (cancelled already, ended, unknown uid),
recurring event types (a create answers the series as an array), list filters, pagination and
visibility (``key_owner``), slots, and the per-key rate limit with its named headers and block.

Faults for testing the sync engine are injected by :class:`Faults` (mutable at runtime, also via
``POST /_sim/faults``): latency, 5xx, hangs, a response dropped after the booking was committed,
and outage windows. Randomness comes from ``random.Random(faults.seed)``: runs are repeatable.

Admin endpoints (no auth, not rate limited, no faults): ``GET/POST /_sim/faults``,
``GET /_sim/bookings[?appointment_id=]``, ``GET /_sim/stats``, ``POST /_sim/busy``,
``POST /_sim/reset``, ``GET /_sim/health``; changes made in Cal.com itself, posted as webhooks
(``webhooks``): ``POST /_sim/bookings/{uid}/cancel|reschedule``, ``POST /_sim/bookings`` (a
customer books a host directly), and the subscription ``GET/POST /_sim/webhooks``.

Layout: ``events`` (event types file, demo set), ``state`` (bookings, availability, slots,
:class:`SimState`), ``bookings``/``slots``/``admin`` (routes), ``responses``
(messages and body shapes), ``faults`` (faults and the rate-limit layer), ``throttle``.
This module is the public face: :func:`create_app`, :func:`serve`, :class:`SimulatorServer`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from starlette.applications import Starlette
from starlette.middleware import Middleware

from synconsole.serving import InThread, bind, run_until_signalled, url_of

from . import admin, bookings, slots
from .events import DEMO_EVENT_TYPES, build_hosts, load_event_types, normalize_event_types
from .faults import FaultLayer, Faults
from .responses import not_found
from .state import SimState, busy_block
from .throttle import Throttle

__all__ = [
    "DEMO_EVENT_TYPES",
    "Faults",
    "SimState",
    "SimulatorServer",
    "create_app",
    "load_event_types",
    "run_simulator",
    "running_simulator",
    "serve",
]


def create_app(
    *,
    api_key: str | None = None,
    event_types: dict[Any, Any] | None = None,
    busy: list[Any] | None = None,
    rate_limit: int = 120,
    rate_window_s: float = 60,
    block_s: float = 60,
    faults: Faults | None = None,
    clock: Callable[[], float] | None = None,
    rate_limit_name: str = "Default",
    key_owner: str | None = None,
    team_read: bool = True,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> Starlette:
    """The simulator as an ASGI app; its state is ``app.state.sim`` (a :class:`SimState`).

    ``api_key=None`` accepts any key starting with ``cal_``. ``event_types`` uses the JSON file
    format of :mod:`synconsole.calcom.events` (default :data:`DEMO_EVENT_TYPES`). ``busy`` is
    a list of ``{"host", "start", "end"}`` blocks when the host is unavailable. ``clock`` returns
    epoch seconds (default ``time.time``) and drives "now", the rate-limit windows and outages.
    ``rate_limit_name`` names the rate-limit headers (``X-RateLimit-Remaining-<Name>``).
    ``key_owner`` (a host's username) makes the list endpoint show only what that key's owner may
    see, as on Cal.com: the owner's own bookings, and team bookings the owner hosts only with
    ``team_read``; ``GET /v2/bookings/{uid}`` still answers by uid. None: the key sees everything.
    ``webhook_url`` (and ``webhook_secret``): booking changes are posted there as Cal.com's webhooks
    (also ``POST /_sim/webhooks``).
    """
    types = normalize_event_types(DEMO_EVENT_TYPES if event_types is None else event_types)
    hosts = set(build_hosts(types))
    faults = faults or Faults()
    faults.validate()
    sim = SimState(
        api_key=api_key,
        event_types=types,
        busy=[busy_block(item, hosts) for item in busy or []],
        throttle=Throttle(int(rate_limit), float(rate_window_s), float(block_s), rate_limit_name),
        faults=faults,
        clock=clock or time.time,
    )
    if key_owner is not None and key_owner not in hosts:
        raise ValueError(f"key_owner {key_owner!r} is not a host of any event type")
    sim.key_owner = key_owner
    sim.team_read = bool(team_read)
    if webhook_url:
        from .webhooks import Subscriber

        sim.subscriber = Subscriber(webhook_url, webhook_secret)
    app = Starlette(
        routes=[*bookings.ROUTES, *slots.ROUTES, *admin.ROUTES],
        middleware=[Middleware(FaultLayer, sim=sim)],
        exception_handlers={404: not_found, 405: not_found},
    )
    app.state.sim = sim
    return app


# -- serving --------------------------------------------------------------------------------------------
def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    event_types: dict[Any, Any] | str | Path | None = None,
    *,
    rate_limit: int = 120,
    rate_window_s: float = 60,
    block_s: float = 60,
    faults: Faults | None = None,
    out: TextIO | None = None,
    log_level: str = "warning",
) -> None:
    """Serve the simulator on loopback until SIGINT/SIGTERM (blocking; then returns normally).

    Prints the URL it listens on (``http://127.0.0.1:PORT``) as the first line of ``out``
    (default stdout) and flushes. ``port=0`` picks a free port. ``event_types`` may be a mapping
    or the path of an event types JSON file. Raises ValueError for a non-loopback host or a bad
    event types file (one-line message), OSError when the port cannot be bound.
    """
    import uvicorn

    if isinstance(event_types, (str, Path)):
        event_types = load_event_types(event_types)
    app = create_app(
        api_key=api_key,
        event_types=event_types,
        rate_limit=rate_limit,
        rate_window_s=rate_window_s,
        block_s=block_s,
        faults=faults,
    )
    sock = _bind(host, port)
    print(url_of(sock), file=out or sys.stdout, flush=True)
    config = uvicorn.Config(
        app, log_level=log_level, access_log=False, lifespan="off", timeout_graceful_shutdown=2
    )
    run_until_signalled(uvicorn.Server(config), sock)


run_simulator = serve


class SimulatorServer:
    """The simulator as a real HTTP server on 127.0.0.1 (free port) in a background thread.

    ``with SimulatorServer(rate_limit=5) as sim: sim.url, sim.state``. Takes an app or the
    keyword arguments of :func:`create_app`.
    """

    def __init__(self, app: Starlette | None = None, **create_kwargs: Any) -> None:
        self.app = app if app is not None else create_app(**create_kwargs)
        self.url = ""
        self._running: InThread | None = None

    @property
    def state(self) -> SimState:
        return self.app.state.sim

    def start(self, timeout_s: float = 10.0) -> SimulatorServer:
        import uvicorn

        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        running = InThread(uvicorn.Server(config), _bind("127.0.0.1", 0), name="calcom-simulator",
                           what="the Cal.com simulator", join_s=10)
        self.url = running.url
        self._running = running.start(timeout_s)
        return self

    def stop(self) -> None:
        if self._running is not None:
            self._running.stop()
        self._running = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_simulator(**create_kwargs: Any) -> Iterator[SimulatorServer]:
    """Context manager: a :class:`SimulatorServer` started with :func:`create_app` arguments."""
    with SimulatorServer(**create_kwargs) as server:
        yield server


def _bind(host: str, port: int) -> socket.socket:
    address = "127.0.0.1" if host == "localhost" else host
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"simulator host must be a loopback address, got {host!r}") from None
    if not ip.is_loopback:
        raise ValueError(f"the simulator serves on loopback only, not on {host!r}")
    return bind(address, int(port), backlog=128)
