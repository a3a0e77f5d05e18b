"""Alerts reach the on-call engineer: real receivers on loopback, several workers on one database,
a frozen clock moved by hand."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from synconsole.config import parse_settings
from synconsole.core import alerthistory, clock
from synconsole.core.db import open_database
from synconsole.jobs import housekeeping
from synconsole.notify import outbox
from synconsole.notify.run import deliver_round
from tests import factory
from tests.conftest import NOW
from tests.receivers import JsonReceiver, MailReceiver

FUTURE = NOW + timedelta(days=3)
WORKERS = 3


def _settings(url: str, **target):
    entry = {"name": "oncall", "urls": [url], "alerts": ["outage"], **target}
    return parse_settings({"notify": [entry]})


def _outage(db) -> None:
    """Five transient failures in a row: the outage alert (critical)."""
    with db.session() as s:
        factory.staff(s, "s1")
        factory.customer(s, "c1", email="jane.doe@example.org", phone="+49 170 5550123")
        factory.appointment(s, "a-17", start=FUTURE, sync_state="retry_scheduled")
        for i in range(5):
            factory.attempt(s, "a-17", at=clock.now() - timedelta(minutes=5 - i), outcome="retry", status=502,
                            category="transient")
        s.commit()


def _recover(db) -> None:
    with db.session() as s:
        factory.attempt(s, "a-17", at=clock.now(), outcome="success", status=201)
        s.commit()


def _workers(db_url: str, settings, n: int = WORKERS) -> list[str]:
    """``n`` workers, each with its own connection pool (as separate processes have), evaluating the
    alerts and delivering at the same moment; returns their job results."""
    results: list[str] = [""] * n
    barrier = threading.Barrier(n)

    def work(i: int) -> None:
        db = open_database(db_url)
        try:
            barrier.wait()
            housekeeping.evaluate_alerts(db, settings)
            results[i] = deliver_round(db, settings, worker=f"w{i}")
        finally:
            db.dispose()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def _at(moment) -> None:
    clock.freeze(moment)


def test_one_fired_and_one_resolved_message_with_three_workers(db_url, db, frozen):
    with JsonReceiver() as hook:
        settings = _settings(hook.url)
        _outage(db)
        _workers(db_url, settings)
        assert hook.titles() == ["[synconsole] CRITICAL outage (5)"]
        body = hook.posts[0]["message"]
        assert "5 transient failures" in body or "outage" in body.lower()
        assert "count: 5" in body
        assert 'look: synconsole list --filter "state:retry_scheduled"' in body
        assert "synconsole alerts ack outage" in body
        assert "jane.doe" not in body and "5550123" not in body
        _workers(db_url, settings)  # nothing new: nothing sent again
        assert len(hook.posts) == 1
        _at(NOW + timedelta(minutes=12))
        _recover(db)
        _workers(db_url, settings)
        assert hook.titles() == ["[synconsole] CRITICAL outage (5)", "[synconsole] RESOLVED outage after 12 min"]
        assert "resolved after 12 min" in hook.posts[1]["message"]
    with db.session() as s:
        from sqlmodel import select

        from synconsole.core.models import NotifyOutbox

        rows = list(s.exec(select(NotifyOutbox)))
    assert [(r.kind, r.status, r.attempts) for r in rows] == [("fired", "sent", 1), ("resolved", "sent", 1)]


def test_mailto_reaches_a_real_smtp_server(db_url, db, frozen):
    with MailReceiver() as smtp:
        settings = _settings(f"mailto://127.0.0.1:{smtp.port}?from=synconsole@example.org&to=oncall@example.org")
        _outage(db)
        _workers(db_url, settings)
        assert len(smtp.messages) == 1, smtp.messages
        mail = smtp.messages[0]
        assert mail["to"] == ["oncall@example.org"]
        assert "CRITICAL outage (5)" in mail["data"]
        assert "jane.doe" not in mail["data"]


def test_a_flapping_alert_is_throttled(db, frozen):
    with JsonReceiver() as hook:
        settings = _settings(hook.url, throttle_minutes=15)
        _outage(db)
        for minutes in (0, 3, 6, 9):  # fire, resolve, fire, resolve within the 15 minutes
            _at(NOW + timedelta(minutes=minutes))
            if minutes in (3, 9):
                _recover(db)
            elif minutes:
                with db.session() as s:
                    for i in range(5):
                        factory.attempt(s, "a-17", at=clock.now() - timedelta(seconds=50 - i), outcome="retry",
                                        status=502, category="transient")
                    s.commit()
            housekeeping.evaluate_alerts(db, settings)
            deliver_round(db, settings, worker="w0")
        assert hook.titles() == ["[synconsole] CRITICAL outage (5)", "[synconsole] RESOLVED outage after 3 min"]
        with db.session() as s:
            assert len(alerthistory.episodes(s)) == 2  # it did fire twice: only the message was held back


def test_unacknowledged_critical_escalates_and_ack_stops_it(db, frozen):
    with JsonReceiver() as hook:
        settings = _settings(hook.url)
        _outage(db)
        for minutes in (0, 10, 31, 45, 61):
            _at(NOW + timedelta(minutes=minutes))
            housekeeping.evaluate_alerts(db, settings)
            deliver_round(db, settings, worker="w0")
        assert hook.titles() == [
            "[synconsole] CRITICAL outage (5)",
            "[synconsole] CRITICAL outage still active, unacknowledged for 30 min",
            "[synconsole] CRITICAL outage still active, unacknowledged for 60 min",
        ]
        alerthistory.acknowledge(db, "outage", actor="ops@host", note="Cal.com status page: incident")
        _at(NOW + timedelta(minutes=125))
        housekeeping.evaluate_alerts(db, settings)
        deliver_round(db, settings, worker="w0")
        assert len(hook.posts) == 3  # acknowledged: the 120 min mark does not page anyone


def test_a_receiver_that_is_down_is_retried_with_backoff(db, frozen):
    with JsonReceiver() as hook:
        hook.down = True
        settings = _settings(hook.url)
        _outage(db)
        housekeeping.evaluate_alerts(db, settings)
        result = deliver_round(db, settings, worker="w0")
        assert hook.refused >= 1 and hook.posts == []
        assert "1 retrying" in result and "oncall" in result  # what the jobs screen shows
        assert str(hook.port) in result and "hook" not in result.split("oncall", 1)[1].split(")")[0].replace(
            "/***", "")
        _at(NOW + timedelta(seconds=10))  # before the backoff: no second try
        refused = hook.refused
        deliver_round(db, settings, worker="w0")
        assert hook.refused == refused
        hook.down = False
        _at(NOW + timedelta(seconds=31))
        deliver_round(db, settings, worker="w0")
        assert hook.titles() == ["[synconsole] CRITICAL outage (5)"]
    with db.session() as s:
        from sqlmodel import select

        from synconsole.core.models import NotifyOutbox

        (row,) = s.exec(select(NotifyOutbox))
        assert (row.status, row.attempts) == ("sent", 2)


def test_backoff_doubles_up_to_an_hour():
    assert [outbox.backoff(n).total_seconds() for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]


@pytest.mark.parametrize("url, shown", [
    ("slack://T1234/B5678/abcdefSECRET", "slack://***"),
    ("mailto://bob:SMTPpass@mail.example.org?to=oncall@example.org", "mailto://bob:***@mail.example.org/***"),
    ("json://127.0.0.1:8080/hook?token=SECRET", "json://127.0.0.1:8080/***"),
])
def test_target_urls_are_masked(url, shown):
    target = parse_settings({"notify": [{"urls": [url]}]}).notify[0]
    assert target.masked_urls == (shown,)
    assert "SECRET" not in repr(target) and "SMTPpass" not in repr(target)


def test_a_target_with_accounts_hears_of_its_accounts_and_of_alerts_about_none(db, frozen):
    """Two tenants' on-call channels: a refused key of acme reaches acme's channel only; an outage
    (about no account in particular) reaches both."""
    from synconsole.core import accounts

    with JsonReceiver() as acme, JsonReceiver() as globex:
        settings = parse_settings({"notify": [
            {"name": "acme", "urls": [acme.url], "alerts": ["auth_failure", "outage"], "accounts": ["acme"]},
            {"name": "globex", "urls": [globex.url], "alerts": ["auth_failure", "outage"], "accounts": ["globex"]},
        ]})
        accounts.pause(db, "acme", actor="test", reason=f"{accounts.AUTH_PAUSE}: Cal.com refused the key (401)")
        housekeeping.evaluate_alerts(db, settings)
        deliver_round(db, settings, worker="w0")
        assert [t.split(" (")[0] for t in acme.titles()] == ["[synconsole] CRITICAL auth_failure"]
        assert "acme" in acme.posts[0]["message"] and globex.titles() == []
        _outage(db)
        housekeeping.evaluate_alerts(db, settings)
        deliver_round(db, settings, worker="w0")
        assert [t.split(" (")[0] for t in globex.titles()] == ["[synconsole] CRITICAL outage"]
        assert [t.split(" (")[0] for t in acme.titles()][-1] == "[synconsole] CRITICAL outage"
        accounts.resume(db, "acme", actor="test")
        _at(NOW + timedelta(minutes=5))
        housekeeping.evaluate_alerts(db, settings)
        deliver_round(db, settings, worker="w0")
        assert acme.titles()[-1] == "[synconsole] RESOLVED auth_failure after 5 min"
        assert not any("auth_failure" in t for t in globex.titles())
