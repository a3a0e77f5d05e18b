"""The one masking of customer emails and phones, for every output: tables, ``--json``, the console,
reports, notifications and the log.

Free text (Cal.com's messages, error bodies, notes, audit reasons) is masked by pattern; fields named
like a contact (``email``, ``phone``, ``phoneNumber``, ``attendeeEmail``) are masked whatever they
hold. Every pattern is linear in its input: each can start only where no match could have started one
character before, and every repetition is bounded, so a 10 MB body costs one pass.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+")
_ANONYMOUS = re.compile(r"anonymous_\d+_[0-9A-Za-z]+")
#: ``+49 151 1234 5678``, ``+4915112345678``, ``+49 (0)30 123456``
_INTERNATIONAL = re.compile(r"(?<![\w+])\+\d[\d ./()-]{5,22}\d(?!\w)")
#: ``0151-1234-5678``, ``030 1234567``, ``(030) 123 4567``, ``0151/1234567``, ``015112345678``; no dots,
#: so a date (``01.12.2026``) is not a phone, and never right after a ``-`` or a digit (dates, ids)
_NATIONAL = re.compile(r"(?<![\w+./-])\(?0\d{1,5}\)?[ /-]?\d[\d /-]{3,16}\d(?!\w)")
_PHONE_DIGITS = range(7, 16)

CONTACT_KEYS = frozenset({"email", "phone", "phoneNumber", "attendeeEmail", "attendeePhoneNumber"})


def mask_email(email: str | None) -> str | None:
    if not email:
        return email
    local, _, domain = email.partition("@")
    return f"{local[:1]}{MASK}@{domain}" if domain else MASK


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    if phone.startswith("anonymous_"):
        return "anonymous_" + MASK
    return phone[:3] + MASK + phone[-2:] if len(phone) > 6 else MASK


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    if sum(c.isdigit() for c in text) not in _PHONE_DIGITS:
        return text
    return mask_phone(text) or MASK


def mask_text(text: str | None) -> str | None:
    """Free text with every email and phone number in it masked."""
    if not text:
        return text
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)) or MASK, text)
    text = _ANONYMOUS.sub(lambda m: mask_phone(m.group(0)) or MASK, text)
    text = _INTERNATIONAL.sub(_phone, text)
    return _NATIONAL.sub(_phone, text)


def mask_doc(value: Any) -> Any:
    """A JSON-shaped document with every string masked, and contact fields masked whatever they hold."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in CONTACT_KEYS and isinstance(v, str):
                out[k] = mask_email(v) if "@" in v else mask_phone(v)
            else:
                out[k] = mask_doc(v)
        return out
    if isinstance(value, (list, tuple)):
        return [mask_doc(v) for v in value]
    return value


def masked(value: Any, *, reveal: bool) -> Any:
    """``value`` as an output shows it: masked unless the user asked to see emails and phones."""
    return value if reveal else mask_doc(value)
