"""The service against its own /openapi.json (issue 13): schemathesis generates requests from
the published contract, with a bounded number of examples per endpoint, and every answer must
be a documented status with a body of its schema; never a 500, whatever a client sends."""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engine.service.app import create_app
from engine.service.certificates import routes
from engine.service.state import Loaded, Service

SERVICE = Service(Loaded.load(None), None)
APP = create_app(SERVICE, routes(SERVICE))
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)


@SCHEMA.parametrize()
@hypothesis.settings(max_examples=25, deadline=None, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))  # fmt: skip
def test_every_endpoint_keeps_its_contract(case: schemathesis.Case) -> None:
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                             response_schema_conformance,
                                             content_type_conformance])  # fmt: skip
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["status"] == response.status_code and error["diagnostics"]


HOSTILE = [b"\x00", b"[" * 5000 + b"]" * 5000, b'{"a":' * 300 + b"1" + b"}" * 300,
           b'"' + b"x" * 100_000 + b'"', b"1e999999"]  # fmt: skip


@pytest.mark.parametrize("body", HOSTILE)
def test_hostile_bodies_are_refused_not_crashed(body: bytes) -> None:
    from starlette.testclient import TestClient

    client = TestClient(APP)
    for path in ("/v1/decide", "/v1/batch"):
        response = client.post(path, content=body)
        assert 400 <= response.status_code < 500, (path, body[:20], response.text[:300])
