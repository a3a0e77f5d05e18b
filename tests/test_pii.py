"""The one masking function: which texts are emails and phones, and which are not (dates, times,
uids, counts), and that a document is masked everywhere but in its structure."""

from __future__ import annotations

import pytest

from synconsole.core.pii import mask_doc, mask_text, masked


@pytest.mark.parametrize("text, hidden", [
    ("call 0151-1234-5678 now", "1234-5678"),
    ("office 030 1234567", "1234567"),
    ("office (030) 123 4567", "123 4567"),
    ("mobile 0151/1234567", "1234567"),
    ("mobile 015112345678", "15112345678"),
    ("intl +49 151 1234 5678.", "1234 5678"),
    ("e164 +4915112345678", "15112345678"),
    ("us +1 (555) 123-4567", "123-4567"),
    ("phone:0151-1234-5678", "1234-5678"),
    ("mail john.doe@example.com wrote", "john.doe"),
    ("anonymous_1234_deadbeef called", "anonymous_1234_deadbeef"),
])
def test_emails_and_phones_in_free_text_are_masked(text, hidden):
    out = mask_text(text)
    assert hidden not in out and "***" in out, out


@pytest.mark.parametrize("text", [
    "on 01.12.2026 at 10:05:30",
    "2026-12-02T10:00:00Z",
    "2026-12-02 15:33:44,123",
    "uid 0123456789abcdef",
    "id a0004 v0.10.2",
    "took 1234567 ms",
    "23 failed, 8 pending, 15 in manual review",
    "fingerprint 0a1b2c3d4e5f",
    "HTTP 400 BadRequestException",
])
def test_dates_times_ids_and_counts_are_left_alone(text):
    assert mask_text(text) == text


def test_masking_is_idempotent():
    once = mask_text("a.person@example.org +4915112345678 0151-1234-5678")
    assert mask_text(once) == once


def test_a_document_is_masked_in_every_string_and_contact_fields_whatever_they_hold():
    doc = {"id": "a1", "attempts": 3, "email": "x@y.example", "phoneNumber": "12345",
           "items": [{"why": "note: ring 030 1234567"}, "mail x@y.example"], "ok": True, "n": None}
    out = mask_doc(doc)
    assert out == {"id": "a1", "attempts": 3, "email": "x***@y.example", "phoneNumber": "***",
                   "items": [{"why": "note: ring 030***67"}, "mail x***@y.example"], "ok": True, "n": None}
    assert masked(doc, reveal=True) is doc
