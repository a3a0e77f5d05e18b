"""Fuzzing the parsers that take user input: the config (file and environment), the import rows
(the validator and the readers), the filter language, and the time and duration parsers.

Each property: any input becomes a value or one error line of the expected class, never another
exception; and a value that is accepted works everywhere it goes next (a base URL builds a request,
a filter runs as SQL, a time survives arithmetic). The CI runs use ``CI_EXAMPLES`` examples each;
``-m slow`` adds the long runs with ``LONG_EXAMPLES``.
"""

from __future__ import annotations

import math
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from synconsole.config import SCHEMA, load_settings, parse_settings
from synconsole.core import clock, filters
from synconsole.core import report as rep
from synconsole.core.importer import FIELDS, KINDS, MAX_CALCOM_ID, MAX_ID_LENGTH, RowError, open_rows, validate
from synconsole.errors import ConfigError, UsageError, UserError

from tests.fuzz.conftest import CI_EXAMPLES, LONG_EXAMPLES

NOW = datetime(2025, 11, 24, 17, 0, tzinfo=UTC)

# --- strategies -----------------------------------------------------------------------------------

NASTY = ["", " ", "\x00", "\ud800", "\x1b]52;c;SGVsbG8=\x07", "\x9b2J", "\u202e", "nan", "inf", "-1", "0",
         "9" * 30, "9" * 5000, "{id:>99999999999}", "{id!r}", "{}", "{0}", "[::1", "http://[::1",
         "http://127.0.0.1:99999", "http://u:cal_live_x@h", "sqlite:///:memory:", "9999-12-31T23:59:59-23:59",
         "0001-01-01T00:00:00+01:00", "99999999999d", "1e400h", "-", '"', 'a"b', "category:", "age:>", "a" * 2000]

any_char = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
hostile_text = st.one_of(st.sampled_from(NASTY), st.text(any_char, max_size=40),
                         st.text(string.printable, max_size=60))
big_ints = st.one_of(st.integers(), st.integers(min_value=-(10**30), max_value=10**30),
                     st.sampled_from([0, -1, 1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 10**23, 10**4000]))
floats = st.floats(allow_nan=True, allow_infinity=True)
scalars = st.one_of(st.none(), st.booleans(), big_ints, floats, hostile_text)
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(hostile_text, inner, max_size=4)),
                           max_leaves=12)

aware_datetimes = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                               timezones=st.timezones())
iso_times = st.one_of(aware_datetimes.map(lambda d: d.isoformat()),
                      st.datetimes().map(lambda d: d.isoformat()),  # naive
                      st.dates().map(lambda d: d.isoformat()), hostile_text)


def one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text and "\n" not in text and "\r" not in text, repr(text)
    assert len(text) < 2000, len(text)


def long_run(test):
    """The same property, many more examples: ``-m slow`` only."""
    return pytest.mark.slow(pytest.mark.long_run(settings(max_examples=LONG_EXAMPLES)(test)))


# --- config ---------------------------------------------------------------------------------------


def _key_value(section: str, key: str):
    spec = SCHEMA.get(section, {}).get(key)
    plausible = {"int": big_ints, "float": st.one_of(floats, big_ints), "bool": st.booleans(),
                 "choice": st.sampled_from(list(spec.choices) if spec and spec.choices else ["x"])}
    base = plausible.get(spec.type if spec else "", hostile_text)
    return st.one_of(base, scalars, json_values)


