"""The decision log (issue 13): every event exactly once and durable, append-only in SQL, personal
data masked, a crash's torn line survived, and a replay that finds nothing against the policy
that made the log and exactly the changed decisions against a changed one."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from starlette.testclient import TestClient

from engine import Policy, load_policy
from engine.compile.load import read_case
from engine.diagnostics import Diagnostic, OrdinanceError
from engine.service.app import create_app
from engine.service.convert import values_json
from engine.service.log import LogError, canonical_line, open_log, read_events
from engine.service.masking import mask_for, masked
from engine.service.replay import replay
from engine.service.state import Loaded, Service, rule_types
from engine.sqlstore import build_engine, engine_url
from engine.tools.cli import main
from tests.conftest import GOLDEN, POSTGRES, ROOT, _postgres_url

DIGEST = "0" * 64


@pytest.fixture(
    params=[
        "ndjson",
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(not POSTGRES, reason="ORDINANCE_TEST_POSTGRES_URL is not set"),
        ),
    ]
)
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A decision log: an NDJSON file, a SQLite file, then (when the variable is set) a fresh
    PostgreSQL schema. (The SQL-only tests take conftest's ``url``, the registry's.)"""
    if request.param == "ndjson":
        return str(tmp_path / "decisions.ndjson")
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.db'}"
    return _postgres_url()


def event(i: int, **fields: Any) -> dict[str, Any]:
    """An event in the service's shape (docs/service.md), its id sortable by `i`."""
    base: dict[str, Any] = {
        "id": f"01JD{i:022d}",
        "time": "2026-12-01T16:00:00.123Z",
        "kind": "decide",
        "batch_id": None,
        "index": None,
        "jurisdiction": "kent",
        "revision": "ord-4463",
        "policy_digest": DIGEST,
        "engine_version": "0.1.0",
        "request": {"decisions": None, "explain": True, "as_of": None},
        "input": {"jurisdiction": "kent", "facts": {}},
        "result": None,
        "diagnostics": [],
        "status": 200,
        "duration_ms": 1.234,
    }
    return {**base, **fields}


def test_events_read_back_as_written_one_per_line(log_url: str, tmp_path: Path) -> None:
    tricky = {"note": "two\nlines\r and a\u2028separator", "é": "ünïcode"}
    events = [event(1, input={"facts": tricky}), event(2), event(3, kind="batch", index=0)]
    with open_log(log_url, default_dir=tmp_path) as log:
        log.append(events[0])
        log.append_many(events[1:])
    assert list(read_events(log_url)) == events
    if not log_url.endswith(".ndjson"):
        return
    lines = Path(log_url).read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 4  # one line per event, each ending in \n
    assert lines[0] == canonical_line(events[0]).rstrip(b"\n")
    assert "ünïcode".encode() in lines[0]  # UTF-8 text, not \u escapes


def test_the_default_log_is_decisions_ndjson_and_file_urls_are_files(tmp_path: Path) -> None:
    with open_log(None, default_dir=tmp_path / "logs") as log:
        log.append(event(1))
    with open_log(f"file:{tmp_path / 'b.ndjson'}", default_dir=tmp_path) as log:
        log.append(event(2))
    assert [e["id"] for e in read_events(str(tmp_path / "logs" / "decisions.ndjson"))] == [
        event(1)["id"]
    ]
    assert len(list(read_events(f"file://{tmp_path / 'b.ndjson'}"))) == 1


def test_an_unusable_log_is_a_located_diagnostic(tmp_path: Path) -> None:
    for url in ("mysql://host/db", str(tmp_path / "no" / "such") + "\0x"):
        with pytest.raises(LogError):
            open_log(url, default_dir=tmp_path)
    with pytest.raises(LogError) as caught:
        open_log("mysql://host/db", default_dir=tmp_path)
    assert caught.value.diagnostics[0].code == "log/unavailable"
    with pytest.raises(LogError) as caught:
        open_log("sqlite:////no/such/folder/log.db", default_dir=tmp_path)
    (d,) = caught.value.diagnostics
    assert d.code == "log/unavailable" and d.span and d.span.file.startswith("sqlite:")


