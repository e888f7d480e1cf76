"""`ordinance mutate` (issue 15, section 2): mutation testing of the policy.

The fixture town (tests/fixtures/mutate_town) has one section its golden cases exercise well
(TC 1.A, amending the model code's MC 105) and one they never touch (TC 2, a fee with a
valuation threshold). Its mutants must survive exactly there, and die once the golden cases
that the report asks for are added.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dsl.parse import parse_expression
from dsl.printer import shape
from engine import load_policy
from engine.api import Policy
from engine.tools.cli import main
from engine.tools.mutants import _expr_changes, _holders, _mutated_text
from engine.tools.mutate import (
    INVALID,
    KILLED,
    NOT_RUN,
    SILENCED,
    SURVIVED,
    Report,
    enumerate_mutants,
    golden_cases,
    run,
)
from tests.conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "mutate_town"
TC2 = {("boundary", "permit.valuation > $10,000", "permit.valuation >= $10,000"),
       ("threshold", "$10,000", "$10,000.01"), ("threshold", "$10,000", "$9,999.99")}  # fmt: skip


@pytest.fixture
def town(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the fixture town that a test may add cases and annotations to, run from its
    folder (so no project configuration above it, such as this repository's thresholds,
    applies)."""
    shutil.copytree(FIXTURE, tmp_path / "town")
    monkeypatch.chdir(tmp_path / "town")
    return tmp_path / "town"


def _run(root: Path, *, budget: float = 60.0, seed: int = 0,
         clock: Callable[[], float] = time.monotonic) -> Report:  # fmt: skip
    policy = load_policy(root / "policy")
    cases, left_out = golden_cases(policy, [root / "tests"])
    mutants = enumerate_mutants(policy, ["town"])
    return run(policy, mutants, cases, budget=budget, seed=seed, left_out=left_out, clock=clock)


def _survivors(report: Report) -> set[tuple[str, str, str]]:
    return {(o.mutant.operator, o.mutant.before, o.mutant.after)
            for o in report.outcomes if o.status == SURVIVED}  # fmt: skip


def _case(root: Path, name: str, valuation: str, fee: str) -> None:
    (root / "tests" / "town" / "r1" / name).write_text(
        f"case: {name[:2]}\njurisdiction: town\nas_of: 2025-01-01\n"
        f"facts:\n  permit:\n    valuation: {valuation}\nexpect:\n  permit.fee: {fee!r}\n",
        "utf-8",
    )


def test_the_untested_section_is_where_mutants_survive(town: Path) -> None:
    report = _run(town)
    assert _survivors(report) == TC2
    assert {o.mutant.citation for o in report.outcomes if o.status == SURVIVED} == {"TC 2"}
    # Every kind of change was made to the tested section, and each was noticed there.
    kinds = {o.mutant.operator for o in report.outcomes if o.status == KILLED}
    assert kinds == {"boundary", "shift", "drop-when", "negate", "connective", "reorder",
                     "remove-amendment"}  # fmt: skip
    # Leaving out the first of two `when:`s of one section is refused by the compiler.
    assert [o.mutant.operator for o in report.outcomes if o.status == INVALID] == ["drop-when"]
    assert report.counts[KILLED] == 12
    assert report.score == pytest.approx(80.0)


def test_the_golden_cases_it_asks_for_kill_them(town: Path) -> None:
    _case(town, "04-at-threshold.yaml", "10000", "50.00")  # not over $10,000: $50
    report = _run(town)
    # At the threshold tells `>` from `>=` and from $9,999.99; not from $10,000.01.
    assert _survivors(report) == {("threshold", "$10,000", "$10,000.01")}
    _case(town, "05-a-cent-over.yaml", "10000.01", "100.00")
    report = _run(town)
    assert _survivors(report) == set()
    assert report.score == pytest.approx(100.0)


def test_an_annotation_silences_a_kind_of_change_and_an_unused_one_is_said(town: Path) -> None:
    rules = town / "policy" / "town" / "r1" / "town.yaml"
    text = rules.read_text("utf-8")
    text = text.replace(
        "        value: if permit.valuation > $10,000 then $100 else $50\n",
        "        value: if permit.valuation > $10,000 then $100 else $50\n"
        "        mutation:\n          ignore: [threshold]\n"
        "          reason: The resolution rounds valuations to whole dollars.\n",
    )
    text = text.replace("    title: Permit fee\n", "    title: Permit fee\n"
                        "    mutation: {ignore: [shift], reason: No periods here.}\n")  # fmt: skip
    rules.write_text(text, "utf-8")
    report = _run(town)
    assert _survivors(report) == {next(s for s in TC2 if s[0] == "boundary")}
    silenced = [o for o in report.outcomes if o.status == SILENCED]
    assert [o.mutant.operator for o in silenced] == ["threshold", "threshold"]
    assert silenced[0].by == "The resolution rounds valuations to whole dollars."
    assert report.score == pytest.approx(12 / 13 * 100)  # silenced ones are not scored
    assert [sorted(s.ignore) for s in report.unused] == [["shift"]]
    assert report.unused[0].origin.span().line == 33  # the line after `title: Permit fee`


def test_an_annotation_of_an_unknown_kind_is_a_located_error(town: Path) -> None:
    rules = town / "policy" / "town" / "r1" / "town.yaml"
    typo = "    title: Permit fee\n    mutation: {ignore: [boundry], reason: typo}\n"
    rules.write_text(rules.read_text("utf-8").replace("    title: Permit fee\n", typo), "utf-8")
    result = CliRunner().invoke(main, ["check", str(town / "policy"), "--format", "short"])
    assert result.exit_code == 1
    assert "town.yaml:33:" in result.output and "boundry" in result.output


