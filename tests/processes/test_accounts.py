"""Two Cal.com accounts (two keys, two Cal.coms with their own limits) and two `synconsole worker`
processes on one database: each key stays under its own limit while both accounts make progress,
and a key revoked on one account pauses that account only (a critical alert naming it, never its
key), while the other account goes on booking."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from tests.processes.support import (
    import_rows,
    log_problems,
    run_cli,
    scenario,
    sim_stats,
    wait_for,
    while_running,
    write_config,
)

KEY_A, KEY_B = "cal_live_account_default_7f3a", "cal_live_account_acme_19c2"
LIMIT_A, LIMIT_B = 30, 20  # per 60 s, each key its own


def _config(path, db_url, sim_a, sim_b, log_path):
    write_config(path, db_url=db_url, sim_url=sim_a.url, log_path=log_path,
                 calcom={"api_key": KEY_A, "rate_limit_per_minute": LIMIT_A}, sync={"batch_size": 10})
    with path.open("a", encoding="utf-8") as f:
        f.write(f'[[calcom.accounts]]\nid = "acme"\nbase_url = "{sim_b.url}"\napi_key = "{KEY_B}"\n'
                f"rate_limit_per_minute = {LIMIT_B}\ntimeout_s = 10.0\nmax_concurrency = 4\n")
    return path


def _rows():
    """Staff s-1 books through the default account, s-2 through acme."""
    rows = scenario(200)
    for r in rows:
        if r["kind"] == "staff" and r["id"] == "s-2":
            r["calcom_account"] = "acme"
    return rows


def _bookings(sim) -> int:
    return int(sim_stats(sim.url)["bookings"])


@pytest.mark.slow
def test_two_accounts_each_under_its_own_limit_and_a_revoked_key_pauses_only_its_account(
        db_url, tmp_path, procs, make_sim, view_of):
    sim_a = make_sim(api_key=KEY_A, rate_limit=LIMIT_A, block_s=60, rate_window_s=60)
    sim_b = make_sim(api_key=KEY_B, rate_limit=LIMIT_B, block_s=60, rate_window_s=60)
    configs = [_config(tmp_path / f"worker-{n}.toml", db_url, sim_a, sim_b, tmp_path / f"worker-{n}.log")
               for n in range(2)]
    created = run_cli("db", "upgrade", "--config", str(configs[0]), cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    import_rows(configs[0], _rows(), tmp_path)
    workers = [procs.start(f"worker-{n}", "worker", "--config", str(cfg), log=tmp_path / f"worker-{n}.log")
               for n, cfg in enumerate(configs)]
    for w in workers:
        wait_for(lambda w=w: "running:" in w.stderr(), timeout=60, what=f"{w.name} to start", procs=workers)

    # Both accounts progress, each key under its own limit, for more than one of Cal.com's windows.
    wait_for(lambda: _bookings(sim_a) and _bookings(sim_b), timeout=60, what="bookings in both", procs=workers)
    time.sleep(65)
    a, b = sim_stats(sim_a.url), sim_stats(sim_b.url)
    for stats, limit in ((a, LIMIT_A), (b, LIMIT_B)):
        assert stats["throttle"]["throttled_429"] == 0 and stats["throttle"]["received_while_blocked"] == 0, stats
        assert stats["bookings"] >= limit * 0.8, stats  # progress: most of a window's budget booked
    view = view_of(db_url)
    booked_by = {r.calcom_account: r.n for r in view.rows(
        "SELECT s.calcom_account, count(*) AS n FROM appointments a JOIN staff s ON s.id = a.staff_id "
        "WHERE a.sync_state = 'synced' GROUP BY s.calcom_account")}
    assert booked_by.get("default", 0) >= a["bookings"] - 4 and booked_by.get("acme", 0) >= b["bookings"] - 4

    # acme's key is revoked in its Cal.com: acme pauses, with a critical alert naming it; default goes on.
    sim_b.state._key_hash = hashlib.sha256(b"cal_a_new_key_nobody_has").digest()
    paused = wait_for(lambda: view.rows("SELECT id, paused_reason FROM calcom_accounts WHERE paused"),
                      timeout=60, what="acme to pause", procs=workers)
    assert [r.id for r in paused] == ["acme"], paused
    assert "acme" in paused[0].paused_reason and KEY_B not in paused[0].paused_reason
    alert = wait_for(lambda: view.rows("SELECT severity, message FROM alert_state WHERE id = 'auth_failure' "
                                       "AND active"), timeout=30, what="the auth alert", procs=workers)
    assert alert[0].severity == "critical" and "account acme" in alert[0].message, alert
    before_a = _bookings(sim_a)
    requests_b = sim_stats(sim_b.url)["throttle"]["requests"]
    wait_for(lambda: _bookings(sim_a) >= before_a + 5, timeout=60, what="default to go on booking", procs=workers)
    assert sim_stats(sim_b.url)["throttle"]["requests"] <= requests_b + 2 * len(workers)  # at most a probe each
    assert view.scalar("SELECT count(*) FROM job_state WHERE id = 'sync' AND paused") == 0  # the job goes on

    for w in workers:
        assert w.stop() == 0, w.describe()
    for n, w in enumerate(workers):
        text = while_running(w.stderr()) + (tmp_path / f"worker-{n}.log").read_text()
        assert not log_problems(text), log_problems(text)[:5]
        assert KEY_A not in text and KEY_B not in text
    status = json.loads(run_cli("status", "--json", "--config", str(configs[0]), cwd=tmp_path).stdout)
    assert KEY_B not in json.dumps(status)
