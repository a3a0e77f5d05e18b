"""`GET /metrics` parses with prometheus_client's parser and says what `status --json` says."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from synconsole.simulator import SimulatorServer
from synconsole.core import metrics
from synconsole.core.models import RateBudget, SyncAttempt
from synconsole.jobs.sync import SyncEngine

from tests.conftest import write
from tests.engine.helpers import EVENT_TYPES, KEY, appointment, client_for, load, people, settings_for, soon
from tests.server.conftest import server_settings


def scrape(served) -> dict[str, dict[tuple, float]]:
    answer = served.http.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(answer.text):
        assert family.name.startswith("synconsole_"), family.name
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def one(samples, name: str) -> float:
    (value,) = samples[name].values()
    return value


async def _failures_and_successes(db, tmp_path, sim):
    t = soon()
    load(db, tmp_path, people() + [
        appointment("ok-1", t), appointment("ok-2", t + timedelta(hours=1)),
        appointment("past", t - timedelta(days=30)), appointment("no-staff", t, staff=None),
        appointment("anon", t + timedelta(hours=2), customer="c-anon"),
        appointment("750", t + timedelta(days=1), staff="s-1"), appointment("751", t + timedelta(days=1), staff="s-1b"),
        appointment("later", t + timedelta(days=3)),
    ])
    settings = settings_for(sim.url, db.url)
    async with client_for(settings) as client:
        engine = SyncEngine(db, settings, client, worker="w")
        await engine.drain()


async def test_metrics_equal_status_json(db, serve, run_cli, tmp_path):
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as sim:
        await _failures_and_successes(db, tmp_path, sim)
    # one more appointment waits: pending
    load(db, tmp_path, [appointment("waiting", soon(days=5))])
    with db.write() as session:  # and an alert is active
        metrics.raise_event_alert(session, "log_fallback", "the log file could not be written")
        session.add(RateBudget(id="acme", limit_per_minute=300, burst=6, tokens=6.0, refreshed_at=time.time()))
        session.commit()
    served = serve(server_settings(db.url), db)
    samples = scrape(served)
    config = write(tmp_path / "c.toml", f'[database]\nurl = "{db.url}"\n')
    code, out, err = run_cli("status", "--json", "--config", str(config))
    assert code in (0, 1, 2), err
    status = json.loads(out)

    assert status["failed"] == 4 and status["pending"] == 1  # the scenario did what it should
    assert one(samples, "synconsole_appointments_failed") == status["failed"]
    assert one(samples, "synconsole_appointments_pending") == status["pending"]
    assert one(samples, "synconsole_appointments_manual_review") == status["manual_review"]
    assert one(samples, "synconsole_appointments_ancient_failures") == status["ancient_failures"]
    assert one(samples, "synconsole_alerts_critical") == status["critical_alerts"]
    assert one(samples, "synconsole_success_rate_24h_ratio") == pytest.approx(status["success_rate_24h"])
    assert one(samples, "synconsole_success_rate_24h_appointments") == status["success_rate_appointments"]
    assert {dict(k)["category"]: v for k, v in samples["synconsole_failures"].items()} == status["by_category"]
    assert {dict(k)["age"]: v for k, v in samples["synconsole_failures_by_age"].items()} == status["by_age"]
    assert {dict(k)["kind"]: v for k, v in samples["synconsole_failures_by_kind"].items()} == status["by_kind"]
    alerts = {(a["id"], a["severity"]): a["count"] for a in status["alerts"]}
    assert {(dict(k)["alert"], dict(k)["severity"]): v for k, v in samples.get("synconsole_alert_count", {}).items()} == alerts
    assert alerts
    assert set(samples.get("synconsole_alert_active", {}).values()) <= {1.0}

    with db.session() as session:
        attempts = session.execute(sa.select(sa.func.count()).select_from(SyncAttempt)).scalar_one()
        by_outcome = dict(session.execute(sa.select(SyncAttempt.outcome, sa.func.count())
                                          .group_by(SyncAttempt.outcome)).all())
        timed = session.execute(sa.select(sa.func.count(SyncAttempt.duration_ms))).scalar_one()
    counted = samples["synconsole_sync_attempts_total"]
    assert sum(counted.values()) == attempts
    for outcome, n in by_outcome.items():
        assert sum(v for k, v in counted.items() if dict(k)["outcome"] == outcome) == n
    assert samples["synconsole_calcom_request_duration_seconds_count"][()] == timed
    buckets = samples["synconsole_calcom_request_duration_seconds_bucket"]
    assert buckets[(("le", "+Inf"),)] == timed
    assert list(buckets.values()) == sorted(buckets.values())  # cumulative
    assert samples["synconsole_calcom_rate_limit_per_minute"] == {(("account", "acme"),): 300}
    assert samples["synconsole_calcom_rate_budget_tokens"] == {(("account", "acme"),): 6}


async def test_metrics_of_an_empty_database(db, serve):
    served = serve(server_settings(db.url), db)
    samples = scrape(served)
    assert one(samples, "synconsole_appointments_failed") == 0
    assert "synconsole_success_rate_24h_ratio" not in samples  # no attempts: no rate, not a fake 0 or 1


def test_scrapes_answer_from_a_result_refreshed_in_the_background(db, serve, tmp_path):
    """A million appointments make one computation take a second: scrapes answer from the last
    result, which a background refresh keeps within ``metrics_refresh_s`` while someone scrapes."""
    load(db, tmp_path, people() + [appointment("p1", soon(days=5))])
    served = serve(server_settings(db.url, metrics_refresh_s=0.5), db)
    first = scrape(served)
    assert one(first, "synconsole_appointments_pending") == 1
    load(db, tmp_path, [appointment("p2", soon(days=6))])
    assert one(scrape(served), "synconsole_appointments_pending") == 1  # the last result, at once
    deadline = time.monotonic() + 10
    while one(latest := scrape(served), "synconsole_appointments_pending") != 2:
        assert time.monotonic() < deadline, "the background refresh never came"
        time.sleep(0.1)
    assert (one(latest, "synconsole_metrics_computed_timestamp_seconds")
            > one(first, "synconsole_metrics_computed_timestamp_seconds"))


def test_with_refresh_zero_every_scrape_reads_the_database(db, serve, tmp_path):
    load(db, tmp_path, people() + [appointment("p1", soon(days=5))])
    served = serve(server_settings(db.url, metrics_refresh_s=0), db)
    assert one(scrape(served), "synconsole_appointments_pending") == 1
    load(db, tmp_path, [appointment("p2", soon(days=6))])
    assert one(scrape(served), "synconsole_appointments_pending") == 2