def test_the_database_refuses_to_change_or_delete_an_event(url: str, tmp_path: Path) -> None:
    with open_log(url, default_dir=tmp_path) as log:
        log.append(event(1))
        with pytest.raises(LogError) as caught:
            log.append(event(1))  # the same id again: refused, not counted twice
        assert caught.value.diagnostics[0].code == "log/refused"
    engine = build_engine(engine_url(url))
    try:
        statements = ["UPDATE decisions SET status = 500", "DELETE FROM decisions"]
        if engine.dialect.name == "postgresql":
            statements.append("TRUNCATE decisions")
        for statement in statements:
            with (
                pytest.raises(sa.exc.DatabaseError, match="append-only"),
                engine.begin() as conn,
            ):
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
    assert [e["id"] for e in read_events(url)] == [event(1)["id"]]


def test_eight_threads_append_every_event_exactly_once(log_url: str, tmp_path: Path) -> None:
    per_thread = 40
    with open_log(log_url, default_dir=tmp_path) as log:

        def work(t: int) -> None:
            for k in range(per_thread):
                i = t * 1000 + k
                if k % 5 == 0:  # some batches, written as one
                    log.append_many(
                        [event(i, kind="batch", index=0), event(i + 500, kind="batch", index=1)]
                    )
                else:
                    log.append(event(i, input={"facts": {"pad": "x" * (k * 97)}}))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    ids = [e["id"] for e in read_events(log_url)]
    assert len(ids) == len(set(ids)) == 8 * (per_thread + per_thread // 5)
    if log_url.endswith(".ndjson"):
        for line in Path(log_url).read_bytes().splitlines():
            assert isinstance(json.loads(line), dict)


def test_a_torn_last_line_is_skipped_reported_and_sealed(tmp_path: Path) -> None:
    path = tmp_path / "decisions.ndjson"
    with open_log(str(path), default_dir=tmp_path) as log:
        log.append_many([event(1), event(2)])
    with path.open("ab") as f:  # a crash half-way through the third event's write
        f.write(canonical_line(event(3))[:57])
    problems: list[Diagnostic] = []
    assert [e["id"] for e in read_events(str(path), problems=problems)] == [
        event(1)["id"],
        event(2)["id"],
    ]
    (torn,) = problems
    assert (torn.code, torn.severity, torn.span and torn.span.line) == (
        "log/torn-line",
        "warning",
        3,
    )
    assert len(list(read_events(str(path)))) == 2  # a warning does not raise
    with open_log(str(path), default_dir=tmp_path) as log:  # the next start cuts it off
        assert [w.code for w in log.warnings] == ["log/torn-line"]
        log.append(event(4))
    problems = []
    assert [e["id"] for e in read_events(str(path), problems=problems)] == [
        event(i)["id"] for i in (1, 2, 4)
    ]
    assert problems == []


def test_a_write_the_disk_stops_half_way_is_taken_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "decisions.ndjson"
    with open_log(str(path), default_dir=tmp_path) as log:
        log.append(event(1))
        real_write = os.write

        def half_then_full(fd: int, data: Any) -> int:
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "write", half_then_full)
        with pytest.raises(LogError) as caught:
            log.append(event(2))
        assert caught.value.diagnostics[0].code == "log/refused"
        monkeypatch.undo()
        log.append(event(3))
        log.append_many([])  # nothing to record: no line
    assert [e["id"] for e in read_events(str(path))] == [event(1)["id"], event(3)["id"]]


def test_reading_a_sqlite_log_that_is_not_there_does_not_create_it(tmp_path: Path) -> None:
    with pytest.raises(LogError) as caught:
        list(read_events(f"sqlite:///{tmp_path / 'typo.db'}"))
    assert caught.value.diagnostics[0].code == "log/unavailable"
    assert not (tmp_path / "typo.db").exists()


def test_a_bad_line_in_the_middle_is_located(tmp_path: Path) -> None:
    path = tmp_path / "decisions.ndjson"
    path.write_bytes(
        canonical_line(event(1)) + b"{not json\n" + b"[1]\n" + canonical_line(event(2))
    )
    problems: list[Diagnostic] = []
    assert len(list(read_events(str(path), problems=problems))) == 2
    assert [(d.code, str(d.span)) for d in problems] == [
        ("log/bad-line", f"{path}:2:2"),
        ("log/bad-line", f"{path}:3:1"),
    ]
    with pytest.raises(LogError):
        list(read_events(str(path)))


