"""The OpenAPI document of the server (served at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any


def document() -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "synconsole", "version": "1"}, "paths": {}}
