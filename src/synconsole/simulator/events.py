"""Event types of the Cal.com simulator: the JSON file format, its validation and the demo set.

File format (``synconsole simulator --event-types FILE``): a JSON object mapping event type ids to
settings. Only ``host`` (or ``hosts``) and ``length`` are required::

    {"101": {"host": "fabian", "length": 30}}

Optional keys (camelCase, like Cal.com's own):

- ``hosts``: list of usernames: a team event; every host must be free (a collective event), and
  a conflict gives the team variant of the host-busy error.
- ``slug``, ``title``: shown in bookings (defaults ``event-<id>`` and ``<length> min meeting``).
- ``lengthOptions``: the lengths a booking may ask for with ``lengthInMinutes`` (must contain
  ``length``); without it, sending ``lengthInMinutes`` is an error, as on Cal.com.
- ``timeZone``: IANA zone of the working hours (default ``UTC``).
- ``workingHours``: ``{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}`` with Monday = 0;
  ``end`` may be ``"24:00"``. Omitted or null: always available.
- ``minimumBookingNotice``: minutes (default 0). ``periodDays``: how many days ahead bookings are
  allowed (default: unlimited).
- ``hostName``, ``hostEmail``: display details of a single host (defaults from the username).
- ``bookingFields``: how the booking form treats the attendee's contact, as Cal.com's booking
  fields do: ``{"email": "required" | "optional", "attendeePhoneNumber": "hidden" | "optional" |
  "required"}``. Default (Cal.com's default event type): email required, phone hidden, so a
  phone-only attendee is refused (``responses - {email}error_required_field``); a phone is only
  checked when the phone field is shown.
- ``recurringEvent``: ``{"freq": "daily" | "weekly" | "monthly", "count": N, "interval": 1}``: a
  recurring event type; a create books the whole series and answers ``data`` as an array.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

#: The simulator's default event types (also the demo's): a small salon with two stylists, one of
#: whom has two event types (so two staff records can map to one Cal.com user), and a team event.
#: The hosts work Monday to Saturday, 08:00-20:00 Europe/Berlin: a booking outside that gets the
#: host-busy error, as on Cal.com.
DEMO_EVENT_TYPES: dict[str, dict[str, Any]] = {
    "101": {
        "host": "fabian",
        "hostName": "Fabian Spitzer",
        "length": 30,
        "slug": "haarschnitt",
        "title": "Haarschnitt",
        "timeZone": "Europe/Berlin",
        "workingHours": {"days": [0, 1, 2, 3, 4, 5], "start": "08:00", "end": "20:00"},
    },
    "102": {
        "host": "fabian",
        "hostName": "Fabian Spitzer",
        "length": 135,
        "slug": "dauerwelle",
        "title": "Dauerwelle",
        "timeZone": "Europe/Berlin",
        "workingHours": {"days": [0, 1, 2, 3, 4, 5], "start": "08:00", "end": "20:00"},
    },
    "201": {
        "host": "mia",
        "hostName": "Mia Krause",
        "length": 60,
        "lengthOptions": [30, 60, 90],
        "slug": "faerben",
        "title": "Färben",
        "timeZone": "Europe/Berlin",
        "workingHours": {"days": [0, 1, 2, 3, 4, 5], "start": "08:00", "end": "20:00"},
    },
    "301": {
        "hosts": ["fabian", "mia"],
        "length": 45,
        "slug": "brautstyling",
        "title": "Brautstyling (Team)",
        "timeZone": "Europe/Berlin",
        "workingHours": {"days": [0, 1, 2, 3, 4, 5], "start": "08:00", "end": "20:00"},
    },
}

_KEYS = {
    "host",
    "hosts",
    "length",
    "slug",
    "title",
    "lengthOptions",
    "timeZone",
    "workingHours",
    "minimumBookingNotice",
    "periodDays",
    "hostName",
    "hostEmail",
    "bookingFields",
    "recurringEvent",
}
_FIELD_MODES = {"email": ("required", "optional"), "attendeePhoneNumber": ("hidden", "optional", "required")}
_FREQS = ("daily", "weekly", "monthly")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


@dataclass(frozen=True)
class WorkingHours:
    days: frozenset[int]  # Monday = 0
    start: time
    end: time | None  # None: midnight at the end of the day ("24:00")


@dataclass(frozen=True)
class Host:
    id: int
    username: str
    name: str
    email: str
    time_zone: str

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "username": self.username,
            "timeZone": self.time_zone,
        }


@dataclass(frozen=True)
class EventType:
    id: int
    slug: str
    title: str
    length: int
    hosts: tuple[str, ...]
    team: bool
    length_options: tuple[int, ...]
    time_zone: str
    working_hours: WorkingHours | None
    minimum_notice_min: int
    period_days: int | None
    host_name: str | None = None
    host_email: str | None = None
    email_field: str = "required"  # "required" | "optional"
    phone_field: str = "hidden"  # "hidden" | "optional" | "required"
    recurring: tuple[str, int, int] | None = None  # (freq, count, interval)


def load_event_types(path: str | Path) -> dict[int, EventType]:
    """Read an event types file; any problem is a ``ValueError`` with a one-line message."""
    where = f"event types file {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    return normalize_event_types(raw, where=where)


def normalize_event_types(raw: Any, *, where: str = "event types") -> dict[int, EventType]:
    """Validate the JSON-shaped mapping (also accepts int keys and ready :class:`EventType` values)."""
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f'{where}: expected a non-empty JSON object like {{"101": {{"host": "fabian", "length": 30}}}}')
    result: dict[int, EventType] = {}
    for key, value in raw.items():
        if isinstance(value, EventType):
            result[value.id] = value
            continue
        try:
            et_id = int(key)
            if et_id <= 0 or str(key).strip() != str(et_id):
                raise ValueError
        except (TypeError, ValueError):
            raise ValueError(f"{where}: key {key!r} is not a positive integer event type id") from None
        result[et_id] = _event_type(et_id, value, f"{where}: event type {et_id}")
    return result


def build_hosts(event_types: dict[int, EventType]) -> dict[str, Host]:
    """Hosts by username, with stable ids (sorted usernames)."""
    info: dict[str, dict[str, str | None]] = {}
    for et in sorted(event_types.values(), key=lambda e: e.id):
        for username in et.hosts:
            entry = info.setdefault(username, {"name": None, "email": None, "tz": et.time_zone})
            if not et.team:
                entry["name"] = entry["name"] or et.host_name
                entry["email"] = entry["email"] or et.host_email
    hosts = {}
    for index, username in enumerate(sorted(info), start=1):
        entry = info[username]
        hosts[username] = Host(
            id=1000 + index,
            username=username,
            name=entry["name"] or username.replace(".", " ").replace("_", " ").title(),
            email=entry["email"] or f"{username}@example.com",
            time_zone=entry["tz"] or "UTC",
        )
    return hosts


def _event_type(et_id: int, value: Any, where: str) -> EventType:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected an object with 'host' and 'length'")
    unknown = sorted(set(value) - _KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    if "host" in value and "hosts" in value:
        raise ValueError(f"{where}: give either 'host' or 'hosts', not both")
    if "hosts" in value:
        hosts = value["hosts"]
        if not isinstance(hosts, list) or not hosts or not all(_is_username(h) for h in hosts):
            raise ValueError(f"{where}: 'hosts' must be a non-empty list of usernames")
        hosts_t, team = tuple(dict.fromkeys(hosts)), True
    elif "host" in value:
        if not _is_username(value["host"]):
            raise ValueError(f"{where}: 'host' must be a username (a non-empty string)")
        hosts_t, team = (value["host"],), False
    else:
        raise ValueError(f"{where}: 'host' is missing")
    length = value.get("length")
    if not _is_pos_int(length):
        raise ValueError(f"{where}: 'length' must be a positive integer (minutes)")
    options = value.get("lengthOptions") or []
    if not isinstance(options, list) or not all(_is_pos_int(o) for o in options):
        raise ValueError(f"{where}: 'lengthOptions' must be a list of positive integers")
    if options and length not in options:
        raise ValueError(f"{where}: 'lengthOptions' must contain 'length' ({length})")
    tz = value.get("timeZone", "UTC")
    if not is_time_zone(tz):
        raise ValueError(f"{where}: 'timeZone' {tz!r} is not an IANA time zone")
    notice = value.get("minimumBookingNotice", 0)
    if not isinstance(notice, int) or isinstance(notice, bool) or notice < 0:
        raise ValueError(f"{where}: 'minimumBookingNotice' must be a number of minutes >= 0")
    period = value.get("periodDays")
    if period is not None and not _is_pos_int(period):
        raise ValueError(f"{where}: 'periodDays' must be a positive integer or null")
    for text_key in ("slug", "title", "hostName", "hostEmail"):
        if text_key in value and (not isinstance(value[text_key], str) or not value[text_key].strip()):
            raise ValueError(f"{where}: {text_key!r} must be a non-empty string")
    return EventType(
        id=et_id,
        slug=value.get("slug", f"event-{et_id}"),
        title=value.get("title", f"{length} min meeting"),
        length=length,
        hosts=hosts_t,
        team=team,
        length_options=tuple(options),
        time_zone=tz,
        working_hours=_working_hours(value.get("workingHours"), where),
        minimum_notice_min=notice,
        period_days=period,
        host_name=value.get("hostName"),
        host_email=value.get("hostEmail"),
        **_booking_fields(value.get("bookingFields"), where),
        recurring=_recurring(value.get("recurringEvent"), where),
    )


def _booking_fields(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    msg = (f'{where}: \'bookingFields\' must look like {{"email": "required" | "optional", '
           f'"attendeePhoneNumber": "hidden" | "optional" | "required"}}')
    if not isinstance(value, dict) or set(value) - set(_FIELD_MODES):
        raise ValueError(msg)
    for name, mode in value.items():
        if mode not in _FIELD_MODES[name]:
            raise ValueError(msg)
    email, phone = value.get("email", "required"), value.get("attendeePhoneNumber", "hidden")
    if email != "required" and phone == "hidden":
        raise ValueError(f"{where}: 'bookingFields' needs a required email or a shown phone field")
    return {"email_field": email, "phone_field": phone}


def _recurring(value: Any, where: str) -> tuple[str, int, int] | None:
    if value is None:
        return None
    msg = f'{where}: \'recurringEvent\' must look like {{"freq": "weekly", "count": 4, "interval": 1}}'
    if not isinstance(value, dict) or set(value) - {"freq", "count", "interval"}:
        raise ValueError(msg)
    freq, count, interval = value.get("freq", "weekly"), value.get("count"), value.get("interval", 1)
    if freq not in _FREQS or not _is_pos_int(count) or count < 2 or not _is_pos_int(interval):
        raise ValueError(msg + " (count >= 2)")
    return freq, count, interval


def _working_hours(value: Any, where: str) -> WorkingHours | None:
    if value is None:
        return None
    msg = f'{where}: \'workingHours\' must look like {{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}}'
    if not isinstance(value, dict) or set(value) - {"days", "start", "end"}:
        raise ValueError(msg)
    days = value.get("days", [0, 1, 2, 3, 4, 5, 6])
    if not isinstance(days, list) or not all(isinstance(d, int) and 0 <= d <= 6 for d in days):
        raise ValueError(msg + " (days: 0 = Monday .. 6 = Sunday)")
    start, end = value.get("start", "00:00"), value.get("end", "24:00")
    if not (isinstance(start, str) and _HHMM.match(start) and start != "24:00"):
        raise ValueError(msg)
    if not (isinstance(end, str) and _HHMM.match(end)):
        raise ValueError(msg)
    start_t = time(int(start[:2]), int(start[3:]))
    end_t = None if end == "24:00" else time(int(end[:2]), int(end[3:]))
    if end_t is not None and end_t <= start_t:
        raise ValueError(f"{where}: 'workingHours' end must be after start")
    return WorkingHours(days=frozenset(days), start=start_t, end=end_t)


def is_time_zone(name: Any) -> bool:
    """True for an IANA zone name this machine knows (``UTC`` included)."""
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return False
    return True


def _is_username(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_pos_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
