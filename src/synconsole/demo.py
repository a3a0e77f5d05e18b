"""``synconsole demo``: the seed's afternoon, replayed on a temporary SQLite database against the
built-in Cal.com simulator, with the jobs running so the queue moves while you watch.

The incident (the seed's numbers: 23 failed syncs): 11 past appointments that failed days ago, 8
appointments of anonymous callers without email (7 customers), 2 appointments without staff, one
host booked twice at one time under two staff records, and one failure nobody recognises (an HTML
error page from a proxy); besides, 25 appointments stuck in pending for two hours (the seed's lost
dispatch event), 120 bookings made before (in Cal.com too), new appointments trickling in, and a
short Cal.com outage that recovers.

The jobs alone do what needs no judgement: the sync books the stuck ones, the cleanup job cancels
the past ones and, since the demo turns ``[remediation] auto_backfill_email`` on (the seed's own
practice), gives the anonymous callers a placeholder email, after which they book. What is left is
for a human: the appointments without staff, the host conflict, the unknown error.

A snapshot of the metrics is stored once the incident is classified (every appointment of the
scenario tried once), so the report reads "23 -> N".
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from synconsole.simulator import Faults, SimulatorServer
from synconsole.simulator.events import DEMO_EVENT_TYPES
from synconsole.config import Settings
from synconsole.core import clock
from synconsole.core.classify import fingerprint
from synconsole.core.db import Database, open_database
from synconsole.core.importer import import_file
from synconsole.core.models import IN_FLIGHT, PENDING, SCHEDULED, Appointment, SyncAttempt

API_KEY = "cal_demo_4f1d2c"
#: the demo's Cal.com webhook secret (the simulator signs with it, the demo's server checks it)
WEBHOOK_SECRET = "whsec_demo_7a3e"
BERLIN = ZoneInfo("Europe/Berlin")
PAST_IDS = ["661", "662", "663", "664", "667", "673", "676", "700", "703", "705", "708", "735"][:11]
#: what the demo says on screen when it opens
NOTICE = ("demo: [remediation] auto_backfill_email is on, as in the seed: the cleanup job (about 20 s in) "
          "cancels the past appointments and gives anonymous callers a placeholder email")


@dataclass(frozen=True)
class Timeline:
    """When things happen, in seconds from the start (tests compress it)."""

    outage_after_s: float = 35.0
    outage_for_s: float = 20.0
    cleanup_interval_s: float = 20.0
    trickle_every_s: tuple[float, float] = (5.0, 9.0)
    #: a host cancels one booking in Cal.com itself; its webhook makes it drift in the console
    host_cancel_after_s: float = 75.0


@dataclass
class Demo:
    folder: Path
    db: Database
    settings: Settings
    simulator: SimulatorServer
    config_path: Path
    _stop: threading.Event
    #: set once the incident's snapshot is stored (the "before" of the report)
    classified: threading.Event = field(default_factory=threading.Event)
    temporary: bool = False
    #: the built-in receiver the demo's [[notify]] target points at
    inbox: Any = None
    #: the HTTP face (server.run.InThread) the simulator posts its webhooks to
    http: Any = None

    def close(self, *, keep: bool = True) -> None:
        """Stop the simulator and the threads; without ``keep`` a temporary folder is removed."""
        self._stop.set()
        self.simulator.stop()
        if self.http is not None:
            self.http.stop()
        if self.inbox is not None:
            self.inbox.stop()
        self.db.dispose()
        if self.temporary and not keep:
            shutil.rmtree(self.folder, ignore_errors=True)


class Slots:
    """Free half-hours inside the simulator's working hours (Mon-Sat 08-20 Berlin), per host."""

    def __init__(self, start: datetime) -> None:
        self.cursor = {}
        self.start = start

    def next(self, host: str, minutes: int = 30) -> datetime:
        t = self.cursor.get(host) or self._day_start(self.start.astimezone(BERLIN) + timedelta(days=1))
        while True:
            local = t.astimezone(BERLIN)
            end = local + timedelta(minutes=minutes)
            if local.weekday() == 6 or local.hour < 9 or end.hour > 18 or (end.hour == 18 and end.minute > 0):
                t = self._day_start(local + timedelta(days=1))
                continue
            self.cursor[host] = t + timedelta(minutes=minutes)
            return t.astimezone(UTC)

    @staticmethod
    def _day_start(local: datetime) -> datetime:
        return local.replace(hour=9, minute=0, second=0, microsecond=0)


