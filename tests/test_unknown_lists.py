"""Issue 11 §1, "Unknown is not false", at the level of a whole case: the two legal points of
the golden cases 95 and 97, what an undetermined list says of itself in a result, and bulk
evaluation agreeing with case-by-case evaluation on partly known lists."""

from __future__ import annotations

from typing import Any

from engine import Policy
from engine.compile.load import read_case
from tests.conftest import GOLDEN

KENT = GOLDEN / "kent" / "ord-4463"


def _step(result: Any, rid: str) -> dict[str, Any]:
    def find(nodes: list[dict[str, Any]]) -> dict[str, Any] | None:
        for node in nodes:
            if node.get("rule") == rid:
                return node
            if (inner := find(node.get("because", []))) is not None:
                return inner
        return None

    for d in result.to_dict(version=1)["decisions"].values():
        if (step := find(d["because"])) is not None:
            return step
    raise AssertionError(f"no step of {rid}")


def test_one_known_missing_approval_means_not_ready(policy: Policy) -> None:
    """Planning services null, fire prevention absent: not ready (false), and the missing
    approvals, undetermined, name planning services as known missing and fire prevention as
    undecided; the fee risk agrees (yes)."""
    result = policy.evaluate(read_case(KENT / "97-co-approval-null-another-absent.yaml"))
    d = result.decisions
    assert (d["co.ready_for_inspection"].value, d["co.reinspection_fee_risk"].value) == (
        False,
        True,
    )
    missing = d["co.missing_approvals"]
    assert (missing.status, missing.needs) == ("undetermined", ["approvals.fire_prevention"])
    step = _step(result, "co.missing_approvals")
    assert step["value"] is None
    assert step["known"] == {"members": ["planning_services"], "undecided": ["fire_prevention"]}
    assert "known so far: Planning Services; undecided: Fire Prevention" in step["text"]


def test_one_condition_known_unmet_decides_504_4_1(policy: Policy) -> None:
    result = policy.evaluate(read_case(KENT / "95-height-increase-one-condition-unmet.yaml"))
    d = result.decisions["height_increase.extra_story_permitted"]
    assert (d.value, d.status) == (False, "determined")
    assert d.citations == ["IBC 504.4.1 as added by KCC 14.01.030.F"]
    assert _step(result, "height_increase.unmet_conditions")["known"]["members"] == [
        "exterior_walls_rated"
    ]


def test_bulk_agrees_on_partly_known_lists(policy: Policy) -> None:
    """``values_many`` decides rows with a partly known list as ``values`` does."""
    base = {"permit": {"code": "IBC"}, "project": {"kind": "new_building"},
            "building": {"type": "other"}}  # fmt: skip
    approvals = [
        {"public_works_engineering": "2025-08-01", "planning_services": None},
        {
            "public_works_engineering": "2025-08-01",
            "planning_services": "2025-08-02",
            "fire_prevention": "2025-08-02",
            "building_services": "2025-08-02",
        },
        {"fire_prevention": None},
        {},
    ]
    cases = [{"jurisdiction": "kent", "as_of": "2025-08-13", "facts": {**base, "approvals": a}}
             for a in approvals * 20]  # fmt: skip
    wanted = ["co.ready_for_inspection", "co.missing_approvals"]
    one = [policy.values(c, wanted) for c in cases]
    many = policy.values_many(cases, wanted)
    assert [[repr(r[k]) for k in wanted] for r in many] == [
        [repr(r[k]) for k in wanted] for r in one
    ]
    assert [r["co.ready_for_inspection"] for r in one][:3] == [False, True, False]
