"""The decision service in process (issue 13): /v1/decide answers what `ordinance eval --format
json` prints, /v1/batch what `values_many` computes, and every refusal is JSON with the CLI's
diagnostics located in the request body."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from starlette.testclient import TestClient

from engine.compile.load import read_case
from engine.service.app import create_app
from engine.service.convert import values_json
from engine.service.state import Loaded, Service
from engine.tools.cli import main
from tests.conftest import GOLDEN, ROOT

KENT = ROOT / "examples" / "kent-co-and-permit.yaml"
KENT_JSON = ROOT / "examples" / "kent-co-and-permit.json"


@pytest.fixture(scope="module")
def loaded() -> Loaded:
    return Loaded.load(None)


@pytest.fixture
def service(loaded: Loaded) -> Service:
    return Service(loaded, None)


@pytest.fixture
def client(service: Service) -> TestClient:
    return TestClient(create_app(service), raise_server_exceptions=False)


def as_json(path: Path) -> dict[str, Any]:
    """A YAML case file as the JSON body a permitting system would send."""
    data: dict[str, Any] = json.loads(json.dumps(yaml.safe_load(path.read_text("utf-8")),
                                                 default=str))  # fmt: skip
    data.pop("expect", None)
    return data


def golden_cases() -> list[Path]:
    return sorted(GOLDEN.glob("*/*/*.yaml"))


def test_the_json_example_is_the_yaml_example() -> None:
    assert json.loads(KENT_JSON.read_text("utf-8")) == as_json(KENT)


def test_decide_answers_what_eval_prints_plus_a_decision_id(client: TestClient,
                                                            loaded: Loaded) -> None:  # fmt: skip
    response = client.post("/v1/decide", content=KENT_JSON.read_bytes())
    assert response.status_code == 200
    body = response.json()
    eval_out = CliRunner().invoke(main, ["eval", str(KENT), "--format", "json"]).stdout
    expected = json.loads(eval_out)
    decision_id = body.pop("decision_id")
    assert response.headers["X-Decision-Id"] == decision_id and len(decision_id) == 26
    assert body.pop("policy_digest") == loaded.digest and len(loaded.digest) == 64
    assert body.pop("engine_version")
    assert body == expected


def test_decide_only_some_decisions_and_without_explanations(client: TestClient) -> None:
    response = client.post("/v1/decide?decisions=permit.expires_on,co.ready_for_inspection"
                           "&explain=false", content=KENT_JSON.read_bytes())  # fmt: skip
    body = response.json()
    assert sorted(body["decisions"]) == ["co.ready_for_inspection", "permit.expires_on"]
    assert body["decisions"]["permit.expires_on"]["value"] == "2026-04-28"
    assert body["decisions"]["permit.expires_on"]["because"] == []


def test_decision_ids_differ_and_sort_by_time(client: TestClient) -> None:
    ids = [client.post("/v1/decide", content=KENT_JSON.read_bytes()).json()["decision_id"]
           for _ in range(3)]  # fmt: skip
    assert len(set(ids)) == 3 and ids == sorted(ids)


@pytest.mark.parametrize(
    ("body", "status", "code", "line_col"),
    [
        (b'{"jurisdiction": "kent", "facts": ', 400, "load/yaml-syntax", (1, 35)),
        (b"", 400, "load/empty", (1, 1)),
        (b"\xff\xfe{}", 400, "load/encoding", None),
        (
            b'{"jurisdiction": "kent",\n "facts": {"permit": {"code": 5}}}',
            422,
            "case/bad-value",
            (2, 31),
        ),
        (b'{"jurisdiction": "kentt", "facts": {}}', 404, "case/unknown-jurisdiction", (1, 18)),
        (b"[1, 2]", 422, "case/not-a-mapping", (1, 1)),
        (b'{"jurisdiction": "kent", "facts": {}, "colour": "red"}', 422, None, None),
    ],
)
def test_refusals_are_json_with_located_diagnostics(
    client: TestClient, body: bytes, status: int, code: str | None,
    line_col: tuple[int, int] | None,
) -> None:  # fmt: skip
    response = client.post("/v1/decide", content=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status
    first = error["diagnostics"][0]
    assert first["message"] and first["code"]
    if code is not None:
        assert first["code"] == code, first
    if line_col is not None:
        assert first["span"]["file"] == "request.json"
        assert (first["span"]["line"], first["span"]["col"]) == line_col, first


def test_the_same_case_gets_the_same_diagnostics_as_the_cli(client: TestClient,
                                                            tmp_path: Path) -> None:  # fmt: skip
    text = '{"jurisdiction": "kent", "as_of": "2025-13-01",\n "facts": {"permit": {"code": "IBX"}}}'
    response = client.post("/v1/decide", content=text.encode())
    served = [(d["code"], d["message"], d["span"]["line"], d["span"]["col"])
              for d in response.json()["error"]["diagnostics"]]  # fmt: skip
    case = tmp_path / "request.json"
    case.write_text(text, "utf-8")
    cli = CliRunner().invoke(main, ["eval", str(case)])
    assert cli.exit_code == 1
    for code, message, line, col in served:
        assert f"error[{code}]: {message}" in cli.stderr
        assert f"request.json:{line}:{col}" in cli.stderr


def test_bad_query_parameters_are_400(client: TestClient) -> None:
    for query in ("explain=maybe", "decisions=", "decisions=permit.expirse_on"):
        response = client.post(f"/v1/decide?{query}", content=KENT_JSON.read_bytes())
        assert response.status_code == 400, (query, response.text)
    hint = client.post("/v1/decide?decisions=permit.expirse_on", content=KENT_JSON.read_bytes())
    assert "did you mean `permit.expires_on`?" in hint.text


def test_a_body_past_the_limit_is_413_before_it_is_read(loaded: Loaded) -> None:
    small = TestClient(create_app(Service(loaded, None, max_body=2048)))
    response = small.post("/v1/decide", content=b" " * 5000)
    assert response.status_code == 413
    assert response.json()["error"]["diagnostics"][0]["code"] == "service/body-too-large"


def test_unknown_paths_and_methods_are_json(client: TestClient) -> None:
    assert client.get("/v2/decide").json()["error"]["diagnostics"][0]["code"] == \
        "service/no-such-endpoint"  # fmt: skip
    response = client.get("/v1/decide")
    assert response.status_code == 405 and response.json()["error"]["status"] == 405


def test_batch_equals_values_many_on_the_golden_cases(client: TestClient, loaded: Loaded) -> None:
    cases = [as_json(p) for p in golden_cases()]
    assert len(cases) > 100
    response = client.post("/v1/batch", content=json.dumps({"cases": cases}).encode())
    assert response.status_code == 200
    batch_id = response.json()["batch_id"]
    results = response.json()["results"]
    expected = loaded.policy.values_many(cases)
    assert len(results) == len(cases)
    for case, got, want in zip(cases, results, expected, strict=True):
        assert got["values"] == values_json(want, loaded.types[case["jurisdiction"]]), case["case"]
    assert [r["decision_id"] for r in results] == [f"{batch_id}.{i}" for i in range(len(cases))]


def test_one_bad_case_fails_only_itself(client: TestClient) -> None:
    good = as_json(KENT)
    bad = {"jurisdiction": "kent", "facts": {"permit": {"code": 5}}}
    body = json.dumps({"cases": [good, bad, good, "not a case"],
                       "decisions": ["permit.expires_on"]}, indent=1).encode()  # fmt: skip
    response = client.post("/v1/batch", content=body)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [("values" in r, "error" in r) for r in results] == [
        (True, False),
        (False, True),
        (True, False),
        (False, True),
    ]
    assert results[0]["values"] == {"permit.expires_on": "2026-04-28"}
    diag = results[1]["error"]["diagnostics"][0]
    assert diag["code"] == "case/bad-value" and results[1]["error"]["status"] == 422
    line = body.decode().splitlines()[diag["span"]["line"] - 1]
    assert '"code": 5' in line  # located in the batch body, where the bad case is
    assert results[3]["error"]["diagnostics"][0]["code"] == "case/not-a-mapping"


def test_batch_undetermined_values_say_what_they_need(client: TestClient) -> None:
    body = {"cases": [{"jurisdiction": "kent", "as_of": "2025-01-10",
                       "facts": {"permit": {"code": "IRC"}}}],
            "decisions": ["permit.expires_on", "co.required"]}  # fmt: skip
    values = client.post("/v1/batch", content=json.dumps(body).encode()).json()["results"][0]
    assert values["values"]["co.required"] is False
    unknown = values["values"]["permit.expires_on"]
    assert unknown["unknown"] is True and "permit.issued_on" in unknown["needs"]


@pytest.mark.parametrize("body", [b"{}", b'{"cases": 3}', b'{"cases": [], "decisions": []}',
                                  b'{"cases": [], "extra": 1}'])  # fmt: skip
def test_a_batch_of_the_wrong_shape_is_422(client: TestClient, body: bytes) -> None:
    response = client.post("/v1/batch", content=body)
    assert response.status_code == 422
    assert response.json()["error"]["diagnostics"][0]["code"] == "service/bad-batch"


def test_an_unknown_decision_in_a_batch_refuses_the_batch(client: TestClient) -> None:
    body = {"cases": [as_json(KENT)], "decisions": ["permit.nope"]}
    response = client.post("/v1/batch", content=json.dumps(body).encode())
    assert response.status_code == 400


def test_catalogue_endpoints(client: TestClient) -> None:
    jur = client.get("/v1/jurisdictions").json()["jurisdictions"]
    kent = next(j for j in jur if j["id"] == "kent")
    assert kent["time_zone"] == "America/Los_Angeles" and kent["extends"] == "generic"
    assert {"id": "ord-4463", "compiled": True}.items() <= next(
        r for r in kent["revisions"] if r["id"] == "ord-4463"
    ).items()
    facts = client.get("/v1/facts?jurisdiction=kent").json()["facts"]
    assert any(f["id"] == "permit.issued_on" and f["type"] == "date" for f in facts)
    decisions = client.get("/v1/decisions?jurisdiction=kent").json()["decisions"]
    assert any(d["id"] == "permit.expires_on" for d in decisions)
    section = client.get("/v1/sections/IBC 105.5?jurisdiction=kent").json()
    assert section["cited_as"] == "IBC 105.5 as amended by KCC 14.01.030.D"
    assert section["provenance"][0]["by"] == "KCC 14.01.030.D"
    assert client.get("/v1/sections/IPMC 604?jurisdiction=kent").json()["status"] == "deleted"
    missing = client.get("/v1/sections/IBC 105.55?jurisdiction=kent")
    assert missing.status_code == 404 and "did you mean" in missing.text
    assert client.get("/v1/facts?jurisdiction=boston").status_code == 404
    assert client.get("/v1/facts").status_code == 400  # two leaf jurisdictions: name one


def test_status_and_health(client: TestClient, loaded: Loaded) -> None:
    client.post("/v1/decide", content=KENT_JSON.read_bytes())
    client.post("/v1/decide", content=b"nope")
    status = client.get("/v1/status").json()
    assert status["policy_digest"] == loaded.digest
    assert "kent/ord-4463" in status["revisions"]
    assert status["counts"]["decisions"] == 1 and status["counts"]["status_400"] == 1
    assert client.get("/health").json() == {"status": "ok"}


def test_openapi_names_the_endpoints_and_the_repo_schemas(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert {"/v1/decide", "/v1/batch", "/v1/facts", "/v1/sections/{citation}"} <= set(spec["paths"])
    case = json.loads((ROOT / "engine" / "schemas" / "case.schema.json").read_text("utf-8"))
    assert spec["components"]["schemas"]["Case"]["properties"].keys() == \
        case["properties"].keys()  # fmt: skip


def test_reload_keeps_the_old_policy_when_the_new_one_is_broken(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "policy"
    shutil.copytree(ROOT / "policy", root)
    service = Service(Loaded.load(root), root)
    client = TestClient(create_app(service))
    before = service.current.digest
    rules = root / "kent" / "ord-4463" / "co-process.yaml"
    rules.write_text(rules.read_text("utf-8").replace("value: count(co.missing_approvals) == 0",
                                                      "value: count(co.missing_approvalz) == 0"),
                     "utf-8")  # fmt: skip
    ok, problems = service.reload()
    assert not ok and problems and service.current.digest == before
    assert client.post("/v1/decide", content=KENT_JSON.read_bytes()).status_code == 200
    fixed = rules.read_text("utf-8").replace("co.missing_approvalz", "co.missing_approvals")
    rules.write_text(
        fixed.replace("Within the next business day", "Within the next business day (reworded)"),
        "utf-8",
    )
    ok, _ = service.reload()
    assert ok and service.current.digest != before


def test_decide_is_the_same_as_read_case_for_every_golden_case(client: TestClient,
                                                               loaded: Loaded) -> None:  # fmt: skip
    """The fast path (a mapping) and the file path (read_case) decide alike."""
    for path in golden_cases()[::7]:
        response = client.post("/v1/decide", content=json.dumps(as_json(path)).encode())
        want = loaded.policy.evaluate(read_case(path)).to_dict()
        got = response.json()
        for key in ("decision_id", "policy_digest", "engine_version"):
            got.pop(key)
        assert got == json.loads(json.dumps(want)), path.name
