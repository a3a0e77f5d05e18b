"""uvicorn on a socket of our own: in the foreground until SIGTERM/SIGINT, or on a thread beside
something else. The HTTP face (``server/run.py``) and the built-in Cal.com (``simulator/server.py``)
both serve this way; it imports nothing of ours, so either layer may use it."""

from __future__ import annotations

import signal
import socket
import threading
import time
from typing import Any


def bind(host: str, port: int, *, backlog: int = 512) -> socket.socket:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    family, _, _, _, address = infos[0]
    # IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on sockets whose protocol says TCP, and
    # without it every answer waits ~40 ms for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run_until_signalled(server: Any, sock: socket.socket) -> None:
    """Run ``server`` (a ``uvicorn.Server``) on ``sock`` until SIGTERM/SIGINT, then return normally."""
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
    """``server`` (a ``uvicorn.Server``) on ``sock`` in a thread of its own: uvicorn leaves signals
    alone off the main thread, so the host process keeps its own handling and calls :meth:`stop`."""

    def __init__(self, server: Any, sock: socket.socket, *, name: str, what: str, join_s: float) -> None:
        self.server = server
        self.sock = sock
        self.url = url_of(sock)
        self.what = what
        self.join_s = join_s
        self.thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)

    def start(self, timeout_s: float = 10.0):
        """Returns once the server listens; RuntimeError if it dies or takes longer than ``timeout_s``."""
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.what} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=self.join_s)
        self.sock.close()
