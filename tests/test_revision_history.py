"""Revisions without traps (issue 14, section 2): golden cases stay with their revision, a
revision in force is never edited silently, and `diff` says when a rule and its text disagree."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from engine.tools.cli import main
from tests.conftest import GOLDEN, ROOT


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the bundled policy and golden cases, as a project (ordinance.toml)."""
    shutil.copytree(ROOT / "policy", tmp_path / "policy")
    shutil.copytree(GOLDEN, tmp_path / "golden")
    (tmp_path / "ordinance.toml").write_text('policy = "policy"\ntests = "golden"\n')
    return tmp_path


def cli(repo: Path, *args: str) -> Result:
    """`ordinance ARGS` with the repo as the project (no --policy)."""
    import os

    cwd = os.getcwd()
    try:
        os.chdir(repo)
        return CliRunner().invoke(main, list(args), env={"ORDINANCE_POLICY": None})
    finally:
        os.chdir(cwd)


def new_kent_revision(repo: Path, effective: str = "2026-07-01") -> Path:
    made = cli(repo, "revision", "new", "-j", "kent", "--id", "ord-4501", "--effective", effective)
    assert made.exit_code == 0, made.output
    return repo / "policy" / "kent" / "ord-4501"


def diff_json(repo: Path) -> dict[str, Any]:
    out = cli(repo, "diff", "-j", "kent", "--from", "ord-4463", "--to", "ord-4501",
              "--format", "json")  # fmt: skip
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def test_a_rule_changed_without_its_text_is_a_warning(repo: Path) -> None:
    rev = new_kent_revision(repo)
    rules = rev / "rulesets.yaml"
    rules.write_text(rules.read_text().replace("permit.issued_on + 3 years",
                                               "permit.issued_on + 4 years"))  # fmt: skip
    warnings = diff_json(repo)["warnings"]
    found = {(w["code"], w["message"].split("text of ")[1].split(" did")[0])
             for w in warnings}  # fmt: skip
    assert ("diff/rule-without-text", "IBC 105.5") in found
    kent = next(w for w in warnings if "text of IBC 105.5 " in w["message"])
    assert "(IBC 105.5.1 as amended by KCC 14.01.030.D)" in kent["message"]  # as the diff cites
    assert all("ord-4501" in w["span"]["file"] for w in warnings)


def test_a_text_changed_without_its_rules_is_a_warning(repo: Path) -> None:
    rev = new_kent_revision(repo)
    section = rev / "14.01.030.yaml"
    text = section.read_text()
    assert "shall expire automatically three years after" in text
    section.write_text(text.replace("shall expire automatically three years after",
                                    "shall expire automatically four years after"))  # fmt: skip
    warnings = diff_json(repo)["warnings"]
    codes = {(w["code"], w["message"].split(" changed")[0]) for w in warnings}
    assert codes == {("diff/text-without-rule", "the text of IBC 105.5")}


def test_a_rule_changed_with_its_text_is_no_warning(repo: Path) -> None:
    rev = new_kent_revision(repo)
    rules = rev / "rulesets.yaml"
    rules.write_text(rules.read_text().replace("permit.issued_on + 3 years",
                                               "permit.issued_on + 4 years"))  # fmt: skip
    for name in ("14.01.030.yaml", "14.01.040.yaml", "14.01.050.yaml", "14.01.060.yaml",
                 "14.01.070.yaml"):  # fmt: skip
        path = rev / name
        path.write_text(path.read_text().replace("three years after", "four years after"))
    warnings = diff_json(repo)["warnings"]
    assert not [w for w in warnings if "IBC 105.5" in w["message"]]


def test_a_new_revision_never_takes_over_the_older_ones_golden_cases(repo: Path) -> None:
    rev = new_kent_revision(repo, effective="2025-01-01")  # before many cases' as_of
    rules = rev / "rulesets.yaml"
    rules.write_text(rules.read_text().replace("permit.issued_on + 3 years",
                                               "permit.issued_on + 4 years"))  # fmt: skip
    tested = cli(repo, "test", "golden/kent")
    assert tested.exit_code == 0, tested.output
    assert " 0 failed" in tested.stdout
    # Read by date, a case of ord-4463 dated after 2025-01-01 is decided under the new law:
    # the trap the folder's pin avoids.
    case = repo / "golden" / "kent" / "ord-4463" / "01-not-commenced-expiry-day.yaml"
    by_date = json.loads(cli(repo, "eval", str(case), "--format", "json").stdout)
    assert by_date["revision"] == "ord-4501"


