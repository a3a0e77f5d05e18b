"""The API fuzzed against its own /openapi.json (schemathesis): no 500, no traceback, every answer
matches the document. A bounded example count in the normal run (CI); many more with -m slow."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from synconsole.core.db import open_database
from synconsole.server.openapi import document

from tests.engine.helpers import appointment, load, people, soon
from tests.server.conftest import TOKEN, Served, server_settings

schema = schemathesis.openapi.from_dict(document())


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx, value) -> bytes:
    rows = value if isinstance(value, list) else [value]
    return "".join(json.dumps(row) + "\n" for row in rows).encode()

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from synconsole.server.app import create_app

    folder = tmp_path_factory.mktemp("fuzz")
    db = open_database(f"sqlite:///{folder / 'fuzz.db'}")
    load(db, folder, people() + [appointment("booked", soon(), staff="s-1")])
    server = Served(create_app(server_settings(db.url, max_body_bytes=65536), db))
    yield server
    server.stop()
    db.dispose()


def _call(case, served) -> None:
    response = case.call_and_validate(base_url=served.url, headers={"authorization": f"Bearer {TOKEN}"},
                                      checks=CHECKS)
    assert "Traceback" not in response.text


def test_openapi_document_is_served(served):
    assert served.http.get("/openapi.json").json() == document()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_matches_its_openapi_document(case, served):
    _call(case, served)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_matches_its_openapi_document_long(case, served):
    _call(case, served)