@st.composite
def config_data(draw):
    data = {}
    for section in draw(st.lists(st.sampled_from([*SCHEMA, "bogus"]), max_size=4, unique=True)):
        keys = list(SCHEMA.get(section, {})) + {"categories": ["rules"], "ui": ["keymap"]}.get(section, []) + ["zz"]
        chosen = draw(st.lists(st.sampled_from(keys), max_size=5, unique=True))
        table = {}
        for key in chosen:
            if key == "rules":
                table[key] = draw(st.one_of(json_values, st.lists(st.dictionaries(
                    st.sampled_from(["category", "status", "code", "message", "name", "bad"]), json_values,
                    max_size=5), max_size=3)))
            elif key == "keymap":
                table[key] = draw(st.one_of(json_values, st.dictionaries(hostile_text, hostile_text, max_size=3)))
            elif key == "base_url":
                table[key] = draw(st.one_of(hostile_text, st.builds(
                    lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
                    st.sampled_from(["http", "https", "ftp", "HTTP"]),
                    st.one_of(st.sampled_from(["127.0.0.1", "[::1]", "api.cal.com", "[::1", "h_st", "a..b", ""]),
                              st.text(any_char, max_size=12)),
                    st.one_of(st.just(""), big_ints.map(lambda p: f":{p}"), hostile_text.map(lambda p: f":{p}")),
                    st.sampled_from(["", "/", "/v2", "?q=1", "#f", "/a b"]))))
            else:
                table[key] = draw(_key_value(section, key))
        data[section] = table if draw(st.integers(0, 9)) else draw(json_values)
    return data


def check_config(data) -> None:
    try:
        s = parse_settings(data)
    except ConfigError as exc:
        one_line(exc)
        return
    # accepted: every consumer of these values works
    url = httpx.URL(s.calcom.base_url + "/v2/bookings")
    assert url.scheme in ("http", "https") and url.host
    assert url.port is None or 0 < url.port < 65536
    for section in ("calcom", "sync", "jobs", "alerts", "ui"):
        for key, spec in SCHEMA[section].items():
            if spec.type in ("int", "float"):
                value = getattr(getattr(s, section), key)
                assert math.isfinite(value) and spec.min <= value <= (spec.max if spec.max is not None else value)
    rendered = s.remediation.placeholder_email_template.format(id="x" * MAX_ID_LENGTH)
    assert len(rendered) < 10_000
    timedelta(seconds=s.jobs.sync_interval_s) + timedelta(minutes=s.alerts.stuck_pending_minutes)
    from synconsole.jobs.host import make_client

    client = make_client(s)
    assert client is None or client.base_url == s.calcom.base_url


@settings(max_examples=CI_EXAMPLES)
@given(config_data())
@example({"categories": {"rules": [{"category": []}]}})  # found by the long run: TypeError, unhashable list
@example({"jobs": {"sync_interval_s": 3 * 10**400}})  # found in CI: OverflowError, int too large for a float
def test_fuzz_config_values(data):
    check_config(data)


test_fuzz_config_values_long = long_run(given(config_data())(check_config))


ENV_VARS = ["SYNCONSOLE_READ_ONLY", "SYNCONSOLE_CALCOM_BASE_URL", "SYNCONSOLE_DATABASE_URL", "SYNCONSOLE_NOW",
            "SYNCONSOLE_CALCOM_API_KEY"]
env_text = st.one_of(hostile_text, st.sampled_from(["1", "true", "on", "0", "off", "y", "2", "http://127.0.0.1:9",
                                                    "sqlite:///x.db", "postgresql+psycopg://u:p@h/db",
                                                    "2025-11-24T17:00:00Z"]))


def check_env(env) -> None:
    env = {k: v.replace("\x00", "") for k, v in env.items()}  # a real environment cannot hold NUL
    try:
        s = load_settings(None, env=env)
    except ConfigError as exc:
        one_line(exc)
        return
    httpx.URL(s.calcom.base_url + "/v2/bookings")
    if env.get("SYNCONSOLE_NOW"):
        clock.check_range(clock.parse_utc(env["SYNCONSOLE_NOW"]))
    raw = env.get("SYNCONSOLE_READ_ONLY", "").strip().lower()
    assert s.read_only == (raw in ("1", "true", "yes", "on"))


@settings(max_examples=CI_EXAMPLES)
@given(st.dictionaries(st.sampled_from(ENV_VARS), env_text, max_size=5))
def test_fuzz_environment_overrides(tmp_path, env):
    check_env(env)


