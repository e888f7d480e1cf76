"""Evaluation semantics on small policies: definitions tried in order, unknown conditions,
rules that do not apply read as null."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine import load_policy
from tests.conftest import ROOT

OK = ROOT / "tests" / "fixtures" / "broken_policies" / "ok"


def _policy(tmp_path: Path, facts: str, rules: str):  # type: ignore[no-untyped-def]
    root = tmp_path / "policy"
    shutil.copytree(OK, root)
    (root / "town" / "r1" / "facts.yaml").write_text(facts)
    (root / "town" / "r1" / "rules.yaml").write_text(rules)
    return load_policy(root)


FACTS = """
facts:
  permit.kind:
    type: enum
    values: [a, b]
    description: Kind.
  permit.flag:
    type: bool
    description: Flag.
"""

RULES = """
sections:
  - citation: TC 1
    title: One
    rules:
      - id: x.only_for_a
        type: bool
        when: permit.kind == "a"
        value: "true"
      - id: x.reads_it
        type: int
        when: x.only_for_a
        value: "1"
      - id: x.reads_it
        type: int
        value: "2"
      - id: x.agree
        type: int
        when: permit.flag
        value: "7"
      - id: x.agree
        type: int
        value: "7"
"""


def _case(**facts: object) -> dict[str, object]:
    return {"jurisdiction": "town", "as_of": "2024-06-01", "facts": {"permit": facts}}


def test_a_condition_reading_a_rule_that_did_not_apply_is_false(tmp_path: Path) -> None:
    policy = _policy(tmp_path, FACTS, RULES)
    result = policy.evaluate(_case(kind="b"))
    assert result.decisions["x.only_for_a"].status == "not_applicable"
    assert result.decisions["x.reads_it"].value == 2  # the second definition decides
    assert policy.evaluate(_case(kind="a")).decisions["x.reads_it"].value == 1


def test_an_unknown_condition_is_decided_when_every_way_agrees(tmp_path: Path) -> None:
    policy = _policy(tmp_path, FACTS, RULES)
    d = policy.evaluate(_case(kind="a")).decisions["x.agree"]
    assert (d.status, d.value) == ("determined", 7)  # permit.flag unknown, both give 7
    d = policy.evaluate(_case()).decisions["x.reads_it"]
    assert (d.status, d.needs) == ("undetermined", ["permit.kind"])
