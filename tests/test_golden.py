"""Golden cases: every case file under tests/golden/<jurisdiction>/<revision>/ must meet its
``expect:`` block, and its JSON result and staff text are snapshotted for review."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from engine import Policy
from engine.compile.load import read_case
from engine.compile.schema import schema
from engine.render import RenderContext, render_text
from engine.tools.expect import check_expectations, evaluate_pinned, pinned_revision
from tests.conftest import GOLDEN, JSONSnapshot, TextSnapshot

CASES = sorted(GOLDEN.rglob("*.yaml"))


def _id(path: Path) -> str:
    return "__".join(path.relative_to(GOLDEN).with_suffix("").parts)


def test_there_are_enough_golden_cases() -> None:
    kent = [p for p in CASES if p.parts[-3] == "kent"]
    generic = [p for p in CASES if p.parts[-3] == "generic"]
    assert len(kent) + len(generic) >= 40
    assert kent and generic


@pytest.mark.parametrize("path", CASES, ids=_id)
def test_golden_case(path: Path, policy: Policy, snapshot) -> None:  # type: ignore[no-untyped-def]
    case = read_case(path)
    assert case.as_of is not None, "golden cases fix `as_of` so their snapshots never drift"
    assert case.expect, "a golden case says what it expects"
    jurisdiction, revision = path.parts[-3], path.parts[-2]
    assert case.jurisdiction == jurisdiction

    # Decided under the revision its folder names, as `ordinance test` does: a later revision
    # never takes it over (tests/test_revision_history.py).
    assert pinned_revision(policy, case, path) == revision
    result = evaluate_pinned(policy, case, revision)
    mismatches = check_expectations(policy, case, result)
    assert not mismatches, "\n".join(map(str, mismatches))

    # The snapshots hold the version 1 shape, each decision's tree nested: the bytes the
    # previous engine wrote, kept while version 1 is written, and the shape a reviewer reads a
    # changed reason in. Version 2 is checked against them in tests/test_result_v2.py.
    data = result.to_dict(version=1)
    jsonschema.validate(data, schema("result-v1"))
    assert snapshot(extension_class=JSONSnapshot) == json.dumps(
        data, indent=2, sort_keys=True, ensure_ascii=False
    )
    jur = policy.jurisdictions[jurisdiction]
    title = next(r.title for r in jur.revisions if r.id == revision)
    assert snapshot(extension_class=TextSnapshot) == render_text(
        result, RenderContext(jur.title, title)
    )