# --- masking ---------------------------------------------------------------------------------

PERSON = {"name": "Jane Q. Rosewater", "address": "1742 Evergreen Terrace, Kent WA"}


def owner_case() -> dict[str, Any]:
    """A CO case whose certificate repeats the owner's name and address."""
    case = read_case(GOLDEN / "generic" / "icc-2021" / "20-co-workflow-all-ready.yaml")
    return jsonable(
        {
            "case": case.id,
            "jurisdiction": case.jurisdiction,
            "as_of": case.as_of,
            "facts": {**case.facts, "owner": dict(PERSON)},
        }
    )


def test_the_policy_masks_the_personal_data_facts(policy: Policy) -> None:
    assert mask_for(policy) == {
        "owner.name",
        "owner.address",
        "applicant.email",
        "agent.email",
        "record.contacts",
    }


def test_a_masked_value_is_a_stable_hash_and_never_reaches_the_log(
    policy: Policy, log_url: str, tmp_path: Path
) -> None:
    case = owner_case()
    result = policy.evaluate(case).to_dict()
    assert PERSON["name"] in json.dumps(result)  # the certificate's owner line repeats it
    mask = mask_for(policy)
    with open_log(log_url, default_dir=tmp_path, mask=mask) as log:
        log.append(event(1, input=case, result=result))
        log.append(event(2, input=case, result=result))
    expected = "sha256:" + hashlib.sha256(b'"Jane Q. Rosewater"').hexdigest()[:16]
    assert masked(case, mask)["facts"]["owner"]["name"] == {"masked": expected}
    assert case["facts"]["owner"] == PERSON  # the caller's case is not changed
    logged = list(read_events(log_url))
    assert logged[0]["input"]["facts"]["owner"]["name"] == {"masked": expected}
    assert logged[0]["input"] == logged[1]["input"]  # equal values, equal hashes
    assert logged[0]["input"]["facts"]["permit"] == case["facts"]["permit"]
    text = json.dumps(logged, ensure_ascii=False)
    if log_url.endswith(".ndjson"):
        text = Path(log_url).read_text("utf-8")
    for secret in (*PERSON.values(), "Rosewater", "Evergreen"):
        assert secret not in text


def test_a_refused_case_keeps_no_personal_data_either(policy: Policy, tmp_path: Path) -> None:
    """A refused case (its permit code is wrong) written with a dotted `owner.name` is masked
    all the same: a refusal's input is logged too, and the message quotes no value of it."""
    case = {"jurisdiction": "generic", "facts": {"owner.name": PERSON["name"],
                                                 "permit": {"code": 5}}}  # fmt: skip
    with pytest.raises(OrdinanceError) as refused:
        policy.evaluate(case)
    diagnostics = [d.to_json() for d in refused.value.diagnostics]
    with open_log(None, default_dir=tmp_path, mask=mask_for(policy)) as log:
        log.append(event(1, input=case, status=422, diagnostics=diagnostics))
    assert PERSON["name"] not in (tmp_path / "decisions.ndjson").read_text("utf-8")


# --- replay ----------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """What a case is once it has travelled as JSON: dates as ISO text."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat()))


def _given(facts: dict[str, Any], prefix: str = "") -> set[str]:
    """The dotted ids of the facts a case's nested `facts:` gives a value (not null)."""
    out: set[str] = set()
    for key, value in facts.items():
        if isinstance(value, dict):
            out |= _given(value, f"{prefix}{key}.")
        elif value is not None:
            out.add(prefix + key)
    return out


