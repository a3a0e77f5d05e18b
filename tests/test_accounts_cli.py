"""Several Cal.com accounts as the user sees them: `doctor` checks each one by id (never its key),
`status` and `status --json` show each account's budget use and whether it is paused, and so does
the console's health bar."""

from __future__ import annotations

import json

from synconsole.simulator import SimulatorServer
from synconsole.config import parse_settings
from synconsole.core import accounts, metrics
from synconsole.core.budget import SharedBudget
from synconsole.core.db import open_database

from tests.conftest import write

GOOD, ACME, WRONG = "cal_live_good_default_key", "cal_live_good_acme_key", "cal_live_revoked_acme_key"


def _config(tmp_path, db_url, default_url, acme_url, acme_key):
    return write(tmp_path / "c.toml", f'[database]\nurl = "{db_url}"\n[calcom]\nbase_url = "{default_url}"\n'
                                      f'api_key = "{GOOD}"\n[logging]\npath = "{tmp_path}/s.log"\n'
                                      f'[[calcom.accounts]]\nid = "acme"\nbase_url = "{acme_url}"\n'
                                      f'api_key = "{acme_key}"\nrate_limit_per_minute = 60\n')


def test_doctor_checks_every_account_by_id(tmp_path, run_cli, sqlite_url):
    with SimulatorServer(api_key=GOOD) as sim, SimulatorServer(api_key=ACME) as acme:
        for key, expected, code in ((ACME, f"[ ok ] cal.com acme: {acme.url} reachable, key accepted (", 0),
                                    (WRONG, f"[fail] cal.com acme: {acme.url} refused the key (HTTP 401)", 1)):
            cfg = _config(tmp_path, sqlite_url, sim.url, acme.url, key)
            got, out, err = run_cli("doctor", "--config", str(cfg))
            assert f"[ ok ] cal.com: {sim.url} reachable, key accepted (" in out  # the default account
            assert "[ ok ] cal.com key acme: present (cal_live_ key)" in out
            assert expected in out, out
            assert got == code
            assert all(k not in out + err for k in (GOOD, ACME, WRONG))


def test_status_shows_each_accounts_budget_use_and_pause(tmp_path, run_cli, sqlite_url):
    cfg = _config(tmp_path, sqlite_url, "http://127.0.0.1:9", "http://127.0.0.1:9", ACME)
    db = open_database(sqlite_url)
    import asyncio

    async def spend():
        part = SharedBudget(db, "acme", 60)
        for _ in range(2):  # the bucket holds 2 at 60/min
            assert await part.take() == 0.0

    asyncio.run(spend())
    accounts.pause(db, "acme", actor="job:sync", reason="auth: Cal.com refused the API key of account acme (HTTP 401)")
    code, out, _ = run_cli("status", "--json", "--config", str(cfg))
    doc = json.loads(out)
    shown = {a["account"]: a for a in doc["accounts"]}
    assert list(shown) == ["default", "acme"]
    assert shown["acme"]["paused"] and shown["acme"]["used_this_minute"] == 2 and shown["acme"]["limit_per_minute"] == 60
    assert not shown["default"]["paused"] and shown["default"]["used_this_minute"] == 0
    assert {"failed", "pending", "alerts", "by_category"} <= set(doc)  # the contract's keys stay
    code, out, _ = run_cli("status", "--config", str(cfg))
    lines = [line for line in out.splitlines() if line.strip().startswith("account ")]
    assert lines[0].split() == ["account", "default", "budget", "0/120", "this", "minute", "running"]
    assert lines[1].split()[:6] == ["account", "acme", "budget", "2/60", "this", "minute"] and "paused" in lines[1]
    assert ACME not in out

    from synconsole.tui.widgets.health import HealthBar, JobsBadge

    settings = parse_settings({"database": {"url": sqlite_url}, "calcom": {"api_key": GOOD, "accounts": [
        {"id": "acme", "api_key": ACME, "rate_limit_per_minute": 60}]}})
    with db.session() as s:
        m = metrics.compute(s, settings)
    line = HealthBar._metrics_line(m, JobsBadge(True, [], []), False, compact=False).plain
    assert "default 0/120" in line and "acme paused" in line
    compact = HealthBar._metrics_line(m, JobsBadge(True, [], []), False, compact=True).plain
    assert "acme paused" in compact and "default 0/120" not in compact
    db.dispose()


