"""Run the app under uvicorn until SIGTERM or SIGINT (a graceful stop: requests in progress get a
few seconds, the webhook job is cancelled; recorded events stay pending for the next start)."""

from __future__ import annotations

import sys
from typing import TextIO

from synconsole import serving
from synconsole.config import Settings
from synconsole.core.db import Database
from synconsole.serving import bind, url_of

GRACE_S = 3


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
    serving.run_until_signalled(server, sock)


class InThread(serving.InThread):
    """The server on its own thread and event loop, beside something else (``worker --serve``, the demo)."""

    def __init__(self, settings: Settings, db: Database, *, host: str, port: int) -> None:
        super().__init__(make_server(settings, db), bind(host, port), name="synconsole-serve",
                         what="the HTTP server", join_s=GRACE_S + 5)
