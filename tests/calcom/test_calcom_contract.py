"""Contract: what the client sends and what the simulator answers, checked against the OpenAPI subset.

Requests are captured on their way to the simulator (in-process ASGI) and validated strictly
(``additionalProperties: false``, since Cal.com rejects unknown fields). The published create
schema is a ``oneOf`` whose single and recurring variants both accept a plain create when extra
fields are allowed, so the request is checked against ``CreateBookingInput_2024_08_13`` itself.
Responses are validated against the published response schemas, and booking objects also
strictly (no field the API does not document).
"""

from __future__ import annotations

import json

import httpx
import jsonschema
import pytest

from synconsole.calcom.client import CalcomClient
from synconsole.simulator import create_app

EVENT_TYPES = {
    "101": {"host": "fabian", "length": 30},
    "201": {"host": "mia", "length": 60, "lengthOptions": [30, 60, 90],
            "bookingFields": {"email": "optional", "attendeePhoneNumber": "required"}},
}

RESPONSE_SCHEMAS = {
    ("POST", "create"): "CreateBookingOutput_2024_08_13",
    ("GET", "one"): "GetBookingOutput_2024_08_13",
    ("GET", "list"): "GetBookingsOutput_2024_08_13",
    ("POST", "cancel"): "CancelBookingOutput_2024_08_13",
    ("POST", "reschedule"): "RescheduleBookingOutput_2024_08_13",
}


def _kind(request: httpx.Request) -> str:
    parts = request.url.path.strip("/").split("/")  # v2, bookings, [uid], [action]
    if parts[1] == "slots":
        return "slots"
    if len(parts) == 2:
        return "create" if request.method == "POST" else "list"
    return parts[3] if len(parts) == 4 else "one"


@pytest.fixture
async def exercised(recorder_factory, future, api_key):
    """Every client call once (twice where variants matter), through a recorder."""
    recorder = recorder_factory(httpx.ASGITransport(app=create_app(event_types=EVENT_TYPES)))
    async with CalcomClient("http://sim", api_key, transport=recorder) as client:
        first = await client.create_booking(
            start=future(0),
            event_type_id=101,
            attendee_name="Anna Beispiel",
            attendee_time_zone="Europe/Berlin",
            attendee_email="anna@example.com",
            metadata={"synconsole_appointment_id": "748"},
        )
        phone_only = await client.create_booking(
            start=future(1),
            event_type_id=201,
            attendee_name="Bert",
            attendee_time_zone="UTC",
            attendee_phone="+4915112345678",
            metadata={"synconsole_appointment_id": "749"},
            length_in_minutes=90,
        )
        await client.get_booking(first["uid"])
        await client.list_bookings(
            attendee_email="anna@example.com",
            attendee_name="Anna Beispiel",
            after_start=future(-1),
            before_end=future(5),
            status=["upcoming", "cancelled"],
            event_type_id=101,
            take=10,
            skip=0,
        )
        await client.find_booking(appointment_id="749", start=future(1), end=future(3), event_type_id=201)
        moved = await client.reschedule_booking(first["uid"], future(4), reason="customer asked")
        await client.reschedule_booking(phone_only["uid"], future(6))
        await client.cancel_booking(moved["uid"], "customer cancelled")
        await client.get_slots(101, future(0).date(), future(24).date(), "Europe/Berlin", duration=30, range_format=True)
        await client.get_slots(201, future(0), future(12))
        await client.ping()
    return recorder


async def test_every_request_body_validates_strictly(exercised, openapi):
    schemas = {
        "create": "CreateBookingInput_2024_08_13",
        "cancel": "CancelBookingInput_2024_08_13",
        "reschedule": "RescheduleBookingInput_2024_08_13",
    }
    checked = set()
    for request in exercised.requests:
        kind = _kind(request)
        if request.method != "POST":
            assert request.content == b"", f"{kind}: a GET must not carry a body"
            continue
        body = json.loads(request.content)
        validator = openapi.strict_validator(schemas[kind])
        errors = [e.message for e in validator.iter_errors(body)]
        assert errors == [], f"{kind} body {body} violates {schemas[kind]}: {errors}"
        assert request.headers["content-type"] == "application/json"
        checked.add(kind)
    assert checked == {"create", "cancel", "reschedule"}


async def test_strict_validation_catches_unknown_fields(openapi):
    """The check above can fail: a field the API does not know is reported."""
    validator = openapi.strict_validator("CreateBookingInput_2024_08_13")
    body = {"start": "2030-01-01T10:00:00Z", "eventTypeId": 1, "attendee": {"name": "A", "timeZone": "UTC", "email": "a@b.co", "phone": "x"}, "end": "x"}
    messages = " ".join(e.message for e in validator.iter_errors(body))
    assert "'end' was unexpected" in messages and "'phone' was unexpected" in messages


