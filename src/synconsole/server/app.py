"""The app factory: routes over the core, the webhook job, JSON errors, bounded requests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from synconsole.config import Settings
from synconsole.core import webhooks as core_webhooks
from synconsole.core.db import Database
from synconsole.server import api, errors, health, webhooks
from synconsole.server.limits import Limits
from synconsole.server.metrics import registry_for

logger = logging.getLogger("synconsole.server")
#: the webhook job also sweeps this often for events a crash left pending
SWEEP_S = 5.0


@dataclass
class ServerState:
    db: Database
    settings: Settings
    webhook_secret: bytes = field(repr=False)
    ingest_token: bytes = field(repr=False)
    scrapes: Any = None
    webhook_requests: Any = None
    _wake: asyncio.Event | None = None

    def wake_webhook_job(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def webhook_job(self) -> None:
        self._wake = asyncio.Event()
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), SWEEP_S)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                counts = await run_in_threadpool(core_webhooks.process_pending, self.db,
                                                 on_cancel=self.settings.server.on_calcom_cancel)
            except Exception as exc:  # noqa: BLE001 - the job keeps running; the events stay pending
                logger.error("webhook job failed: %s", type(exc).__name__)
                continue
            if counts:
                logger.info("webhook events processed: %s", ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))


def create_app(settings: Settings, db: Database, *, env: dict[str, str] | None = None) -> Starlette:
    """``env``: where ``[server] *_env`` variables are read (default: the process environment)."""
    state = ServerState(db=db, settings=settings,
                        webhook_secret=settings.server.resolve("webhook_secret", env).reveal().encode(),
                        ingest_token=settings.server.resolve("ingest_token", env).reveal().encode())
    state.scrapes, state.webhook_requests = registry_for(db, settings)
    if not state.webhook_secret and not settings.server.allow_unsigned:
        logger.warning("no [server] webhook_secret: every Cal.com webhook is refused (401)")
    if not state.ingest_token:
        logger.warning("no [server] ingest_token: /v1/appointments and /v1/check answer 403")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        jobs = [asyncio.ensure_future(state.webhook_job() if not settings.read_only else asyncio.sleep(0)),
                asyncio.ensure_future(state.scrapes.refresh())]
        try:
            yield
        finally:
            for job in jobs:
                job.cancel()
            for job in jobs:
                with contextlib.suppress(asyncio.CancelledError):
                    await job

    from synconsole.server.openapi import document

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(document())

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/webhooks/calcom", webhooks.calcom_webhook, methods=["POST"]),
        Route("/v1/appointments", api.ingest, methods=["POST"]),
        Route("/v1/check", api.check, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: errors.http_exception, Exception: errors.internal})
    app.state.server = state

    def too_large(path: str) -> None:
        if path == "/webhooks/calcom":
            state.webhook_requests.labels("too_large").inc()

    app.add_middleware(Limits, max_body_bytes=settings.server.max_body_bytes,
                       max_concurrency=settings.server.max_concurrency, on_too_large=too_large)
    return app


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def readyz(request: Request) -> JSONResponse:
    server = request.app.state.server
    ok, checks = await run_in_threadpool(health.readiness, server.db, server.settings)
    if not ok:
        return JSONResponse({"ok": False, "code": "not_ready", "message": _not_ready(checks), "checks": checks},
                            status_code=503)
    return JSONResponse({"ok": True, "checks": checks})


def _not_ready(checks: dict) -> str:
    failing = [name for name, check in checks.items() if not check["ok"]]
    return "not ready: " + ", ".join(failing)


async def metrics_endpoint(request: Request) -> Response:
    server = request.app.state.server
    body = await run_in_threadpool(server.scrapes.answer)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
