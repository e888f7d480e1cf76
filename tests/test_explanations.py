"""Explanations for every outcome: each sentence the golden cases reach, one reviewable file per
jurisdiction, and the labels of every enum the policies declare.

A rule's `explain:` may give one template per outcome (issue 11 §2); what a reviewer needs is to
read every sentence each definition produces for each outcome once. The snapshot lists, per
jurisdiction, each (rule, definition, outcome) with the first golden case that reaches it and the
sentence staff read; a wording change is then a reviewed diff of that file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dsl.typesys import Type
from engine import Policy
from engine.compile.load import read_case
from engine.result import Node, Step
from tests.conftest import GOLDEN, TextSnapshot, town_policy

JURISDICTIONS = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


def _outcome(step: Step, t: Type) -> str:
    """The outcome a template may be written for: ``true``/``false``, the enum value, ``none``
    (null or an empty list), else the status."""
    if step.status != "determined":
        return step.status
    if step.value is None or step.value == []:
        return "none"
    if t.name == "bool":
        return str(step.value).lower()
    return str(step.value) if t.name == "enum" else "determined"


def _steps(nodes: list[Node] | None) -> list[Step]:
    out: list[Step] = []
    for node in nodes or ():
        if isinstance(node, Step):
            out += [node, *_steps(node.because)]
    return out


def _sentences(policy: Policy, jurisdiction: str) -> dict[tuple[str, str, str], tuple[str, str]]:
    """(rule, citation, outcome) → (the first golden case reaching it, its sentence)."""
    found: dict[tuple[str, str, str], tuple[str, str]] = {}
    for path in sorted((GOLDEN / jurisdiction).rglob("*.yaml")):
        result = policy.evaluate(read_case(path))
        rules = policy.compiled_for(jurisdiction, result.revision).rules
        for decision in result.decisions.values():
            for step in _steps(decision.because):
                key = (step.rule, step.citation or "—", _outcome(step, rules[step.rule].type))
                found.setdefault(key, (path.stem, step.text))
    return found


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_every_outcome_reads(policy: Policy, jurisdiction: str, snapshot) -> None:  # type: ignore[no-untyped-def]
    found = _sentences(policy, jurisdiction)
    lines = [f"# Every sentence the golden cases of `{jurisdiction}` reach, per outcome", ""]
    last = None
    for (rule, citation, outcome), (case, text) in sorted(found.items()):
        if rule != last:
            lines += ["", f"## {rule}"]
            last = rule
        lines.append(f"- [{outcome}] {citation} ({case}):")
        lines.append(f"  {text}")
        assert "{" not in text, f"{rule}: a placeholder was left unfilled: {text}"
    assert snapshot(extension_class=TextSnapshot) == "\n".join(lines) + "\n"


def test_every_enum_has_labels(policy: Policy) -> None:
    """Answers in words: every enum value a policy declares (fact or rule) has a label."""
    missing = []
    for (jid, _), cp in policy.compiled.items():
        declared = [(f, d.type, d.labels) for f, d in cp.facts.items()]
        declared += [(r, c.type, c.labels) for r, c in cp.rules.items()]
        for name, t, labels in declared:
            item = t.item if t.name == "list" and t.item is not None else t
            missing += [f"{jid}: {name} = {v}" for v in item.values if v not in labels]
    assert not missing, "values without a label:\n" + "\n".join(sorted(set(missing)))


def test_labels_reach_the_words_but_not_the_json(policy: Policy) -> None:
    """A label changes what staff read, never the JSON a program reads (DESIGN.md §4)."""
    path = next(Path(GOLDEN / "kent").rglob("05-*.yaml"))
    result = policy.evaluate(read_case(path))
    data = result.to_dict()
    cp = policy.compiled_for("kent", result.revision)
    for rid, decision in result.decisions.items():
        rule = cp.rules[rid]
        if rule.labels and decision.status == "determined":
            assert data["decisions"][rid]["value"] == decision.value
            assert rule.words(decision.value) != decision.value


TOWN_FACTS = """\
facts:
  permit.issued_on:
    type: date
    nullable: true
    description: When the permit was issued.
  permit.code:
    type: enum
    values: [IBC, IRC]
    labels: {IBC: International Building Code}
    description: The code the permit was issued under.
"""
TOWN_RULES = """\
sections:
  - citation: TC 1.01
    title: Expiration
    rules:
      - id: permit.expired
        type: bool
        when: permit.issued_on is set
        value: as_of > permit.issued_on + 180 days
        explain:
          true: "The {permit.code} permit of {permit.issued_on} has expired."
          false: "The {permit.code} permit of {permit.issued_on} is still valid."
          undetermined: "Whether the permit expired needs its issuance date."
          not_applicable: "No permit has been issued."
      - id: permit.kind
        type: enum
        values: [building, residential]
        labels: {building: a building permit}
        value: 'if permit.code == "IBC" then "building" else "residential"'
        explain:
          residential: "A residential permit ({permit.code})."
          determined: "Otherwise: {value}."
"""


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    return town_policy(
        tmp_path_factory.mktemp("policy"), {"facts.yaml": TOWN_FACTS, "rules.yaml": TOWN_RULES}
    )


@pytest.mark.parametrize(
    ("facts", "rule", "text"),
    [
        ({"permit": {"issued_on": "2024-01-01", "code": "IBC"}}, "permit.expired",
         "The International Building Code permit of Monday, January 1, 2024 has expired."),
        ({"permit": {"issued_on": "2024-12-01", "code": "IRC"}}, "permit.expired",
         "The IRC permit of Sunday, December 1, 2024 is still valid."),
        ({"permit": {"code": "IRC"}}, "permit.expired",
         "Whether the permit expired needs its issuance date."),
        ({"permit": {"issued_on": None, "code": "IRC"}}, "permit.expired",
         "No permit has been issued."),
        ({"permit": {"code": "IRC"}}, "permit.kind", "A residential permit (IRC)."),
        ({"permit": {"code": "IBC"}}, "permit.kind", "Otherwise: a building permit."),
        ({"permit": {}}, "permit.kind", "`permit.kind`: cannot be decided without `permit.code`."),
    ],
)  # fmt: skip
def test_each_outcome_has_its_sentence(
    town: Policy, facts: dict[str, object], rule: str, text: str
) -> None:
    case = {"case": "t", "jurisdiction": "town", "as_of": "2025-01-01", "facts": facts}
    result = town.evaluate(case)
    step = result.decisions[rule].because
    assert step and isinstance(step[0], Step)
    assert step[0].text == text
    assert result.to_dict()["decisions"]["permit.kind"]["value"] in ("building", "residential",
                                                                    None)  # fmt: skip
