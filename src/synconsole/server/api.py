"""``POST /v1/appointments`` (rows in the import format, through the import's own validation and
change function) and ``POST /v1/check`` (the pre-booking check: the sync's pre-flight rules, and
Cal.com's slots when asked). Both need ``Authorization: Bearer <[server] ingest_token>``."""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from synconsole.core import clock, precheck
from synconsole.core.importer import BadRow, ImportResult, RowError, import_rows
from synconsole.server.errors import error

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/json-lines")


def authorized(request: Request) -> JSONResponse | None:
    """None when the bearer token is the configured one; else the answer (401)."""
    token: bytes = request.app.state.server.ingest_token
    if not token:
        return error("forbidden", "the ingest API is off: set [server] ingest_token or ingest_token_env", 403)
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8", "replace"), token):
        return error("unauthorized", "missing or wrong bearer token", headers={"www-authenticate": "Bearer"})
    return None


def parse_rows(body: bytes, content_type: str) -> list[tuple[int, Any]]:
    """``(line, dict | RowError)`` pairs: a JSON object or array, or NDJSON (one object a line)."""
    text = body.decode("utf-8", "replace")
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in NDJSON_TYPES:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise RowError(f"body: expected JSON or NDJSON ({exc.msg})") from None
        if isinstance(value, dict) and isinstance(value.get("rows"), list):
            value = value["rows"]
        items = value if isinstance(value, list) else [value]
        return [(i, row if isinstance(row, dict) else RowError("expected a JSON object"))
                for i, row in enumerate(items, start=1)]
    rows: list[tuple[int, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            rows.append((number, RowError(f"invalid JSON: {exc.msg}")))
            continue
        rows.append((number, row if isinstance(row, dict) else RowError("expected a JSON object")))
    return rows


def _ingest(server, rows: list[tuple[int, Any]]) -> tuple[ImportResult, dict[int, str]]:
    bad: dict[int, str] = {}
    result = ImportResult()

    def report(row: BadRow) -> None:
        bad[row.line] = row.reason

    db = server.db
    with db.engine.connect() as conn:  # one transaction, as import_file runs it
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        conn.begin()
        try:
            import_rows(db, conn, rows, result, report=report, now=clock.now(),
                        anonymous_pattern=server.settings.categories.anonymous_phone_pattern)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    return result, bad


async def ingest(request: Request) -> JSONResponse:
    server = request.app.state.server
    refused = authorized(request)
    if refused is not None:
        return refused
    if server.settings.read_only:
        return error("read_only", "refused: synconsole is read-only; the ingest API changes data")
    try:
        rows = parse_rows(await request.body(), request.headers.get("content-type", "application/json"))
    except RowError as exc:
        return error("bad_body", str(exc))
    if not rows:
        return error("bad_body", "no rows: send a JSON object, an array of them, or NDJSON")
    result, bad = await run_in_threadpool(_ingest, server, rows)
    answers = []
    for line, row in rows:
        kind = row.get("kind") if isinstance(row, dict) else None
        ident = row.get("id") if isinstance(row, dict) else None
        entry: dict[str, Any] = {"line": line, "kind": kind if isinstance(kind, str) else None,
                                 "id": str(ident) if isinstance(ident, (str, int)) else None}
        if line in bad:
            entry.update(accepted=False, problems=[{"code": "invalid", "message": bad[line]}])
        else:
            entry.update(accepted=True, problems=[])
        answers.append(entry)
    accepted = sum(1 for a in answers if a["accepted"])
    return JSONResponse({"accepted": accepted, "rejected": len(answers) - accepted, "changed": result.changed,
                         "rows": answers}, status_code=200)


CHECK_KEYS = {"appointment", "related", "availability", "timeout"}


async def check(request: Request) -> JSONResponse:
    server = request.app.state.server
    refused = authorized(request)
    if refused is not None:
        return refused
    try:
        body = json.loads(await request.body())
    except ValueError:
        return error("bad_body", "body: expected a JSON object {appointment, related, availability, timeout}")
    problem = _check_body(body, server.settings.server.check_timeout_s)
    if problem:
        return error("bad_body", problem)
    timeout = min(float(body.get("timeout", server.settings.server.check_timeout_s)),
                  server.settings.server.check_timeout_s)
    work = run_in_threadpool(_check, server, body["appointment"], body.get("related", []),
                             bool(body.get("availability", False)), timeout)
    try:
        problems = await asyncio.wait_for(work, timeout + 1.0)
    except asyncio.TimeoutError:
        problems = [precheck.Problem(1, None, f"availability not checked: no answer within {timeout:g} s",
                                     "not_checked")]
    out = [{"code": p.category or "invalid", "message": p.problem} for p in problems]
    return JSONResponse({"ok": not out, "problems": out, "category": out[0]["code"] if out else None})


def _check_body(body: Any, cap: float) -> str | None:
    if not isinstance(body, dict):
        return "body: expected a JSON object {appointment, related, availability, timeout}"
    unknown = sorted(set(body) - CHECK_KEYS)
    if unknown:
        return f"{unknown[0]}: unknown key, expected one of {', '.join(sorted(CHECK_KEYS))}"
    if not isinstance(body.get("appointment"), dict):
        return "appointment: expected an object in the import format (id, customer_id, staff_id, start, ...)"
    related = body.get("related", [])
    if not isinstance(related, list) or not all(isinstance(r, dict) for r in related):
        return "related: expected a list of staff or customer rows"
    if not isinstance(body.get("availability", False), bool):
        return "availability: expected true or false"
    timeout = body.get("timeout", cap)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 600:
        return "timeout: expected a number of seconds (0 < timeout <= 600)"
    return None


def _check(server, appointment: dict, related: list[dict], availability: bool, timeout: float):
    settings = server.settings
    slots = None
    if availability:
        if not settings.calcom.api_key:
            return [*_plain(server, appointment, related),
                    precheck.Problem(1, None, "availability not checked: no Cal.com API key configured",
                                     "not_checked")]
        slots = precheck.SlotsAvailability.from_settings(settings, timeout_s=timeout, db=server.db)
    try:
        with server.db.session() as session:
            return precheck.check_appointment(appointment, session, settings, now=clock.now(), availability=slots,
                                              related=related)
    finally:
        if slots is not None:
            slots.close()


def _plain(server, appointment: dict, related: list[dict]):
    with server.db.session() as session:
        return precheck.check_appointment(appointment, session, server.settings, now=clock.now(), related=related)
