"""Hostile configuration: every bad value or environment variable is one line and exit 2, and a
flag that guards production fails closed."""

from __future__ import annotations

import json

import pytest

from tests.conftest import write


def one_line_error(code: int, out: str, err: str, expected_code: int = 2) -> str:
    assert code == expected_code, (code, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert err.startswith("synconsole: error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture
def env(sqlite_url):
    return {"SYNCONSOLE_DATABASE_URL": sqlite_url}


# --- read-only fails closed ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["y", "enabled", "2", "tru", "read-only", "oui"])
def test_unrecognised_read_only_value_is_a_config_error_never_off(env, run_cli, value):
    code, out, err = run_cli("retry", "748", "--yes", env={**env, "SYNCONSOLE_READ_ONLY": value})
    err = one_line_error(code, out, err)
    assert "SYNCONSOLE_READ_ONLY: expected" in err and f'got "{value}"' in err


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "On", " on "])
def test_read_only_true_values_refuse(env, run_cli, value):
    code, _, err = run_cli("retry", "748", "--yes", env={**env, "SYNCONSOLE_READ_ONLY": value})
    assert code == 3 and "read-only" in err


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off", "OFF"])
def test_read_only_false_values_allow(env, run_cli, value):
    code, out, err = run_cli("retry", "748", "--yes", env={**env, "SYNCONSOLE_READ_ONLY": value})
    assert code == 1 and "read-only" not in err  # not refused: there is just no appointment 748


# --- values that pass a range check and crash later ---------------------------------------------


@pytest.mark.parametrize("section,key", [("calcom", "timeout_s"), ("jobs", "sync_interval_s"),
                                         ("alerts", "stuck_pending_minutes"), ("sync", "backoff_base_s")])
@pytest.mark.parametrize("value", ["nan", "-nan", "inf"])
def test_non_finite_numbers_are_refused(tmp_path, env, run_cli, section, key, value):
    config = write(tmp_path / "c.toml", f"[{section}]\n{key} = {value}\n")
    code, out, err = run_cli("status", "--config", str(config), env=env)
    err = one_line_error(code, out, err)
    assert f"[{section}] {key}: expected" in err and str(config) in err


@pytest.mark.parametrize("template", ["{id:>99999999999}@x.com", "{id!r}@x.com", "{id:x}@x.com",
                                      "{id.__class__}@x.com", "{id[0]}@x.com", "{}@x.com"])
def test_placeholder_template_with_a_format_spec_is_refused(tmp_path, env, run_cli, template):
    config = write(tmp_path / "c.toml", f"[remediation]\nplaceholder_email_template = '{template}'\n")
    code, out, err = run_cli("status", "--config", str(config), env=env)
    err = one_line_error(code, out, err)
    assert "[remediation] placeholder_email_template: expected a template whose only placeholder is {id}" in err


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://[::1", "http://[::1]:0x50",
                                 "http://exa mple.com", "http://:80", "http://host:-1", "http://a\x00b",
                                 "ftp://example.com", "http://user@", "https://exa_mple..com:65536/v2"])
def test_bad_calcom_base_url_in_the_file_is_a_config_error(tmp_path, env, run_cli, url):
    config = write(tmp_path / "c.toml", f'[calcom]\nbase_url = {json.dumps(url)}\n'
                                        'api_key = "cal_x"\n')
    code, out, err = run_cli("doctor", "--config", str(config), env=env)
    err = one_line_error(code, out, err)
    assert "[calcom] base_url: expected an http(s) URL" in err


# --- environment overrides are validated like the file ------------------------------------------


@pytest.mark.parametrize("url", ["garbage", "http://127.0.0.1:99999", "http://[::1"])
def test_bad_calcom_base_url_from_the_environment(env, run_cli, url):
    code, out, err = run_cli("doctor", env={**env, "SYNCONSOLE_CALCOM_BASE_URL": url,
                                            "SYNCONSOLE_CALCOM_API_KEY": "cal_x"})
    err = one_line_error(code, out, err)
    assert "SYNCONSOLE_CALCOM_BASE_URL: expected an http(s) URL" in err


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite://", "garbage", "mysql://u@h/db",
                                 "sqlite:///file::memory:?cache=shared"])
def test_bad_database_url_from_the_environment(run_cli, url):
    code, out, err = run_cli("list", env={"SYNCONSOLE_DATABASE_URL": url})
    err = one_line_error(code, out, err)
    assert err.startswith("synconsole: error: SYNCONSOLE_DATABASE_URL: expected")


def test_in_memory_database_in_the_file_is_refused(tmp_path, run_cli):
    config = write(tmp_path / "c.toml", '[database]\nurl = "sqlite:///:memory:"\n')
    code, out, err = run_cli("list", "--config", str(config))
    err = one_line_error(code, out, err)
    assert "[database] url: expected" in err and "memory" in err


@pytest.mark.parametrize("now", ["garbage", "2025-11-24T17:00:00", "9999-12-31T23:59:59-23:59",
                                 "0001-01-01T00:00:00+01:00", "2025-13-01T00:00:00Z"])
def test_garbage_synconsole_now(env, run_cli, now):
    code, out, err = run_cli("list", "--filter", "age:>1h", env={**env, "SYNCONSOLE_NOW": now})
    err = one_line_error(code, out, err)
    assert "SYNCONSOLE_NOW: expected" in err
