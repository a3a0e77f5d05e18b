"""One typed error for every way a Cal.com call can fail.

Cal.com answers errors in two body shapes (the HttpException envelope and the bare
``{statusCode, message}`` of the booking core and of any 500), sometimes with a body that is
not JSON at all, and sometimes not at all (timeout, dropped connection). All of them become a
:class:`CalcomError` carrying the HTTP status, the Cal.com code, the message and the full raw body,
which is what the classifier and the attempt log need.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

#: How the failure happened on the wire.
KIND_HTTP = "http"  # Cal.com answered with a non-2xx status
KIND_TIMEOUT = "timeout"  # no answer in time: outcome unknown
KIND_CONNECTION = "connection"  # connect refused or connection dropped: outcome may be unknown
KIND_INVALID_RESPONSE = "invalid_response"  # 2xx whose body is not what the API promises
KIND_NOT_SENT = "not_sent"  # given up before it was sent (the client is stopping): nothing happened


@dataclass(eq=False)
class CalcomError(Exception):
    """A failed Cal.com call. Never carries the API key."""

    status: int | None
    message: str
    code: str | None = None
    body: str = ""
    kind: str = KIND_HTTP
    details: object = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.summary())

    def summary(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else self.kind
        code = f" {self.code}" if self.code else ""
        return f"{where}{code}: {self.message}"

    def __str__(self) -> str:
        return self.summary()

    @property
    def outcome_unknown(self) -> bool:
        """True when the request may have been executed by Cal.com even though we saw no success."""
        if self.kind in (KIND_TIMEOUT, KIND_CONNECTION):
            return True
        if (self.kind == KIND_INVALID_RESPONSE and self.status is not None and 200 <= self.status < 300
                and not (isinstance(self.details, dict) and self.details.get("invalid_uid"))):
            return True  # Cal.com said it did something, in a way we cannot read: look it up
        return self.status is not None and self.status >= 500


def _text(body: bytes | str) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="replace")
    return body


def parse_error_body(status: int, body: bytes | str, headers: dict[str, str] | None = None) -> CalcomError:
    """Turn an error response (either body shape, or no JSON at all) into a :class:`CalcomError`."""
    raw = _text(body)
    hdrs = dict(headers or {})
    try:
        data = json.loads(raw) if raw.strip() else None
    except ValueError:
        data = None

    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and ("message" in err or "code" in err):
            return CalcomError(
                status=status,
                message=_message(err.get("message")),
                code=_str_or_none(err.get("code")),
                body=raw,
                details=err.get("details"),
                headers=hdrs,
            )
        if "message" in data:
            return CalcomError(
                status=status,
                message=_message(data.get("message")),
                code=_str_or_none(data.get("error")) if isinstance(data.get("error"), str) else None,
                body=raw,
                headers=hdrs,
            )
    excerpt = " ".join(raw.split())[:200]
    message = f"non-JSON error body: {excerpt}" if excerpt else "empty error body"
    return CalcomError(status=status, message=message, body=raw, headers=hdrs)


def _message(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # class-validator sometimes yields a list of messages
        return ",".join(str(v) for v in value)
    return "" if value is None else json.dumps(value)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
