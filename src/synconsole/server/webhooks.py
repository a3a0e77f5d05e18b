"""``POST /webhooks/calcom``: check the signature, record the delivery, answer; processing runs in
the server's webhook job (``app.py``), so Cal.com never waits for it.

``X-Cal-Signature-256`` is the hex HMAC-SHA256 of the raw body with the webhook secret, compared in
constant time. Cal.com sends the literal ``no-secret-provided`` for a webhook without a secret:
refused unless ``[server] allow_unsigned``. Every refusal is counted (``synconsole_webhook_requests_total``)
and nothing of a refused request is processed or logged beyond its result."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from synconsole.core import webhooks
from synconsole.server.errors import error

logger = logging.getLogger("synconsole.server")
HEADER = "x-cal-signature-256"
UNSIGNED = "no-secret-provided"


def signature_ok(secret: bytes, body: bytes, given: str) -> bool:
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode("utf-8", "replace"))


def verify(secret: bytes, allow_unsigned: bool, body: bytes, given: str | None) -> str | None:
    """None when the delivery may be processed, else the refusal's code."""
    if given is None or not given.strip():
        return None if (allow_unsigned and not secret) else "missing_signature"
    if given.strip() == UNSIGNED:
        return None if allow_unsigned else "unsigned"
    if not secret:
        return "unsigned" if not allow_unsigned else None
    return None if signature_ok(secret, body, given) else "bad_signature"


MESSAGES = {
    "missing_signature": f"missing {HEADER} header",
    "bad_signature": f"{HEADER} does not match the body (HMAC-SHA256 with [server] webhook_secret)",
    "unsigned": "unsigned webhook refused: give the Cal.com webhook a secret and set [server] webhook_secret "
                "(or allow_unsigned = true)",
}


async def calcom_webhook(request: Request) -> JSONResponse:
    server = request.app.state.server
    body = await request.body()
    refusal = verify(server.webhook_secret, server.settings.server.allow_unsigned, body, request.headers.get(HEADER))
    if refusal is not None:
        server.webhook_requests.labels(refusal).inc()
        logger.warning("webhook refused: %s", refusal)
        return error(refusal, MESSAGES[refusal])
    if server.settings.read_only:
        server.webhook_requests.labels("read_only").inc()
        return error("read_only", "refused: synconsole is read-only; a webhook changes data")
    try:
        data = webhooks.summarize(json.loads(body))
    except (ValueError, webhooks.BadEvent) as exc:
        server.webhook_requests.labels("bad_body").inc()
        message = str(exc) if isinstance(exc, webhooks.BadEvent) else "body: expected JSON"
        return error("bad_body", message)
    recorded = await run_in_threadpool(webhooks.record, server.db, body, data)
    if recorded.duplicate:
        server.webhook_requests.labels("duplicate").inc()
        return JSONResponse({"status": "duplicate", "id": recorded.id}, status_code=200)
    server.webhook_requests.labels("accepted").inc()
    server.wake_webhook_job()
    return JSONResponse({"status": "accepted", "id": recorded.id}, status_code=202)
