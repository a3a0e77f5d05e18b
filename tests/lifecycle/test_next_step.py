"""The one rule for what a change needs in Cal.com (core/changes.py: next_step), case by case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from synconsole.core.changes import Booking, next_step, wanted
from synconsole.core.models import Customer, Staff

from tests.conftest import NOW

T = NOW + timedelta(days=2)
FABIAN = Staff(id="s-1", calcom_username="fabian", host_key="fabian", event_type_id=101)
FABIAN_2 = Staff(id="s-1b", calcom_username="fabian", host_key="fabian", event_type_id=101)
MARIA = Staff(id="s-2", calcom_username="maria", host_key="maria", event_type_id=102)
ANNA = Customer(id="c-1", name="Anna", email="anna@example.com")
BEN = Customer(id="c-2", name="Ben", phone="+4915112345678")


@dataclass
class Row:
    status: str = "scheduled"
    start_at: object = T
    customer_id: str = "c-1"
    staff_id: str | None = "s-1"
    service: str | None = None
    time_zone: str | None = None


def booked(start=T, **kw) -> Booking:
    return Booking(uid="uid-1", start=start, event_type_id=101, host="fabian", staff_id="s-1", customer_id="c-1",
                   email="anna@example.com", **kw)


def step(row: Row, known: Booking | None, staff=FABIAN, customer=ANNA, now=NOW) -> str:
    return next_step(row, known, wanted(row, customer, staff), now)


@pytest.mark.parametrize("row, known, staff, customer, expected", [
    (Row(), None, FABIAN, ANNA, "create"),
    (Row(), booked(), FABIAN, ANNA, "synced"),
    (Row(status="cancelled"), booked(), FABIAN, ANNA, "cancel"),
    (Row(status="cancelled"), None, FABIAN, ANNA, "cancelled"),  # never booked: no call at all
    (Row(status="completed"), None, FABIAN, ANNA, "skipped"),
    (Row(status="completed"), booked(), FABIAN, ANNA, "synced"),
    (Row(start_at=T + timedelta(hours=2)), booked(), FABIAN, ANNA, "reschedule"),
    (Row(staff_id="s-2"), booked(), MARIA, ANNA, "rebook"),  # a new host: cancel, then create
    (Row(staff_id="s-1b"), booked(), FABIAN_2, ANNA, "synced"),  # another staff record of the same host
    (Row(staff_id=None), booked(), None, ANNA, "rebook"),  # no host any more: the old one's booking goes
    (Row(customer_id="c-2"), booked(), FABIAN, BEN, "rebook"),  # a new attendee
    (Row(), booked(), FABIAN, Customer(id="c-1", name="Anna", email="anna.b@example.org"), "rebook"),
    (Row(), booked(), FABIAN, Customer(id="c-1", name="Anna", email="ANNA@example.com"), "synced"),
    (Row(), booked(), FABIAN, Customer(id="c-1", name="Anna", email=None), "synced"),  # lost contact: keep it
    (Row(start_at=T + timedelta(hours=2), staff_id="s-2"), booked(), MARIA, ANNA, "rebook"),
])
def test_next_step(row, known, staff, customer, expected):
    assert step(row, known, staff, customer) == expected


def test_history_is_not_moved():
    past = NOW - timedelta(days=1)
    assert step(Row(start_at=past - timedelta(hours=1)), booked(start=past)) == "synced"
    assert step(Row(start_at=past, staff_id="s-2"), booked(start=past), staff=MARIA) == "synced"
    assert step(Row(start_at=T), booked(start=past)) == "reschedule"  # moved from the past to the future


def test_a_booking_recorded_without_its_host_is_compared_by_staff():
    """Rows booked before hosts were recorded (migration 0003, or a uid brought by an import)."""
    legacy = Booking(uid="uid-1", start=T, staff_id="s-1", customer_id="c-1")
    assert step(Row(), legacy) == "synced"
    assert step(Row(staff_id="s-1b"), legacy, staff=FABIAN_2) == "rebook"  # unknown host: cannot tell
    assert step(Row(), Booking(uid="uid-1", start=T)) == "synced"  # nothing known but uid and start
