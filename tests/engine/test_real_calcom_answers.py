"""The sync engine against the simulator answering as the real Cal.com does (API-NOTES, Corrections),
over real HTTP on loopback: a cancel that Cal.com did already, the cleanup of booked past
appointments, phone-only customers, recurring event types, bookings the key cannot list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import select

from synconsole.simulator import Faults, SimulatorServer
from synconsole.core import clock
from synconsole.core.models import Appointment, SyncAttempt
from synconsole.core import cleanup
from synconsole.jobs.sync import SyncEngine

from tests.engine.helpers import KEY, appointment, client_for, load, people, settings_for, soon

CAL = {"Authorization": f"Bearer {KEY}", "cal-api-version": "2024-08-13"}
#: maria's 102 is a default event type (email required); paula's 401 takes phone-only attendees
EVENT_TYPES = {
    "101": {"host": "fabian", "length": 30},
    "102": {"host": "maria", "length": 30},
    "401": {"host": "paula", "length": 30, "bookingFields": {"email": "optional", "attendeePhoneNumber": "required"}},
}
PAULA = {"kind": "staff", "id": "s-4", "name": "Paula", "calcom_username": "paula", "event_type_id": 401,
         "phone_bookings": True}


def sim_bookings(sim) -> list[dict]:
    return httpx.get(f"{sim.url}/_sim/bookings").json()["bookings"]


def rows(db) -> dict[str, Appointment]:
    with db.session() as s:
        return {a.id: a for a in s.exec(select(Appointment))}


def attempts(db, appointment_id: str) -> list[SyncAttempt]:
    with db.session() as s:
        return list(s.exec(select(SyncAttempt).where(SyncAttempt.appointment_id == appointment_id)
                           .order_by(SyncAttempt.id)))


async def drain(db, settings):
    async with client_for(settings) as client:
        return await SyncEngine(db, settings, client, worker="w").drain()


# --- cancelling what Cal.com cancelled already --------------------------------------------------------


async def test_a_cancel_cal_com_did_already_ends_cancelled_not_failed(db, tmp_path):
    """The first cancel went through and its answer was lost (or someone cancelled it in Cal.com):
    the real answer to the second is a 400 envelope ``Can't cancel booking with uid=… because it has
    been cancelled already``. The booking is not live: the appointment ends cancelled."""
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as sim:
        settings = settings_for(sim.url, db.url)
        t = soon()
        load(db, tmp_path, people() + [appointment("a1", t)])
        assert (await drain(db, settings)).synced == 1
        uid = rows(db)["a1"].booking_uid
        first = httpx.post(f"{sim.url}/v2/bookings/{uid}/cancel", headers=CAL, json={"cancellationReason": "first"})
        assert first.status_code == 200  # Cal.com cancelled it; synconsole never heard
        load(db, tmp_path, [appointment("a1", t, status="cancelled")])
        report = await drain(db, settings)
        assert (report.cancelled, report.failed) == (1, 0), report.summary()
    a1 = rows(db)["a1"]
    assert (a1.status, a1.sync_state, a1.category, a1.last_error) == ("cancelled", "cancelled", None, None)
    last = attempts(db, "a1")[-1]
    assert last.outcome == "success" and last.booking_uid == uid
    assert last.request_summary["nothing_to_cancel"].startswith(f"Can't cancel booking with uid={uid} because")


async def test_a_cancel_whose_answer_was_lost_is_settled_and_ends_cancelled(db, tmp_path):
    """The answer of the cancel is lost and the first lookup fails too: retried later, the lookup
    settles it (cancelled) and nothing fails."""
    faults = Faults()
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, faults=faults) as sim:
        settings = settings_for(sim.url, db.url)
        t = soon()
        load(db, tmp_path, people() + [appointment("a1", t)])
        await drain(db, settings)
        load(db, tmp_path, [appointment("a1", t, status="cancelled")])
        faults.drop_after_commit_rate = faults.get_error_rate = 1.0
        report = await drain(db, settings)
        assert report.retry == 1 and rows(db)["a1"].needs_lookup
        faults.drop_after_commit_rate = faults.get_error_rate = 0.0
        with db.write() as s:
            a = s.get(Appointment, "a1")
            a.next_retry_at = clock.now() - timedelta(seconds=1)
            s.add(a)
            s.commit()
        report = await drain(db, settings)
        assert report.failed == 0 and report.adopted == 1, report.summary()
        assert [b["status"] for b in sim_bookings(sim)] == ["cancelled"]
    assert (rows(db)["a1"].sync_state, rows(db)["a1"].category) == ("cancelled", None)


# --- cleanup of booked past appointments ----------------------------------------------------------


async def test_cleanup_of_booked_past_appointments_makes_no_failures(db, tmp_path):
    """A booked appointment whose move failed, once its start has passed, is cancelled by the cleanup
    job: its old booking has ended, and Cal.com answers the cancel with a bare 400 ``Cannot cancel a
    booking that has already ended``. That is nothing to cancel, not a validation failure."""
    t0 = datetime.now(UTC).replace(second=0, microsecond=0)
    now = [t0]
    clock.freeze(t0)
    try:
        with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, clock=lambda: now[0].timestamp()) as sim:
            settings = settings_for(sim.url, db.url)
            first = t0 + timedelta(hours=1)
            load(db, tmp_path, people() + [appointment("p1", first), appointment("p2", first + timedelta(hours=1))])
            assert (await drain(db, settings)).synced == 2
            uids = {i: r.booking_uid for i, r in rows(db).items()}
            # both are moved to a time the host is busy: the moves fail, the old bookings stand
            moved = first + timedelta(hours=4)
            busy = {"host": "maria", "start": moved.isoformat(), "end": (moved + timedelta(hours=2)).isoformat()}
            assert httpx.post(f"{sim.url}/_sim/busy", json=busy).status_code == 200
            load(db, tmp_path, [appointment("p1", moved), appointment("p2", moved + timedelta(minutes=30))])
            report = await drain(db, settings)
            assert report.failed == 2 and {r.category for r in rows(db).values()} == {"host_conflict"}
            # the day goes by: both starts and both old bookings lie in the past
            now[0] = t0 + timedelta(hours=8)
            clock.freeze(now[0])
            items = cleanup.plan(db, mode="cancel")
            assert sorted(i.id for i in items) == ["p1", "p2"] and all(i.booking_uid for i in items)
            assert cleanup.apply(db, items, mode="cancel", actor="job:cleanup") == 2
            report = await drain(db, settings)
            assert (report.failed, report.cancelled) == (0, 2), report.summary()
            held = {b["uid"]: b["status"] for b in sim_bookings(sim)}
    finally:
        clock.freeze(None)
    assert {i: (r.status, r.sync_state, r.category) for i, r in rows(db).items()} == {
        "p1": ("cancelled", "cancelled", None), "p2": ("cancelled", "cancelled", None)}
    assert held == {uids["p1"]: "accepted", uids["p2"]: "accepted"}  # history, as Cal.com keeps it
    for i in ("p1", "p2"):
        last = attempts(db, i)[-1]
        assert last.outcome == "success"
        assert last.request_summary["nothing_to_cancel"] == "Cannot cancel a booking that has already ended"


# --- phone-only customers -------------------------------------------------------------------------


async def test_a_phone_only_customer_on_a_default_event_type_is_missing_contact_before_any_call(db, tmp_path):
    """Cal.com's default booking fields require an email: a phone alone is refused by the core. So
    pre-flight refuses it without a call, unless the staff member's event types take phone-only
    attendees (the staff import key ``phone_bookings``)."""
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as sim:
        settings = settings_for(sim.url, db.url)
        t = soon()
        load(db, tmp_path, people() + [PAULA, appointment("ben-default", t, customer="c-2"),
                                       appointment("ben-phones", t, customer="c-2", staff="s-4")])
        report = await drain(db, settings)
        assert (report.preflight, report.synced) == (1, 1), report.summary()
        requests = httpx.get(f"{sim.url}/_sim/stats").json()["throttle"]["requests"]
        bookings = sim_bookings(sim)
    ben = rows(db)["ben-default"]
    assert (ben.sync_state, ben.category, ben.attempts, ben.last_http_status) == ("failed", "missing_contact", 0, None)
    assert "requires an email" in ben.last_error and "phone_bookings" in ben.last_error
    assert [a.outcome for a in attempts(db, "ben-default")] == ["preflight"]
    assert requests == 1  # only paula's booking was sent
    assert [b["metadata"]["synconsole_appointment_id"] for b in bookings] == ["ben-phones"]
    assert bookings[0]["attendees"][0]["phoneNumber"] == "+4915112345678"
    assert rows(db)["ben-phones"].sync_state == "synced"


async def test_turning_phone_bookings_on_requeues_the_phone_only_failures(db, tmp_path):
    types = {**EVENT_TYPES, "102": {**EVENT_TYPES["401"], "host": "maria"}}
    with SimulatorServer(api_key=KEY, event_types=types) as sim:
        settings = settings_for(sim.url, db.url)
        load(db, tmp_path, people() + [appointment("ben", soon(), customer="c-2")])
        await drain(db, settings)
        assert rows(db)["ben"].category == "missing_contact"
        maria = next(p for p in people() if p["id"] == "s-2")
        load(db, tmp_path, [{**maria, "phone_bookings": "true"}])
        assert rows(db)["ben"].sync_state == "pending"
        assert (await drain(db, settings)).synced == 1
        assert len(sim_bookings(sim)) == 1


# --- recurring event types ------------------------------------------------------------------------

SERIES_TYPES = {**EVENT_TYPES, "501": {"host": "rita", "length": 30,
                                       "recurringEvent": {"freq": "weekly", "count": 4, "interval": 1}}}
RITA = {"kind": "staff", "id": "s-5", "name": "Rita", "calcom_username": "rita", "event_type_id": 501}


def live_by_appointment(sim) -> dict[str, int]:
    return httpx.get(f"{sim.url}/_sim/bookings").json()["active_by_appointment_id"]


async def test_a_recurring_event_type_books_one_booking_and_cancels_the_rest_of_its_series(db, tmp_path):
    """Cal.com answers a recurring event type's create with the series (``data`` an array). Decided:
    one appointment is one booking; the occurrence at its start is kept, the others are cancelled
    at once, each written to the attempt log: no booking is left that synconsole does not know."""
    with SimulatorServer(api_key=KEY, event_types=SERIES_TYPES) as sim:
        settings = settings_for(sim.url, db.url)
        t = soon()
        load(db, tmp_path, people() + [RITA, appointment("r1", t, staff="s-5")])
        report = await drain(db, settings)
        assert (report.synced, report.failed) == (1, 0), report.summary()
        held = sim_bookings(sim)
        assert live_by_appointment(sim) == {"r1": 1}
    r1 = rows(db)["r1"]
    live = [b for b in held if b["status"] == "accepted"]
    assert len(held) == 4 and [b["uid"] for b in live] == [r1.booking_uid]
    assert clock.parse_utc(live[0]["start"]) == t and r1.sync_state == "synced"
    logged = attempts(db, "r1")
    assert [a.operation for a in logged] == ["create", "cancel", "cancel", "cancel"]
    assert all(a.outcome == "success" for a in logged)
    assert {a.booking_uid for a in logged[1:]} == {b["uid"] for b in held} - {r1.booking_uid}


async def test_a_recurring_create_whose_answer_was_lost_settles_the_whole_series(db, tmp_path):
    with SimulatorServer(api_key=KEY, event_types=SERIES_TYPES, faults=Faults(drop_after_commit_rate=1.0)) as sim:
        settings = settings_for(sim.url, db.url)
        load(db, tmp_path, people() + [RITA, appointment("r1", soon(), staff="s-5")])
        report = await drain(db, settings)
        assert (report.adopted, report.failed) == (1, 0), report.summary()
        assert live_by_appointment(sim) == {"r1": 1}
        assert httpx.get(f"{sim.url}/_sim/bookings").json()["by_appointment_id"] == {"r1": 4}
    assert rows(db)["r1"].sync_state == "synced"


async def test_an_occurrence_that_cannot_be_cancelled_fails_the_appointment_with_its_uid(db, tmp_path):
    faults = Faults()
    with SimulatorServer(api_key=KEY, event_types=SERIES_TYPES, faults=faults) as sim:
        settings = settings_for(sim.url, db.url)
        load(db, tmp_path, people() + [RITA, appointment("r1", soon(), staff="s-5")])
        async with client_for(settings) as client:
            engine = SyncEngine(db, settings, client, worker="w")
            real_cancel = client.cancel_booking
            calls = []

            async def cancel(uid, reason):
                calls.append(uid)
                if len(calls) == 2:  # the second extra occurrence: Cal.com errs
                    from synconsole.calcom.errors import CalcomError
                    raise CalcomError(status=503, message="Service Unavailable")
                return await real_cancel(uid, reason)

            client.cancel_booking = cancel
            report = await engine.drain()
        assert report.failed == 1, report.summary()
        still = [b["uid"] for b in sim_bookings(sim) if b["status"] == "accepted"]
    r1 = rows(db)["r1"]
    assert (r1.sync_state, r1.category) == ("failed", "no_event_type")
    assert calls[1] in r1.last_error and "recurring event type" in r1.last_error
    assert sorted(still) == sorted([r1.booking_uid, calls[1]])  # kept, and the one named in the error


# --- bookings the key cannot list -----------------------------------------------------------------

#: fabian's key: it lists fabian's bookings only (mia's are someone else's, a team's need read rights)
HIDDEN_TYPES = {"101": {"host": "fabian", "length": 30}, "201": {"host": "mia", "length": 30}}
HIDDEN_PEOPLE = [
    {"kind": "staff", "id": "s-f", "name": "Fabian", "calcom_username": "fabian", "event_type_id": 101},
    {"kind": "staff", "id": "s-m", "name": "Mia", "calcom_username": "mia", "event_type_id": 201},
    {"kind": "customer", "id": "c-1", "name": "Anna", "email": "anna@example.com"},
]


def hidden_sim(**kw) -> SimulatorServer:
    return SimulatorServer(api_key=KEY, event_types=HIDDEN_TYPES, key_owner="fabian", team_read=False, **kw)


async def test_moves_and_cancels_in_doubt_settle_by_uid_for_bookings_the_key_cannot_list(db, tmp_path):
    """The list shows fabian's key nothing of mia's; a call in doubt on a booking whose uid is known
    is settled by GET /v2/bookings/{uid}, so it is found all the same, never booked or moved twice."""
    faults = Faults()
    with hidden_sim(faults=faults) as sim:
        settings = settings_for(sim.url, db.url)
        t = soon()
        load(db, tmp_path, HIDDEN_PEOPLE + [appointment("m1", t, staff="s-m"),
                                            appointment("m2", t + timedelta(hours=2), staff="s-m")])
        assert (await drain(db, settings)).synced == 2
        listed = httpx.get(f"{sim.url}/v2/bookings", headers=CAL).json()["data"]
        assert listed == []  # the key sees none of them
        faults.drop_after_commit_rate = 1.0  # every answer of a change is lost
        load(db, tmp_path, [appointment("m1", t + timedelta(hours=1), staff="s-m"),
                            appointment("m2", t + timedelta(hours=2), staff="s-m", status="cancelled")])
        report = await drain(db, settings)
        assert report.failed == 0 and report.rescheduled + report.cancelled == 2, report.summary()
        assert live_by_appointment(sim) == {"m1": 1}
        live = [b for b in sim_bookings(sim) if b["status"] == "accepted"]
    m1 = rows(db)["m1"]
    assert (m1.sync_state, m1.booking_uid) == ("synced", live[0]["uid"])
    assert clock.parse_utc(live[0]["start"]) == t + timedelta(hours=1)
    assert rows(db)["m2"].sync_state == "cancelled"


async def test_reconcile_finds_bookings_the_key_cannot_list_by_uid(db, tmp_path):
    from synconsole.jobs.reconcile import reconcile

    with hidden_sim() as sim:
        settings = settings_for(sim.url, db.url)
        load(db, tmp_path, HIDDEN_PEOPLE + [appointment("m1", soon(), staff="s-m"), appointment("f1", soon(), staff="s-f")])
        async with client_for(settings) as client:
            await SyncEngine(db, settings, client, worker="w").drain()
            report = await reconcile(db, client, actor="job:reconcile")
    assert report.summary() == "2 booked appointments checked, 0 drifted, 0 cleared"


def test_doctor_says_when_the_key_cannot_list_a_hosts_bookings(db_url, tmp_path, run_cli):
    import asyncio

    from synconsole.core.db import open_database

    with hidden_sim() as sim:
        db = open_database(db_url)
        settings = settings_for(sim.url, db_url)
        load(db, tmp_path, HIDDEN_PEOPLE + [appointment("m1", soon(), staff="s-m"), appointment("f1", soon(), staff="s-f")])
        asyncio.run(drain(db, settings))
        mia_uid = rows(db)["m1"].booking_uid
        db.dispose()
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[database]\nurl = "{db_url}"\n[calcom]\nbase_url = "{sim.url}"\napi_key = "{KEY}"\n'
                       f'[logging]\npath = "{tmp_path}/s.log"\n', encoding="utf-8")
        code, out, err = run_cli("doctor", "--config", str(cfg))
    line = next(x for x in out.splitlines() if "cal.com visibility" in x)
    assert line.startswith("[warn] cal.com visibility: the key cannot list the bookings of mia (booking "
                           f"{mia_uid})"), out
    assert "fabian" not in line and "booking-read permission" in line
    assert code == 0 and KEY not in out + err  # a warning: doctor still passes


def test_doctor_is_content_when_the_key_lists_every_host(db_url, tmp_path, run_cli):
    import asyncio

    from synconsole.core.db import open_database

    with SimulatorServer(api_key=KEY, event_types=HIDDEN_TYPES) as sim:
        db = open_database(db_url)
        load(db, tmp_path, HIDDEN_PEOPLE + [appointment("m1", soon(), staff="s-m"), appointment("f1", soon(), staff="s-f")])
        asyncio.run(drain(db, settings_for(sim.url, db_url)))
        db.dispose()
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[database]\nurl = "{db_url}"\n[calcom]\nbase_url = "{sim.url}"\napi_key = "{KEY}"\n'
                       f'[logging]\npath = "{tmp_path}/s.log"\n', encoding="utf-8")
        code, out, _ = run_cli("doctor", "--config", str(cfg))
    assert "[ ok ] cal.com visibility: the key lists the bookings of every host checked (2: fabian, mia)" in out
    assert code == 0


# --- uids Cal.com does not know ---------------------------------------------------------------------


async def test_unknown_uids_fail_a_move_once_as_booking_gone_and_make_a_cancel_a_no_op(db, tmp_path):
    """Reschedule answers 404 ``Booking with uid=… was not found in the database``, cancel 404
    ``Booking with uid=… not found``: not transient errors to retry, as a bare 500 would be."""
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as sim:
        settings = settings_for(sim.url, db.url)
        t = soon()
        load(db, tmp_path, people() + [appointment("u1", t, booking_uid="platformUid000000001"),
                                       appointment("u2", t + timedelta(hours=1), booking_uid="platformUid000000002")])
        load(db, tmp_path, [appointment("u1", t + timedelta(hours=3), booking_uid="platformUid000000001"),
                            appointment("u2", t + timedelta(hours=1), booking_uid="platformUid000000002",
                                        status="cancelled")])
        report = await drain(db, settings)
        assert (report.failed, report.cancelled, report.retry) == (1, 1, 0), report.summary()
        assert sim_bookings(sim) == []
    u1, u2 = rows(db)["u1"], rows(db)["u2"]
    assert (u1.sync_state, u1.category, u1.last_http_status, u1.attempts) == ("failed", "booking_gone", 404, 1)
    assert u1.last_error == "Booking with uid=platformUid000000001 was not found in the database"
    assert (u2.sync_state, u2.category) == ("cancelled", None)
