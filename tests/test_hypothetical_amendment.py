"""The worked example of examples/hypothetical-amendment: two invented revisions and the
`ordinance diff` report they produce, kept byte for byte."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from click.testing import CliRunner

from engine import load_policy
from engine.tools.cli import main
from engine.tools.docsgen import build_docs
from tests.conftest import GOLDEN, ROOT

EXAMPLE = ROOT / "examples" / "hypothetical-amendment"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout


def _amended(tmp_path: Path) -> Path:
    root = tmp_path / "policy"
    shutil.copytree(ROOT / "policy", root)
    for rev in yaml.safe_load((EXAMPLE / "edits.yaml").read_text("utf-8"))["revisions"]:
        code, _ = _run("revision", "new", "--policy", str(root), "-j", rev["jurisdiction"],
                       "--id", rev["id"], "--effective", str(rev["effective"]),
                       "--title", rev["title"])  # fmt: skip
        assert code == 0
        for edit in rev["edits"]:
            path = root / rev["jurisdiction"] / rev["id"] / edit["file"]
            text = path.read_text("utf-8")
            assert text.count(edit["old"]) == 1, edit["old"]
            path.write_text(text.replace(edit["old"], edit["new"]), "utf-8")
    return root


def test_the_diff_reports_are_as_shipped(tmp_path: Path) -> None:
    root = _amended(tmp_path)
    for jur, before, after in (("kent", "ord-4463", "ord-9999"),
                               ("houston", "cal-2024", "cal-2025")):  # fmt: skip
        code, out = _run("diff", "--policy", str(root), "-j", jur, "--from", before,
                         "--to", after, "--cases", str(GOLDEN / jur / before),
                         "--format", "markdown")  # fmt: skip
        assert code == 1
        shipped = (EXAMPLE / f"diff-{jur}.md").read_text("utf-8")
        assert out == shipped, f"regenerate examples/hypothetical-amendment/diff-{jur}.md"


def test_the_site_has_a_what_changed_page(tmp_path: Path) -> None:
    root = _amended(tmp_path)
    build_docs(load_policy(root), tmp_path / "site")
    page = (tmp_path / "site" / "docs" / "kent" / "changes" / "ord-9999.md").read_text("utf-8")
    assert page.startswith("# What changed in Ord. No. 9999 (hypothetical)")
    assert (
        "rule `permit.inaction_limit` changed [IBC 105.5.1 as amended by KCC 14.01.030.D]" in page
    )


def test_an_application_keeps_the_fee_in_force_when_it_was_submitted(tmp_path: Path) -> None:
    policy = load_policy(_amended(tmp_path))
    case = {"jurisdiction": "houston", "as_of": "2025-03-03", "facts": {
        "building": {"use": "commercial", "stories": 1}, "space": {"multi_tenant": False},
        "request": {"kind": "new"}, "co": {"investigation_warranted": False}}}  # fmt: skip
    late = policy.evaluate(case)
    assert (late.revision, str(late.decisions["co.fee"].value)) == ("cal-2025", "525.00")
    early = policy.evaluate(
        {
            **case,
            "facts": {
                **case["facts"],  # type: ignore[dict-item]
                "application": {"submitted_on": "2024-12-20"},
            },
        }
    )
    assert (early.revision, str(early.decisions["co.fee"].value)) == ("cal-2024", "501.29")
    assert early.to_dict()["revision_basis"] == {"by": "application.submitted_on",
                                                 "date": "2024-12-20"}  # fmt: skip
