"""Adversarial review of issue 15 (parts 1 and 2): `ordinance test --coverage` and
`ordinance mutate`. Each test builds a tiny project in tmp_path and fails on the main this review
was made against; the docstring of each says what is wrong."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.tools.cli import main
from tests.conftest import ROOT

MUTATE_TOWN = ROOT / "tests" / "fixtures" / "mutate_town"

JURISDICTION = """\
id: town
title: Test Town
time_zone: America/Los_Angeles
revisions:
  - id: r1
    title: Ordinance 1
    effective_on: 2024-01-01
    encoded: true
"""

FACTS = """\
facts:
  building.stories:
    type: int
    description: The stories above grade.
  inspection.requested:
    type: bool
    description: Whether the owner asked for an inspection.
  permit.code:
    type: enum
    values: [IBC, IRC]
    description: The code the permit was issued under.
"""


def project(root: Path, rules: str, cases: dict[str, str]) -> Path:
    """A one-jurisdiction project: ordinance.toml, policy/town/r1/{facts,rules}.yaml and the
    golden cases under golden/."""
    (root / "policy" / "town" / "r1").mkdir(parents=True)
    (root / "ordinance.toml").write_text('policy = "policy"\ntests = "golden"\n', "utf-8")
    (root / "policy" / "town" / "jurisdiction.yaml").write_text(JURISDICTION, "utf-8")
    (root / "policy" / "town" / "r1" / "facts.yaml").write_text(FACTS, "utf-8")
    (root / "policy" / "town" / "r1" / "rules.yaml").write_text(textwrap.dedent(rules), "utf-8")
    for name, text in cases.items():
        path = root / "golden" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), "utf-8")
    return root


def invoke(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.chdir(root)
    monkeypatch.delenv("ORDINANCE_POLICY", raising=False)
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


# A section that takes its fee from a ruleset and silences every mutant of it; a section with a
# plain threshold; a procedure whose annotation silences its step.
RULESET_POLICY = """\
rulesets:
  fees:
    - id: permit.fee
      type: money
      description: The permit fee.
      fee:
        effective_on: 2024-01-01
        items:
          - id: base
            title: Base fee
            amount: $100.00
          - id: stories
            title: Stories above the second
            unit_amount: $50.00
            quantity: building.stories
            over: 2
            unit: story
sections:
  - citation: TC 1
    title: Fees
    text: The fees of the fee resolution.
    use: [fees]
    mutation:
      ignore: [all]
      reason: The fee resolution is the council's, not this code's.
  - citation: TC 2
    title: Tall buildings
    text: A building of more than three stories is tall.
    rules:
      - id: building.tall
        type: bool
        description: Whether the building is tall.
        value: building.stories > 3
procedures:
  - id: final
    title: Final inspection
    citation: TC 3
    mutation:
      ignore: [all]
      reason: The steps are guidance.
    steps:
      - id: request
        title: The owner asks for the inspection
        when: building.stories > 1
        done: inspection.requested
"""

FOUR_STORIES = """\
case: FOUR
jurisdiction: town
as_of: 2024-06-01
facts:
  building: {stories: 4}
  inspection: {requested: false}
expect:
  building.tall: true
  permit.fee: "200.00"
"""


@pytest.fixture
def ruleset_town(tmp_path: Path) -> Path:
    return project(tmp_path / "town", RULESET_POLICY, {"town/r1/four.yaml": FOUR_STORIES})


def _mutants(stdout: str) -> list[dict]:
    return json.loads(stdout)["mutants"]


# --- ordinance mutate ---------------------------------------------------------------------------


def test_mutate_sections_does_not_call_annotations_outside_the_selection_unused(
    ruleset_town: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--sections "TC 2"` reports the annotations of TC 1 and of the procedure as "silenced
    nothing (remove them)", though each silences mutants on a full run: the unused check
    compares every annotation of the layer with the *selected* mutants only. An author who
    follows the advice deletes annotations that are in use."""
    code, full, _ = invoke(ruleset_town, monkeypatch, "mutate", "--format", "json")
    assert code == 0
    full_unused = {a["where"] for a in json.loads(full)["unused_annotations"]}
    code, out, _ = invoke(ruleset_town, monkeypatch, "mutate", "--sections", "TC 2",
                          "--format", "json")  # fmt: skip
    assert code == 0
    unused = {a["where"] for a in json.loads(out)["unused_annotations"]}
    assert unused <= full_unused, f"unused only because of --sections: {unused - full_unused}"