async def test_query_parameters_and_headers_match_the_spec(exercised, openapi):
    operations = {"list": ("/v2/bookings", "get"), "slots": ("/v2/slots", "get")}
    seen_kinds = set()
    for request in exercised.requests:
        kind = _kind(request)
        path_key = {
            "create": ("/v2/bookings", "post"),
            "list": ("/v2/bookings", "get"),
            "one": ("/v2/bookings/{bookingUid}", "get"),
            "cancel": ("/v2/bookings/{bookingUid}/cancel", "post"),
            "reschedule": ("/v2/bookings/{bookingUid}/reschedule", "post"),
            "slots": ("/v2/slots", "get"),
        }[kind]
        expected_version = openapi.header_default(*path_key, "cal-api-version")
        assert request.headers["cal-api-version"] == expected_version, kind
        assert request.headers["authorization"].startswith("Bearer cal_")
        seen_kinds.add(kind)
        if kind in operations:
            allowed = openapi.query_params(*operations[kind])
            for name, value in request.url.params.multi_items():
                assert name in allowed, f"{kind}: query parameter {name!r} is not in the spec"
                enum = allowed[name]["schema"].get("items", {}).get("enum")
                if enum:
                    assert set(value.split(",")) <= set(enum), f"{name}={value}"
            required = {n for n, p in allowed.items() if p.get("required")}
            assert required <= set(request.url.params), f"{kind}: missing {required - set(request.url.params)}"
        else:
            assert not request.url.params, f"{kind} takes no query parameters"
    assert seen_kinds == {"create", "list", "one", "cancel", "reschedule", "slots"}


async def test_simulator_success_responses_validate(exercised, openapi):
    validated = set()
    for request, status, raw in exercised.responses:
        kind = _kind(request)
        body = json.loads(raw)
        assert 200 <= status < 300, f"{kind}: {status} {body}"
        assert status == (201 if kind in ("create", "reschedule") else 200), kind
        if kind == "slots":
            schema = openapi.operation("/v2/slots", "get")["responses"]["200"]["content"]["application/json"]["schema"]
            assert body["status"] == "success"
            jsonschema.Draft202012Validator(schema).validate(body["data"])
            validated.add(kind)
            continue
        validator = openapi.validator(RESPONSE_SCHEMAS[(request.method, kind)])
        errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(body)]
        assert errors == [], f"{kind}: {errors}"
        strict = openapi.strict_validator("BookingOutput_2024_08_13")
        items = body["data"] if isinstance(body["data"], list) else [body["data"]]
        for item in items:
            extra = [e.message for e in strict.iter_errors(item)]
            assert extra == [], f"{kind}: booking has undocumented or wrong fields: {extra}"
        if kind == "list":
            pagination = openapi.strict_validator("PaginationMetaDto")
            pagination.validate(body["pagination"])
        validated.add(kind)
    assert validated == {"create", "one", "list", "cancel", "reschedule", "slots"}


async def test_booking_fields_listed_in_the_notes_are_present(exercised):
    notes_fields = {
        "id", "uid", "title", "status", "start", "end", "duration", "eventTypeId", "eventType", "hosts",
        "attendees", "metadata", "createdAt", "updatedAt",
    }  # fmt: skip
    cancelled_fields = {"cancellationReason"}
    for request, status, raw in exercised.responses:
        kind = _kind(request)
        if kind in ("create", "one", "cancel", "reschedule"):
            data = json.loads(raw)["data"]
            assert notes_fields <= set(data), f"{kind}: missing {notes_fields - set(data)}"
            assert set(data["hosts"][0]) == {"id", "name", "email", "username", "timeZone"}
            assert {"name", "email", "timeZone", "language", "absent"} <= set(data["attendees"][0])
            if kind == "cancel":
                assert cancelled_fields <= set(data) and data["status"] == "cancelled"
            if kind == "reschedule":
                assert data["rescheduledFromUid"]


async def test_slot_items_follow_the_notes(exercised):
    for request, status, raw in exercised.responses:
        if _kind(request) != "slots":
            continue
        data = json.loads(raw)["data"]
        assert data, "expected some free slots"
        ranged = request.url.params.get("format") == "range"
        for day, items in data.items():
            assert len(day) == 10 and items
            for item in items:
                assert set(item) == ({"start", "end"} if ranged else {"start"})
                if request.url.params.get("timeZone") == "Europe/Berlin":
                    assert item["start"].endswith(("+01:00", "+02:00"))


#: sha256 of the fixture's canonical JSON: the published schema as it was copied into the repo
FIXTURE_SHA256 = "2465146623afe40310b4f47bc506716aa41a2bdd69dc1214380a7cd965eefa49"


def _canonical_digest(value) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_fixture_is_the_published_schema():
    """The fixture lives in the repo (a clone has no ../shared): it is pinned by its digest, and
    where shared/ is beside the project it is also compared with the copy there."""
    from pathlib import Path

    fixture = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "openapi-v2-bookings-slots.json").read_text())
    assert _canonical_digest(fixture) == FIXTURE_SHA256, "the fixture changed: update it from shared/calcom on purpose"
    shared = Path(__file__).resolve().parents[3] / "shared" / "calcom" / "openapi-v2-bookings-slots.json"
    if shared.exists():
        assert fixture == json.loads(shared.read_text())
