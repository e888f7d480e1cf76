"""Bulk evaluation (``Policy.values_many``) gives what ``Policy.values`` gives, case for case.

The cases: every golden case, and random cases drawn from each policy's fact declarations, with
facts left out (unknowns), null events, edge dates and every enum value, so that every rule of
every jurisdiction runs on the column path and, for the cases with unknowns, on the scalar one.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from dsl.values import Unknown
from engine import load_policy
from engine.api import Policy
from engine.diagnostics import CaseError
from engine.run import bulk
from engine.run.program import CompiledPolicy
from tests.conftest import comparable

GOLDEN = Path(__file__).parent / "golden"
POLICY = load_policy()


def _one_by_one(cases: list[dict[str, Any]], decisions: Any = None) -> list[dict[str, Any]]:
    return [POLICY.values(c, decisions) for c in cases]


def _random_value(decl: Any, rng: random.Random) -> Any:
    t = decl.type
    if decl.nullable and rng.random() < 0.2:
        return None
    name = t.name
    if name == "date":
        day = dt.date(2024, 2, 29) if rng.random() < 0.05 else dt.date(2024, 3, 15)
        return (day + dt.timedelta(days=rng.randrange(0, 1200))).isoformat()
    if name == "datetime":
        day = dt.date(2024, 3, 1) + dt.timedelta(days=rng.randrange(0, 800))
        return f"{day.isoformat()}T{rng.choice(['16:59:59', '17:00:00', '17:00:01', '09:30'])}"
    if name == "bool":
        return rng.random() < 0.5
    if name == "int":
        return rng.choice([0, 0, 1, 2, 3, 5, 12])
    if name == "enum":
        return rng.choice(t.values)
    if name in ("decimal", "money"):
        return rng.choice(["0", "1.5", "2500", "12000.75", 3, 250.5])
    if name == "string":
        return rng.choice(["IBC 105.5", "IPMC 604", "ibc  105.5", "KCC 14.01.110"])
    if name == "time":
        return rng.choice(["17:00", "08:00"])
    if name == "list":
        assert t.item is not None
        if t.item.name == "enum":
            return rng.sample(list(t.item.values), rng.randrange(0, len(t.item.values) + 1))
        if t.item.name == "string":
            return [rng.choice(["a@example.org", "b@example.org"]) for _ in range(rng.randrange(3))]
        return [rng.choice([30, 90, 120, 180]) for _ in range(rng.randrange(0, 4))]
    raise AssertionError(f"no generator for {name}")


def _random_cases(cp: CompiledPolicy, n: int, seed: int, keep: float) -> list[dict[str, Any]]:
    """``n`` cases giving each fact with probability ``keep``."""
    rng = random.Random(seed)
    start = cp.layered.revision.effective_on or dt.date(2024, 3, 15)
    cases = []
    for i in range(n):
        facts: dict[str, Any] = {}
        for fid, decl in cp.facts.items():
            if rng.random() < keep:
                node = facts
                *groups, leaf = fid.split(".")
                for g in groups:
                    node = node.setdefault(g, {})
                node[leaf] = _random_value(decl, rng)
        as_of = start + dt.timedelta(days=rng.randrange(0, 1500))
        cases.append({"case": f"R{i}", "jurisdiction": cp.jurisdiction,
                      "as_of": as_of.isoformat(), "facts": facts})  # fmt: skip
    return cases


@pytest.mark.parametrize("cp", list(POLICY.compiled.values()), ids=lambda cp: cp.jurisdiction)
@pytest.mark.parametrize("keep", [1.0, 0.9, 0.5])
def test_random_cases_agree(
    cp: CompiledPolicy, keep: float, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    cases = _random_cases(cp, 150, seed=int(keep * 100), keep=keep)
    want = comparable(_one_by_one(cases))
    calls: list[int] = []
    each = bulk._each
    monkeypatch.setattr(bulk, "_each", lambda *a: calls.append(1) or each(*a))
    assert comparable(POLICY.values_many(cases)) == want
    assert not calls, "well-formed cases went case by case: the column path hid a problem"


def test_golden_cases_agree() -> None:
    cases = []
    for path in sorted(GOLDEN.rglob("*.yaml")):
        data = yaml.safe_load(path.read_text("utf-8"))
        data.pop("expect", None)
        cases.append(data)
    plain = [c for c in cases if "revision" not in c]
    assert len(plain) > 150
    assert comparable(POLICY.values_many(plain)) == comparable(_one_by_one(plain))
    # A batch mixing jurisdictions and revisions, with a `revision:` key, goes case by case.
    assert comparable(POLICY.values_many(cases)) == comparable(_one_by_one(cases))


def _catalogue_cases(n: int) -> list[dict[str, Any]]:
    """Cases shaped like the peers benchmark's (every code, nulls, Feb 29)."""
    rng = random.Random(7)
    out = []
    for i in range(n):
        issued = dt.date(2021, 1, 1) + dt.timedelta(days=rng.randrange(0, 1700))
        commenced = issued + dt.timedelta(days=rng.randrange(0, 420)) if i % 4 else None
        last = commenced + dt.timedelta(days=rng.randrange(0, 900)) if commenced and i % 3 else None
        out.append({"case": f"C{i}", "jurisdiction": "kent", "as_of": "2025-06-30", "facts": {
            "permit": {"code": rng.choice(["IBC", "IRC", "IEBC", "UPC", "IMC"]),
                       "issued_on": issued.isoformat(), "extensions_granted": i % 3,
                       "only_final_remaining": i % 5 == 0},
            "work": {"commenced_on": commenced and commenced.isoformat(),
                     "last_inspection_on": last and last.isoformat()},
            "building": {"single_family": i % 2 == 0},
            "property": {"code_enforcement": i % 7 == 0}}})  # fmt: skip
    return out


