"""Bounded requests: a body over ``[server] max_body_bytes`` gets 413 before the app sees it, and
more than ``max_concurrency`` requests at once get 503 (a pure ASGI middleware: the body is read
into memory only up to the limit)."""

from __future__ import annotations

import asyncio
import json


class Limits:
    def __init__(self, app, *, max_body_bytes: int, max_concurrency: int, on_too_large=None) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.slots = asyncio.Semaphore(max_concurrency)
        self.on_too_large = on_too_large

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/healthz":  # liveness answers under load too
            await self.app(scope, receive, send)
            return
        if self.slots.locked():
            await _answer(send, 503, "busy", "too many requests at once; retry shortly", {"retry-after": "1"})
            return
        async with self.slots:
            await self._limited(scope, receive, send)

    async def _limited(self, scope, receive, send) -> None:
        length = dict(scope.get("headers") or []).get(b"content-length")
        try:
            declared = int(length) if length is not None else None
        except ValueError:
            await _answer(send, 400, "bad_request", "Content-Length: expected an integer")
            return
        if declared is not None and declared > self.max_body:
            await self._too_large(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self._too_large(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope, send) -> None:
        if self.on_too_large is not None:
            self.on_too_large(scope.get("path", ""))
        await _answer(send, 413, "too_large", f"request body over the limit of {self.max_body} bytes "
                      "([server] max_body_bytes)", {"connection": "close"})


async def _answer(send, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"code": code, "message": message}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
