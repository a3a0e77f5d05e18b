"""Start a throwaway PostgreSQL 15 cluster on 127.0.0.1 (for tests and benchmarks)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path(os.environ.get("SYNCONSOLE_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    datadir: Path
    port: int
    as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"],
                       capture_output=True, check=False)
        shutil.rmtree(self.datadir, ignore_errors=True)


def start_postgres(base: Path) -> PgServer:
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(f"PostgreSQL binaries not found under {PG_BIN}")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise RuntimeError("psycopg is not installed (pip install '.[postgres]')") from None
    as_user: list[str] = []
    datadir = Path("/tmp") / f"synconsole-pg-{os.getpid()}-{_free_port()}"
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
    datadir.mkdir(parents=True)
    if as_user:
        shutil.chown(datadir, "postgres", "postgres")
    port = _free_port()
    run = lambda *cmd: subprocess.run([*as_user, *cmd], capture_output=True, text=True)  # noqa: E731
    r = run(str(PG_BIN / "initdb"), "-D", str(datadir), "-A", "trust", "-U", "postgres", "--no-sync")
    if r.returncode:
        raise RuntimeError(f"initdb failed: {r.stderr.strip()[:300]}")
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {datadir} -c fsync=off -c synchronous_commit=off " \
           "-c full_page_writes=off -c max_connections=200"
    r = run(str(PG_BIN / "pg_ctl"), "-D", str(datadir), "-o", opts, "-l", str(datadir / "log"), "-w", "start")
    if r.returncode:
        raise RuntimeError(f"pg_ctl start failed: {r.stderr.strip()[:300]}")
    return PgServer(datadir=datadir, port=port, as_user=as_user)
