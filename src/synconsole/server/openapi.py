"""The OpenAPI document of the server, served at ``/openapi.json``. Hand-written, and held to the
answers by a schemathesis test (tests/server/test_openapi_fuzz.py)."""

from __future__ import annotations

from typing import Any

from synconsole import __version__


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "Bad request or body (code bad_body, bad_request)",
            401: "Missing or wrong credentials (unauthorized, missing_signature, bad_signature, unsigned)",
            403: "Refused (read_only; forbidden: the ingest API is off)",
            413: "Body over [server] max_body_bytes (too_large)",
            503: "Too many requests at once (busy)"}
    return {str(s): _json("Error", text[s]) for s in statuses}


PROBLEM = {"type": "object", "required": ["code", "message"],
           "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "description": "stable: bad_request, bad_body, unauthorized, missing_signature, "
                 "bad_signature, unsigned, forbidden, read_only, not_found, method_not_allowed, too_large, "
                 "internal, busy, not_ready"},
        "message": {"type": "string"}}},
    "Health": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}},
    "Ready": {"type": "object", "required": ["ok", "checks"], "properties": {
        "ok": {"type": "boolean"}, "code": {"type": "string"}, "message": {"type": "string"},
        "checks": {"type": "object", "description": "database, migrations, jobs: each {ok, ...}",
                   "additionalProperties": {"type": "object", "required": ["ok"],
                                            "properties": {"ok": {"type": "boolean"}}}}}},
    "WebhookEvent": {"type": "object", "required": ["triggerEvent", "payload"], "properties": {
        "triggerEvent": {"type": "string", "example": "BOOKING_CANCELLED"},
        "createdAt": {"type": "string"},
        "payload": {"type": "object", "properties": {
            "uid": {"type": "string"}, "rescheduleUid": {"type": "string"}, "status": {"type": "string"},
            "startTime": {"type": "string"}, "endTime": {"type": "string"},
            "cancellationReason": {"type": "string"},
            "metadata": {"type": "object", "properties": {"synconsole_appointment_id": {"type": "string"}}}}}}},
    "WebhookAnswer": {"type": "object", "required": ["status", "id"], "properties": {
        "status": {"type": "string", "enum": ["accepted", "duplicate"]}, "id": {"type": "integer"}}},
    "Problem": PROBLEM,
    "IngestRow": {"type": "object", "description": "a row of the import format (contract.md, Import format): "
                  "kind staff, customer or appointment", "required": ["kind", "id"],
                  "properties": {"kind": {"type": "string", "enum": ["staff", "customer", "appointment"]},
                                 "id": {"type": "string"}}},
    "IngestAnswer": {"type": "object", "required": ["accepted", "rejected", "changed", "rows"], "properties": {
        "accepted": {"type": "integer"}, "rejected": {"type": "integer"}, "changed": {"type": "integer"},
        "rows": {"type": "array", "items": {"type": "object", "required": ["line", "kind", "id", "accepted",
                                                                           "problems"], "properties": {
            "line": {"type": "integer"}, "kind": {"type": "string", "nullable": True},
            "id": {"type": "string", "nullable": True}, "accepted": {"type": "boolean"},
            "problems": {"type": "array", "items": _ref("Problem")}}}}}},
    "CheckRequest": {"type": "object", "required": ["appointment"], "additionalProperties": False, "properties": {
        "appointment": {"type": "object", "description": "an appointment row of the import format "
                        "(id, customer_id, staff_id, start, duration_minutes, ...; kind may be left out)"},
        "related": {"type": "array", "items": {"type": "object"},
                    "description": "staff or customer rows not in the database yet"},
        "availability": {"type": "boolean", "default": False,
                         "description": "also ask Cal.com's slots whether the start is free"},
        "timeout": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 600,
                    "description": "seconds for the slots lookup (capped by [server] check_timeout_s)"}}},
    "CheckAnswer": {"type": "object", "required": ["ok", "problems", "category"], "properties": {
        "ok": {"type": "boolean"}, "problems": {"type": "array", "items": _ref("Problem")},
        "category": {"type": "string", "nullable": True,
                     "description": "the first problem's code: past_appointment, missing_staff, missing_contact, "
                                    "host_conflict, no_event_type, invalid, unavailable, not_checked, ..."}}},
}


def document() -> dict[str, Any]:
    bearer = [{"bearer": []}]
    return {
        "openapi": "3.0.3",
        "info": {"title": "synconsole serve", "version": __version__,
                 "description": "Cal.com webhooks, Prometheus metrics, the ingest API and the pre-booking check. "
                                "Every error is JSON {code, message}."},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "[server] ingest_token"},
                "calSignature": {"type": "apiKey", "in": "header", "name": "X-Cal-Signature-256",
                                 "description": "hex HMAC-SHA256 of the raw body with [server] webhook_secret"}},
            "schemas": SCHEMAS},
        "paths": {
            "/healthz": {"get": {"summary": "The process is alive", "operationId": "healthz",
                                 "responses": {"200": _json("Health", "Alive")}}},
            "/readyz": {"get": {"summary": "Database reachable, migrations current, jobs not stuck",
                                "operationId": "readyz",
                                "responses": {"200": _json("Ready", "Ready"), "503": {
                                    "description": "Not ready (Ready, code not_ready), or busy (Error)",
                                    "content": {"application/json": {"schema": {
                                        "anyOf": [_ref("Ready"), _ref("Error")]}}}}}}},
            "/metrics": {"get": {"summary": "Prometheus exposition", "operationId": "metrics", "responses": {
                "200": {"description": "text format 0.0.4",
                        "content": {"text/plain": {"schema": {"type": "string"}}}}, **_errors(503)}}},
            "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi", "responses": {
                "200": {"description": "OpenAPI 3.0", "content": {"application/json": {"schema": {"type": "object"}}}},
                **_errors(503)}}},
            "/webhooks/calcom": {"post": {
                "summary": "Cal.com webhook: recorded at once, processed in the background",
                "operationId": "calcomWebhook", "security": [{"calSignature": []}],
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _ref("WebhookEvent")}}},
                "responses": {"202": _json("WebhookAnswer", "Recorded; processed in the background"),
                              "200": _json("WebhookAnswer", "A redelivery: already recorded, nothing changes"),
                              **_errors(400, 401, 403, 413, 503)}}},
            "/v1/appointments": {"post": {
                "summary": "Ingest rows in the import format (JSON object, array, or NDJSON)",
                "operationId": "ingest", "security": bearer,
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": {"oneOf": [_ref("IngestRow"),
                                                              {"type": "array", "items": _ref("IngestRow")}]}},
                    "application/x-ndjson": {"schema": {
                        "type": "array", "items": _ref("IngestRow"),
                        "description": "the same rows, one JSON object per line"}}}},
                "responses": {"200": _json("IngestAnswer", "Per-row answer"), **_errors(400, 401, 403, 413, 503)}}},
            "/v1/check": {"post": {
                "summary": "Pre-booking check of one proposed appointment",
                "operationId": "check", "security": bearer,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("CheckRequest")}}},
                "responses": {"200": _json("CheckAnswer", "The answer"), **_errors(400, 401, 413, 503)}}},
        },
    }
