"""Config: discovery order, environment overrides, validation messages, the example file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from synconsole.config import (
    SCHEMA,
    Secret,
    all_keys,
    example_config,
    load_settings,
    parse_settings,
    user_config_path,
)
from synconsole.errors import ConfigError

from tests.conftest import write

REPO = Path(__file__).resolve().parent.parent


def test_defaults_without_any_file(tmp_path):
    s = load_settings(None, env={})
    assert s.source is None
    assert s.calcom.base_url == "https://api.cal.com"
    assert s.calcom.rate_limit_per_minute == 120
    assert s.sync.batch_size == 50 and s.sync.lease_s == 120 and s.sync.max_attempts == 10
    assert s.remediation.placeholder_email_template == "customer_{id}@placeholder.invalid"
    assert s.remediation.auto_backfill_email is False
    assert s.jobs.cleanup_mode == "cancel"
    assert not s.read_only


def test_fixed_key_names_from_contract(tmp_path):
    path = write(tmp_path / "c.toml", """
[database]
url = "sqlite:///x.db"
[calcom]
base_url = "http://127.0.0.1:8765/"
api_key = "cal_test_123"
rate_limit_per_minute = 60
[sync]
batch_size = 10
backoff_base_s = 2.5
backoff_max_s = 60.0
max_attempts = 3
lease_s = 30
[jobs]
sync_interval_s = 1.0
[logging]
path = "/tmp/x.log"
""")
    s = load_settings(path, env={})
    assert s.source == path
    assert s.database.url == "sqlite:///x.db"
    assert s.calcom.base_url == "http://127.0.0.1:8765"
    assert s.calcom.api_key.reveal() == "cal_test_123"
    assert (s.sync.batch_size, s.sync.backoff_base_s, s.sync.backoff_max_s, s.sync.max_attempts, s.sync.lease_s) \
        == (10, 2.5, 60.0, 3, 30)
    assert s.jobs.sync_interval_s == 1.0
    assert s.logging.path == "/tmp/x.log"


def test_discovery_order(tmp_path, monkeypatch):
    explicit = write(tmp_path / "explicit.toml", '[calcom]\nbase_url = "http://explicit"\n')
    env_file = write(tmp_path / "env.toml", '[calcom]\nbase_url = "http://env"\n')
    write(tmp_path / "synconsole.toml", '[calcom]\nbase_url = "http://local"\n')
    user = user_config_path()
    user.parent.mkdir(parents=True)
    write(user, '[calcom]\nbase_url = "http://user"\n')

    assert load_settings(explicit, env={"SYNCONSOLE_CONFIG": str(env_file)}).calcom.base_url == "http://explicit"
    assert load_settings(None, env={"SYNCONSOLE_CONFIG": str(env_file)}).calcom.base_url == "http://env"
    assert load_settings(None, env={}).calcom.base_url == "http://local"
    (tmp_path / "synconsole.toml").unlink()
    assert load_settings(None, env={}).calcom.base_url == "http://user"
    user.unlink()
    assert load_settings(None, env={}).source is None


def test_environment_overrides_the_file(tmp_path):
    path = write(tmp_path / "c.toml", '[database]\nurl = "sqlite:///file.db"\n[calcom]\napi_key = "cal_file"\n')
    s = load_settings(path, env={
        "SYNCONSOLE_DATABASE_URL": "sqlite:///env.db",
        "SYNCONSOLE_CALCOM_BASE_URL": "http://127.0.0.1:9/",
        "SYNCONSOLE_CALCOM_API_KEY": "cal_env",
    })
    assert s.database.url == "sqlite:///env.db"
    assert s.calcom.base_url == "http://127.0.0.1:9"
    assert s.calcom.api_key.reveal() == "cal_env"


def test_api_key_env_indirection(tmp_path):
    path = write(tmp_path / "c.toml", '[calcom]\napi_key_env = "MY_CAL_KEY"\n')
    assert load_settings(path, env={"MY_CAL_KEY": "cal_indirect"}).calcom.api_key.reveal() == "cal_indirect"
    with pytest.raises(ConfigError, match=r"c\.toml: \[calcom\] api_key_env: environment variable MY_CAL_KEY is not set"):
        load_settings(path, env={})


def test_read_only_sources(tmp_path):
    assert load_settings(None, env={"SYNCONSOLE_READ_ONLY": "1"}).read_only
    assert load_settings(None, env={}, read_only=True).read_only
    path = write(tmp_path / "c.toml", "[ui]\nread_only = true\n")
    assert load_settings(path, env={}).read_only


def test_secret_never_shows_itself():
    secret = Secret("cal_live_supersecret")
    s = parse_settings({"calcom": {"api_key": "cal_live_supersecret"}})
    for text in (repr(secret), str(secret), f"{secret}", repr(s), str(s.calcom)):
        assert "supersecret" not in text


@pytest.mark.parametrize("toml, message", [
    ("[sync]\nbatch_size = \"fifty\"\n",
     r"\[sync\] batch_size: expected an integer from 1 to 10000, got \"fifty\" \(string\)"),
    ("[sync]\nbatch_size = 0\n", r"\[sync\] batch_size: expected an integer from 1 to 10000, got 0"),
    ("[sync]\nbatchsize = 5\n", r"\[sync\] batchsize: unknown key, expected one of batch_size, "),
    ("[synk]\n", r"\[synk\]: unknown section"),
    ("[jobs]\ncleanup_mode = \"delete\"\n", r"\[jobs\] cleanup_mode: expected one of \"cancel\", \"flag\", got \"delete\""),
    ("[ui]\nread_only = \"yes\"\n", r"\[ui\] read_only: expected true or false, got \"yes\" \(string\)"),
    ("[calcom]\ntimeout_s = true\n", r"\[calcom\] timeout_s: expected a number from 0.1 to 600, got true \(boolean\)"),
    ("[calcom]\nbase_url = \"api.cal.com\"\n", r"\[calcom\] base_url: expected an http\(s\) URL"),
    ("[sync]\nbackoff_base_s = 100.0\nbackoff_max_s = 10.0\n",
     r"\[sync\] backoff_max_s: expected a number >= backoff_base_s \(100\), got 10.0"),
    ("[remediation]\nplaceholder_email_template = \"{name}@x.invalid\"\n",
     r"placeholder_email_template: expected a template whose only placeholder is \{id\}"),
    ("[categories]\nanonymous_phone_pattern = \"(\"\n", r"\[categories\] anonymous_phone_pattern: expected a valid regular expression"),
    ("[[categories.rules]]\ncategory = \"nope\"\nstatus = 500\n",
     r"\[\[categories.rules\]\] #1 category: expected one of past_appointment, "),
    ("[[categories.rules]]\ncategory = \"transient\"\n",
     r"\[\[categories.rules\]\] #1: expected at least one of status, code, message"),
    ("[[categories.rules]]\ncategory = \"transient\"\nmessage = \"[\"\n",
     r"#1 message: expected a valid regular expression"),
    ("[ui.keymap]\nretry = 5\n", r"\[ui.keymap\] retry: expected keys like"),
    ("sync = 5\n", r"\[sync\]: expected a table, got 5 \(integer\)"),
])
def test_bad_values_name_file_key_and_expectation(tmp_path, toml, message):
    path = write(tmp_path / "bad.toml", toml)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(path, env={})
    text = str(info.value)
    assert text.startswith(str(path) + ": ")
    assert "\n" not in text


def test_invalid_toml_and_missing_file(tmp_path):
    path = write(tmp_path / "broken.toml", "[sync\nbatch_size = 1\n")
    with pytest.raises(ConfigError, match=r"broken\.toml: invalid TOML: "):
        load_settings(path, env={})
    with pytest.raises(ConfigError, match=r"nowhere\.toml: config file not found"):
        load_settings(tmp_path / "nowhere.toml", env={})
    with pytest.raises(ConfigError, match=r"config file not found"):
        load_settings(None, env={"SYNCONSOLE_CONFIG": str(tmp_path / "gone.toml")})
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match=r"bin\.toml: not valid UTF-8"):
        load_settings(binary, env={})


@pytest.mark.parametrize("args", [["status", "--config", "{p}"], ["--config", "{p}", "status"]])
def test_cli_bad_config_exits_2_with_one_line(tmp_path, run_cli, args):
    path = write(tmp_path / "bad.toml", "[sync]\nlease_s = \"long\"\n")
    code, out, err = run_cli(*[a.format(p=path) for a in args])
    assert code == 2
    assert out == ""
    assert err.strip() == f'synconsole: error: {path}: [sync] lease_s: expected an integer from 5 to 86400, got "long" (string)'


def test_cli_missing_config_exits_2(tmp_path, run_cli):
    code, _, err = run_cli("status", "--config", str(tmp_path / "missing.toml"))
    assert code == 2
    assert err.count("\n") == 1 and "missing.toml: config file not found" in err


def test_example_file_documents_every_key_and_parses_to_the_defaults():
    text = (REPO / "config.example.toml").read_text()
    assert text == example_config(), "config.example.toml is stale: run `synconsole config example > config.example.toml`"
    data = tomllib.loads(text)
    for key in all_keys():
        section, name = key.split(".")
        if section == "sources":
            assert "# [[sources]]" in text and "# [sources.queries]" in text
        elif name in ("rules",):
            assert "[[categories.rules]]" in text
        elif name == "keymap":
            assert "[ui.keymap]" in text
        else:
            assert name in data[section], key
    assert parse_settings(data) == parse_settings({})
    assert set(data) == set(SCHEMA)


def test_rules_and_keymap_parse(tmp_path):
    path = write(tmp_path / "c.toml", """
[[categories.rules]]
name = "proxy"
category = "transient"
status = [502, 504]
message = "(?i)gateway"
[ui.keymap]
retry = "ctrl+r"
""")
    s = load_settings(path, env={})
    (rule,) = s.categories.rules
    assert (rule.name, rule.category, rule.status, rule.message) == ("proxy", "transient", (502, 504), "(?i)gateway")
    assert s.ui.keymap == {"retry": "ctrl+r"}
