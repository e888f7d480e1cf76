"""`ordinance test --coverage` (issue 15, part 1): coverage in legal units on a fixture city
(tests/fixtures/coverage: a model layer and a town that amends it) with one section, TC 3.01, that
no golden case exercises; the expected numbers are counted by hand below."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.tools.cli import main
from tests.conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "coverage"

# The town's units, counted by hand, and what its two golden cases reach (TOWN-1: IBC, two
# stories; TOWN-2: IBC, five stories, no inspection requested):
# - sections (4): MC 1.01 as amended by TC 1.01, TC 1.03 (TOWN-2), TC 2.01; TC 3.01 never → 3/4
# - conditions (3, two outcomes each): `permit.code == "IBC"` taken only; `building.stories > 3`
#   not taken (TOWN-1) and taken (TOWN-2); `inspection.requested` not taken only → 4/6
# - definitions (4): all won but inspection.required → 3/4
# - fee items: base has no `when:` and no quantity, so it is charged whenever the fee is (one
#   outcome, charged); stories not charged (TOWN-1, two stories) and charged (TOWN-2) → 3/3
# - amendments (2): TC 1.01's substitution (its rule won) and TC 1.02's repeal of MC 1.02
#   (notice.required, which MC 1.02 defined, determined by TC 1.03 in TOWN-2) → 2/2
# - procedure steps (1): `request` is ready in TOWN-2 (no inspection requested yet) → 1/1
# 16 of 20 for the town; the model's own case reaches its 2 sections and 2 definitions, 4/4;
# 20 of 24 in all, 83.33%.
TOWN = {"section": (3, 4), "condition": (4, 6), "definition": (3, 4), "fee item": (3, 3),
        "amendment": (2, 2), "step": (1, 1)}  # fmt: skip

THIRD = """\
case: TOWN-3
jurisdiction: town
as_of: 2024-06-01
facts:
  permit: {code: IRC, issued_on: 2024-02-01}
  building: {stories: 1}
  inspection: {requested: true}
expect:
  inspection.required: true
"""


@pytest.fixture
def city(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the fixture city (its ordinance.toml names its policy and golden cases), as
    the current folder."""
    shutil.copytree(FIXTURE, tmp_path / "city")
    monkeypatch.chdir(tmp_path / "city")
    monkeypatch.delenv("ORDINANCE_POLICY", raising=False)
    return tmp_path / "city"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["test", *args])
    return result.exit_code, result.stdout, result.stderr


def report(*args: str) -> dict[str, object]:
    code, out, err = run("--coverage", "--format", "json", *args)
    assert code in (0, 1), err
    data: dict[str, object] = json.loads(out)
    return data


def suite(data: dict[str, object], name: str) -> dict[str, object]:
    suites = data["suites"]
    assert isinstance(suites, list)
    return next(s for s in suites if f"{s['jurisdiction']}/{s['revision']}" == name)


def test_report_names_the_section_no_case_exercises_with_citation_and_file_line(city: Path) -> None:
    code, out, err = run("--coverage")
    assert code == 0, err
    assert "3 passed, 0 failed" in out
    never = out.split("sections never exercised:")[1].split("not exercised every way:")[0]
    assert "TC 3.01 (Inspections)  policy/town/r1/rules.yaml:49" in never
    assert "inspection.required  policy/town/r1/rules.yaml:53" in never  # the rule's line
    assert "TC 1.03" not in never and "TC 2.01" not in never
    town = suite(report(), "town/r1")
    rule = {"id": "inspection.required", "where": "policy/town/r1/rules.yaml:53"}
    assert town["never_exercised"] == [{"citation": "TC 3.01", "title": "Inspections",
                                        "where": "policy/town/r1/rules.yaml:49",
                                        "rules": [rule]}]  # fmt: skip


def test_percentages_are_the_hand_count(city: Path) -> None:
    data = report()
    town = suite(data, "town/r1")
    kinds = town["kinds"]
    assert isinstance(kinds, dict)
    assert {k: (v["reached"], v["outcomes"]) for k, v in kinds.items()} == TOWN
    assert (town["reached"], town["outcomes"], town["percent"]) == (16, 20, 80.0)
    assert suite(data, "model/m1")["percent"] == 100.0
    assert data["total"] == {"reached": 20, "outcomes": 24, "percent": 83.33}
    _, out, _ = run("--coverage")
    assert "town/r1: 80.0% (16/20), 2 case(s)" in out
    assert out.rstrip().endswith("total: 83.3% (20/24)")


