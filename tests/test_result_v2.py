"""Result version 2 (issue 16): each explanation step once, under ``steps``, referred to by id;
version 1, every decision's tree nested, still written on request, byte for byte as before.

On every golden case: version 1's bytes are those the engine wrote before version 2 (their
SHA-256, recorded from commit df72dc0 in ``tests/fixtures/result-v1-sha256.json``), version 2
validates against its schema, and ``nest_result`` of version 2 gives version 1's bytes. The
trees are built when read: in whatever order they are read, they are those built at once. The
CLI, the service and replay speak both versions.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml
from click.testing import CliRunner
from starlette.testclient import TestClient

from engine import Policy
from engine.compile.load import read_case
from engine.compile.schema import schema
from engine.result import RESULT_VERSION, Result, Step, nest_result
from engine.run.explain import explain_decision
from engine.service.app import create_app
from engine.service.log import open_log, read_events
from engine.service.replay import replay
from engine.service.state import Loaded, Service
from engine.tools.cli import main
from engine.tools.expect import evaluate_pinned
from tests.conftest import GOLDEN, ROOT

CASES = sorted(GOLDEN.rglob("*.yaml"))
V1_SHA256: dict[str, str] = json.loads(
    (ROOT / "tests" / "fixtures" / "result-v1-sha256.json").read_text("utf-8")
)
KENT = ROOT / "examples" / "kent-co-and-permit.yaml"
KENT_JSON = ROOT / "examples" / "kent-co-and-permit.json"


def _key(path: Path) -> str:
    return path.relative_to(GOLDEN).as_posix()


def _golden(policy: Policy, path: Path) -> Result:
    return evaluate_pinned(policy, read_case(path), path.parts[-2])


@pytest.fixture(scope="module")
def results(policy: Policy) -> dict[str, Result]:
    return {_key(p): _golden(policy, p) for p in CASES}


def test_every_golden_case_has_its_recorded_version_1() -> None:
    assert sorted(V1_SHA256) == sorted(map(_key, CASES))


def test_version_1_is_byte_for_byte_what_the_engine_wrote_before(
    results: dict[str, Result],
) -> None:
    def digest(r: Result) -> str:
        return hashlib.sha256(r.to_json(version=1).encode()).hexdigest()

    changed = [k for k, r in results.items() if digest(r) != V1_SHA256[k]]
    assert changed == []


def test_version_2_validates_against_its_schema(results: dict[str, Result]) -> None:
    v2 = jsonschema.Draft202012Validator(schema("result"))
    v1 = jsonschema.Draft202012Validator(schema("result-v1"))
    for key, result in results.items():
        data = json.loads(result.to_json())
        assert data["version"] == RESULT_VERSION == "2"
        errors = [e.message for e in v2.iter_errors(data)]
        assert errors == [], key
        assert not v1.is_valid(data), "the versions are told apart by their schemas"


def test_version_2_nested_is_version_1_byte_for_byte(results: dict[str, Result]) -> None:
    for key, result in results.items():
        v2 = json.loads(result.to_json())
        assert orjson.dumps(nest_result(v2)).decode() == result.to_json(version=1), key


def test_version_2_writes_each_step_once_and_names_every_step_it_refers_to(
    results: dict[str, Result],
) -> None:
    for key, result in results.items():
        data = json.loads(result.to_json())
        steps = data["steps"]
        named: set[str] = set()
        for d in data["decisions"].values():
            named.update(d["because"])
        for step in steps.values():
            named.update(k for k in step.get("because", ()) if isinstance(k, str))
        assert named == set(steps), key  # every step is referred to, none is missing
        assert list(steps) == sorted(steps) == list(result.steps())


def test_a_wrong_step_is_caught_by_the_nesting(results: dict[str, Result]) -> None:
    """The comparison above can fail: a step's sentence changed in version 2 shows in every
    version 1 tree that holds it."""
    result = results["kent/ord-4463/48-co-change-of-occupancy-missing-approvals.yaml"]
    data = json.loads(result.to_json())
    shared = _shared(data)
    wrong = copy.deepcopy(data)
    wrong["steps"][shared]["text"] = "A wrong sentence."
    assert orjson.dumps(nest_result(wrong)).decode() != result.to_json(version=1)
    assert orjson.dumps(nest_result(wrong)).decode().count("A wrong sentence.") > 1


def test_the_size_of_a_whole_kent_result(policy: Policy) -> None:
    result = policy.evaluate(read_case(KENT))
    v1, v2 = len(result.to_json(version=1).encode()), len(result.to_json().encode())
    assert v2 < v1 * 0.8, (v1, v2)


def test_an_unknown_version_is_refused(policy: Policy) -> None:
    result = policy.evaluate(read_case(KENT))
    with pytest.raises(ValueError, match="no result version `3`"):
        result.to_json(version=3)
    assert result.to_json(version=2) == result.to_json("2") == result.to_json()


# --- trees built when read ----------------------------------------------------------------------


def _eager_trees(result: Result) -> None:
    """Every tree of ``result`` built at once by ``explain_decision`` alone, no sharing."""
    explainer = next((d.explainer for d in result.decisions.values()), None)
    assert explainer is not None
    cp, env, chosen = explainer.cp, explainer.env, explainer.chosen  # type: ignore[attr-defined]
    for rid, d in result.decisions.items():
        d.because = explain_decision(cp, env, chosen, rid)


def _eager(policy: Policy, path: Path) -> dict[str, Any]:
    """The version 1 JSON with every tree built at once, each on its own."""
    result = _golden(policy, path)
    _eager_trees(result)
    return result.to_dict(version=1)


def test_trees_built_when_read_are_those_built_at_once(policy: Policy) -> None:
    for path in CASES[::3]:
        forward, backward = _golden(policy, path), _golden(policy, path)
        for d in reversed(list(backward.decisions.values())):  # read in the other order
            assert d.because
        assert forward.to_json() == backward.to_json(), path
        assert forward.to_json(version=1) == backward.to_json(version=1), path
        assert json.loads(forward.to_json(version=1)) == _eager(policy, path), path
        apart = _golden(policy, path)
        _eager_trees(apart)  # equal steps built apart are one step in version 2
        assert apart.to_json() == forward.to_json(), path


def test_two_different_steps_of_one_rule_are_refused(policy: Policy) -> None:
    result = policy.evaluate(read_case(KENT))
    a, b = (result.decisions[r] for r in ("permit.expired", "permit.expires_on"))
    (top,) = b.because or []
    a.because = [Step(top.rule, top.citation, top.status, top.value, "Another text.", {})]
    with pytest.raises(ValueError, match=r"two explanation steps of `permit\.expires_on`"):
        result.to_json()
    assert "Another text." in result.to_json(version=1)  # version 1 writes trees as they are


def test_a_recurring_step_is_one_object_whichever_decision_is_read_first(policy: Policy) -> None:
    path = GOLDEN / "kent/ord-4463/48-co-change-of-occupancy-missing-approvals.yaml"
    result = _golden(policy, path)
    seen: dict[str, Step] = {}
    for d in reversed(list(result.decisions.values())):
        stack = list(d.because or ())
        while stack:
            node = stack.pop()
            if isinstance(node, Step):
                assert seen.setdefault(node.rule, node) is node
                stack += node.because or ()
    assert len(seen) > len(result.decisions) / 2


def test_without_explanations_there_are_no_steps(policy: Policy) -> None:
    result = policy.evaluate(read_case(KENT), explain=False)
    assert all(d.because is None for d in result.decisions.values())
    data = result.to_dict()
    assert data["steps"] == {} and all(d["because"] == [] for d in data["decisions"].values())
    jsonschema.validate(data, schema("result"))


# --- the doors: CLI, service, replay ------------------------------------------------------------


def _eval(*args: str) -> str:
    run = CliRunner().invoke(main, ["eval", str(KENT), "--format", "json", *args])
    assert run.exit_code == 0, run.output
    return run.stdout


def test_eval_prints_version_2_and_version_1_on_request(policy: Policy) -> None:
    result = policy.evaluate(read_case(KENT))
    assert _eval().rstrip("\n") == result.to_json()
    assert _eval("--result-version", "1").rstrip("\n") == result.to_json(version=1)
    assert _eval("--result-version", "2").rstrip("\n") == result.to_json()


@pytest.fixture(scope="module")
def loaded() -> Loaded:
    return Loaded.load(None)


@pytest.fixture(scope="module")
def client(loaded: Loaded) -> TestClient:
    return TestClient(create_app(Service(loaded, None)), raise_server_exceptions=False)


@pytest.mark.parametrize("version", ["1", "2"])
def test_decide_answers_what_eval_prints_in_either_version(client: TestClient,
                                                           version: str) -> None:  # fmt: skip
    response = client.post(f"/v1/decide?result_version={version}", content=KENT_JSON.read_bytes())
    assert response.status_code == 200
    body = response.json()
    for key in ("decision_id", "policy_digest", "engine_version"):
        body.pop(key)
    assert body == json.loads(_eval("--result-version", version))
    assert body["version"] == version


def test_decide_answers_version_2_by_default_and_refuses_another(client: TestClient) -> None:
    body = client.post("/v1/decide", content=KENT_JSON.read_bytes()).json()
    assert body["version"] == "2" and body["steps"]
    response = client.post("/v1/decide?result_version=3", content=KENT_JSON.read_bytes())
    assert response.status_code == 400
    assert response.json()["error"]["diagnostics"][0]["code"] == "service/bad-parameter"


def test_openapi_describes_both_versions(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert schemas["Result"]["properties"]["version"] == schema("result")["properties"]["version"]
    assert schemas["ResultV1"]["properties"]["version"]["const"] == "1"
    params = {p["name"]: p for p in spec["paths"]["/v1/decide"]["post"]["parameters"]}
    assert params["result_version"]["schema"]["enum"] == ["1", "2"]


def _as_body(path: Path) -> bytes:
    """A YAML case file as the JSON body a permitting system would send."""
    data: dict[str, Any] = json.loads(json.dumps(yaml.safe_load(path.read_text("utf-8")),
                                                 default=str))  # fmt: skip
    data.pop("expect", None)
    return json.dumps(data).encode()


def _logged(tmp_path: Path, loaded: Loaded, versions: list[str]) -> list[dict[str, Any]]:
    """The events of a decision log the service wrote: every ninth golden Kent case, decided
    once per version."""
    with open_log(None, default_dir=tmp_path) as log:
        client = TestClient(create_app(Service(loaded, None, log=log)))
        for path in [p for p in CASES if p.parts[-3] == "kent" and p.parts[-2] == "ord-4463"][::9]:
            for version in versions:
                response = client.post(f"/v1/decide?result_version={version}",
                                       content=_as_body(path))  # fmt: skip
                assert response.status_code == 200, response.text
    return list(read_events(str(tmp_path / "decisions.ndjson")))


def _shared(result: dict[str, Any]) -> str:
    """A step of a version 2 result that more than one other step reads."""
    steps = result["steps"]
    return next(k for k in steps if sum(k in (t.get("because") or ()) for t in steps.values()) > 1)


def test_replay_reads_logs_of_either_version(loaded: Loaded, tmp_path: Path) -> None:
    events = _logged(tmp_path, loaded, ["1", "2"])
    versions = [e["result"]["version"] for e in events]
    assert versions.count("1") == versions.count("2") > 5
    report = replay(events, loaded.policy)
    assert report.replayed == len(events) and report.differences == []


def test_replay_tells_a_changed_step_under_each_decision_whose_tree_holds_it(
    loaded: Loaded, tmp_path: Path
) -> None:
    event = _logged(tmp_path, loaded, ["2"])[0]
    result = event["result"]
    shared = _shared(result)
    nested = nest_result(result)["decisions"]
    holding = {rid for rid, d in nested.items() if f'"rule":"{shared}"' in orjson.dumps(d).decode()}
    result["steps"][shared]["text"] = "Another sentence."
    report = replay([event], loaded.policy)
    assert holding and {d.decision for d in report.differences} == holding
    assert {d.what for d in report.differences} == {"explanation"}


def test_threads_reading_one_result_share_its_steps(policy: Policy) -> None:
    """Trees built when read may be read from several threads (a result handed to workers):
    whichever builds a step first, every tree holds that one, and the JSON is the same."""
    import random
    import threading

    want = policy.evaluate(read_case(KENT)).to_json()
    for seed in range(5):
        result = policy.evaluate(read_case(KENT))
        decisions = list(result.decisions.values())
        barrier = threading.Barrier(4)

        def read(k: int, decisions: list[Any] = decisions, barrier: Any = barrier,
                 seed: int = seed) -> None:  # fmt: skip
            order = decisions[:]
            random.Random(seed * 10 + k).shuffle(order)
            barrier.wait()
            for d in order:
                assert d.because

        threads = [threading.Thread(target=read, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert result.to_json() == want


# --- decisions from compile-time tables ---------------------------------------------------------


def _sparse(case: dict[str, Any], rng: Any) -> dict[str, Any]:
    """``case`` with about a third of its facts left out (unknown), at random."""

    def drop(node: dict[str, Any]) -> dict[str, Any]:
        return {k: drop(v) if isinstance(v, dict) else v for k, v in node.items()
                if isinstance(v, dict) or rng.random() > 0.35}  # fmt: skip

    return {**case, "facts": drop(case["facts"])}


def test_citations_from_tables_are_those_found_per_case(
    policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A determined decision's condition is run again only when something it reads is
    unknown: on random sparse Kent cases, every decision cites what running it again always
    (as the engine did before) cites."""
    import random
    import sys

    from engine.run import evaluate as stage

    sys.path.insert(0, str(ROOT / "bench"))
    from bench_catalogue import make_case  # type: ignore[import-not-found]

    rng = random.Random(16)
    cases = [_sparse(make_case(rng, i), rng) for i in range(300)]

    def cited(case: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
        return {r: (d.status, d.citations) for r, d in policy.evaluate(case).decisions.items()}

    shortcut = [cited(c) for c in cases]
    monkeypatch.setattr(stage, "_reads_unknown", lambda v, env: True)
    again = [cited(c) for c in cases]
    assert shortcut == again
    agreed = [c for r in again for s, c in r.values() if s == "determined" and len(c) > 1]
    assert agreed, "some decision was decided by definitions that agree"