def golden_events(policy: Policy) -> list[dict[str, Any]]:
    """One decide event per golden case, a batch of the Kent ones, and a refusal, as the
    service records them. A golden case that gives a masked fact (a certificate's owner) is
    left out: its logged input cannot be decided again by design, which the owner case the
    log adds tests once."""
    events, kent = [], []
    mask = mask_for(policy)
    for path in sorted(GOLDEN.rglob("*.yaml")):
        c = read_case(path)
        if _given(c.facts) & mask:
            continue
        case = {
            k: v
            for k, v in jsonable(
                {
                    "case": c.id,
                    "jurisdiction": c.jurisdiction,
                    "as_of": c.as_of,
                    "revision": c.revision,
                    "facts": c.facts,
                }
            ).items()
            if v is not None
        }
        result = policy.evaluate(case).to_dict()
        events.append(
            event(
                len(events),
                jurisdiction=c.jurisdiction,
                input=case,
                result=jsonable(result),
                revision=result["revision"],
            )
        )
        if c.jurisdiction == "kent" and not c.revision:
            kent.append(case)
    decisions = ["permit.expires_on", "co.required"]
    types = rule_types(policy)["kent"]
    for i, values in enumerate(policy.values_many(kent, decisions)):
        events.append(
            event(
                len(events),
                kind="batch",
                batch_id="01JDBATCH",
                index=i,
                input=kent[i],
                result={"values": values_json(values, types)},
                request={"decisions": decisions, "explain": False, "as_of": None},
            )
        )
    bad = {"jurisdiction": "kent", "as_of": "2025-01-10", "facts": {"permit": {"code": 7}}}
    with pytest.raises(OrdinanceError) as refused:
        policy.evaluate(bad)
    diagnostics = [d.to_json() for d in refused.value.diagnostics]
    events.append(event(len(events), input=bad, status=422, diagnostics=diagnostics))
    return events


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    policy = load_policy()
    events = golden_events(policy)
    path = tmp_path_factory.mktemp("log") / "decisions.ndjson"
    with open_log(str(path), default_dir=path.parent, mask=mask_for(policy)) as log:
        log.append_many(events)
        log.append(event(len(events), input=owner_case(), result=None))
    return path, events


def test_replay_against_the_same_policy_finds_no_difference(
    policy: Policy, logged: tuple[Path, list[dict[str, Any]]]
) -> None:
    path, events = logged
    assert len(events) > 180 and any(e["kind"] == "batch" for e in events)
    report = replay(read_events(str(path)), policy, digest=DIGEST)
    assert report.differences == []
    assert (report.events, report.replayed) == (len(events) + 1, len(events))
    (skip,) = report.skipped
    assert skip.reason == "the input masks `owner.address`, `owner.name`"
    assert report.other_digest == []
    run = CliRunner().invoke(main, ["replay", str(path)])
    assert run.exit_code == 0, run.output
    assert run.output.startswith(
        f"{len(events) + 1} events, {len(events)} replayed, 0 differences, 1 skipped (1 masked)"
    )


def changed_policy(root: Path) -> Path:
    """The bundled policy with Kent's 180 days of suspended work made 181."""
    shutil.copytree(ROOT / "policy", root / "policy")
    rules = root / "policy" / "kent" / "ord-4463" / "rulesets.yaml"
    text = rules.read_text("utf-8")
    old = "work.last_inspection_on) + 180 days"
    assert text.count(old) == 1
    rules.write_text(text.replace(old, "work.last_inspection_on) + 181 days"), "utf-8")
    return root / "policy"


