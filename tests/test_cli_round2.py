"""Issue 13 on the command line: a fresh install, help that says whole sentences, show without
"HTTP -", the staff ids, the alert history, and a README a clone can follow."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from synconsole.config import parse_settings, user_data_dir
from synconsole.core.db import open_database

from tests import factory
from tests.conftest import NOW

ROOT = Path(__file__).resolve().parents[1]


# --- 12. a fresh install --------------------------------------------------------------------------


def test_a_fresh_install_creates_its_data_directory(run_cli):
    assert not user_data_dir().exists()  # the tests' HOME is empty
    code, out, err = run_cli("db", "upgrade")
    assert (code, err) == (0, "") and out.startswith("schema upgraded: empty -> ")
    assert (user_data_dir() / "synconsole.db").is_file()
    code, out, err = run_cli("status")
    assert code == 0 and err == ""


def test_a_directory_named_in_a_config_is_not_created(run_cli, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/nowhere/x.db"\n')
    code, out, err = run_cli("status", "--config", str(config))
    assert code == 1 and err.strip() == f"synconsole: error: database directory does not exist: {tmp_path}/nowhere"
    assert not (tmp_path / "nowhere").exists()


# --- 13. smaller things -------------------------------------------------------------------------------


def test_the_command_list_says_whole_sentences(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    commands = out.split("Commands:", 1)[1]
    assert "..." not in commands
    assert "Assign a staff member to an appointment not booked yet; a failed one goes back to the queue." in \
        " ".join(commands.split())
    code, out, _ = run_cli("jobs", "--help")
    assert "..." not in out.split("Commands:", 1)[1]


def _db_env(db_url: str) -> dict[str, str]:
    return {"SYNCONSOLE_DATABASE_URL": db_url}


def test_show_says_why_an_attempt_has_no_http_status(run_cli, sqlite_url):
    db = open_database(sqlite_url)
    with db.session() as s:
        factory.staff(s, "s1")
        factory.customer(s, "c1")
        factory.failed(s, "740", category="missing_staff", first_failed_at=NOW, start=NOW + timedelta(days=1),
                       staff_id=None, http_status=None, message="No staff assigned", attempts=3)
        factory.attempt(s, "740", at=NOW, outcome="preflight", category="missing_staff", message="No staff assigned")
        s.commit()
    db.dispose()
    code, out, _ = run_cli("show", "740", env=_db_env(sqlite_url))
    assert code == 0
    assert "HTTP -" not in out and "preflight not sent (refused before sending)" in " ".join(out.split())
    assert "attempts (1 of 3 on record):" in out


def test_staff_lists_the_ids_for_assign_staff(run_cli, sqlite_url):
    db = open_database(sqlite_url)
    with db.session() as s:
        factory.staff(s, "s-1", username="fabian", name="Fabian Spitzer")
        factory.staff(s, "s-2", username="mia", name="Mia Krause", event_type_id=201)
        factory.staff(s, "s-9", username=None, user_id=42, name="Old Record", event_type_id=None, active=False)
        s.commit()
    db.dispose()
    code, out, err = run_cli("staff", env=_db_env(sqlite_url))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["id", "name", "Cal.com", "user", "event", "type", "active"]
    assert lines[1].split() == ["s-1", "Fabian", "Spitzer", "fabian", "101", "yes"]
    assert lines[3].split() == ["s-9", "Old", "Record", "42", "-", "no"]
    code, out, _ = run_cli("staff", "--json", env=_db_env(sqlite_url))
    staff = json.loads(out)
    assert [s["id"] for s in staff] == ["s-1", "s-2", "s-9"] and staff[1]["event_type_id"] == 201


def test_alerts_and_their_history(run_cli, sqlite_url):
    from synconsole.core import alerthistory
    from synconsole.jobs import housekeeping

    db = open_database(sqlite_url)
    settings = parse_settings({})
    with db.session() as s:
        factory.staff(s, "s1")
        factory.customer(s, "c1")
        factory.failed(s, "749", category="unknown", first_failed_at=NOW - timedelta(hours=30),
                       start=NOW + timedelta(days=1), message="HTML error page")
        s.commit()
    housekeeping.evaluate_alerts(db, settings, NOW)
    alerthistory.acknowledge(db, "ancient_actionable", actor="ops@box", note="on it")
    code, out, _ = run_cli("alerts", env=_db_env(sqlite_url))
    assert code == 0 and out.startswith("CRITICAL ancient_actionable (1): 1 failure needing a human is older than 24 h")
    assert "acknowledged by ops@box" in out and ": on it" in out
    with db.write() as s:  # the failure is dealt with; the next evaluation resolves the alert
        from synconsole.core.models import Appointment

        s.get(Appointment, "749").snoozed_until = NOW + timedelta(days=1)
        s.commit()
    housekeeping.evaluate_alerts(db, settings, NOW + timedelta(minutes=5))
    db.dispose()
    code, out, _ = run_cli("alerts", "--history", env=_db_env(sqlite_url))
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split()[:6] == ["2025-11-24", "17:00:00Z", "2025-11-24", "17:05:00Z", "critical", "ancient_actionable"]
    assert lines[1].endswith("ops@box: on it")
    code, out, _ = run_cli("alerts", "--history", "--json", env=_db_env(sqlite_url))
    (episode,) = json.loads(out)
    assert episode["alert"] == "ancient_actionable" and episode["resolved_at"] == "2025-11-24T17:05:00Z"
    assert episode["acknowledged_by"] == "ops@box" and not episode["active"]


def test_the_readme_links_only_into_the_repo_and_lists_every_key():
    from synconsole.tui import keys

    readme = (ROOT / "README.md").read_text()
    assert "../shared" not in readme
    for link in re.findall(r"\]\(([^)#]+)\)", readme):
        if not link.startswith("http"):
            assert (ROOT / link).exists(), link
    table = readme.split("## The console", 1)[1].split("## ", 1)[0]
    keys_in_readme = set(re.findall(r"`([^`]+)`", table))
    for binding in keys.APP + keys.MAIN:
        if binding.id in ("focus_previous", "command_palette"):
            continue
        shown = binding.key_display or binding.key.split(",")[0]
        shown = {"ctrl+r": "^r", "space": "space", "escape": "escape", "enter": "enter", "tab": "tab"}.get(shown, shown)
        assert shown in keys_in_readme or any(shown in k for k in keys_in_readme), binding.id
