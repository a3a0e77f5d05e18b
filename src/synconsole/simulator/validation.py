"""What the simulator's ``/v2/bookings`` routes accept: the DTO's fields and checks, and the
booking core's check of the attendee against the event type's booking fields."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .events import EventType, is_time_zone
from .responses import MSG_METADATA, MSG_MISSING_ATTENDEE, wrong, zod_error
from .state import parse_iso

_CREATE_FIELDS = {
    "start", "attendee", "bookingFieldsResponses", "emailVerificationCode", "eventTypeId",
    "eventTypeSlug", "guests", "lengthInMinutes", "location", "meetingUrl", "metadata",
    "organizationSlug", "routing", "teamSlug", "username", "instant", "recurrenceCount",
}  # fmt: skip
_ATTENDEE_FIELDS = {"name", "email", "timeZone", "phoneNumber", "language"}
CANCEL_FIELDS = {"cancellationReason", "cancelSubsequentBookings", "seatUid"}
RESCHEDULE_FIELDS = {"start", "reschedulingReason", "rescheduledBy", "emailVerificationCode", "seatUid"}
LIST_PARAMS = {
    "status", "attendeeEmail", "attendeeName", "bookingUid", "eventTypeIds", "eventTypeId",
    "teamsIds", "teamId", "afterStart", "beforeEnd", "afterCreatedAt", "beforeCreatedAt",
    "afterUpdatedAt", "beforeUpdatedAt", "sortStart", "sortEnd", "sortCreated", "sortUpdatedAt",
    "take", "skip",
}  # fmt: skip
LIST_STATUSES = ("upcoming", "recurring", "past", "cancelled", "unconfirmed")
_LANGUAGES = {
    "ar", "ca", "de", "es", "eu", "he", "id", "ja", "lv", "pl", "ro", "sr", "th", "vi", "az", "cs",
    "el", "es-419", "fi", "hr", "it", "km", "nl", "pt", "ru", "sv", "tr", "zh-CN", "bg", "da", "en",
    "et", "fr", "hu", "iw", "ko", "no", "pt-BR", "sk", "ta", "uk", "zh-TW", "bn",
}  # fmt: skip
#: the shape of a phone the booking core may accept (it asks libphonenumber, see _valid_phone)
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def unknown_fields(body: dict[str, Any], allowed: set[str]) -> list[str]:
    return [wrong(k, f"property {k} should not exist") for k in body if k not in allowed]


def validate_create(body: dict[str, Any]) -> list[str]:
    problems = unknown_fields(body, _CREATE_FIELDS)
    start = body.get("start")
    if start is None:
        problems.append(wrong("start", "start should not be null or undefined"))
    elif parse_iso(start) is None:
        problems.append(wrong("start", "start must be a valid ISO 8601 date string"))
    attendee = body.get("attendee")
    if attendee is None:
        problems.append(MSG_MISSING_ATTENDEE)
    elif not isinstance(attendee, dict):
        problems.append(wrong("attendee", "nested property attendee must be either object or array"))
    else:
        problems += _validate_attendee(attendee)
    if "eventTypeId" in body:
        et_id = body["eventTypeId"]
        if not isinstance(et_id, (int, float)) or isinstance(et_id, bool) or et_id != int(et_id):
            problems.append(wrong("eventTypeId", "eventTypeId must be a number conforming to the specified constraints"))
    elif not body.get("eventTypeSlug"):
        problems.append(wrong("eventTypeId", "eventTypeId should not be null or undefined"))
    if "lengthInMinutes" in body and not is_number(body["lengthInMinutes"]):
        problems.append(wrong("lengthInMinutes", "lengthInMinutes must be a number conforming to the specified constraints"))
    if "metadata" in body:
        problems += _validate_metadata(body["metadata"])
    if "guests" in body:
        guests = body["guests"]
        if not isinstance(guests, list) or not all(isinstance(g, str) and _EMAIL.match(g) for g in guests):
            problems.append(wrong("guests", "each value in guests must be an email"))
    if "bookingFieldsResponses" in body and not isinstance(body["bookingFieldsResponses"], dict):
        problems.append(wrong("bookingFieldsResponses", "bookingFieldsResponses must be an object"))
    return problems


def _validate_attendee(attendee: dict[str, Any]) -> list[str]:
    problems = [wrong("attendee", f"property attendee.{k} should not exist") for k in attendee if k not in _ATTENDEE_FIELDS]
    if not isinstance(attendee.get("name"), str) or not attendee["name"].strip():
        problems.append(wrong("attendee", "attendee.name must be a string"))
    tz = attendee.get("timeZone")
    if not isinstance(tz, str):
        problems.append(wrong("attendee", "attendee.timeZone must be a string"))
    elif not is_time_zone(tz):
        problems.append(wrong("attendee", "attendee.timeZone must be a valid IANA time zone"))
    # email and phone: format checks of the DTO do nothing in Cal.com's pinned class-validator;
    # the booking core checks them against the event type's booking fields (core_responses)
    for key in ("email", "phoneNumber"):
        if key in attendee and not isinstance(attendee[key], str):
            problems.append(wrong("attendee", f"attendee.{key} must be a string"))
    language = attendee.get("language")
    if language is not None and language not in _LANGUAGES:
        problems.append(wrong("attendee", "attendee.language must be one of the supported languages"))
    return problems


def _validate_metadata(metadata: Any) -> list[str]:
    if not isinstance(metadata, dict):
        return [wrong("metadata", "metadata must be an object")]
    ok = len(metadata) <= 50 and all(
        len(k) <= 40
        and (
            (isinstance(v, str) and len(v) <= 500)
            or (isinstance(v, (int, float, bool)))
        )
        for k, v in metadata.items()
    )
    return [] if ok else [wrong("metadata", MSG_METADATA)]


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def core_responses(request: Request, et: EventType, attendee: dict[str, Any]) -> Response | None:
    """The booking core's check of the attendee against the event type's booking fields (zod)."""
    issues: list[tuple[str, str]] = []
    email, phone = attendee.get("email"), attendee.get("phoneNumber")
    if not email:
        if et.email_field == "required":
            issues.append(("responses", "{email}error_required_field"))
    elif not _EMAIL.match(email):
        issues.append(("responses", "email_validation_error"))
    if et.phone_field != "hidden":
        if not phone:
            if et.phone_field == "required":
                issues.append(("responses", "{attendeePhoneNumber}error_required_field"))
        elif not _valid_phone(phone):
            issues.append(("responses", "{attendeePhoneNumber}invalid_number"))
    return zod_error(request, issues) if issues else None


def _valid_phone(phone: str) -> bool:
    """E.164 shape, and for German numbers one libphonenumber rule more: a national number starting
    with 1 is a mobile (15, 16, 17), so ``+4912345678`` looks like E.164 and is still invalid."""
    if not _E164.match(phone):
        return False
    if phone.startswith("+49"):
        national = phone[3:]
        return not (national.startswith("1") and national[:2] not in ("15", "16", "17"))
    return True