def test_replay_against_a_changed_rule_finds_exactly_the_changed_decisions(
    policy: Policy, logged: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    path, events = logged
    changed = load_policy(changed_policy(tmp_path))
    report = replay(read_events(str(path)), changed, digest=DIGEST)
    # Expected: each decision whose JSON differs when the case is decided under both policies.
    expected = set()
    for e in events:
        if e["status"] != 200 or e["kind"] != "decide":
            continue
        # Nested (version 1), as replay compares: a changed step differs in every tree it is in.
        a = jsonable(policy.evaluate(e["input"]).to_dict(version=1))["decisions"]
        b = jsonable(changed.evaluate(e["input"]).to_dict(version=1))["decisions"]
        expected |= {(e["id"], rid) for rid in a if a[rid] != b[rid]}
    found = {(d.event, d.decision) for d in report.differences}
    batch = {
        (d.event, d.decision)
        for d in report.differences
        if d.event not in {e["id"] for e in events if e["kind"] == "decide"}
    }
    assert expected and found - batch == expected
    assert {rid for _, rid in batch} == {"permit.expires_on"}
    assert {e["jurisdiction"] for e in events if e["id"] in {i for i, _ in found}} == {"kent"}
    moved = [
        d
        for d in report.differences
        if d.decision == "permit.expires_on"
        and d.what == "value"
        and d.event not in {i for i, _ in batch}
    ]
    assert moved, "a permit's expiry moves by the changed day"
    run = CliRunner().invoke(main, ["replay", str(path), "--policy", str(tmp_path / "policy")])
    assert run.exit_code == 1, run.output
    assert "permit.expires_on: " in run.output
    assert f"{len(report.differences)} differences" in run.output.splitlines()[0]
    as_json = CliRunner().invoke(
        main, ["replay", str(path), "--policy", str(tmp_path / "policy"), "--format", "json"]
    )
    assert len(json.loads(as_json.output)["differences"]) == len(report.differences)


def test_replay_reports_a_refusal_that_now_passes(policy: Policy, tmp_path: Path) -> None:
    ok = {"jurisdiction": "kent", "as_of": "2025-01-10", "facts": {"permit": {"code": "IRC"}}}
    events = [
        event(1, input=ok, status=422, diagnostics=[{"code": "case/unknown-fact"}]),
        event(2, input=ok, status=404),
        event(
            3,
            input=ok,
            kind="batch",
            request={"decisions": ["co.required"], "explain": False, "as_of": None},
            result={"values": {"co.required": True}},
        ),
    ]
    report = replay(events, policy, digest="another")
    assert [(d.event, d.decision, d.what) for d in report.differences] == [
        (events[0]["id"], "(refusal)", "refusal"),
        (events[2]["id"], "co.required", "value"),
    ]
    assert report.differences[0].new == {"status": 200}
    assert report.differences[1].new is False
    assert [s.reason for s in report.skipped] == ["status 404: nothing was decided"]
    assert report.other_digest == [events[0]["id"], events[2]["id"]]


# --- a batch through the service ---------------------------------------------------------------


def test_a_batch_is_one_event_read_back_as_its_items(log_url: str, tmp_path: Path) -> None:
    """The service logs a batch as one event (one serialisation, one fsync); reading the log
    gives each item back as its own event, with the id the response gave it, its status, and
    the owner's name masked; replaying it finds nothing."""
    loaded = Loaded.load(None)
    log = open_log(log_url, default_dir=tmp_path, mask=mask_for(loaded.policy))
    client = TestClient(create_app(Service(loaded, None, log=log)))
    good = {"jurisdiction": "kent", "as_of": "2025-01-10",
            "facts": {"permit": {"code": "IRC", "issued_on": "2024-06-03"}}}  # fmt: skip
    bad = {"jurisdiction": "kent", "as_of": "2025-01-10", "facts": {"permit": {"code": 7}}}
    cases = [good, bad, owner_case()]
    try:
        response = client.post("/v1/batch", json={"cases": cases})
    finally:
        log.close()
    assert response.status_code == 200
    answer = response.json()
    batch_id = answer["batch_id"]
    if not log_url.startswith(("sqlite", "postgresql")):
        lines = Path(log_url).read_bytes().splitlines()
        assert len(lines) == 1 and PERSON["name"].encode() not in lines[0]
    events = [e for e in read_events(log_url) if e.get("batch_id") == batch_id]
    assert [e["id"] for e in events] == [r["decision_id"] for r in answer["results"]]
    assert [(e["index"], e["status"], e["kind"]) for e in events] == [
        (0, 200, "batch"), (1, 422, "batch"), (2, 200, "batch")]  # fmt: skip
    assert events[0]["result"] == {"values": answer["results"][0]["values"]}
    assert events[0]["input"] == good and events[0]["jurisdiction"] == "kent"
    assert [d["code"] for d in events[1]["diagnostics"]] == [
        d["code"] for d in answer["results"][1]["error"]["diagnostics"]]  # fmt: skip
    assert events[1]["result"] is None
    owner = events[2]["input"]["facts"]["owner"]
    assert set(owner["name"]) == {"masked"} and PERSON["name"] not in json.dumps(events[2])
    assert all(e["policy_digest"] == loaded.digest for e in events)
    report = replay(events, loaded.policy)
    assert report.differences == [] and report.replayed == 2
    assert [s.event for s in report.skipped] == [f"{batch_id}.2"]  # the owner is masked
