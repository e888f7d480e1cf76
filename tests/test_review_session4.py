"""Findings of the adversarial review of session 4 (three-valued lists, per-outcome explanations
and labels, the text and HTML pages, the site): one test per finding, each failing on the code
before its fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine import Policy
from engine.result import Step
from tests.conftest import town_policy

FACTS = """\
facts:
  building.sprinklers:
    type: enum
    values: [none, partial, full]
    nullable: true
    description: The sprinkler system the building has.
  review.state:
    type: enum
    values: [pending, determined]
    description: Where the plan review stands.
  approvals.fire:
    type: bool
    description: The fire approval is recorded.
  approvals.planning:
    type: bool
    description: The planning approval is recorded.
"""
RULES = """\
sections:
  - citation: TC 2.01
    title: Review
    rules:
      - id: fire.sprinklers
        type: enum
        values: [none, partial, full]
        value: building.sprinklers
        explain:
          none: "The building has no sprinklers."
          full: "The building is fully sprinklered."
      - id: review.outcome
        type: enum
        values: [pending, determined]
        value: review.state
        explain:
          determined: "The plan review has been determined."
      - id: co.missing
        type: list
        item: enum
        values: [fire, planning]
        labels:
          fire: "fire approval so far, pending"
          planning: "planning approval"
        description: The approvals not recorded
        value: '["fire" if not approvals.fire, "planning" if not approvals.planning]'
"""


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    return town_policy(
        tmp_path_factory.mktemp("policy"), {"more-facts.yaml": FACTS, "more-rules.yaml": RULES}
    )


def _sentence(policy: Policy, facts: dict[str, Any], rule: str) -> str:
    case = {"case": "t", "jurisdiction": "town", "as_of": "2025-01-01", "facts": facts}
    step = policy.evaluate(case).decisions[rule].because
    assert step and isinstance(step[0], Step)
    return step[0].text


def test_an_enum_value_named_none_is_not_the_null_outcome(town: Policy) -> None:
    """Finding 1: an enum value spelt like an outcome (`none`) shared its sentence with it: a
    building whose sprinklers are not known to exist at all (null) read "has no sprinklers"."""
    assert _sentence(town, {"building": {"sprinklers": "none"}}, "fire.sprinklers") == (
        "The building has no sprinklers."
    )
    null = _sentence(town, {"building": {"sprinklers": None}}, "fire.sprinklers")
    assert "no sprinklers" not in null


def test_an_enum_value_named_determined_is_not_every_other_value(town: Policy) -> None:
    """Finding 1: an enum value `determined` with a sentence gave that sentence to every value
    without one: a pending review read "has been determined"."""
    assert _sentence(town, {"review": {"state": "determined"}}, "review.outcome") == (
        "The plan review has been determined."
    )
    pending = _sentence(town, {"review": {"state": "pending"}}, "review.outcome")
    assert "has been determined" not in pending and "pending" in pending


def test_a_label_holding_so_far_reads_as_written(town: Policy) -> None:
    """Finding 2: what is known of a partly known list was cut at " so far," by a text
    replacement, so a label holding those words was rewritten in the sentence."""
    text = _sentence(town, {"approvals": {"fire": False}}, "co.missing")
    assert "known so far: fire approval so far, pending; undecided: planning approval." in text


KENT = Path(__file__).parent / "golden" / "kent" / "ord-4463"
KENT_97 = KENT / "97-co-approval-null-another-absent.yaml"


@pytest.mark.parametrize(
    ("decision", "said"),
    [
        ("co.missing_approvals", "approvals.fire_prevention"),  # undetermined
        ("appeal.heard_by", "appeal.heard_by"),  # decided from no fact of the case
    ],
)
def test_the_printable_answer_shows_the_decision_asked_for(
    policy: Policy, decision: str, said: str
) -> None:
    """Finding 3: `eval --format html --explain D` left D out of the page when D was
    undetermined or a constant of the law: the applicant's page answered nothing at all."""
    from engine.compile.load import read_case
    from engine.render import RenderContext, render_html

    result = policy.evaluate(read_case(KENT_97))
    jur = policy.jurisdictions[result.jurisdiction]
    title = next(r.title for r in jur.revisions if r.id == result.revision)
    page = render_html(result, RenderContext(jur.title, title, only=(decision,)))
    body = page[page.index("<body>") : page.index("<footer")].replace("Dates of this case", "")
    assert decision in body and said in body


def test_a_fact_given_as_the_text_unknown_is_a_fact_the_case_gave(policy: Policy) -> None:
    """Finding 4: the summary told a given fact from an absent one by its JSON form, and an
    absent fact's form is the text "unknown": a case citing the IPMC section `unknown` had
    its one decision left out as "decided from no fact of this case"."""
    from engine.answer import build_answer, given_facts

    case = {"case": "U", "jurisdiction": "kent", "as_of": "2025-06-02",
            "facts": {"violation": {"ipmc_section": "unknown"}}}  # fmt: skip
    result = policy.evaluate(case)
    assert given_facts(result) == {"violation.ipmc_section": "unknown"}
    answer = build_answer(result)
    assert "violation.section_in_force" in [d.id for d in answer.decided]


def test_a_text_fact_that_looks_like_a_date_is_not_on_the_timeline(policy: Policy) -> None:
    """Finding 5: the timeline took any fact whose JSON form reads as a date for a date: an
    IPMC section written `1999-01-01` (text) was drawn as "a date the case gives"."""
    from engine.answer import timeline

    case = {"case": "U", "jurisdiction": "kent", "as_of": "2025-06-02",
            "facts": {"violation": {"ipmc_section": "1999-01-01"},
                      "permit": {"issued_on": "2025-01-02"}}}  # fmt: skip
    labels = [m.label for m in timeline(policy.evaluate(case))]
    assert "violation.ipmc_section" not in labels
