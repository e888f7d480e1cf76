"""The renderers: one table of formats with one signature, typed explanation nodes whose JSON
keeps its keys in order, and the text's depth limit, which says how much it leaves out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine import Policy
from engine.compile.load import read_case
from engine.render import RENDERERS, RenderContext, render_markdown, render_text
from engine.result import FeeLine, Result, Step, Unmet
from engine.tools.cli import eval_cmd, main
from tests.conftest import GOLDEN, ROOT

HOUSTON = ROOT / "examples" / "houston-office-building.yaml"
KENT = ROOT / "examples" / "kent-co-and-permit.yaml"
ACROSS = GOLDEN / "generic" / "icc-2021" / "05-iebc-across-leap-day.yaml"  # one of each status


def _result(policy: Policy, path: Path) -> Result:
    return policy.evaluate(read_case(path))


def _blocks(text: str) -> dict[str, list[str]]:
    """Each decision's lines in the staff text, by decision id (the header and the
    procedures are left out)."""
    out = {}
    for block in text.split("\n\n")[1:]:
        head, *tree = block.rstrip("\n").split("\n")
        if tree and tree[0].startswith(("  ├─ ", "  └─ ")):
            out[head.split(" ")[0].rstrip(":")] = tree
    return out


def test_the_json_of_each_node_keeps_its_keys_in_order(policy: Policy) -> None:
    fee = _result(policy, HOUSTON).to_dict()["decisions"]["co.fee"]["because"][0]
    assert list(fee) == ["rule", "citation", "status", "value", "text", "facts", "because"]
    assert list(fee["because"][0]) == [
        "line", "citation", "text", "quantity", "unit_amount", "amount"]  # fmt: skip
    decisions = _result(policy, ACROSS).to_dict()["decisions"]
    steps = [d["because"][0] for d in decisions.values()]
    pending = next(s for s in steps if s["status"] == "undetermined")
    assert list(pending)[:7] == ["rule", "citation", "status", "value", "text", "needs", "facts"]
    absent = next(s for s in steps if s["status"] == "not_applicable")
    assert list(absent) == ["rule", "citation", "status", "value", "text", "facts", "because"]
    assert all(list(u) == ["citation", "text"] for u in absent["because"])


def test_the_nodes_are_typed_and_a_recurring_step_is_one_object(policy: Policy) -> None:
    result = _result(policy, HOUSTON)
    (fee,) = result.decisions["co.fee"].because or []
    (lines,) = result.decisions["co.fee_lines"].because or []
    assert isinstance(fee, Step) and isinstance(lines, Step)
    assert all(isinstance(n, FeeLine) for n in fee.because or [])
    assert (lines.because or [])[0] is fee  # shared, so the text can show it once per tree
    across = _result(policy, ACROSS)
    absent = [n for d in across.decisions.values() for n in d.because or []
              if isinstance(n, Step) and n.status == "not_applicable"]  # fmt: skip
    assert absent and all(isinstance(u, Unmet) for n in absent for u in n.because or [])


def test_every_format_is_one_entry_with_one_signature(policy: Policy) -> None:
    result = _result(policy, HOUSTON)
    ctx = RenderContext("Houston", "cal-2024", ("co.fee",))
    out = {name: render(result, ctx) for name, render in RENDERERS.items()}
    assert set(out) == {"text", "json", "markdown"}
    assert list(json.loads(out["json"])["decisions"]) == ["co.fee"]
    assert "co.fee = $1,063.11" in out["text"] and "co.form" not in out["text"]
    assert "| `co.fee` |" in out["markdown"] and "`co.form`" not in out["markdown"]
    formats = next(p for p in eval_cmd.params if p.name == "fmt")
    assert list(formats.type.choices) == list(RENDERERS)  # type: ignore[attr-defined]


def test_no_depth_is_the_whole_tree(policy: Policy) -> None:
    result = _result(policy, HOUSTON)
    text = render_text(result, RenderContext("Houston", "cal-2024"))
    assert text == render_text(result, RenderContext("Houston", "cal-2024", depth=None))
    assert "not shown" not in text
    assert _blocks(text)["co.fee_lines"][-1].endswith("Investigation fee (if warranted): "
                                                      "$311.18 [Houston CO Fees]")  # fmt: skip


SAMPLES = [HOUSTON, KENT, ACROSS, *sorted((GOLDEN / "kent").rglob("*.yaml"))[:5]]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_depth_one_shows_each_decisions_own_step_and_counts_the_rest(
    policy: Policy, path: Path
) -> None:
    result = _result(policy, path)
    full = _blocks(render_text(result, RenderContext("J", "R")))
    cut = _blocks(render_text(result, RenderContext("J", "R", depth=1)))
    assert full.keys() == cut.keys() and full
    for rid, lines in full.items():
        hidden = len(lines) - 1  # every line below the decision's own step
        assert cut[rid][0] == lines[0]
        if hidden == 0:
            assert cut[rid] == lines, rid
            continue
        word = "step" if hidden == 1 else "steps"
        assert cut[rid] == [lines[0], f"     └─ … {hidden} more {word} not shown"], rid


def test_depth_two_cuts_below_the_second_level(policy: Policy) -> None:
    text = render_text(_result(policy, HOUSTON), RenderContext("J", "R", depth=2))
    assert _blocks(text)["co.fee_lines"] == [
        "  └─ The lines charged for the certificate of occupancy fee, itemized: "
        "certificate_of_compliance, additional_floors, investigation. [Houston CO Fees]",
        "     └─ The certificate of occupancy fee, itemized: $1,063.11. [Houston CO Fees]",
        "        └─ … 3 more steps not shown",
    ]
    assert _blocks(text)["co.fee"][1:] == [  # the fee's lines are its second level: all shown
        "     ├─ Certificate of Compliance: $501.29 [Houston CO Fees]",
        "     ├─ Additional floors: 2 floors × $125.32 = $250.64 [Houston CO Fees]",
        "     └─ Investigation fee (if warranted): $311.18 [Houston CO Fees]",
    ]


def test_markdown_cuts_at_the_same_depth_and_can_sit_under_a_page_heading(
    policy: Policy,
) -> None:
    result = _result(policy, HOUSTON)
    md = render_markdown(result, RenderContext(only=("co.fee_lines",), depth=1))
    assert md.startswith("# Case HOU-2024-0042")
    assert "\n## `co.fee_lines`\n" in md
    assert "\n    - … 4 more steps not shown\n" in md
    embedded = render_markdown(result, RenderContext(header=False, heading_level=3))
    assert embedded.startswith("| decision | value | status | section |\n")
    assert "\n#### `co.fee`\n" in embedded and "\n#### Procedure: " in embedded
    assert "\n## " not in embedded and "Case HOU" not in embedded
    text = render_text(result, RenderContext(only=("co.fee",), header=False))
    assert text.startswith("co.fee = $1,063.11\n  └─ The certificate of occupancy fee")


def _eval(*args: str) -> tuple[int, str]:
    run = CliRunner().invoke(main, ["eval", str(HOUSTON), *args])
    return run.exit_code, run.output


def test_the_command_line_takes_a_depth() -> None:
    code, out = _eval("--depth", "1", "--explain", "co.fee")
    assert code == 0
    assert out.endswith(
        "co.fee = $1,063.11\n"
        "  └─ The certificate of occupancy fee, itemized: $1,063.11. [Houston CO Fees]\n"
        "     └─ … 3 more steps not shown\n\n"
    )
    assert _eval("--explain", "co.fee")[1].count("\n") == _eval(
        "--depth", "2", "--explain", "co.fee")[1].count("\n")  # fmt: skip


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_a_depth_that_is_not_a_positive_whole_number_is_a_usage_error(bad: str) -> None:
    code, out = _eval("--depth", bad)
    assert code == 2
    assert "Invalid value for '--depth'" in out


def test_docsgen_does_not_import_the_command_line(tmp_path: Path) -> None:
    code = "import sys, engine.tools.docsgen; print('engine.tools.cli' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True, timeout=120)  # fmt: skip
    assert run.stdout.strip() == "False"


def test_the_docs_document_the_command_line_they_are_given(policy: Policy, tmp_path: Path) -> None:
    from engine.tools.docsgen import build_docs

    build_docs(policy, tmp_path / "with", commands=main)
    page = (tmp_path / "with" / "docs" / "reference" / "cli.md").read_text("utf-8")
    assert "## ordinance eval" in page and "--depth N" in page
    build_docs(policy, tmp_path / "without")
    assert not (tmp_path / "without" / "docs" / "reference" / "cli.md").exists()


def test_a_diff_page_gives_its_own_title_and_no_cases(policy: Policy) -> None:
    from engine.tools.revisions import render_diff

    cp = policy.compiled[("kent", "ord-4463")]
    assert render_diff(cp, cp, [], None, 0, "markdown", title=False) == (
        "## What the law changes (0)\n\n\nRun `ordinance diff` for the cases affected.\n\n"
        "Nothing changes."
    )
    assert render_diff(cp, cp, [], [], 0, "markdown").startswith(
        "# kent: ord-4463 → ord-4463\n\n## What the law changes (0)\n\n\n"
        "## Cases affected (0 of 0)\n"
    )
