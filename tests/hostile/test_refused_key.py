"""A Cal.com that refuses the key (401): the batch stops at the first refusal, the rest of the
claimed appointments are released unsent, and the sync pauses (exit code 1, one line)."""

from __future__ import annotations

from tests.hostile.server import Answer
from tests.processes.support import DbView, import_rows, run_cli, scenario, write_config

REFUSED = b'{"status":"error","error":{"code":"UnauthorizedException","message":"Invalid API Key"}}'


def test_the_first_401_stops_the_batch(tmp_path, hostile):
    server = hostile(lambda method, path, body=b"": Answer(401, REFUSED))
    db_url = f"sqlite:///{tmp_path / 'sync.db'}"
    config = write_config(tmp_path / "c.toml", db_url=db_url, sim_url=server.url, log_path=tmp_path / "s.log",
                          calcom={"max_concurrency": 1}, sync={"batch_size": 10})
    import_rows(config, scenario(10), tmp_path)
    result = run_cli("sync", "--once", "--config", str(config), cwd=tmp_path)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr + result.stdout
    assert "refused the API key" in result.stderr
    assert len(server.seen) == 1, f"{len(server.seen)} requests after the first refusal: {server.seen}"
    view = DbView(db_url)
    try:
        appts = view.appointments()
        assert all(a.claimed_by is None for a in appts.values()), appts
        assert all(a.sync_state != "in_flight" for a in appts.values()), appts
        assert view.scalar("SELECT count(*) FROM sync_attempts") == 1
    finally:
        view.close()
