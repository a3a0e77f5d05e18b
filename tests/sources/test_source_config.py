"""[[sources]] in the config: what is accepted, and one clear line (file, source, key) for the rest;
a password in a source URL never appears in any of them."""

from __future__ import annotations

import pytest

from synconsole.config import parse_settings
from synconsole.errors import ConfigError

Q = {"appointments": "SELECT id FROM appointments WHERE updated_at >= :since"}
URL = "mysql+pymysql://platform:s3cret-pw@db.internal/platform"


def source(**kw):
    return {"name": "platform", "url": URL, "queries": Q, **kw}


def test_a_source_with_its_defaults():
    (s,) = parse_settings({"sources": [source()]}).sources
    assert (s.name, s.kind, s.watermark, s.poll_interval_s, s.overlap_s, s.time_zone) == \
        ("platform", "sql", "updated_at", 5.0, 60.0, "UTC")
    assert s.resolve_url() == URL and "s3cret" not in repr(s)


def test_url_env_is_read_when_the_source_is_used():
    (s,) = parse_settings({"sources": [{"name": "p", "url_env": "PLATFORM_DB", "queries": Q}]}).sources
    assert s.resolve_url({"PLATFORM_DB": URL}) == URL
    with pytest.raises(ConfigError, match="^source p: environment variable PLATFORM_DB is not set"):
        s.resolve_url({})
    with pytest.raises(ConfigError, match=r"^source p: \$PLATFORM_DB: expected a mysql"):
        s.resolve_url({"PLATFORM_DB": "sqlite:///x.db"})


@pytest.mark.parametrize("sources, message", [
    ({"name": "p"}, r"\[\[sources\]\]: expected an array of tables"),
    ([source(name="bad name")], r"\[\[sources\]\] bad name name: expected a name"),
    ([source(), source()], r"name: expected a name used by one source only"),
    ([source(url=None, url_env="")], r"url: expected exactly one of url or url_env"),
    ([source(url_env="X")], r"url: expected exactly one of url or url_env"),
    ([source(url="sqlite:///platform.db")], r"url: expected a mysql\+pymysql:// or postgresql\+psycopg:// URL"),
    ([source(queries={})], r"queries: expected a table of SQL queries"),
    ([source(queries={"bookings": "SELECT 1 :since"})], r"queries.bookings: expected one of staff"),
    ([source(queries={"appointments": "SELECT * FROM appointments"})], r"expected an SQL query filtering"),
    ([source(poll_interval_s=0.1)], r"poll_interval_s: expected a number from 0.5"),
    ([source(time_zone="Mars/Olympus")], r"time_zone: expected an IANA time zone"),
    ([source(watermark="updated_at; DROP TABLE x")], r"watermark: expected a column name"),
    ([source(kind="csv")], r'kind: expected one of "sql"'),
    ([source(colour="blue")], r"colour: unknown key"),
])
def test_bad_sources_are_one_line_naming_the_key(sources, message):
    data = {"sources": sources}
    for entry in sources if isinstance(sources, list) else []:
        if entry.get("url") is None:
            entry.pop("url", None)
    with pytest.raises(ConfigError, match=message) as info:
        parse_settings(data)
    assert "s3cret" not in str(info.value) and "\n" not in str(info.value)