def test_a_revision_in_force_edited_after_its_lock_is_a_warning(repo: Path) -> None:
    locked = cli(repo, "test", "--lock")
    assert locked.exit_code == 0, locked.output
    lock = repo / "golden" / "kent" / "ord-4463" / "policy.lock"
    assert lock.is_file() and "rulesets.yaml" in lock.read_text()
    clean = cli(repo, "check")
    assert clean.exit_code == 0 and "revision/edited-in-force" not in clean.stderr
    rules = repo / "policy" / "kent" / "ord-4463" / "rulesets.yaml"
    rules.write_text(rules.read_text().replace("permit.issued_on + 3 years",
                                               "permit.issued_on + 4 years"))  # fmt: skip
    warned = cli(repo, "check")
    assert warned.exit_code == 0, warned.output  # a warning, not an error
    assert "warning[revision/edited-in-force]" in warned.stderr
    assert "kent ord-4463 has been in force since 2024-03-15" in warned.stderr
    assert "ord-4463/rulesets.yaml" in warned.stderr and "1 warning(s)" in warned.stdout
    # Recorded again after review, the warning is gone.
    assert cli(repo, "test", "--lock").exit_code == 1  # its golden cases now fail: not locked
    assert "warning[revision/edited-in-force]" in cli(repo, "check").stderr


def test_a_revision_not_yet_in_force_may_be_edited(repo: Path) -> None:
    rev = new_kent_revision(repo, effective="2031-01-01")
    cases = repo / "golden" / "kent" / "ord-4501"
    shutil.copytree(repo / "golden" / "kent" / "ord-4463", cases)
    for path in cases.glob("*.yaml"):
        text = path.read_text().replace(
            "jurisdiction: kent", "jurisdiction: kent\nrevision: ord-4501", 1
        )
        path.write_text(text)
    assert cli(repo, "test", "--lock").exit_code == 0
    assert (cases / "policy.lock").is_file()
    section = rev / "14.01.010.yaml"
    section.write_text(section.read_text() + "\n")
    checked = cli(repo, "check")
    assert "revision/edited-in-force" not in checked.stderr, checked.stderr


def test_the_lock_sees_the_jurisdictions_dates_and_the_parent_layers(repo: Path) -> None:
    assert cli(repo, "test", "--lock").exit_code == 0
    ibc = repo / "policy" / "generic" / "icc-2021" / "ibc.yaml"
    ibc.write_text(ibc.read_text().replace("within 180 days after its issuance",
                                           "within 181 days after its issuance"))  # fmt: skip
    warned = cli(repo, "check").stderr
    assert "generic icc-2021 has been in force" in warned  # its own lock
    assert "kent ord-4463 has been in force" in warned  # and Kent's, built on it
    assert "`generic@icc-2021/ibc.yaml`" in warned
    ibc.write_text(ibc.read_text().replace("181 days", "180 days"))
    assert "edited-in-force" not in cli(repo, "check").stderr  # put back: nothing differs
    jur = repo / "policy" / "kent" / "jurisdiction.yaml"
    jur.write_text(jur.read_text().replace("effective_on: 2024-03-15", "effective_on: 2024-03-18"))
    warned = cli(repo, "check").stderr
    assert "kent ord-4463 has been in force since 2024-03-18" in warned
    assert "jurisdiction.yaml (ord-4463, time zone, calendar, vesting)" in warned


def test_the_bundled_revisions_match_their_locks() -> None:
    """The law this repository ships in force is changed by a new revision, or by a reviewed
    correction recorded with `ordinance test --lock` (then this passes again)."""
    found = cli(ROOT, "check", "--format", "short")
    assert found.exit_code == 0, found.output
    assert "revision/edited-in-force" not in found.stderr, found.stderr
    assert len(list(GOLDEN.glob("*/*/policy.lock"))) == 3
