"""A tiny receiver for apprise's ``json://`` posts on loopback: the demo's on-call engineer.
Each message becomes lines in a file, so the demo's outage visibly notifies someone."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from synconsole.core import clock


class Inbox:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.received: list[dict] = []
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    message = json.loads(data)
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                inbox.received.append(message)
                with inbox.path.open("a", encoding="utf-8") as out:
                    out.write(f"--- {clock.iso(clock.now())} {message.get('title', '')}\n{message.get('message', '')}\n")
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/demo-oncall"
        threading.Thread(target=self.server.serve_forever, daemon=True, name="demo-inbox").start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