def test_a_condition_exercised_one_way_counts_one_outcome_of_two(city: Path) -> None:
    units = suite(report(), "town/r1")["units"]
    assert isinstance(units, list)
    code = next(u for u in units if u["label"] == 'permit.code == "IBC"')
    assert (code["kind"], code["reached"], code["missed"]) == ("condition", ["taken"],
                                                                ["not taken"])  # fmt: skip
    assert code["citation"] == "MC 1.01 as amended by TC 1.01"
    assert code["where"] == "policy/town/r1/rules.yaml:9"
    stories = next(u for u in units if u["label"] == "building.stories > 3")
    assert stories["reached"] == ["not taken", "taken"] and stories["missed"] == []
    _, out, _ = run("--coverage")
    assert ('condition permit.code == "IBC" [MC 1.01 as amended by TC 1.01] '
            "policy/town/r1/rules.yaml:9: never not taken") in out  # fmt: skip


def test_fail_under_exits_1_below_and_0_at_or_above(city: Path) -> None:
    code, _, err = run("--coverage", "--fail-under", "83.34")
    assert code == 1
    assert "error[cli/coverage-under]" in err and "20 of 24 outcomes (83.3%)" in err
    assert run("--coverage", "--fail-under", "83.33")[0] == 0  # 2000/24 is not under it
    assert run("--coverage", "--fail-under", "79")[0] == 0
    assert run("--fail-under", "83.34")[0] == 1  # the threshold asks for the report


def test_the_project_sets_its_own_threshold(city: Path) -> None:
    toml = city / "ordinance.toml"
    toml.write_text(toml.read_text("utf-8") + "coverage_fail_under = 85\n", "utf-8")
    code, _, err = run("--coverage")
    assert code == 1 and "under the threshold of 85%" in err
    assert run("--coverage", "--fail-under", "75")[0] == 0  # the option overrides it
    assert run()[0] == 0  # without --coverage nothing is measured, nothing fails
    toml.write_text('policy = "policy"\ntests = "golden"\ncoverage_fail_under = "high"\n')
    code, _, err = run("--coverage")
    assert code == 1 and "project/bad-config" in err and "percentage from 0 to 100" in err


def test_a_golden_case_for_the_section_raises_coverage_and_removes_it(city: Path) -> None:
    before = report()
    (city / "golden" / "town" / "r1" / "03-inspection-requested.yaml").write_text(THIRD)
    after = report()
    town = suite(after, "town/r1")
    assert town["never_exercised"] == []
    # TC 3.01 is decided (section, definition), `inspection.requested` is taken and
    # `permit.code == "IBC"` not taken: 4 more outcomes, all 20 of the town's.
    assert (town["reached"], town["outcomes"]) == (20, 20)
    total = after["total"]
    assert isinstance(total, dict) and isinstance(before["total"], dict)
    assert (total["reached"], total["percent"]) == (24, 100.0) > (before["total"]["reached"], 83)
    _, out, _ = run("--coverage")
    assert "sections never exercised" not in out.split("town/r1")[1]


def test_json_is_byte_identical_run_to_run_and_markdown_is_escaped(city: Path) -> None:
    outs = {run("--coverage", "--format", "json")[1] for _ in range(2)}
    assert len(outs) == 1
    code, md, err = run("--coverage", "--format", "markdown")
    assert code == 0
    assert "3 passed" in err and "3 passed" not in md  # stdout is the report's alone
    assert "| conditions | 4/6 | 66.7% |" in md
    assert "- TC 3.01 — Inspections (`policy/town/r1/rules.yaml:49`)" in md
    assert '| condition `permit.code == "IBC"` |' in md


def test_format_without_coverage_is_a_usage_error(city: Path) -> None:
    code, _, err = run("--format", "json")
    assert code == 2 and "add --coverage" in err


def test_only_the_revisions_of_the_cases_run_with_paths(city: Path) -> None:
    data = report("golden/town")
    suites = data["suites"]
    assert isinstance(suites, list)
    assert [f"{s['jurisdiction']}/{s['revision']}" for s in suites] == ["town/r1"]


def test_the_site_lists_on_each_section_page_the_cases_that_exercise_it(city: Path) -> None:
    built = CliRunner().invoke(main, ["docs", "build", "--out", "site"])
    assert built.exit_code == 0, built.stderr
    notice = (city / "site" / "docs" / "town" / "sections" / "tc-1-03.md").read_text("utf-8")
    table = notice.split("## Golden cases that exercise this section")[1].split("##")[0]
    assert "| TOWN-2 | `town/r1/02-ibc-five-stories.yaml` | `notice.required` = yes |" in table
    assert "TOWN-1" not in table  # two stories: TC 1.03 did not apply
    fees = (city / "site" / "docs" / "town" / "sections" / "tc-2-01.md").read_text("utf-8")
    assert "TOWN-1" in fees and "TOWN-2" in fees and "$100.00" in fees
    never = (city / "site" / "docs" / "town" / "sections" / "tc-3-01.md").read_text("utf-8")
    assert "No golden case exercises this section" in never