DECISIONS = ("permit.expires_on", "permit.expiration_reason", "permit.expired",
             "permit.extension_eligible")  # fmt: skip


def test_catalogue_takes_the_column_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's kind of batch is read and decided by columns, not case by case."""
    cases = _catalogue_cases(400)
    want = comparable(_one_by_one(cases, DECISIONS))

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("fell back to case-by-case evaluation")

    monkeypatch.setattr(bulk, "_each", refuse)
    monkeypatch.setattr(Policy, "values", refuse)
    monkeypatch.setattr(bulk.one, "values", refuse)
    assert comparable(POLICY.values_many(cases, DECISIONS)) == want
    cp = POLICY.latest("kent")
    plan = cp.batch_plan(frozenset(DECISIONS))
    assert all(r.groups is not None for r in plan)
    # A ruleset gives the five codes one wording: one group of definitions, computed once.
    dispatched = [r for r in plan if r.dispatch]
    assert dispatched and all(len(set(r.table.values())) == 1 for r in dispatched)


def test_unknown_inputs_decided_case_by_case() -> None:
    cases = _catalogue_cases(60)
    for c in cases[::3]:
        del c["facts"]["work"]["commenced_on"]
    for c in cases[1::5]:
        del c["facts"]["permit"]["code"]
    got = POLICY.values_many(cases, DECISIONS)
    assert comparable(got) == comparable(_one_by_one(cases, DECISIONS))
    assert any(isinstance(r["permit.expires_on"], Unknown) for r in got)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f["permit"].update(issued_on="2024-02-30"), "`permit.issued_on` must be a date"),
        (lambda f: f["permit"].update(only_final_remaining=1), "must be true or false"),
        (lambda f: f["permit"].update(isued_on="2024-01-01"), "unknown fact `permit.isued_on`"),
        (lambda f: f["permit"].update(code=None), "`permit.code` cannot be null"),
        (lambda f: f.update(work=None), "`work` must be a mapping"),
    ],
)
def test_a_bad_case_is_named(change: Any, message: str) -> None:
    cases = _catalogue_cases(10)
    change(cases[6]["facts"])
    with pytest.raises(CaseError) as info:
        POLICY.values_many(cases, DECISIONS)
    text = info.value.diagnostics[0].message
    assert text.startswith("case 7 of the batch (`C6`): ")
    assert message in text


def test_as_of_and_dates_given_as_dates() -> None:
    """``as_of`` overrides every case's; date values may be ``datetime.date`` objects."""
    cases = _catalogue_cases(30)
    for c in cases[::2]:
        c["facts"]["permit"]["issued_on"] = dt.date.fromisoformat(c["facts"]["permit"]["issued_on"])
    day = dt.date(2026, 1, 5)
    got = POLICY.values_many(cases, DECISIONS, as_of=day)
    assert comparable(got) == comparable([POLICY.values(c, DECISIONS, as_of=day) for c in cases])
    assert POLICY.values_many([]) == []


def test_unknown_decision_is_refused() -> None:
    with pytest.raises(CaseError) as info:
        POLICY.values_many(_catalogue_cases(3), ["permit.expires"])
    assert info.value.diagnostics[0].code == "case/unknown-decision"


def test_decisions_reused_only_on_inputs_alike_when_equal() -> None:
    """A decision on unknown inputs is reused for equal inputs only where equal means the same:
    not for decimals (1.0 == 1) nor moments (17:00 Pacific == 20:00 Eastern)."""
    plan = {r.id: r for r in POLICY.latest("kent").batch_plan(None)}
    assert plan["permit.expires_on"].reusable
    assert not plan["final_inspection.likely_failures"].reusable  # reads decimals
    assert not plan["appeal.timely"].reusable  # reads a datetime
    cases = _catalogue_cases(40)
    for i, c in enumerate(cases):
        c["facts"]["final"] = {"guard_opening_in": ["4", "4.0", 4, "4.00"][i % 4]}
    wanted = ["final_inspection.likely_failures", "permit.expires_on"]
    assert comparable(POLICY.values_many(cases, wanted)) == comparable(_one_by_one(cases, wanted))