def test_the_report_groups_failures_by_account(tmp_path, run_cli, sqlite_url):
    from datetime import timedelta

    from tests import factory
    from tests.conftest import NOW

    cfg = _config(tmp_path, sqlite_url, "http://127.0.0.1:9", "http://127.0.0.1:9", ACME)
    db = open_database(sqlite_url)
    with db.session() as s:
        factory.staff(s, "s1")
        factory.staff(s, "s2", username="maria", calcom_account="acme")
        factory.customer(s, "c1")
        factory.failed(s, "f1", category="host_conflict", first_failed_at=NOW, start=NOW + timedelta(days=2),
                       staff_id="s1")
        factory.failed(s, "f2", category="host_conflict", first_failed_at=NOW, start=NOW + timedelta(days=3),
                       staff_id="s2")
        factory.failed(s, "f3", category="transient", first_failed_at=NOW, start=NOW + timedelta(days=4),
                       staff_id="s2", http_status=500)
        s.commit()
    accounts.pause(db, "acme", actor="job:sync", reason="auth: Cal.com refused the API key of account acme (HTTP 401)")
    db.dispose()
    code, out, _ = run_cli("report", "--since", "7d", "--format", "json", "--config", str(cfg))
    assert code == 0
    groups = {g["account"]: g for g in json.loads(out)["by_account"]}
    assert groups["default"]["failed"] == 1 and groups["default"]["by_category"] == {"host_conflict": 1}
    assert groups["acme"]["failed"] == 2 and groups["acme"]["paused"]
    assert groups["acme"]["by_category"] == {"host_conflict": 1, "transient": 1}
    code, out, _ = run_cli("report", "--since", "7d", "--config", str(cfg))
    section = out.split("## By Cal.com account", 1)[1].split("##", 1)[0]
    assert "acme" in section and "paused" in section and "host_conflict 1, transient 1" in section
    assert ACME not in out and GOOD not in out


def test_sync_once_books_each_appointment_through_its_staffs_account(tmp_path, run_cli, sqlite_url):
    import httpx

    from tests.engine.helpers import EVENT_TYPES, appointment, people, soon

    with SimulatorServer(api_key=GOOD, event_types=EVENT_TYPES) as sim, \
            SimulatorServer(api_key=ACME, event_types=EVENT_TYPES) as acme:
        cfg = _config(tmp_path, sqlite_url, sim.url, acme.url, ACME)
        rows = [{**r, "calcom_account": "acme"} if r.get("id") == "s-2" else r for r in people()]
        rows += [appointment("a1", soon(), staff="s-1"), appointment("a2", soon(hour=11), staff="s-2")]
        path = tmp_path / "rows.ndjson"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        assert run_cli("import", str(path), "--config", str(cfg))[0] == 0
        code, out, err = run_cli("sync", "--once", "--config", str(cfg))
        assert code == 0, err
        assert out.strip() == "default: 1 claimed, 1 synced; acme: 1 claimed, 1 synced"
        booked = {name: [b["metadata"]["synconsole_appointment_id"]
                         for b in httpx.get(f"{s.url}/_sim/bookings", timeout=10).json()["bookings"]]
                  for name, s in (("default", sim), ("acme", acme))}
        assert booked == {"default": ["a1"], "acme": ["a2"]}
        code, _, err = run_cli("sync", "--once", "--limit", "1", "--config", str(cfg))
        assert code == 2 and "--limit works with one Cal.com account" in err


def test_a_refused_key_names_its_account_before_the_pause_is_recorded(sqlite_url):
    """The 401 is recorded a moment before the account's pause: the alert (and so the page that goes
    out) already names the account, not a bare 'Cal.com refused the API key'."""
    from datetime import timedelta

    from tests import factory
    from tests.conftest import NOW

    db = open_database(sqlite_url)
    with db.session() as s:
        factory.staff(s, "s1")
        factory.staff(s, "s2", username="maria", calcom_account="acme")
        factory.customer(s, "c1")
        factory.failed(s, "f1", category="auth", first_failed_at=NOW, start=NOW + timedelta(days=2),
                       staff_id="s2", http_status=401)
        factory.attempt(s, "f1", at=NOW, outcome="failed", status=401, category="auth")
        s.commit()
    several = parse_settings({"database": {"url": sqlite_url}, "calcom": {"api_key": GOOD, "accounts": [
        {"id": "acme", "api_key": ACME}]}})
    one = parse_settings({"database": {"url": sqlite_url}, "calcom": {"api_key": GOOD}})
    with db.session() as s:
        (alert,) = [a for a in metrics.compute(s, several, NOW).alerts if a.id == "auth_failure"]
        assert "account acme" in alert.message and alert.accounts == ("acme",), alert
        (single,) = [a for a in metrics.compute(s, one, NOW).alerts if a.id == "auth_failure"]
        assert single.message.startswith("Cal.com refused the API key (HTTP 401)") and single.accounts == ()
    db.dispose()