def test_case_text_on_the_site_goes_through_the_emitters(city: Path) -> None:
    case = THIRD.replace("TOWN-3", '"<script>x</script> | `a`"')
    (city / "golden" / "town" / "r1" / "03-inspection-requested.yaml").write_text(case)
    CliRunner().invoke(main, ["docs", "build", "--out", "site"])
    page = (city / "site" / "docs" / "town" / "sections" / "tc-3-01.md").read_text("utf-8")
    row = next(line for line in page.splitlines() if "03-inspection-requested" in line)
    # HTML and the table's `|` escaped; a code span is kept, as md_text keeps it for prose.
    assert "<script>" not in row and "| &lt;script&gt;x&lt;/script&gt; \\| `a` |" in row


def test_the_bundled_policy_is_measured_for_every_revision() -> None:
    result = CliRunner().invoke(
        main, ["test", "--coverage", "--fail-under", "0", "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    names = [f"{s['jurisdiction']}/{s['revision']}" for s in data["suites"]]
    assert names == sorted(names) and len(names) >= 3
    assert all(s["cases"] > 0 and s["outcomes"] > 0 for s in data["suites"])


def test_a_new_city_from_init_passes_its_own_threshold_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ORDINANCE_POLICY", raising=False)
    made = CliRunner().invoke(main, ["init", "springfield", "--effective", "2025-01-01"])
    assert made.exit_code == 0, made.stderr
    city = tmp_path / "springfield"
    assert "coverage_fail_under = 20" in (city / "ordinance.toml").read_text("utf-8")
    workflow = (city / ".github" / "workflows" / "ordinance.yml").read_text("utf-8")
    assert "ordinance test --junit test-results.xml --coverage --format markdown" in workflow
    monkeypatch.chdir(city)
    code, out, err = run("--coverage", "--format", "markdown")
    assert code == 0, err
    assert out.startswith("## Coverage of the golden cases, in legal units")
    # The threshold is the city's own: one it does not reach fails.
    (city / "ordinance.toml").write_text('policy = "policy"\ntests = "tests/golden"\n'
                                         "coverage_fail_under = 99\n")  # fmt: skip
    assert run("--coverage")[0] == 1


def test_a_repeal_is_exercised_by_a_case_the_remaining_law_decides(city: Path) -> None:
    """The interpretation written beside ``amendment_units``: TC 1.02 repeals MC 1.02, which
    defined notice.required; TOWN-1 (two stories) leaves notice.required not applicable under
    TC 1.03, so it does not exercise the repeal, and TOWN-2 (five stories) does."""

    def amendments(*args: str) -> dict[str, list[str]]:
        units = suite(report(*args), "town/r1")["units"]
        assert isinstance(units, list)
        return {u["key"]: u["reached"] for u in units if u["kind"] == "amendment"}

    assert amendments("-k", "TOWN-1") == {"TC 1.01 substitute MC 1.01": ["exercised"],
                                          "TC 1.02 repeal MC 1.02": []}  # fmt: skip
    assert amendments("-k", "TOWN-2")["TC 1.02 repeal MC 1.02"] == ["exercised"]


def test_fee_items_count_charged_and_not_charged(city: Path) -> None:
    units = suite(report("-k", "TOWN-1"), "town/r1")["units"]
    assert isinstance(units, list)
    fees = {u["key"]: u["reached"] for u in units if u["kind"] == "fee item"}
    assert fees == {"permit.fee#0/base": ["charged"], "permit.fee#0/stories": ["not charged"]}


def test_plain_test_measures_nothing(city: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("coverage measured without --coverage")

    monkeypatch.setattr("engine.tools.coverage.Tracker.for_revision", refuse)
    monkeypatch.setattr("engine.tools.coverage.measure", refuse)
    code, out, _ = run()
    assert code == 0 and out == "3 passed, 0 failed\n"


def test_the_readme_shows_the_report_as_the_command_prints_it(city: Path) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    shown = readme.split("```text\ntown/r1")[1].split("```")[0]
    _, out, _ = run("--coverage")
    printed = out.split("\ntown/r1")[1].split("\n\n")[0]
    assert shown.rstrip("\n") == printed
