"""An email and national and international phone numbers planted in Cal.com's error message, in a
snooze note and so in the audit reason: no default output of any command shows them, nor does the
log; ``--reveal-pii`` shows them where the user asks for it (issue 11)."""

from __future__ import annotations

import json

from tests.hostile.server import Answer
from tests.processes.support import import_rows, run_cli, scenario, write_config

EMAIL = "planted.person@example.org"
NATIONAL = "0151-1234-5678"
LANDLINE = "030 1234567"
INTERNATIONAL = "+49 151 9998 8877"
PLANTED = (EMAIL, NATIONAL, LANDLINE, INTERNATIONAL, "planted.person", "1234-5678", "9998 8877")


def _refusal() -> bytes:
    message = f"Attendee {EMAIL} (mobile {NATIONAL}, office {INTERNATIONAL}) cannot be booked"
    return json.dumps({"status": "error", "error": {"code": "BadRequestException", "message": message}}).encode()


def test_no_default_output_nor_the_log_shows_a_planted_email_or_phone(tmp_path, hostile):
    server = hostile(lambda method, path, b=b"": Answer(400, _refusal()))
    log = tmp_path / "s.log"
    config = str(write_config(tmp_path / "c.toml", db_url=f"sqlite:///{tmp_path / 's.db'}", sim_url=server.url,
                              log_path=log))

    def cli(*args: str, expect: tuple[int, ...] = (0,)) -> str:
        result = run_cli(*args, "--config", config, cwd=tmp_path)
        assert result.returncode in expect and "Traceback" not in result.stderr, (args, result.stderr)
        return result.stdout + result.stderr

    import_rows(tmp_path / "c.toml", scenario(1), tmp_path)
    cli("sync", "--once")
    shown = json.loads(cli("show", "a0000", "--json", "--reveal-pii"))
    assert shown["sync_state"] == "failed" and EMAIL in shown["last_error"], shown  # the planted text is there
    cli("snooze", "a0000", "--for", "2h", "--note", f"rang {LANDLINE}, mailed {EMAIL}", "--yes")

    outputs = {
        args: cli(*args, expect=(0, 1))
        for args in [("list",), ("list", "--json"), ("list", "--state", "failed", "--json"),
                     ("show", "a0000"), ("show", "a0000", "--json"),
                     ("remediate", "--plan"), ("remediate", "--plan", "--json"),
                     ("report",), ("audit",), ("audit", "--json"), ("alerts", "--json"), ("status", "--json")]
    }
    outputs[("log",)] = log.read_text()
    for args, text in outputs.items():
        for planted in PLANTED:
            assert planted not in text, f"{' '.join(args)} shows {planted!r}:\n{text[:3000]}"
    assert "p***@example.org" in outputs[("show", "a0000")]
    assert "015***78" in outputs[("list", "--json")] or "015***78" in outputs[("show", "a0000", "--json")]

    revealed = json.loads(cli("list", "--json", "--reveal-pii"))
    assert EMAIL in revealed[0]["last_error"] and f"rang {LANDLINE}" in revealed[0]["note"]
    revealed_show = cli("show", "a0000", "--reveal-pii")
    assert NATIONAL in revealed_show and INTERNATIONAL in revealed_show, revealed_show
    assert EMAIL in cli("audit", "--json", "--reveal-pii")
    assert EMAIL in cli("remediate", "--plan", "--json", "--reveal-pii") or LANDLINE in cli(
        "remediate", "--plan", "--json", "--reveal-pii")
