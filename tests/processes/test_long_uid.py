"""A Cal.com that answers with a booking uid of 10 KB (the in-process simulator's uid generator made
hostile), through the real `synconsole sync --once` on PostgreSQL: the uid is refused on receipt,
the appointment ends with a readable failure, nothing is left in flight and nothing crashes."""

from __future__ import annotations

import random
import string

import pytest

from tests.processes.support import DbView, appointment_ids, import_rows, run_cli, scenario, write_config


@pytest.mark.postgres
def test_a_10_kb_booking_uid_is_refused_on_receipt(pg_url, tmp_path, make_sim):
    sim = make_sim()
    rnd = random.Random(5)  # random letters: PostgreSQL cannot compress them below its index row limit
    sim.state.store.new_uid = lambda: "".join(rnd.choice(string.ascii_letters) for _ in range(10_004))
    config = write_config(tmp_path / "c.toml", db_url=pg_url, sim_url=sim.url, log_path=tmp_path / "s.log")
    import_rows(config, scenario(3), tmp_path)
    result = run_cli("sync", "--once", "--config", str(config), cwd=tmp_path, timeout=120)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode == 0, result.stderr
    view = DbView(pg_url)
    try:
        appts = view.appointments()
        assert sorted(appts) == appointment_ids(3)
        for a in appts.values():
            assert a.sync_state == "failed" and a.booking_uid is None, a
            assert "not a Cal.com uid (10004 characters" in a.last_error
        assert view.scalar("SELECT max(length(booking_uid)) FROM sync_attempts") is None
    finally:
        view.close()
    code = run_cli("show", "a0000", "--config", str(config), cwd=tmp_path)
    assert code.returncode == 0 and "not a Cal.com uid" in code.stdout
