"""Command-line conventions (issue 14, section 3): JSON refusals from `eval`, an honest `check`
summary and single-file checks, `test -k` and `--junit`, `python -m ordinance`, shell
completion, and facts of another jurisdiction ignored with a warning (CLI, API, service)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from starlette.testclient import TestClient

from engine.api import Policy
from engine.diagnostics import CaseError
from engine.service.app import create_app
from engine.service.state import Loaded, Service
from engine.tools.cli import main
from tests.conftest import GOLDEN, ROOT

EXAMPLE = ROOT / "examples" / "kent-co-and-permit.yaml"
TIE = GOLDEN / "kent" / "ord-4463" / "10-tie-at-three-years.yaml"
# A fact Houston declares and Kent does not: one record shape sent to every city.
HOUSTON_ONLY = "application.processed_on"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    return path


def example(**facts: Any) -> dict[str, Any]:
    """The Kent example case, with ``facts`` merged into its facts one group deep."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    for group, given in facts.items():
        data["facts"].setdefault(group, {}).update(given)
    return data


# --- 6. a fact of another jurisdiction is a warning, and ignored --------------------------------


def test_foreign_fact_in_the_api_and_the_bulk_path(policy: Policy) -> None:
    case = example(application={"processed_on": "2024-04-01"})
    result = policy.evaluate(case)
    assert [d.code for d in result.warnings] == ["case/foreign-fact"]
    assert result.to_dict() == policy.evaluate(example()).to_dict()
    wanted = ["permit.expires_on", "co.missing_approvals"]
    many = policy.values_many([case, example(), case], wanted)
    assert many == [policy.values(example(), wanted)] * 3
    with pytest.raises(CaseError) as refused:
        policy.values_many([case, example(application={"procesed_on": "2024-04-01"})], wanted)
    assert [d.code for d in refused.value.diagnostics] == ["case/unknown-fact"]


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(Service(Loaded.load(None), None)), raise_server_exceptions=False)


def test_the_service_decides_a_case_with_a_foreign_fact(client: TestClient) -> None:
    body = json.loads(json.dumps(example(application={"processed_on": "2024-04-01"}), default=str))
    response = client.post("/v1/decide", json=body)
    assert response.status_code == 200, response.text
    plain = client.post("/v1/decide", json=json.loads(json.dumps(example(), default=str))).json()
    assert response.json()["decisions"] == plain["decisions"]
    body["facts"]["application"] = {"procesed_on": "2024-04-01"}
    refused = client.post("/v1/decide", json=body)
    assert refused.status_code == 422
    assert [d["code"] for d in refused.json()["error"]["diagnostics"]] == ["case/unknown-fact"]
