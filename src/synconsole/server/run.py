"""Run the app under uvicorn until SIGTERM or SIGINT (a graceful stop: requests in progress get a
few seconds, the webhook job is cancelled; recorded events stay pending for the next start)."""

from __future__ import annotations

import signal
import socket
import sys
import threading
from typing import TextIO

from synconsole.config import Settings
from synconsole.core.db import Database

GRACE_S = 3


def bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_server(settings: Settings, db: Database):
    import uvicorn

    from synconsole.server.app import create_app

    config = uvicorn.Config(create_app(settings, db), log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=GRACE_S, server_header=False)
    return uvicorn.Server(config)


def serve(settings: Settings, db: Database, *, host: str, port: int, out: TextIO | None = None) -> None:
    """Blocking. Prints the URL it listens on as the first line of ``out`` (stdout by default)."""
    server = make_server(settings, db)
    sock = bind(host, port)
    print(url_of(sock), file=out or sys.stdout, flush=True)
    # uvicorn stops gracefully on SIGTERM/SIGINT, then raises the signal again with the handlers it
    # found; ours turn that into a normal return (exit status 0, no traceback)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, _raise_stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    except (_Stopped, KeyboardInterrupt):
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()


class _Stopped(Exception):
    pass


def _raise_stopped(signum, frame) -> None:
    raise _Stopped()


class InThread:
    """The server on its own thread and event loop, beside something else (``worker --serve``):
    uvicorn leaves signals alone off the main thread, so the host process keeps its own handling
    and stops this with :meth:`stop`."""

    def __init__(self, settings: Settings, db: Database, *, host: str, port: int) -> None:
        self.server = make_server(settings, db)
        self.sock = bind(host, port)
        self.url = url_of(self.sock)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="synconsole-serve", daemon=True)

    def start(self, timeout_s: float = 10.0) -> "InThread":
        import time

        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=GRACE_S + 5)
        self.sock.close()