def test_mutate_a_section_annotation_covers_the_rules_it_uses_from_a_ruleset(
    ruleset_town: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: "a section's annotation covers its rules". TC 1's rules come from `use: [fees]`;
    its `mutation: {ignore: [all]}` silences none of their mutants (the fee's `over:` mutants
    are reported, survived or killed) and the annotation itself is listed as unused."""
    code, out, _ = invoke(ruleset_town, monkeypatch, "mutate", "--format", "json")
    assert code == 0
    data = json.loads(out)
    fee = [m for m in data["mutants"] if m["before"].startswith("over:")]
    assert fee, "the fee's over: mutants are made"
    assert all(m["status"] == "silenced" for m in fee), [(m["citation"], m["status"]) for m in fee]
    assert not data["unused_annotations"], data["unused_annotations"]


def test_mutate_reports_ruleset_rules_by_the_section_that_uses_them(
    ruleset_town: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue: "report each mutant no test notices, by section and citation". A rule of a
    ruleset is cited "ruleset `fees`", not TC 1, so `--sections "TC 1"` finds no mutant at all
    (a usage error, exit 2) though TC 1 decides the fee."""
    code, out, err = invoke(ruleset_town, monkeypatch, "mutate", "--sections", "TC 1",
                            "--format", "json")  # fmt: skip
    assert code == 0, err
    assert {m["citation"] for m in _mutants(out)} == {"TC 1"}


def test_mutate_sections_selects_the_reorder_of_the_sections_own_definitions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fixture town's TC 1.A defines `permit.expires_on` twice. The reorder of those two is
    cited "MC 105 as amended by TC 1.A" (the effective citation) while every other mutant of
    TC 1.A is cited "TC 1.A": `--sections "TC 1.A"` leaves the reorder out (and
    `--sections "MC 105"`, the model code's section, selects it), and a surviving reorder is
    listed under another heading than the section's other survivors."""
    shutil.copytree(MUTATE_TOWN, tmp_path / "town")
    code, out, err = invoke(
        tmp_path / "town",
        monkeypatch,
        "mutate",
        "--policy",
        "policy",
        "--cases",
        "tests",
        "--sections",
        "TC 1.A",
        "--format",
        "json",
    )
    assert code == 0, err
    assert "reorder" in {m["operator"] for m in _mutants(out)}
    code, out, err = invoke(
        tmp_path / "town",
        monkeypatch,
        "mutate",
        "--policy",
        "policy",
        "--cases",
        "tests",
        "--sections",
        "MC 105",
        "--format",
        "json",
    )
    assert "reorder" not in {m["operator"] for m in _mutants(out) if m["jurisdiction"] == "town"}


def test_mutate_json_is_valid_json_with_an_unlimited_budget(
    ruleset_town: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--budget-seconds inf` (the natural "no limit" in CI) is accepted, and the JSON report
    then holds `"budget_seconds": Infinity`, which is not JSON (RFC 8259; jq, JavaScript's
    JSON.parse and Python's json with parse_constant refuse it). `nan` is accepted too."""
    code, out, _ = invoke(ruleset_town, monkeypatch, "mutate", "--budget-seconds", "inf",
                          "--format", "json")  # fmt: skip
    assert code in (0, 2)

    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    if code == 0:
        json.loads(out, parse_constant=refuse)
    code, _, _ = invoke(ruleset_town, monkeypatch, "mutate", "--budget-seconds", "nan")
    assert code == 2, "a budget of nan seconds is a usage error"


def test_mutate_text_report_lists_the_silenced_mutants_with_their_reason(
    ruleset_town: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: "Silenced changes are listed with their reason and are not scored." The text
    (and Markdown) report only counts them ("silenced 5"); the reason is in the JSON alone."""
    code, out, _ = invoke(ruleset_town, monkeypatch, "mutate")
    assert code == 0
    assert "silenced 7" in out  # the fee's two `over:` mutants too: TC 1 uses its ruleset
    assert "The steps are guidance." in out


def test_mutate_fail_under_says_plainly_that_no_mutant_ran(
    ruleset_town: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a threshold and nothing run (`--budget-seconds 0`), the error reads "the mutation
    score no mutant ran is under 50%": `_score()` ("no mutant ran") is pasted into a sentence
    made for a percentage."""
    code, _, err = invoke(ruleset_town, monkeypatch, "mutate", "--budget-seconds", "0",
                          "--fail-under", "50")  # fmt: skip
    assert code == 1, err
    assert "score no mutant ran is under" not in err, err


def test_mutate_says_why_a_misfiled_case_is_left_out(
    ruleset_town: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A golden case filed under `town/r9/` (no such revision) is left out with "its expect:
    block has problems"; its expect: block is fine, the folder is wrong (`ordinance test`
    says case/revision-folder)."""
    (ruleset_town / "golden" / "town" / "r9").mkdir()
    shutil.copy(ruleset_town / "golden" / "town" / "r1" / "four.yaml",
                ruleset_town / "golden" / "town" / "r9" / "four.yaml")  # fmt: skip
    code, out, _ = invoke(ruleset_town, monkeypatch, "mutate", "--format", "json")
    assert code == 0
    (why,) = json.loads(out)["left_out"]
    assert "expect: block has problems" not in why, why


# --- ordinance test --coverage ------------------------------------------------------------------

ONE_FLAT_FEE = """\
sections:
  - citation: TC 1
    title: Fees
    text: The permit fee is $100.
    rules:
      - id: permit.fee
        type: money
        description: The permit fee.
        fee:
          effective_on: 2024-01-01
          items:
            - id: base
              title: Base fee
              amount: $100.00
"""

FLAT_FEE_CASE = """\
case: FEE
jurisdiction: town
as_of: 2024-06-01
facts:
  building: {stories: 1}
expect:
  permit.fee: "100.00"
"""


def test_coverage_does_not_count_an_outcome_no_case_can_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fee item with no `when:` and no `quantity:` is charged every time its schedule decides
    the fee: "not charged" cannot happen, yet it is counted as an outcome and listed as a gap
    ("never not charged"). One case reaches everything reachable here and the total is 75%
    (3/4), so `--fail-under 100` can never pass, and the README's own sample asks for a case
    that cannot exist (`fee item permit.fee: base … never not charged`)."""
    root = project(tmp_path / "town", ONE_FLAT_FEE, {"town/r1/fee.yaml": FLAT_FEE_CASE})
    code, out, err = invoke(root, monkeypatch, "test", "--coverage", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["total"]["percent"] == 100.0, data["total"]


GUARDED_RULE = """\
sections:
  - citation: TC 1
    title: Tall IBC buildings
    text: Under the IBC, a building of more than three stories is tall.
    when: permit.code == "IBC"
    rules:
      - id: building.tall
        type: bool
        description: Whether the building is tall.
        when: building.stories > 3
        value: "true"
"""

IRC_FIVE_STORIES = """\
case: IRC-5
jurisdiction: town
as_of: 2024-06-01
facts:
  building: {stories: 5}
  permit: {code: IRC}
expect:
  building.tall:
    status: not_applicable
"""


def test_coverage_a_condition_is_not_taken_where_its_definition_was_never_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Likely bug (judge): the rule's `when: building.stories > 3` is reported *taken* by a
    case whose section `when: permit.code == "IBC"` is false: the definition was never tried,
    no golden case has shown what the rule decides for a tall IBC building, yet the branch is
    counted as exercised. Each condition of every definition is evaluated in the case's
    environment regardless of the conditions before it (or of an earlier definition winning),
    which overstates branch coverage."""
    root = project(tmp_path / "town", GUARDED_RULE, {"town/r1/irc.yaml": IRC_FIVE_STORIES})
    code, out, err = invoke(root, monkeypatch, "test", "--coverage", "--format", "json")
    assert code == 0, err
    units = {u["label"]: u for u in json.loads(out)["suites"][0]["units"]}
    assert units["building.stories > 3"]["reached"] == [], units["building.stories > 3"]


PIPE_RULE = """\
sections:
  - citation: TC 1
    title: Codes
    text: A permit under one of the codes.
    rules:
      - id: permit.listed
        type: bool
        description: Whether the permit is under a listed code.
        when: permit.code == "A|B"
        value: "true"
"""


def test_coverage_markdown_table_rows_keep_their_cells_with_a_pipe_in_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Markdown report is for a GitHub job summary (GFM), where a `|` splits a table cell
    even inside a code span unless it is escaped (GFM spec, tables: "include a pipe in a cell's
    content by escaping it, including inside other inline spans"). `md_code()` leaves it bare,
    so a condition with `"A|B"` adds a column to its row. (Python-Markdown, the site's, keeps
    the cell; GFM does not.) Same for `ordinance mutate --format markdown`."""
    root = project(tmp_path / "town", PIPE_RULE, {})
    (root / "policy" / "town" / "r1" / "facts.yaml").write_text(
        FACTS.replace("values: [IBC, IRC]", 'values: [IBC, IRC, "A|B"]'), "utf-8"
    )
    code, out, err = invoke(root, monkeypatch, "test", "--coverage", "--format", "markdown")
    assert "A|B" in out or "A\\|B" in out, (code, out, err)
    for line in out.splitlines():
        if line.startswith("| ") and "A" in line and "B" in line and "permit.code" in line:
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            assert len(cells) == 4, line


def test_coverage_fail_under_does_not_pass_when_no_case_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ordinance test DIR --coverage --fail-under 90` on a folder with no golden case (a CI
    step pointed at the wrong folder, or at the eval examples, which have no `expect:`) prints
    "0 passed, 0 failed" and "total: 100.0% (0/0)" and exits 0: the threshold passes on
    nothing. (`-k` with no match is already refused, error[cli/no-case-selected].)"""
    root = project(tmp_path / "town", ONE_FLAT_FEE, {"town/r1/fee.yaml": FLAT_FEE_CASE})
    (root / "elsewhere").mkdir()
    code, out, err = invoke(root, monkeypatch, "test", "elsewhere", "--coverage",
                            "--fail-under", "90")  # fmt: skip
    assert code != 0, out + err


def test_mutate_removing_a_deletion_that_in_force_reads_is_not_no_effect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_decides_alike` calls a mutant "no effect" when every rule keeps its definitions and
    citations, but `in_force("…")` reads the sections' statuses, which removing a repeal or a
    deletion changes. Here the town deletes MC 9 and a rule asks `in_force("MC 9")`; the golden
    case expects false, and leaving the deletion out makes it true: the mutant is killed, yet it
    is reported `no_effect` and not scored. On the bundled policy the same hides KCC 14.01.090.H
    (killed by KENT-G-83) and G, I, J (IPMC 308, 605, 606: no golden case; real survivors)."""
    root = tmp_path / "city"
    (root / "policy" / "model" / "m1").mkdir(parents=True)
    (root / "policy" / "town" / "r1").mkdir(parents=True)
    (root / "ordinance.toml").write_text('policy = "policy"\ntests = "golden"\n', "utf-8")
    (root / "policy" / "model" / "jurisdiction.yaml").write_text(
        JURISDICTION.replace("id: town", "id: model").replace("id: r1", "id: m1")
        .replace("2024-01-01", "2020-01-01"), "utf-8")  # fmt: skip
    (root / "policy" / "model" / "m1" / "model.yaml").write_text(
        textwrap.dedent("""\
        sections:
          - citation: MC 9
            title: Swimming pools
            text: Pools are fenced.
        """),
        "utf-8",
    )
    (root / "policy" / "town" / "jurisdiction.yaml").write_text(
        JURISDICTION.replace("title: Test Town\n", "title: Test Town\nextends: model\n"), "utf-8"
    )
    (root / "policy" / "town" / "r1" / "facts.yaml").write_text(FACTS, "utf-8")
    (root / "policy" / "town" / "r1" / "town.yaml").write_text(
        textwrap.dedent("""\
        sections:
          - citation: TC 9
            title: Deletion of MC 9
            text: Section MC 9 is deleted.
            amends:
              section: MC 9
              action: delete
          - citation: TC 10
            title: Pools
            text: Whether the pool section is in force.
            rules:
              - id: pool.section_in_force
                type: bool
                description: Whether MC 9 is in force.
                value: in_force("MC 9")
        """),
        "utf-8",
    )
    (root / "golden" / "town" / "r1").mkdir(parents=True)
    (root / "golden" / "town" / "r1" / "pool.yaml").write_text(
        textwrap.dedent("""\
        case: POOL
        jurisdiction: town
        as_of: 2024-06-01
        facts: {}
        expect:
          pool.section_in_force: false
        """),
        "utf-8",
    )
    code, out, err = invoke(root, monkeypatch, "test")
    assert code == 0, out + err
    code, out, err = invoke(root, monkeypatch, "mutate", "-j", "town", "--format", "json")
    assert code == 0, err
    (removal,) = [m for m in _mutants(out) if m["operator"] == "remove-amendment"]
    assert removal["status"] == "killed", removal


SUBSECTIONS = """\
sections:
  - citation: TC 1
    title: Heights
    text: Tall, short and huge buildings.
    rules:
      - id: building.tall
        type: bool
        description: Whether the building is tall.
        subsection: A
        value: building.stories > 3
      - id: building.short
        type: bool
        description: Whether the building is short.
        value: building.stories < 2
      - id: building.huge
        type: bool
        description: Whether the building is huge.
        subsection: A
        value: building.stories > 30
"""


def test_mutate_text_report_names_each_citation_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Minor: survivors are grouped with `itertools.groupby` over a list sorted by file
    position, so a citation whose rules are not next to each other in the file (TC 1.A, then
    TC 1, then TC 1.A again) gets its heading twice. Group by citation after sorting by it."""
    root = project(tmp_path / "town", SUBSECTIONS, {})
    code, out, err = invoke(root, monkeypatch, "mutate")
    assert code == 0, err
    headings = [line for line in out.splitlines() if line.startswith("TC ")]
    assert len(headings) == len(set(headings)), headings
