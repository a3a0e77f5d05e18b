"""Each category carries what the sync does with it, and that agrees with its disposition: an
auto-retry category is retried by the sync, not planned "retried automatically" and then failed."""

from __future__ import annotations

from sqlmodel import select

from synconsole.core import categories as cats
from synconsole.core.categories import AUTO_RETRY, MANUAL, TRANSIENT, Category
from synconsole.core.models import Appointment
from synconsole.core.remediation import plan
from synconsole.jobs.sync import SyncEngine

from tests.engine.helpers import appointment, client_for, load, people, settings_for, soon
from tests.hostile.server import Answer, HostileServer, default_route


def test_every_categorys_retry_matches_its_disposition():
    for c in cats.CATEGORIES.values():
        assert c.retry in (cats.RETRY_BACKOFF, cats.RETRY_AFTER_RESET, cats.RETRY_WHEN_UNPAUSED, cats.RETRY_NEVER), c
        assert c.retried == (c.disposition == AUTO_RETRY), c.id
        if c.pauses_sync:
            assert c.disposition == MANUAL, c.id  # held until a person fixes the cause
    assert cats.get("rate_limited").retry == cats.RETRY_AFTER_RESET
    assert cats.get("transient").retry == cats.RETRY_BACKOFF
    assert cats.get("auth").pauses_sync


def test_every_category_has_a_human_action_and_a_command_that_fit_its_disposition():
    for c in cats.CATEGORIES.values():
        assert c.human_action in cats.ACTION_COMMANDS, c.id
        assert "{id}" in c.command and "a1" in c.command_for("a1") and "{" not in c.command_for("a1"), c.id
        if c.disposition == AUTO_RETRY:
            assert c.human_action == cats.RETRY, c.id
        if c.disposition == cats.AUTO_CLEANUP:
            assert c.human_action == cats.CANCEL, c.id
        if c.cured_by == cats.CURED_BY_CONTACT:  # auto_backfill_email makes it automatic
            assert c.human_action == cats.BACKFILL, c.id
        if c.human_action == cats.RESCHEDULE_OR_CANCEL:
            assert c.reschedulable, c.id
        verbs = {cats.RETRY: ["retry"], cats.CANCEL: ["cancel"], cats.BACKFILL: ["backfill-email"],
                 cats.ASSIGN_STAFF: ["assign-staff", "cancel"], cats.FIX_CONFIG: ["retry"],
                 cats.RESCHEDULE_OR_CANCEL: ["reschedule", "cancel"], cats.INVESTIGATE: ["show"]}
        for verb in verbs[c.human_action]:
            assert f"synconsole {verb} {{id}}" in c.command, (c.id, verb)
        for fix in c.fixes:
            assert fix in (cats.BACKFILL, cats.ASSIGN_STAFF), c.id
    assert cats.disposition("missing_contact", auto_backfill_email=True) == cats.AUTO_FIX
    assert cats.cured_by(cats.CURED_BY_STAFF) == ("missing_staff", "no_event_type")
    assert [c.id for c in cats.CATEGORIES.values() if c.reschedulable] == ["host_conflict", "outside_booking_window"]


def test_a_cancel_is_done_only_where_cal_com_holds_nothing_to_cancel():
    assert [c.id for c in cats.CATEGORIES.values() if c.cancel_done] == ["past_appointment", "booking_gone"]


async def test_a_new_auto_retry_category_is_retried_by_the_sync(db, tmp_path, monkeypatch):
    hiccup = Category("gateway_hiccup", TRANSIENT, AUTO_RETRY, "Gateway hiccup", "The proxy in front of Cal.com "
                      "answered that it was restarting.", "Nothing: retried automatically.")
    monkeypatch.setitem(cats.CATEGORIES, hiccup.id, hiccup)

    def route(method: str, path: str, body: bytes = b""):
        if method == "POST" and path.startswith("/v2/bookings"):
            return Answer(400, b'{"statusCode":400,"message":"upstream restarting, try again"}')
        return default_route(method, path, body)

    server = HostileServer(route).start()
    try:
        settings = settings_for(server.url, db.url,
                                categories={"rules": [{"message": "upstream restarting", "category": hiccup.id}]})
        load(db, tmp_path, people() + [appointment("a1", soon())])
        async with client_for(settings) as client:
            await SyncEngine(db, settings, client, worker="w").run_once()
    finally:
        server.stop()
    with db.session() as s:
        row = s.exec(select(Appointment).where(Appointment.id == "a1")).one()
        assert (row.category, row.sync_state) == (hiccup.id, "retry_scheduled")
        assert plan(s, settings) == []  # nothing for a person: the sync has it
