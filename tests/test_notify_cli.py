"""``synconsole alerts ack`` and ``synconsole notify test`` as a user types them."""

from __future__ import annotations

import json
from datetime import timedelta

from synconsole.core import clock
from synconsole.jobs import housekeeping
from synconsole.notify.run import deliver_round
from tests.conftest import NOW, write
from tests.receivers import JsonReceiver
from tests.test_notify import _outage, _settings


def _config(tmp_path, db_url, urls: list[str]) -> str:
    listed = ", ".join(f'"{u}"' for u in urls)
    return str(write(tmp_path / "c.toml", f'[database]\nurl = "{db_url}"\n[[notify]]\nname = "oncall"\n'
                                          f'urls = [{listed}]\n'))


def test_ack_from_the_command_line_stops_escalation_and_is_audited(db_url, db, run_cli, frozen, tmp_path):
    with JsonReceiver() as hook:
        settings = _settings(hook.url)
        cfg = _config(tmp_path, db_url, [hook.url])
        _outage(db)
        housekeeping.evaluate_alerts(db, settings)
        deliver_round(db, settings, worker="w0")
        code, out, err = run_cli("alerts", "ack", "outage", "--note", "Cal.com incident open", "--config", cfg)
        assert code == 0, err
        assert "outage acknowledged by" in out
        code, out, _ = run_cli("alerts", "--json", "--config", cfg)
        (outage,) = [a for a in json.loads(out) if a["id"] == "outage"]
        assert outage["acknowledged_by"] and outage["note"] == "Cal.com incident open"  # still there, acknowledged
        clock.freeze(NOW + timedelta(minutes=31))
        housekeeping.evaluate_alerts(db, settings)
        deliver_round(db, settings, worker="w0")
        assert hook.titles() == ["[synconsole] CRITICAL outage (5)"]
        code, out, _ = run_cli("audit", "--action", "acknowledge_alert", "--json", "--config", cfg)
        assert code == 0 and "Cal.com incident open" in out
        code, _, err = run_cli("alerts", "ack", "outage", "--note", "x", "--read-only", "--config", cfg)
        assert code == 3 and "read-only" in err


def test_ack_of_an_alert_that_is_not_active(sqlite_url, run_cli, tmp_path):
    cfg = _config(tmp_path, sqlite_url, ["json://127.0.0.1:9/x"])
    code, _, err = run_cli("alerts", "ack", "outage", "--note", "looking", "--config", cfg)
    assert code == 1 and err.count("\n") == 1 and "not active" in err


def test_notify_test_says_which_target_accepted(sqlite_url, run_cli, tmp_path):
    with JsonReceiver() as hook:
        cfg = _config(tmp_path, sqlite_url, [hook.url + "?token=S3CRETtoken"])
        code, out, err = run_cli("notify", "test", "--config", cfg)
        assert code == 0, err
        assert out == f"oncall: json://127.0.0.1:{hook.port}/***: accepted\n"
        assert hook.titles() == ["[synconsole] test message"]
        hook.down = True
        code, out, err = run_cli("notify", "test", "oncall", "--config", cfg)
        assert code == 1 and "NOT accepted" in out
        assert "S3CRETtoken" not in out + err
        code, _, err = run_cli("notify", "test", "pager", "--config", cfg)
        assert code == 2 and "no [[notify]] target named 'pager' (targets: oncall)" in err
