"""Classification: every pre-flight check, every Cal.com message of API-NOTES in both body shapes,
config rules, fingerprints, and `synconsole reclassify`."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from synconsole.calcom.errors import CalcomError, parse_error_body
from synconsole.config import CategoryRule, load_settings, parse_settings
from synconsole.core import categories as cats
from synconsole.core.classify import (
    classify_response,
    contact_problem,
    fingerprint,
    normalize_message,
    preflight,
)
from synconsole.core.models import FAILED, PENDING, Appointment, Customer

from tests import factory
from tests.conftest import NOW, write

BOOKING_WINDOW = ("The event type can't be booked at the \"start\" time provided. This could be because it's too "
                  "soon (violating the minimum booking notice) or too far in the future (outside the event's "
                  "scheduling window). Try fetching available slots first using the GET /v2/slots endpoint and "
                  "then make a booking with \"start\" time equal to one of the available slots.")

#: (status, exception code, exact message, expected category) for every row of API-NOTES' error table
API_NOTES_ERRORS = [
    (400, "BadRequestException", "Attempting to book a meeting in the past.", "past_appointment"),
    (400, "BadRequestException", "User either already has booking at this time or is not available", "host_conflict"),
    (400, "BadRequestException", "One of the hosts either already has booking at this time or is not available",
     "host_conflict"),
    (400, "BadRequestException", BOOKING_WINDOW, "outside_booking_window"),
    (404, "NotFoundException", "Event type with id 101 not found.", "no_event_type"),
    (400, "BadRequestException", "attendee property is wrong,attendee should not be null or undefined ", "validation"),
    (400, "BadRequestException", "attendee property is wrong,property attendee.phone should not exist ", "validation"),
    (400, "BadRequestException", "invalid_number", "validation"),
    # the booking core's zod errors (the API's ZodExceptionFilter: code BAD_REQUEST), API-NOTES Corrections
    (400, "BAD_REQUEST", "responses - {email}error_required_field, ", "missing_contact"),
    (400, "BAD_REQUEST", "responses - email_validation_error, ", "missing_contact"),
    (400, "BAD_REQUEST", "responses - {attendeePhoneNumber}invalid_number, ", "missing_contact"),
    (400, "BAD_REQUEST", "responses - {attendeePhoneNumber}error_required_field, ", "missing_contact"),
    (400, "BadRequestException", "Attendee must have at least one contact method (email or phone number)",
     "missing_contact"),
    (409, None, "booking_conflict_error", "host_conflict"),
    (400, "BadRequestException", "Can't cancel booking with uid=abc123 because it has been cancelled already. "
     "Please provide uid of a booking that is not cancelled.", "booking_gone"),
    (400, None, "Cannot cancel a booking that has already ended", "past_appointment"),
    (404, "NotFoundException", "Booking with uid=abc123 not found", "booking_gone"),
    (404, "NotFoundException", "Booking with uid=abc123 was not found in the database", "booking_gone"),
    (401, "UnauthorizedException", "CustomThrottlerGuard - Invalid API Key", "auth"),
    (400, None, "Cancellation reason is required when you are the host", "validation"),
    (400, "BadRequestException", "Can't reschedule booking with uid=abc123 because it has been cancelled. Please "
     "provide uid of a booking that is not cancelled.", "validation"),
    (500, None, "Internal server error", "transient"),
    (401, "UnauthorizedException", "ApiAuthStrategy - api key - Your api key is not valid", "auth"),
    (403, "ForbiddenException", "Forbidden resource", "auth"),
    (429, "ThrottlerException", "CustomThrottlerGuard - Too many requests. Please try again later.", "rate_limited"),
    (503, None, "Service Unavailable", "transient"),
    (418, None, "I'm a teapot", "unknown"),
]


def envelope(status: int, code: str | None, message: str) -> str:
    return json.dumps({"status": "error", "timestamp": "2025-11-24T17:00:00.000Z", "path": "/v2/bookings",
                       "error": {"code": code or "BadRequestException", "message": message, "details": {}}})


def bare(status: int, message: str) -> str:
    return json.dumps({"statusCode": status, "message": message})


@pytest.mark.parametrize("status, code, message, expected", API_NOTES_ERRORS)
@pytest.mark.parametrize("shape", ["envelope", "bare"])
def test_every_api_notes_message_in_both_shapes(status, code, message, expected, shape):
    body = envelope(status, code, message) if shape == "envelope" else bare(status, message)
    err = parse_error_body(status, body.encode())
    assert isinstance(err, CalcomError)
    assert err.status == status and err.message == message and err.body == body
    if shape == "envelope":
        assert err.code == (code or "BadRequestException")
    assert classify_response(err.status, err.code, err.message) == expected


def test_no_answer_and_non_json_bodies():
    assert classify_response(None, None, "timed out after 30s") == "transient"
    err = parse_error_body(502, b"<html><body>Bad Gateway</body></html>")
    assert err.message.startswith("non-JSON error body: <html>")
    assert classify_response(err.status, err.code, err.message) == "transient"
    huge = b"x" * (10 * 1024 * 1024)
    err = parse_error_body(400, huge)
    assert err.body == huge.decode() and len(str(err)) < 300
    assert classify_response(err.status, err.code, err.message) == "validation"
    assert parse_error_body(400, b"").message == "empty error body"


def test_config_rules_come_first_and_match_on_every_field():
    rules = (
        CategoryRule("transient", status=(400,), message=r"(?i)upstream", name="proxy 400"),
        CategoryRule("auth", code="SuspendedException", name="suspended"),
    )
    assert classify_response(400, None, "Upstream connect error", rules) == "transient"
    assert classify_response(400, None, "something else", rules) == "validation"
    assert classify_response(400, "SuspendedException", "account suspended", rules) == "auth"
    assert classify_response(404, None, "Event type with id 7 not found.", rules) == "no_event_type"


def test_every_category_has_kind_and_disposition_from_one_table():
    assert set(cats.CATEGORIES) == {"past_appointment", "host_conflict", "outside_booking_window", "missing_contact",
                                    "missing_staff", "no_event_type", "auth", "rate_limited", "transient",
                                    "booking_gone", "validation", "unknown"}
    assert cats.disposition("past_appointment") == "auto_cleanup"
    assert cats.disposition("missing_contact") == "manual"
    assert cats.disposition("missing_contact", auto_backfill_email=True) == "auto_fix"
    assert cats.disposition("transient") == cats.disposition("rate_limited") == "auto_retry"
    assert cats.manual_categories() == ["host_conflict", "outside_booking_window", "missing_contact", "missing_staff",
                                        "no_event_type", "auth", "booking_gone", "validation", "unknown"]
    assert "missing_contact" not in cats.manual_categories(auto_backfill_email=True)


def test_fingerprints_group_identical_failures():
    a = fingerprint("host_conflict", 400, "Overlaps appointment 750 at 2025-12-06T14:00:00Z")
    b = fingerprint("host_conflict", 400, "Overlaps appointment 751 at 2025-12-07T09:30:00Z")
    assert a == b
    assert a != fingerprint("host_conflict", 409, "Overlaps appointment 750 at 2025-12-06T14:00:00Z")
    assert a != fingerprint("validation", 400, "Overlaps appointment 750 at 2025-12-06T14:00:00Z")
    assert normalize_message("uid=abc-123 for x@y.de at 2025-11-24T17:00:00.000Z") == "uid=<uid> for <email> at <time>"


# --- pre-flight ---------------------------------------------------------------------------------

PATTERN = r"^anonymous_\d+_[0-9a-f]+$"


@pytest.mark.parametrize("email, phone, problem", [
    ("anna@example.com", None, None),
    ("anna@example.com", "anonymous_1732456789_ab12cd", None),
    (None, "+4915112345678", None),
    (None, None, "no email; phone is empty"),
    ("", "  ", "no email; phone is empty"),
    (None, "anonymous_1732456789_ab12cd", "no email; phone is anonymous"),
    (None, "015112345678", "no email; phone is not E.164"),
    (None, "+49 151 1234", "no email; phone is not E.164"),
    ("not-an-email", "anonymous_1_ff", "email is not valid; phone is anonymous"),
])
def test_usable_contact(email, phone, problem):
    assert contact_problem(Customer(id="c", email=email, phone=phone), PATTERN) == problem


def test_anonymous_pattern_is_configurable():
    custom = parse_settings({"categories": {"anonymous_phone_pattern": r"^\+0+$"}})
    assert contact_problem(Customer(id="c", phone="+000000000"), custom.categories.anonymous_phone_pattern) \
        == "no email; phone is anonymous"
    assert contact_problem(Customer(id="c", phone="anonymous_1_ab"), custom.categories.anonymous_phone_pattern) \
        == "no email; phone is not E.164"


def _seed_people(s):
    factory.staff(s, "s1", username="fabian")
    factory.staff(s, "s1b", username="Fabian")  # a second staff record for the same Cal.com user
    factory.staff(s, "s2", username="maria")
    factory.staff(s, "s-noet", username="lena", event_type_id=None)
    factory.staff(s, "s-svc", username="otto", event_type_id=None, event_type_ids={"haircut": 205})
    factory.staff(s, "s-off", username="paul", active=False)
    factory.staff(s, "s-nouser", username=None)
    factory.customer(s, "c1", email="anna@example.com")
    factory.customer(s, "c-anon", email=None, phone="anonymous_1732456789_ab12cd")


def test_preflight_checks_in_order(db, settings):
    future = NOW + timedelta(days=2)
    with db.session() as s:
        _seed_people(s)
        rows = [
            factory.appointment(s, "past", start=NOW - timedelta(minutes=1), staff_id=None, customer_id="c-anon"),
            factory.appointment(s, "nostaff", start=future, staff_id=None),
            factory.appointment(s, "inactive", start=future, staff_id="s-off"),
            factory.appointment(s, "noet", start=future, staff_id="s-noet"),
            factory.appointment(s, "svc-ok", start=future, staff_id="s-svc", service="haircut"),
            factory.appointment(s, "svc-missing", start=future + timedelta(hours=3), staff_id="s-svc", service="color"),
            factory.appointment(s, "nouser", start=future, staff_id="s-nouser"),
            factory.appointment(s, "anon", start=future, staff_id="s2", customer_id="c-anon"),
            factory.appointment(s, "fine", start=future + timedelta(days=1), staff_id="s2"),
        ]
        s.commit()
        result = preflight(s, rows, now=NOW, settings=settings)
    got = {k: (v.category, v.message) for k, v in result.items()}
    assert got == {
        "past": ("past_appointment", "Start 2025-11-24T16:59:00Z is in the past (checked before sending)."),
        "nostaff": ("missing_staff", "No staff assigned: there is no Cal.com host or event type to book."),
        "inactive": ("missing_staff", "Staff s-off is inactive: assign an active staff member."),
        "noet": ("no_event_type", "Staff s-noet has no Cal.com event type mapped."),
        "svc-missing": ("no_event_type", "Staff s-svc has no Cal.com event type mapped for service 'color'."),
        "nouser": ("no_event_type", "Staff s-nouser has no Cal.com user (calcom_username) mapped."),
        "anon": ("missing_contact", "Customer c-anon has no usable contact: no email; phone is anonymous."),
    }
    assert all(v.preflight and v.http_status is None for v in result.values())


def test_local_host_overlap_including_two_staff_records_for_one_host(db, settings):
    t = NOW + timedelta(days=12)
    with db.session() as s:
        _seed_people(s)
        booked = factory.appointment(s, "booked", start=t, staff_id="s1", sync_state="synced", booking_uid="u1")
        same_host_other_record = factory.appointment(s, "751", start=t + timedelta(minutes=10), minutes=20,
                                                     staff_id="s1b")
        other_host = factory.appointment(s, "maria", start=t, staff_id="s2")
        adjacent = factory.appointment(s, "adjacent", start=t + timedelta(minutes=30), staff_id="s1")
        first = factory.appointment(s, "first", start=t + timedelta(hours=5), staff_id="s1",
                                    created_at=NOW - timedelta(hours=2))
        second = factory.appointment(s, "second", start=t + timedelta(hours=5, minutes=10), staff_id="s1b",
                                     created_at=NOW - timedelta(hours=1))
        after_failed = factory.appointment(s, "after-failed", start=t + timedelta(hours=8), staff_id="s1")
        factory.appointment(s, "failed-one", start=t + timedelta(hours=8), staff_id="s1", sync_state=FAILED,
                            category="host_conflict", created_at=NOW - timedelta(days=9))
        factory.appointment(s, "cancelled-one", start=t + timedelta(hours=10), staff_id="s1", status="cancelled",
                            sync_state="cancelled")
        after_cancelled = factory.appointment(s, "after-cancelled", start=t + timedelta(hours=10), staff_id="s1")
        s.commit()
        result = preflight(s, [booked, same_host_other_record, other_host, adjacent, first, second,
                               after_failed, after_cancelled], now=NOW, settings=settings)
    assert set(result) == {"751", "second"}
    assert result["751"].category == "host_conflict"
    assert result["751"].message.startswith("Overlaps appointment booked of the same Cal.com host (fabian) at ")
    assert "appointment first" in result["second"].message


# --- reclassify ---------------------------------------------------------------------------------


def test_reclassify_reruns_rules_and_requeues_fixed_preflight_failures(db_url, run_cli, frozen, tmp_path):
    from synconsole.core.db import open_database

    db = open_database(db_url)
    start = NOW + timedelta(days=3)
    with db.session() as s:
        factory.staff(s, "s1")
        factory.customer(s, "c1")
        factory.failed(s, "proxy", category="unknown", first_failed_at=NOW - timedelta(hours=1), start=start,
                       message="upstream connect error", http_status=502)
        factory.attempt(s, "proxy", at=NOW - timedelta(hours=1), outcome="failed", status=502,
                        category="transient", message="upstream connect error")
        factory.failed(s, "was-past", category="validation", first_failed_at=NOW - timedelta(hours=2), start=start,
                       message="Attempting to book a meeting in the past.", http_status=400)
        factory.attempt(s, "was-past", at=NOW - timedelta(hours=2), outcome="failed", status=400,
                        message="Attempting to book a meeting in the past.")
        factory.failed(s, "fixed", category="missing_staff", first_failed_at=NOW - timedelta(hours=3), start=start,
                       message="No staff", http_status=None)
        factory.attempt(s, "fixed", at=NOW - timedelta(hours=3), outcome="preflight", category="missing_staff",
                        message="No staff")
        s.commit()
    db.dispose()
    cfg = write(tmp_path / "rules.toml", f'[database]\nurl = "{db_url}"\n[[categories.rules]]\n'
                                         'category = "unknown"\nstatus = 502\nmessage = "upstream"\n')

    code, out, _ = run_cli("reclassify", "--dry-run", "--config", str(cfg))
    assert code == 0
    assert out.splitlines() == [
        "fixed: missing_staff -> pending (problem gone)",
        "was-past: validation -> past_appointment",
        "would change 2 failures (dry run)",
    ]
    code, out, err = run_cli("reclassify", "--config", str(cfg))
    assert code == 2 and "refusing to change anything without --yes" in err
    code, _, err = run_cli("reclassify", "--yes", "--read-only", "--config", str(cfg))
    assert code == 3 and "read-only" in err
    code, out, _ = run_cli("reclassify", "--yes", "--config", str(cfg))
    assert code == 0 and out.splitlines()[-1] == "changed 2 failures"

    db = open_database(db_url)
    with db.session() as s:
        assert s.get(Appointment, "was-past").category == "past_appointment"
        fixed = s.get(Appointment, "fixed")
        assert (fixed.sync_state, fixed.category, fixed.queued_at) == (PENDING, None, NOW)
        assert s.get(Appointment, "proxy").category == "unknown"  # the config rule wins over the built-in 5xx
    db.dispose()
    code, out, _ = run_cli("show", "was-past", "--json", "--config", str(cfg))
    (event,) = json.loads(out)["audit"]
    assert event["action"] == "reclassify"
    assert event["before"] == {"category": "validation", "sync_state": "failed"}
    assert event["after"] == {"category": "past_appointment", "sync_state": "failed"}
    code, out, _ = run_cli("reclassify", "--yes", "--config", str(cfg))
    assert out.strip() == "nothing to change: every failure already has the category the rules give"


def test_settings_fixture_is_defaults(settings):
    assert settings == load_settings(None, env={})
