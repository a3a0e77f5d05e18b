"""Start a throwaway MariaDB server on 127.0.0.1 (Debian's mariadb-server), for the live-source tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.pgserver import _free_port

BIN = Path(os.environ.get("SYNCONSOLE_MARIADB_BIN", "/usr/sbin"))


@dataclass
class MariaDbServer:
    datadir: Path
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/mysql"

    def halt(self) -> None:
        """Stop the server, keeping its data (an outage)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def restart(self) -> None:
        self.process = _run_server(self.datadir, self.port)

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.datadir, ignore_errors=True)


def start_mariadb() -> MariaDbServer:
    server = BIN / "mariadbd"
    install = shutil.which("mariadb-install-db")
    if not server.exists() or install is None:
        raise RuntimeError(f"MariaDB not found ({server}; apt-get install mariadb-server)")
    try:
        import pymysql  # noqa: F401
    except ImportError:
        raise RuntimeError("PyMySQL is not installed (pip install '.[mysql]')") from None
    datadir = Path("/tmp") / f"synconsole-mariadb-{os.getpid()}-{_free_port()}"
    datadir.mkdir(parents=True)
    user = ["--user=mysql"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        shutil.chown(datadir, "mysql", "mysql")
    r = subprocess.run([install, "--no-defaults", f"--datadir={datadir}", *user,
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"mariadb-install-db failed: {(r.stderr or r.stdout).strip()[:300]}")
    port = _free_port()
    return MariaDbServer(datadir, port, _run_server(datadir, port))


def _run_server(datadir: Path, port: int) -> subprocess.Popen:
    user = ["--user=mysql"] if os.geteuid() == 0 else []
    process = subprocess.Popen(
        [str(BIN / "mariadbd"), "--no-defaults", f"--datadir={datadir}", f"--socket={datadir}/sock",
         f"--port={port}", "--bind-address=127.0.0.1", "--skip-name-resolve", f"--log-error={datadir}/error.log",
         f"--pid-file={datadir}/pid", "--innodb-flush-log-at-trx-commit=2", *user],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ping = subprocess.run(["mariadb-admin", "-h127.0.0.1", f"-P{port}", "-uroot", "ping"], capture_output=True)
        if ping.returncode == 0:
            return process
        if process.poll() is not None:
            break
        time.sleep(0.2)
    log = (datadir / "error.log").read_text(errors="replace")[-500:] if (datadir / "error.log").exists() else ""
    process.kill()
    raise RuntimeError(f"MariaDB did not start: {log}")
