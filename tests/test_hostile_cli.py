"""Hostile arguments and hostile data through the real commands: one line and the contract's exit
code, never a traceback; no empty selection that means "everything"; no terminal escape from
imported data reaching the operator's terminal; no credential in output."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from synconsole.core.db import open_database
from synconsole.core.models import Appointment

from tests import factory
from tests.conftest import NOW, write
from tests.test_hostile_config import one_line_error


@pytest.fixture
def env(sqlite_url, frozen):
    db = open_database(sqlite_url)
    with db.session() as s:
        factory.staff(s, "s1")
        factory.customer(s, "c1", email="anna@example.com")
        factory.failed(s, "748", category="host_conflict", first_failed_at=NOW - timedelta(hours=2),
                       start=NOW + timedelta(days=2), message="busy")
        factory.appointment(s, "760", start=NOW + timedelta(days=1))
        s.commit()
    db.dispose()
    return {"SYNCONSOLE_DATABASE_URL": sqlite_url}


def states(url: str) -> dict[str, tuple[str, str]]:
    db = open_database(url)
    with db.session() as s:
        found = {a.id: (a.status, a.sync_state) for a in s.exec(select(Appointment))}
    db.dispose()
    return found


# --- huge or far-future arguments ---------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["list", "--filter", "age:>99999999999h"],
    ["list", "--filter", "age:>9999999999999999999999999999d"],
    ["list", "--filter", "age:<=1e400h"],
    ["list", "--filter", "start:<9999-12-31T23:59:59-23:59"],
    ["list", "--filter", "start:>0001-01-01T00:00:00+01:00"],
    ["reschedule", "760", "9999-12-31T23:59:00Z", "--yes"],
    ["reschedule", "760", "0001-01-01T00:00:00+01:00", "--yes"],
    ["snooze", "748", "--for", "99999999999d", "--note", "x", "--yes"],
    ["snooze", "748", "--until", "9999-12-31T23:59:59Z", "--note", "x", "--yes"],
    ["report", "--since", "9999999d"],
    ["report", "--since", "0001-01-01T00:00:00+01:00"],
    ["audit", "--since", "99999999999d"],
    ["undo", "99999999999999999999", "--yes"],
    ["undo", "-1", "--yes"],
])
def test_huge_and_far_future_arguments_are_one_line(env, run_cli, args):
    before = states(env["SYNCONSOLE_DATABASE_URL"])
    code, out, err = run_cli(*args, env=env)
    assert code == 2, (code, out, err)
    one_line_error(code, out, err)
    assert states(env["SYNCONSOLE_DATABASE_URL"]) == before


def test_sensible_spans_still_work(env, run_cli):
    assert run_cli("list", "--filter", "age:>1h", "--json", env=env)[0] == 0
    assert run_cli("report", "--since", "7d", env=env)[0] == 0
    assert run_cli("audit", "--since", "52w", env=env)[0] == 0
    code, out, err = run_cli("snooze", "748", "--for", "30d", "--note", "later", "--yes", env=env)
    assert code == 0, err


# --- an empty selection never means "everything" ------------------------------------------------


@pytest.mark.parametrize("command", [["cancel", "--reason", "x"], ["retry"], ["backfill-email"],
                                     ["snooze", "--note", "x"]])
@pytest.mark.parametrize("selection", [["--filter", ""], ["--filter", "   "], ["--filter", "-"],
                                       ["--category", ""], ["--category", "  "]])
def test_mutating_command_with_an_empty_filter_or_category_refuses(env, run_cli, command, selection):
    before = states(env["SYNCONSOLE_DATABASE_URL"])
    code, out, err = run_cli(*command, *selection, "--yes", env=env)
    err = one_line_error(code, out, err)
    assert "empty" in err
    assert states(env["SYNCONSOLE_DATABASE_URL"]) == before


def test_unset_variable_in_a_script_cancels_nothing(env, tmp_path):
    import os
    import subprocess
    import sys

    script = write(tmp_path / "cancel.sh", f'"{sys.executable}" -m synconsole cancel --filter "$UNSET_VARIABLE" '
                                            '--reason cleanup --yes\n')
    result = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, **env}, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert states(env["SYNCONSOLE_DATABASE_URL"])["760"] == ("scheduled", "pending")


# --- terminal escapes from imported data --------------------------------------------------------

HOSTILE = {
    "osc52": "\x1b]52;c;SGVsbG8=\x07",  # sets the operator's clipboard
    "csi": "\x1b[2J\x1b[31m",  # clears the screen, colours
    "c1": "\x9b31m\x9d0;title\x9c",  # the same in 8-bit C1 controls
    "bidi": "\u202eevil\u202c",
    "bell_backspace": "\x07\x08\x08\x08",
}


@pytest.fixture
def hostile(sqlite_url, frozen, tmp_path, run_cli):
    rows = [
        {"kind": "staff", "id": "s-1", "name": "Staff " + HOSTILE["csi"], "calcom_username": "fab\x1b[8m",
         "event_type_id": 101},
        {"kind": "customer", "id": "c1", "name": "Anna " + HOSTILE["osc52"], "email": "a@example.com\x1b]0;x\x07",
         "phone": "+49151\x9b1234"},
        {"kind": "appointment", "id": "a1", "customer_id": "c1", "staff_id": "s-1", "start": "2025-11-26T14:00:00Z",
         "service": "cut " + HOSTILE["c1"]},
        {"kind": "appointment", "id": "a\nfake-row", "customer_id": "c1", "staff_id": "s-1",
         "start": "2025-11-27T14:00:00Z"},
        {"kind": "appointment", "id": "a\r\x1b[1A\x1b[2Kb" + HOSTILE["bidi"], "customer_id": "c1",
         "start": "2025-11-28T14:00:00Z"},
    ]
    path = write(tmp_path / "hostile.ndjson", "".join(json.dumps(r) + "\n" for r in rows))
    env = {"SYNCONSOLE_DATABASE_URL": sqlite_url}
    code, out, err = run_cli("import", str(path), env=env)
    assert code == 0, err
    db = open_database(sqlite_url)
    with db.session() as s:
        factory.attempt(s, "a1", at=NOW, outcome="failed", status=400, category="unknown",
                        message="bad " + HOSTILE["osc52"], body='{"message": "\x1b]52;c;AAAA\x07 \x9b2J"}')
        a = s.get(Appointment, "a1")
        a.sync_state, a.category, a.last_error, a.first_failed_at = "failed", "unknown", "err " + HOSTILE["csi"], NOW
        a.note = "note " + HOSTILE["bell_backspace"]
        s.add(a)
        s.commit()
    db.dispose()
    return env


@pytest.fixture
def run_tty(run_cli):
    """The CLI as a terminal receives it: click strips escape sequences only when it is not one."""
    return lambda *args, **kw: run_cli(*args, color=True, **kw)


def no_controls(text: str) -> None:
    """Only newlines (our own line breaks) and printable characters reach the terminal."""
    bad = sorted({f"U+{ord(c):04X}" for c in text if c != "\n" and (ord(c) < 32 or 127 <= ord(c) < 160
                                                                     or c in "\u202a\u202b\u202c\u202d\u202e"
                                                                     "\u2066\u2067\u2068\u2069")})
    assert not bad, f"control characters reach the terminal: {bad}"


def test_show_neutralises_control_characters(hostile, run_tty):
    code, out, err = run_tty("show", "a1", env=hostile)
    assert code == 0, err
    no_controls(out)
    assert "Anna" in out and "52;c;SGVsbG8=" in out  # shown, harmless, not dropped silently


def test_list_keeps_one_row_per_appointment(hostile, run_tty):
    code, out, err = run_tty("list", env=hostile)
    assert code == 0, err
    no_controls(out)
    lines = out.splitlines()
    assert len(lines) == 1 + 3, out  # the header and three appointments, whatever their ids hold


def test_show_of_an_id_with_a_newline_and_the_json_keeps_the_data(hostile, run_tty):
    code, out, _ = run_tty("list", "--json", env=hostile)
    assert code == 0
    ids = {d["id"] for d in json.loads(out)}
    assert "a\nfake-row" in ids  # JSON is data: escaped by JSON itself, never altered
    code, out, err = run_tty("show", "a\nfake-row", env=hostile)
    assert code == 0, err
    no_controls(out)
    assert out.splitlines()[0] == "appointment a\\nfake-row"


@pytest.mark.parametrize("args", [["report"], ["report", "--format", "md"], ["audit"], ["remediate", "--plan"],
                                  ["status"], ["check", "ROWS"]])
def test_other_faces_neutralise_control_characters(hostile, run_tty, args, tmp_path):
    if args[-1] == "ROWS":
        args = [args[0], str(write(tmp_path / "more.ndjson", json.dumps(
            {"kind": "appointment", "id": "z\x1b]52;c;QQ==\x07", "customer_id": "nobody\x1b[2J",
             "start": "2025-11-26T14:00:00Z"}) + "\n"))]
    code, out, err = run_tty(*args, env=hostile)
    no_controls(out)
    no_controls(err)


def test_report_file_neutralises_control_characters(hostile, run_cli, tmp_path):
    out_file = tmp_path / "report.md"
    code, _, err = run_cli("report", "--out", str(out_file), env=hostile)
    assert code == 0, err
    no_controls(out_file.read_text(encoding="utf-8"))


def test_errors_that_quote_input_neutralise_control_characters(hostile, run_tty):
    code, out, err = run_tty("show", "nope\x1b]52;c;SGVsbG8=\x07", env=hostile)
    assert code == 1
    no_controls(err)
    code, out, err = run_tty("list", "--filter", "category:\x1b[2Jx", env=hostile)
    assert code == 2
    no_controls(err)


# --- credentials in output -----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["env", "file"])
def test_doctor_masks_the_userinfo_of_the_calcom_url(sqlite_url, run_cli, tmp_path, where):
    url = "http://ops:cal_live_s3cr3t@127.0.0.1:9"
    env = {"SYNCONSOLE_DATABASE_URL": sqlite_url, "SYNCONSOLE_CALCOM_API_KEY": "cal_x"}
    args = ["doctor"]
    if where == "env":
        env["SYNCONSOLE_CALCOM_BASE_URL"] = url
    else:
        args += ["--config", str(write(tmp_path / "c.toml", f'[calcom]\nbase_url = "{url}"\n'))]
    code, out, err = run_cli(*args, env=env)
    assert "s3cr3t" not in out + err and "ops:" not in out + err
    assert "http://***@127.0.0.1:9" in out


def test_database_url_userinfo_is_masked_in_errors(run_cli, postgres_server_url):
    import sqlalchemy as sa

    url = sa.engine.make_url(postgres_server_url).set(username="cal_live_user_token", password="pw-s3cr3t",
                                                       database="nope").render_as_string(hide_password=False)
    code, out, err = run_cli("doctor", env={"SYNCONSOLE_DATABASE_URL": url})
    assert "pw-s3cr3t" not in out + err and "cal_live_user_token" not in out + err
