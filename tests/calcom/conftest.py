"""Fixtures for the Cal.com client and simulator tests (no shared helper modules: fixtures only)."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import jsonschema
import pytest
import referencing
from referencing.jsonschema import DRAFT202012

OPENAPI_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "openapi-v2-bookings-slots.json"
OPENAPI_URI = "urn:calcom-openapi"
TEST_KEY = "cal_test_0123456789abcdefSECRET"


class OpenAPI:
    """The OpenAPI subset, with validators for its component schemas."""

    def __init__(self, doc: dict) -> None:
        self.doc = doc
        resource = referencing.Resource(contents=doc, specification=DRAFT202012)
        self.registry = referencing.Registry().with_resource(OPENAPI_URI, resource)

    def validator(self, name: str) -> jsonschema.Draft202012Validator:
        """The published component schema, $refs resolved through the registry."""
        ref = {"$ref": f"{OPENAPI_URI}#/components/schemas/{name}"}
        return jsonschema.Draft202012Validator(ref, registry=self.registry)

    def strict_validator(self, name: str) -> jsonschema.Draft202012Validator:
        """The component inlined, with ``additionalProperties: false`` on every object.

        Cal.com rejects unknown fields, which the published (cut) schemas do not say; strict
        validation is what a request body must pass.
        """
        return jsonschema.Draft202012Validator(self._strict(self.doc["components"]["schemas"][name]))

    def operation(self, path: str, method: str) -> dict:
        return self.doc["paths"][path][method]

    def query_params(self, path: str, method: str) -> dict[str, dict]:
        return {p["name"]: p for p in self.operation(path, method)["parameters"] if p["in"] == "query"}

    def header_default(self, path: str, method: str, header: str) -> str:
        for p in self.operation(path, method)["parameters"]:
            if p["in"] == "header" and p["name"] == header:
                return p["schema"]["default"]
        raise KeyError(header)

    def _strict(self, schema):
        if isinstance(schema, list):
            return [self._strict(s) for s in schema]
        if not isinstance(schema, dict):
            return schema
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            return self._strict(copy.deepcopy(self.doc["components"]["schemas"][name]))
        if "allOf" in schema and len(schema["allOf"]) == 1 and set(schema) == {"allOf"}:
            return self._strict(schema["allOf"][0])
        out = {k: self._strict(v) for k, v in schema.items()}
        if "properties" in out:
            # Required names the cut schema forgot to list (e.g. ``description``) are allowed too.
            for name in out.get("required", []):
                out["properties"].setdefault(name, {})
            out["additionalProperties"] = False
        return out


@pytest.fixture(scope="session")
def openapi() -> OpenAPI:
    return OpenAPI(json.loads(OPENAPI_PATH.read_text(encoding="utf-8")))


@pytest.fixture
def api_key() -> str:
    return TEST_KEY


@pytest.fixture
def future():
    """``future(hours)``: a whole hour in UTC, three days from now plus ``hours``."""
    base = (datetime.now(timezone.utc) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)

    def at(hours: float = 0) -> datetime:
        return base + timedelta(hours=hours)

    return at


class FakeTime:
    """A clock and a sleep for deterministic limiter tests: sleeping advances the clock."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        target = self.now + seconds
        await asyncio.sleep(0)
        self.now = max(self.now, target)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


class Recorder(httpx.AsyncBaseTransport):
    """Passes requests to another transport and keeps them (and the responses) for inspection."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []
        self.responses: list[tuple[httpx.Request, int, bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        self.responses.append((request, response.status_code, body))
        return httpx.Response(response.status_code, headers=response.headers, content=body, request=request)


@pytest.fixture
def recorder_factory():
    return Recorder