@long_run
@given(st.dictionaries(st.sampled_from(ENV_VARS), env_text, max_size=5))
def test_fuzz_environment_overrides_long(tmp_path, env):
    check_env(env)


def check_toml_file(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_bytes(raw)
    try:
        load_settings(path, env={})
    except ConfigError as exc:
        one_line(exc)


toml_bytes = st.one_of(st.binary(max_size=200),
                       st.lists(st.sampled_from(["[calcom]\n", "[sync]\n", "base_url = ", "timeout_s = ", "nan\n",
                                                 "inf\n", '"x"\n', "1e999\n", "[[categories.rules]]\n",
                                                 "category = [1]\n", "\x00", "\ufeff", "= =\n", "lease_s = 5\n"]),
                                max_size=12).map(lambda parts: "".join(parts).encode("utf-8", "surrogatepass")))


@settings(max_examples=CI_EXAMPLES)
@given(toml_bytes)
def test_fuzz_config_file_bytes(tmp_path, raw):
    check_toml_file(tmp_path, raw)


# --- import rows ----------------------------------------------------------------------------------


@st.composite
def import_rows(draw):
    kind = draw(st.one_of(st.sampled_from(KINDS), scalars))
    known = list(FIELDS.get(kind, {})) if isinstance(kind, str) else []
    keys = draw(st.lists(st.sampled_from([*known, "bogus", "id"]), max_size=8, unique=True))
    row = {"kind": kind}
    for key in keys:
        if key in ("start", "created_at"):
            row[key] = draw(st.one_of(iso_times, scalars))
        elif key in ("event_type_id", "calcom_user_id", "duration_minutes"):
            row[key] = draw(st.one_of(big_ints, big_ints.map(str), scalars))
        elif key == "time_zone":
            row[key] = draw(st.one_of(st.timezone_keys(), hostile_text))
        elif key == "event_type_ids":
            row[key] = draw(st.one_of(st.dictionaries(hostile_text, big_ints, max_size=3), json_values,
                                      json_values.map(str)))
        else:
            row[key] = draw(st.one_of(hostile_text, json_values))
    return row


def check_row(row) -> None:
    try:
        kind, values = validate(row, NOW)
    except RowError as exc:
        one_line(exc)
        return
    assert kind in KINDS and isinstance(values["id"], str) and 0 < len(values["id"]) <= MAX_ID_LENGTH
    for name, value in values.items():
        if isinstance(value, str):
            assert "\x00" not in value
            value.encode("utf-8")
        if isinstance(value, int) and not isinstance(value, bool) and name != "attempts":
            assert -(2**63) < value < 2**63, name
        if isinstance(value, datetime):
            assert clock.EARLIEST <= value < clock.LATEST + timedelta(days=2), (name, value)
    if kind == "staff":
        for v in [values["event_type_id"], values["calcom_user_id"], *(values["event_type_ids"] or {}).values()]:
            assert v is None or 0 < v <= MAX_CALCOM_ID
    if kind == "appointment":
        assert values["end_at"] > values["start_at"]


@settings(max_examples=CI_EXAMPLES)
@given(import_rows())
def test_fuzz_import_row_validator(row):
    check_row(row)


test_fuzz_import_row_validator_long = long_run(given(import_rows())(check_row))

file_text = st.one_of(
    st.binary(max_size=400),
    st.lists(st.one_of(st.sampled_from(['{"kind": "customer", "id": "c1"}', "kind,id,email", "customer,c1,a@b.c",
                                        '"unclosed', "\ufeff", "[" * 2000, "{}", "null", '{"kind": 1}', ",,,", ""]),
                       hostile_text), max_size=10).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")))


def check_file(tmp_path: Path, raw: bytes, suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(raw)
    try:
        for line, row in open_rows(path):
            assert isinstance(line, int) and line >= 1
            if isinstance(row, RowError):
                one_line(row)
            else:
                assert isinstance(row, dict)
                check_row(row)
    except UserError as exc:
        one_line(exc)


@settings(max_examples=CI_EXAMPLES)
@given(file_text, st.sampled_from([".ndjson", ".csv", ".txt", ""]))
def test_fuzz_import_file_reader(tmp_path, raw, suffix):
    check_file(tmp_path, raw, suffix)


# --- the filter language --------------------------------------------------------------------------

term = st.one_of(
    st.builds(lambda neg, key, op, value: f"{neg}{key}:{op}{value}", st.sampled_from(["", "-"]),
              st.sampled_from([*filters.KEYS, "bogus", "Category", "STATE"]),
              st.sampled_from(["", ">", "<", ">=", "<=", "="]),
              st.one_of(st.sampled_from(["host_conflict", "failed,pending", "queued", "none", "s-1", "yes", "no",
                                         "24h", "1.5d", "99999999999h", "0m", "today", "now", "2025-11-26",
                                         "2025-11-26T14:00:00Z", "9999-12-31", '"two words"', '"', ""]),
                        hostile_text)),
    hostile_text, st.sampled_from(['"quoted text"', "-", '-"neg"', "a:b", '""']))
filter_text = st.lists(term, max_size=8).map(" ".join) | hostile_text


@pytest.fixture(scope="module")
def filter_db(tmp_path_factory):
    from synconsole.core.db import open_database

    db = open_database(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'f.db'}")
    yield db
    db.dispose()


def check_filter(db, text: str) -> None:
    from synconsole.core.models import Appointment

    try:
        flt = filters.parse(text)
    except filters.FilterError as exc:
        one_line(exc)
        return
    assert len(flt.terms) <= filters.MAX_TERMS
    flt.describe()
    with db.session() as session:  # it runs as SQL, whatever the terms
        session.execute(sa.select(sa.func.count()).select_from(Appointment).where(flt.condition(NOW))).scalar_one()
    assert filters.parse(f"  {text}\t").terms == flt.terms  # surrounding space changes nothing


@settings(max_examples=CI_EXAMPLES)
@given(text=filter_text)
def test_fuzz_filter_parser(filter_db, text):
    check_filter(filter_db, text)


@long_run
@given(text=filter_text)
def test_fuzz_filter_parser_long(filter_db, text):
    check_filter(filter_db, text)


# --- times and durations --------------------------------------------------------------------------

durations = st.one_of(hostile_text, st.builds(lambda n, u: f"{n}{u}", st.one_of(big_ints, floats),
                                              st.sampled_from(["s", "m", "min", "h", "d", "w", "y", "", " h"])))


def check_times(when: str, span: str) -> None:
    from synconsole.cli import actions as cli

    for parse in (clock.parse_utc,):
        try:
            value = parse(when)
        except ValueError as exc:
            one_line(exc)
        else:
            assert clock.EARLIEST <= value < clock.LATEST
            value + clock.LONGEST, value - clock.LONGEST  # noqa: B018 - no overflow
    try:
        delta = clock.parse_duration(span, "smhdw")
    except ValueError as exc:
        one_line(exc)
    else:
        assert timedelta(0) < delta <= clock.LONGEST
        NOW - delta, NOW + delta  # noqa: B018
    for text in (when, span):
        try:
            since = rep.parse_when(text, NOW)
        except UsageError as exc:
            one_line(exc)
        else:
            assert since <= NOW and since >= NOW - clock.LONGEST - timedelta(days=1) or since >= clock.EARLIEST
    for parse in (lambda t: cli._when(t, "START"), lambda t: cli._duration(t, "--for")):
        for text in (when, span):
            try:
                parse(text)
            except UsageError as exc:
                one_line(exc)


@settings(max_examples=CI_EXAMPLES)
@given(iso_times, durations)
def test_fuzz_time_and_duration_parsers(when, span):
    check_times(when, span)


test_fuzz_time_and_duration_parsers_long = long_run(given(iso_times, durations)(check_times))
