"""Live sources against a real MariaDB (the seed platform's Laravel/MySQL kind) and a real
PostgreSQL: what the platform writes reaches Cal.com through `sources poll` and `sync --once`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.lifecycle.conftest import start_at

pytestmark = pytest.mark.mariadb


def _start(days: int = 3, hour: int = 10) -> datetime:
    return start_at(days=days, hour=hour)


def test_new_moved_reassigned_and_soft_deleted_appointments_reach_calcom(on_mariadb):
    p = on_mariadb.platform
    fabian = p.add_staff("Fabian", "fabian", 101)
    maria = p.add_staff("Maria", "maria", 102)
    anna = p.add_customer("Anna", email="anna@example.com")
    new = p.book(anna, fabian, _start())
    moved = p.book(anna, fabian, _start(hour=12))
    reassigned = p.book(anna, fabian, _start(hour=14))
    deleted = p.book(anna, fabian, _start(hour=16))
    on_mariadb.poll_and_sync()
    assert all(len(on_mariadb.active(i)) == 1 for i in (new, moved, reassigned, deleted))

    p.move(moved, _start(days=4, hour=9))
    p.reassign(reassigned, maria)
    p.soft_delete(deleted)
    on_mariadb.poll_and_sync()

    assert on_mariadb.only_booking(new)["hosts"][0]["username"] == "fabian"
    assert on_mariadb.only_booking(moved)["start"].startswith(_start(days=4, hour=9).strftime("%Y-%m-%dT%H:%M"))
    assert on_mariadb.only_booking(reassigned)["hosts"][0]["username"] == "maria"
    assert on_mariadb.active(deleted) == []


def test_a_postgresql_source_reaches_calcom(on_postgres):
    p = on_postgres.platform
    fabian = p.add_staff("Fabian", "fabian", 101)
    ben = p.add_customer("Ben", email="ben@example.com", phone="+4915112345678")
    ident = p.book(ben, fabian, _start())
    on_postgres.poll_and_sync()
    assert on_postgres.only_booking(ident)["attendees"][0]["email"] == "ben@example.com"


def test_bad_rows_are_reported_once_and_the_good_ones_land(on_mariadb):
    p = on_mariadb.platform
    fabian = p.add_staff("Fabian", "fabian", 101)
    anna = p.add_customer("Anna", email="anna@example.com")
    good = p.book(anna, fabian, _start())
    unknown_staff = p.book(anna, "no-such-staff", _start(hour=11))
    backwards = p.book(anna, fabian, _start(hour=12), minutes=-30)  # ends before it starts
    _, out, _ = on_mariadb.cli("sources", "poll", "platform")
    assert "2 bad" in out
    on_mariadb.cli("sources", "poll", "platform")  # the overlap re-reads them: not reported again
    on_mariadb.cli("sync", "--once")
    assert len(on_mariadb.active(good)) == 1
    _, out, _ = on_mariadb.cli("sources", "--json")
    import json

    (doc,) = json.loads(out)
    assert doc["bad_rows"] == 2 and doc["state"] == "ok"
    log = (on_mariadb.config.parent / "synconsole.log").read_text()
    assert log.count("bad row from source") == 2
    assert unknown_staff in log and backwards in log and "duration_minutes" in log


def test_sources_test_shows_mapped_rows_masked_and_problems_and_changes_nothing(on_mariadb):
    p = on_mariadb.platform
    fabian = p.add_staff("Fabian", "fabian", 101)
    anna = p.add_customer("Anna", email="anna@example.com")
    p.book(anna, fabian, _start())
    p.book(anna, fabian, _start(hour=12), minutes=-30)
    code, out, _ = on_mariadb.cli("sources", "test", "platform", expect=1)
    assert '"email": "a***@example.com"' in out and "anna@example.com" not in out
    assert "problem, row" in out and "duration_minutes" in out and "nothing was changed" in out
    _, status, _ = on_mariadb.cli("status", "--json")
    assert '"pending": 0' in status


def test_the_source_password_is_never_shown(on_mariadb):
    on_mariadb.platform.run("DROP TABLE appointments")  # every poll fails now
    code, out, err = on_mariadb.cli("sources", "poll", "platform", expect=1)
    password = on_mariadb.platform.url.split(":")[2].split("@")[0]
    _, listing, _ = on_mariadb.cli("sources")
    log = (on_mariadb.config.parent / "synconsole.log").read_text()
    assert "appointments" in out and "failing" in listing
    assert password not in out + err + listing + log
