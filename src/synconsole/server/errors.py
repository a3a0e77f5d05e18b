"""Every error the server answers is JSON ``{"code", "message"}``; the codes are stable."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

logger = logging.getLogger("synconsole.server")

#: code -> HTTP status (the OpenAPI document lists them)
CODES = {
    "bad_request": 400,
    "bad_body": 400,
    "unauthorized": 401,
    "missing_signature": 401,
    "bad_signature": 401,
    "unsigned": 401,
    "forbidden": 403,
    "read_only": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "too_large": 413,
    "unsupported_media_type": 415,
    "internal": 500,
    "busy": 503,
    "not_ready": 503,
}


def error(code: str, message: str, status: int | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status or CODES[code], headers=headers)


async def http_exception(request: Request, exc: HTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
    message = {404: f"no such endpoint: {request.url.path}",
               405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
    return error(code, message, exc.status_code, headers=getattr(exc, "headers", None))


async def internal(request: Request, exc: Exception) -> JSONResponse:
    # the type only: an exception's text may quote the request (tokens, contacts)
    logger.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return error("internal", "internal error; see the server log")