def _rows(now: datetime, rng: random.Random) -> tuple[list[dict], dict]:
    rows: list[dict] = [
        {"kind": "staff", "id": "s-1", "name": "Fabian Spitzer", "calcom_username": "fabian", "event_type_id": 101,
         "time_zone": "Europe/Berlin"},
        {"kind": "staff", "id": "s-1b", "name": "Fabian Spitzer (2nd record)", "calcom_username": "fabian",
         "event_type_id": 101, "time_zone": "Europe/Berlin"},
        {"kind": "staff", "id": "s-2", "name": "Mia Krause", "calcom_username": "mia", "event_type_id": 201,
         "time_zone": "Europe/Berlin"},
    ]
    first_names = ["Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hannah", "Ida", "Jan", "Karl", "Lena",
                   "Marie", "Noah", "Olga", "Paul", "Rosa", "Sven", "Tina", "Uwe"]
    for i in range(60):
        name = f"{first_names[i % 20]} {['Becker', 'Schmidt', 'Wagner', 'Koch'][i % 4]}"
        rows.append({"kind": "customer", "id": str(900 + i), "name": name,
                     "email": f"{name.split()[0].lower()}.{i}@example.com", "time_zone": "Europe/Berlin"})
    for i in range(8):  # the phone agent's anonymous callers: no email, no usable phone
        stamp = int(now.timestamp()) - rng.randrange(86400 * 3)
        rows.append({"kind": "customer", "id": str(1010 + i), "name": f"Caller {1010 + i}",
                     "phone": f"anonymous_{stamp}_{rng.getrandbits(24):06x}", "time_zone": "Europe/Berlin"})
    rows.append({"kind": "customer", "id": "1030", "name": "Petra Phone", "phone": "+4915112345678",
                 "time_zone": "Europe/Berlin"})

    slots = Slots(now)
    appointments: list[dict] = []
    history: dict = {"synced": [], "past": [], "ids": []}

    def appt(appt_id: str, start: datetime, *, staff: str | None, customer: str, minutes: int = 30, **kw) -> dict:
        row = {"kind": "appointment", "id": appt_id, "customer_id": customer, "staff_id": staff,
               "start": start.isoformat(), "duration_minutes": minutes, "time_zone": "Europe/Berlin", **kw}
        appointments.append(row)
        history["ids"].append(appt_id)
        return row

    # a healthy base, booked before (in Cal.com too: see _prebook)
    for i in range(120):
        host, staff, minutes = (("mia", "s-2", 60) if i % 3 == 0 else ("fabian", "s-1", 30))
        row = appt(str(300 + i), slots.next(host, minutes), staff=staff, customer=str(900 + i % 60),
                   minutes=minutes, booking_uid=f"demo{300 + i:05d}")
        history["synced"].append(row)
    # 11 past appointments that failed days ago (the cleanup job cancels them)
    for n, appt_id in enumerate(PAST_IDS):
        start = (now - timedelta(days=12 - n // 2)).astimezone(BERLIN).replace(hour=10 + n % 6, minute=0,
                                                                               second=0, microsecond=0)
        appt(appt_id, start.astimezone(UTC), staff="s-1", customer=str(900 + n))
        history["past"].append(appt_id)
    # #748 and #763: one anonymous caller (1013), as in the seed; #760-#766: the other callers
    appt("748", slots.next("fabian"), staff="s-1", customer="1013")
    # #749: an error nobody recognises
    appt("749", slots.next("fabian"), staff="s-1", customer="907")
    # #750/#751: one host under two staff records, same time
    t750 = slots.next("fabian")
    appt("750", t750, staff="s-1", customer="908")
    appt("751", t750, staff="s-1b", customer="909")
    # anonymous callers without email (the cleanup job gives them a placeholder email)
    for i in range(7):
        appt(str(760 + i), slots.next("mia", 60), staff="s-2", customer=str(1010 + i), minutes=60)
    # 25 appointments stuck in pending for two hours: the removed dispatch event of the seed
    for i in range(25):
        host, staff, minutes = (("mia", "s-2", 60) if i % 2 else ("fabian", "s-1", 30))
        appt(str(800 + i), slots.next(host, minutes), staff=staff, customer=str(920 + i % 30), minutes=minutes,
             created_at=(now - timedelta(hours=2)).isoformat())
    # #740, #741: no staff; on a day when either stylist is free, so assigning one books cleanly
    free_day = max(slots.next("mia", 60), slots.next("fabian")).astimezone(BERLIN) + timedelta(days=1)
    while free_day.weekday() == 6:
        free_day += timedelta(days=1)
    for appt_id, hour in (("740", 10), ("741", 14)):
        start = free_day.replace(hour=hour, minute=0, second=0, microsecond=0).astimezone(UTC)
        appt(appt_id, start, staff=None, customer=str(905 + int(appt_id) - 740))
    return rows + appointments, history


def _history(db: Database, history: dict, now: datetime, rng: random.Random) -> None:
    """Attempts and failure states the import cannot express: the afternoon so far."""
    import sqlalchemy as sa

    t = Appointment.__table__
    past_msg = "Attempting to book a meeting in the past."
    with db.write() as session:
        for n, row in enumerate(history["synced"]):
            # a third booked within the last day, the rest earlier in the week
            at = now - timedelta(minutes=rng.randrange(60, 60 * 23) if n % 3 == 0 else rng.randrange(60 * 25, 60 * 120))
            session.add(SyncAttempt(appointment_id=row["id"], at=at, worker="demo-history", outcome="success",
                                    http_status=201, duration_ms=rng.randrange(120, 900),
                                    booking_uid=row["booking_uid"]))
            session.execute(sa.update(t).where(t.c.id == row["id"]).values(attempts=1, last_attempt_at=at,
                                                                            synced_at=at))
        for n, appt_id in enumerate(history["past"]):
            first = now - timedelta(days=6 - n // 3, hours=n)
            at = now - timedelta(hours=3 + n)  # the old system kept retrying them, hourly
            body = json.dumps({"statusCode": 400, "message": past_msg})
            for when in (first, at):
                session.add(SyncAttempt(appointment_id=appt_id, at=when, worker="demo-history", outcome="failed",
                                        http_status=400, error_message=past_msg, error_body=body,
                                        category="past_appointment"))
            session.execute(sa.update(t).where(t.c.id == appt_id).values(
                sync_state="failed", category="past_appointment", attempts=2, last_attempt_at=at, first_failed_at=first,
                last_error=past_msg, last_http_status=400, fingerprint=fingerprint("past_appointment", 400, past_msg)))
        weird = ("<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<center><h1>502 Bad Gateway</h1></center>\n"
                 "<p>upstream sent invalid header while reading response header from upstream, client: 10.0.3.7, "
                 "server: api.cal.com, request: \"POST /v2/bookings HTTP/1.1\", upstream: "
                 "\"http://10.0.8.12:3003/v2/bookings\", host: \"api.cal.com\"</p>\n"
                 "<hr><center>nginx</center>\n</body>\n</html>\n")
        msg = "Unexpected response from booking core: upstream header invalid"
        first = now - timedelta(hours=32)
        for at in (first, now - timedelta(hours=18), now - timedelta(hours=5)):
            session.add(SyncAttempt(appointment_id="749", at=at, worker="demo-history", outcome="failed",
                                    http_status=422, error_message=msg, error_body=weird, category="unknown"))
        session.execute(sa.update(t).where(t.c.id == "749").values(
            sync_state="failed", category="unknown", attempts=3, last_attempt_at=now - timedelta(hours=5),
            first_failed_at=first, last_error=msg, last_http_status=422, fingerprint=fingerprint("unknown", 422, msg)))
        stuck_since = now - timedelta(hours=2)
        session.execute(sa.update(t).where(t.c.id.in_([str(800 + i) for i in range(25)])).values(queued_at=stuck_since))
        session.commit()


def _prebook(simulator: SimulatorServer, history: dict, rows: list[dict], now: datetime) -> None:
    """The bookings made before the afternoon exist in Cal.com: same uid, same time, our metadata,
    so the reconcile job finds them and the free slots Cal.com offers are free."""
    sim = simulator.state
    emails = {r["id"]: (r.get("name", ""), r.get("email")) for r in rows if r["kind"] == "customer"}
    for row in history["synced"]:
        et = sim.event_types[201 if row["staff_id"] == "s-2" else 101]
        start = clock.parse_utc(row["start"])
        name, email = emails[row["customer_id"]]
        sim.store.add(dict(
            event_type=et, hosts=et.hosts, start=start, end=start + timedelta(minutes=et.length),
            attendee={"name": name, "email": email, "timeZone": "Europe/Berlin"},
            metadata={"synconsole_appointment_id": row["id"]}, created_at=now - timedelta(days=2),
            updated_at=now - timedelta(days=2),
            booking_fields_responses={"name": name, "email": email},
        ), uid=row["booking_uid"])


def _webhooks(simulator: SimulatorServer, settings: Settings, db: Database):
    """The HTTP face on a free port, and the simulator's webhook subscription pointing at it."""
    from synconsole.simulator.webhooks import Subscriber
    from synconsole.server.run import InThread

    http = InThread(settings, db, host="127.0.0.1", port=0).start()
    simulator.state.subscriber = Subscriber(f"{http.url}/webhooks/calcom", WEBHOOK_SECRET)
    return http


def _host_cancels(simulator: SimulatorServer, history: dict, stop: threading.Event, after_s: float) -> None:
    """A host cancels a booking in Cal.com (not through synconsole): the webhook shows it as drift."""
    if stop.wait(after_s):
        return
    import httpx

    for row in history["synced"]:
        booking = simulator.state.store.bookings.get(row["booking_uid"])
        if booking is not None and booking.status == "accepted" and booking.start > clock.now():
            try:
                httpx.post(f"{simulator.url}/_sim/bookings/{booking.uid}/cancel",
                           json={"reason": "the host is ill"}, timeout=5)
            except httpx.HTTPError:
                pass
            return


def _snapshot_when_classified(db: Database, settings: Settings, ids: list[str], stop: threading.Event,
                              done: threading.Event) -> None:
    """Store the metrics once every appointment of the scenario has been tried (the incident as
    the seed counted it): the report's "before"."""
    import sqlalchemy as sa

    from synconsole.jobs.housekeeping import take_snapshot

    a = Appointment.__table__.c
    waiting = sa.select(sa.func.count()).where(a.id.in_(ids), a.status == SCHEDULED,
                                               a.sync_state.in_((PENDING, IN_FLIGHT)))
    while not stop.wait(0.2):
        try:
            with db.session() as session:
                if session.execute(waiting).scalar_one():
                    continue
            take_snapshot(db, settings)
        except Exception:  # a locked moment: try again
            continue
        done.set()
        return


def settings_for(folder: Path, url: str, db_url: str, timeline: Timeline = Timeline(),
                 notify_url: str | None = None) -> tuple[Settings, Path]:
    notify = (f"""[[notify]]
# the demo's on-call engineer: a built-in receiver writing to notifications.log
name = "demo-oncall"
urls = ["{notify_url}"]
min_severity = "warning"
""" if notify_url else "")
    text = f"""# written by `synconsole demo`
[database]
url = "{db_url}"
[calcom]
base_url = "{url}"
api_key = "{API_KEY}"
rate_limit_per_minute = 600
max_concurrency = 4
timeout_s = 5.0
[sync]
batch_size = 20
backoff_base_s = 4.0
backoff_max_s = 30.0
[jobs]
sync_interval_s = 2.0
cleanup_interval_s = {timeline.cleanup_interval_s}
alerts_interval_s = 5.0
snapshot_interval_s = 60.0
reconcile_interval_s = 120.0
[remediation]
# the seed's own practice for anonymous callers; the cleanup job applies it
auto_backfill_email = true
[logging]
path = "{folder / 'synconsole.log'}"
[ui]
refresh_interval_s = 1.0
[server]
webhook_secret = "{WEBHOOK_SECRET}"
{notify}"""
    path = folder / "synconsole.toml"
    path.write_text(text)
    from synconsole.config import load_settings

    return load_settings(path, env={}), path


def _trickle(db: Database, folder: Path, stop: threading.Event, rng: random.Random, every: tuple[float, float]) -> None:
    """The booking platform keeps writing appointments: one every few seconds."""
    slots = Slots(clock.now() + timedelta(days=20))
    n = 0
    while not stop.wait(rng.uniform(*every)):
        n += 1
        host, staff, minutes = (("mia", "s-2", 60) if n % 2 else ("fabian", "s-1", 30))
        row = {"kind": "appointment", "id": str(2000 + n), "customer_id": str(900 + rng.randrange(60)),
               "staff_id": staff, "start": slots.next(host, minutes).isoformat(), "duration_minutes": minutes,
               "time_zone": "Europe/Berlin"}
        path = folder / "trickle.ndjson"
        path.write_text(json.dumps(row) + "\n")
        try:
            import_file(db, path)
        except Exception:  # the demo goes on; a locked moment is not worth a traceback
            continue


def start(folder: Path | None = None, *, seed: int = 7, timeline: Timeline = Timeline()) -> Demo:
    temporary = folder is None
    folder = folder or Path(tempfile.mkdtemp(prefix="synconsole-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    now = clock.now()
    rows, history = _rows(now, rng)
    outage_start = time.time() + timeline.outage_after_s
    faults = Faults(latency_s=0.12, outages=[(outage_start, outage_start + timeline.outage_for_s)], seed=seed)
    simulator = SimulatorServer(api_key=API_KEY, event_types=DEMO_EVENT_TYPES, faults=faults, rate_limit=600).start()
    _prebook(simulator, history, rows, now)
    db_url = f"sqlite:///{folder / 'demo.db'}"
    from synconsole.notify.inbox import Inbox

    inbox = Inbox(folder / "notifications.log")
    settings, config_path = settings_for(folder, simulator.url, db_url, timeline, notify_url=inbox.url)
    db = open_database(db_url)
    data = folder / "scenario.ndjson"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = import_file(db, data, now=now)
    if not result.ok:  # the scenario is ours: a bad row is a bug, say so plainly
        raise RuntimeError(f"demo scenario did not import cleanly: {result.summary()}")
    _history(db, history, now, rng)
    stop = threading.Event()
    demo = Demo(folder, db, settings, simulator, config_path, stop, temporary=temporary, inbox=inbox)
    demo.http = _webhooks(simulator, settings, db)
    threading.Thread(target=_host_cancels, args=(simulator, history, stop, timeline.host_cancel_after_s),
                     daemon=True, name="demo-host-cancels").start()
    threading.Thread(target=_trickle, args=(db, folder, stop, rng, timeline.trickle_every_s), daemon=True,
                     name="demo-trickle").start()
    threading.Thread(target=_snapshot_when_classified, args=(db, settings, history["ids"], stop, demo.classified),
                     daemon=True, name="demo-snapshot").start()
    return demo
