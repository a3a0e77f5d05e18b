"""A small hostile Cal.com on loopback: raw HTTP over asyncio streams in a thread of its own, each
behaviour chosen per test. It answers what a broken or malicious server could: headers then one
byte a second, a 201 that is not JSON, a uid with a slash, a 401, an absurd rate-limit reset, a
10 MB error body. Requests it saw are kept (method, path) so tests can tell what was sent."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

LORIS = "loris"  # headers, then one byte a second, forever


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def envelope(data) -> bytes:
    return json.dumps({"status": "success", "data": data}).encode()


def empty_list() -> Answer:
    return Answer(200, json.dumps({"status": "success", "data": [],
                                   "pagination": {"hasNextPage": False, "totalItems": 0}}).encode())


def booking(uid: str, start: str = "2030-01-01T10:00:00Z") -> Answer:
    return Answer(201, envelope({"id": 1, "uid": uid, "status": "accepted", "start": start, "end": start}))


#: route(method, path, body) -> Answer or LORIS
Route = Callable[[str, str, bytes], "Answer | str"]


def default_route(method: str, path: str, body: bytes = b"") -> Answer | str:
    if method == "GET" and path.split("?")[0] == "/v2/bookings":
        return empty_list()
    return Answer(500, b'{"statusCode":500,"message":"hostile default"}')


class HostileServer:
    def __init__(self, route: Route = default_route) -> None:
        self.route = route
        self.seen: list[tuple[str, str]] = []
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hostile-calcom", daemon=True)
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HostileServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("hostile server did not start")
        return self

    def stop(self) -> None:
        def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.call_later(0.2, self.loop.stop)

        self.loop.call_soon_threadsafe(close)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def begin() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self.loop.run_until_complete(begin())
        self.loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                self.seen.append((method, path))
                answer = self.route(method, path, body)
                if answer == LORIS:
                    writer.write(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 1000000\r\n\r\n")
                    await writer.drain()
                    while True:
                        writer.write(b" ")
                        await writer.drain()
                        await asyncio.sleep(1)
                reason = {200: "OK", 201: "Created", 401: "Unauthorized", 429: "Too Many Requests"}.get(
                    answer.status, "Error")
                headers = {"Content-Type": "application/json", **answer.headers,
                           "Content-Length": str(len(answer.body))}
                writer.write(f"HTTP/1.1 {answer.status} {reason}\r\n".encode()
                             + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + b"\r\n"
                             + answer.body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError, ValueError):
            pass
        finally:
            writer.close()