def test_the_budget_stops_starting_mutants_and_the_seed_picks_which(town: Path) -> None:
    assert _run(town, budget=0).counts[NOT_RUN] == 16

    def ran(seed: int) -> list[tuple[str, ...]]:
        ticks = iter(range(10_000))  # a clock that moves one second per reading
        report = _run(town, budget=5, seed=seed, clock=lambda: float(next(ticks)))
        return [o.mutant.key for o in report.outcomes if o.status != NOT_RUN]

    assert len(ran(0)) == 4  # read at 0, then 1..4 start one each, 5 is the budget
    assert ran(0) == ran(0)
    assert any(ran(s) != ran(0) for s in (1, 2, 3))


def _cli(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["mutate", "--policy", str(root / "policy"), "--cases",
                                       str(root / "tests"), "-j", "town", *args])  # fmt: skip
    return result.exit_code, result.stdout


def test_the_command_reports_survivors_by_section_and_fails_under_a_score(town: Path) -> None:
    code, text = _cli(town)
    assert code == 0
    assert "mutation score 80.0%" in text
    section = text.split("\nTC 2\n", 1)[1]
    assert "town/r1/town.yaml:39:19  boundary: permit.valuation > $10,000  →  " in section
    assert "TC 1.A" not in section
    assert _cli(town, "--fail-under", "80")[0] == 0
    assert _cli(town, "--fail-under", "80.1")[0] == 1
    code, md = _cli(town, "--format", "markdown")
    assert "| TC 2 |" in md and "`permit.valuation > $10,000`" in md


def test_the_project_sets_its_own_threshold(town: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(town)
    config = town / "ordinance.toml"

    def mutate(threshold: str, *args: str) -> Any:
        config.write_text(f'policy = "policy"\ntests = "tests"\nmutation_fail_under = '
                          f"{threshold}\n", "utf-8")  # fmt: skip
        return CliRunner().invoke(main, ["mutate", "-j", "town", *args])

    under = mutate("85")
    assert under.exit_code == 1
    assert "error[cli/mutation-under]: the mutation score 80.0% is under 85%" in under.stderr
    assert mutate("80").exit_code == 0
    assert mutate("85", "--fail-under", "0").exit_code == 0  # the option wins
    bad = mutate("true")
    assert bad.exit_code == 1 and "project/bad-config" in bad.output


def test_the_json_report_is_the_same_every_run(town: Path) -> None:
    first, second = _cli(town, "--format", "json")[1], _cli(town, "--format", "json")[1]
    assert first == second
    data = json.loads(first)
    assert data["counts"][SURVIVED] == 3 and data["score"] == 80.0
    assert {m["status"] for m in data["mutants"]} == {KILLED, SURVIVED, INVALID}


def test_bad_selections_are_usage_errors(town: Path) -> None:
    code, _ = _cli(town, "-j", "nowhere")
    assert code == 2
    result = CliRunner().invoke(main, ["mutate", "--policy", str(town / "policy"),
                                       "--sections", "TC 9"])  # fmt: skip
    assert result.exit_code == 2 and "no mutant in the sections TC 9" in result.output


def test_sections_select_a_section_and_its_subsections(town: Path) -> None:
    policy = load_policy(town / "policy")
    assert {m.citation for m in enumerate_mutants(policy, ["town"], ["TC 1"])} == {"TC 1.A"}
    assert {m.citation for m in enumerate_mutants(policy, ["town"], ["TC 2"])} == {"TC 2"}


@pytest.fixture(scope="module")
def bundled() -> Policy:
    return load_policy(ROOT / "policy")


def test_every_change_to_a_bundled_expression_parses_and_changes_its_tree(bundled: Policy) -> None:
    """The mutated text is made from the syntax tree; it must parse, and to a different tree
    (a change the parser undid would be a mutant that cannot die)."""
    checked = 0
    for jur in bundled.jurisdictions.values():
        for content in jur.content.values():
            for holder in _holders(content):
                text = holder.expr.text
                for _op, span, _before, _after, new in _expr_changes(text, frozenset()):
                    mutated = parse_expression(_mutated_text(text, span, new))
                    assert shape(mutated) != shape(parse_expression(text))
                    checked += 1
    assert checked > 100


def test_definitions_a_dispatch_tells_apart_are_not_reordered(bundled: Policy) -> None:
    """`permit.expires_on` is defined per code (`permit.code == "IBC"`, `"IRC"`, ...): no two
    of those can both apply, so swapping them is no mutant."""
    cp = bundled.compiled[("kent", "ord-4463")]
    assert cp.rules["permit.expires_on"].dispatch is not None
    mutants = enumerate_mutants(bundled, ["kent"])
    assert not [m for m in mutants if m.swap and m.swap[0] == "permit.expires_on"]
    assert [m for m in mutants if m.operator == "reorder"]


def test_a_new_city_runs_the_mutate_step_its_ci_workflow_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = CliRunner().invoke(main, ["init", "riverton", "--into", str(tmp_path / "r")])
    assert made.exit_code == 0, made.output
    workflow = next((tmp_path / "r" / ".github" / "workflows").glob("*.yml")).read_text("utf-8")
    assert "ordinance mutate --budget-seconds 300 --format markdown" in workflow
    monkeypatch.chdir(tmp_path / "r")
    result = CliRunner().invoke(main, ["mutate", "--budget-seconds", "300", "--format",
                                       "markdown"])  # fmt: skip
    assert result.exit_code == 0, result.output
    # The city's own layer has no rules yet; the model codes it builds on are not its to test.
    assert result.stdout.startswith("## Mutation testing\n\nMutation score **no mutant ran**")
