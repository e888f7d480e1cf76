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
