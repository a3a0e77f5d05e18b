"""The server over real HTTP on loopback: the app under uvicorn in a thread, on a free port."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time

import httpx
import pytest

from synconsole.config import parse_settings
from synconsole.server.app import create_app
from synconsole.server.run import bind, url_of

SECRET = "whsec-test-SECRET-0123"
TOKEN = "ingest-token-SECRET-4567"


class Served:
    def __init__(self, app) -> None:
        import uvicorn

        self.app = app
        sock = bind("127.0.0.1", 0)
        self.url = url_of(sock)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def stop(self) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(timeout=10)


def server_settings(db_url: str, **server):
    calcom = server.pop("calcom", None)
    data = {"database": {"url": db_url}, "server": {"webhook_secret": SECRET, "ingest_token": TOKEN, **server}}
    if calcom:
        data["calcom"] = calcom
    return parse_settings(data)


@pytest.fixture
def serve():
    """``serve(settings, db)`` -> a running :class:`Served` (stopped after the test)."""
    started: list[Served] = []

    def start(settings, db, env=None) -> Served:
        served = Served(create_app(settings, db, env=env))
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
