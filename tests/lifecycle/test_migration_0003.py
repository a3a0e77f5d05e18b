"""Migration 0003 gives rows booked before it what the sync needs: ``booked`` (uid, start, staff,
customer, host), and an old-style pending reschedule (``reschedule_to``) becomes the new start with
the booking still at the old one, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import select

from synconsole.core import changes
from synconsole.core.db import open_database, upgrade
from synconsole.core.models import Appointment, Customer, Staff

from tests.conftest import NOW

ROWS = [  # id, sync_state, status, booking_uid, reschedule_to
    ("synced-1", "synced", "scheduled", "uid-1", None),
    ("moving-1", "pending", "scheduled", "uid-2", NOW + timedelta(days=3)),
    ("gone-1", "cancelled", "cancelled", "uid-3", None),
    ("new-1", "pending", "scheduled", None, None),
]


def test_upgrade_from_0002_fills_booked_and_moves_old_reschedules(db_url):
    db = open_database(db_url, upgrade_empty=False)
    upgrade(db, "0002")
    start = NOW + timedelta(days=2)
    naive = lambda t: t.replace(tzinfo=None)  # noqa: E731  (the columns hold naive UTC)
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO staff (id, name, calcom_username, host_key, event_type_id, time_zone, "
                             "active, created_at, updated_at) VALUES ('s1', 'F', 'fabian', 'fabian', 101, 'UTC', "
                             "true, :t, :t)"), {"t": naive(NOW)})
        conn.execute(sa.text("INSERT INTO customers (id, name, email, time_zone, created_at, updated_at) "
                             "VALUES ('c1', 'A', 'a@example.com', 'UTC', :t, :t)"), {"t": naive(NOW)})
        for ident, state, status, uid, move in ROWS:
            conn.execute(sa.text(
                "INSERT INTO appointments (id, customer_id, staff_id, start_at, end_at, duration_minutes, status, "
                "sync_state, sync_op, booking_uid, attempts, needs_lookup, version, reschedule_to, created_at, "
                "updated_at) VALUES (:id, 'c1', 's1', :start, :end, 30, :status, :state, :op, :uid, 1, false, 1, "
                ":move, :t, :t)"),
                {"id": ident, "start": naive(start), "end": naive(start + timedelta(minutes=30)), "status": status,
                 "state": state, "op": "reschedule" if move else "create", "uid": uid,
                 "move": naive(move) if move else None, "t": naive(NOW)})
    assert upgrade(db, "0003")[1] == "0003"
    upgrade(db)  # the models read today's columns; later migrations leave what 0003 wrote alone
    with db.session() as s:
        rows = {a.id: a for a in s.exec(select(Appointment))}
        want = changes.wanted(rows["moving-1"], s.get(Customer, "c1"), s.get(Staff, "s1"))
    synced = changes.booked_of(rows["synced-1"])
    assert synced == changes.Booking(uid="uid-1", start=start, staff_id="s1", customer_id="c1", host="fabian")
    moving = rows["moving-1"]
    assert (moving.start_at, moving.end_at) == (NOW + timedelta(days=3), NOW + timedelta(days=3, minutes=30))
    assert changes.booked_of(moving).start == start  # still booked at the old start: the sync moves it
    assert changes.next_step(moving, changes.booked_of(moving), want, NOW) == "reschedule"
    assert rows["gone-1"].booked is None and rows["new-1"].booked is None
    assert all(a.revision == 0 and a.sent is None for a in rows.values())
    db.dispose()
