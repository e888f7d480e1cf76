"""The renderers: one table of formats with one signature, typed explanation nodes whose JSON
keeps its keys in order, and the text's depth limit, which says how much it leaves out."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from engine import Policy
from engine.answer import can_still_apply
from engine.compile.load import read_case
from engine.render import RENDERERS, RenderContext, render_html, render_markdown, render_text
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
    fee = _result(policy, HOUSTON).to_dict(version=1)["decisions"]["co.fee"]["because"][0]
    assert list(fee) == ["rule", "citation", "status", "value", "text", "facts", "because"]
    assert list(fee["because"][0]) == [
        "line", "citation", "text", "quantity", "unit_amount", "amount"]  # fmt: skip
    decisions = _result(policy, ACROSS).to_dict(version=1)["decisions"]
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
    assert set(out) == {"text", "json", "markdown", "html"}
    assert list(json.loads(out["json"])["decisions"]) == ["co.fee"]
    assert "co.fee = $1,063.11" in out["text"] and "co.form" not in out["text"]
    assert "| `co.fee` |" in out["markdown"] and "`co.form`" not in out["markdown"]
    assert "<code>co.fee</code>" in out["html"] and "co.form" not in out["html"]
    formats = next(p for p in eval_cmd.params if p.name == "fmt")
    assert list(formats.type.choices) == list(RENDERERS)  # type: ignore[attr-defined]


WIDE = 10_000  # no wrapping: one line per step, so the trees can be compared line by line


def test_no_depth_is_the_whole_tree(policy: Policy) -> None:
    result = _result(policy, HOUSTON)
    text = render_text(result, RenderContext("Houston", "cal-2024", width=WIDE))
    assert text == render_text(result, RenderContext("Houston", "cal-2024", width=WIDE,
                                                     depth=None))  # fmt: skip
    assert "not shown" not in text
    assert _blocks(text)["co.fee"][-1].endswith("Investigation fee (if warranted): "
                                                "$311.18 [Houston CO Fees]")  # fmt: skip
    # co.fee_lines reads co.fee: shown after it, the fee's step is referred back to
    assert _blocks(text)["co.fee_lines"][1] == (
        "     └─ The certificate of occupancy fee, itemized: $1,063.11. (see co.fee above)"
    )


SAMPLES = [HOUSTON, KENT, ACROSS, *sorted((GOLDEN / "kent").rglob("*.yaml"))[:5]]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_depth_one_shows_each_decisions_own_step_and_counts_the_rest(
    policy: Policy, path: Path
) -> None:
    result = _result(policy, path)
    full = _blocks(render_text(result, RenderContext("J", "R", width=WIDE)))
    cut = _blocks(render_text(result, RenderContext("J", "R", depth=1, width=WIDE)))
    assert full.keys() == cut.keys() and full
    for rid, lines in full.items():
        assert cut[rid][0] == lines[0], rid
        below = [x for x in lines[1:] if "above)" not in x]  # references are not counted
        if not below:
            assert len(cut[rid]) == 1 or "above)" in lines[1], rid
            continue
        hidden = int(cut[rid][1].split("… ")[1].split(" ")[0])
        assert 1 <= hidden <= len(lines) - 1, rid
        word = "step" if hidden == 1 else "steps"
        assert cut[rid] == [lines[0], f"     └─ … {hidden} more {word} not shown"], rid


def test_depth_two_cuts_below_the_second_level(policy: Policy) -> None:
    text = render_text(_result(policy, HOUSTON), RenderContext("J", "R", depth=2, width=WIDE))
    assert _blocks(text)["co.fee"][1:] == [  # the fee's lines are its second level: all shown
        "     ├─ Certificate of Compliance: $501.29 [Houston CO Fees]",
        "     ├─ Additional floors: 2 floors × $125.32 = $250.64 [Houston CO Fees]",
        "     └─ Investigation fee (if warranted): $311.18 [Houston CO Fees]",
    ]
    text = render_text(_result(policy, HOUSTON), RenderContext("J", "R", ("co.fee_lines",), 2,
                                                               width=WIDE))  # fmt: skip
    assert _blocks(text)["co.fee_lines"] == [
        "  └─ The lines charged for the certificate of occupancy fee, itemized: "
        "Certificate of Compliance, Additional floors, Investigation fee (if warranted). "
        "[Houston CO Fees]",
        "     └─ The certificate of occupancy fee, itemized: $1,063.11. [Houston CO Fees]",
        "        └─ … 3 more steps not shown",
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


# The staff page (issue 11 §2): a summary first, every reason shown once, wrapped and coloured
# as asked, and only the decisions that can still apply unless `--all`.
CO_48 = GOLDEN / "kent" / "ord-4463" / "48-co-change-of-occupancy-missing-approvals.yaml"
SF_18 = GOLDEN / "kent" / "ord-4463" / "18-sf-inaction-first-extension.yaml"


def _kent(policy: Policy, path: Path, **ctx: Any) -> str:
    return render_text(_result(policy, path), RenderContext("Kent", "Ord. No. 4463", **ctx))


def test_the_summary_comes_first_and_says_what_blocks_the_next_step(policy: Policy) -> None:
    text = _kent(policy, CO_48, width=WIDE)
    left_out = (
        "\nNot listed (--all lists them): 2 decided from no fact of this case "
        "(appeal.heard_by, certificate.compliance_statement); 30 that cannot apply to this case "
        "yet"
    )
    heads = ("\nDecided (5)\n", "\nProcedure: ", "\nStill open: ", left_out, "\nWhy\n")
    order = [text.index(h) for h in heads]
    assert order == sorted(order)
    assert (
        "  co.missing_approvals = Planning Services, Building Services [Kent CO Process]\n" in text
    )
    assert "  3. [?] A building inspector inspects, verifies the approvals and issues the " \
        "Certificate of Occupancy at the site (after step 1; due by Monday, May 12, 2025; " \
        "needs co.issued_on)\n" in text  # fmt: skip
    assert (
        "  permit.expiration_reason, permit.expired, permit.expires_on [IEBC 105.5.1 as "
        "amended by KCC 14.01.040.D]: needs permit.issued_on, work.commenced_on, "
        "work.last_inspection_on\n"
    ) in text


def test_a_reason_is_shown_once_and_referred_back_to(policy: Policy) -> None:
    text = _kent(policy, SF_18, width=WIDE)
    inaction = "For inaction the permit expires after Tuesday, April 15, 2025"
    full = [x for x in text.splitlines() if inaction in x and "above)" not in x]
    assert len(full) == 1  # it was printed four times before
    assert "(see permit.expiration_reason above)" in text
    assert "(see permit.expires_on above)" in _blocks(text)["permit.expired"][-1]
    before = render_text(_result(policy, SF_18), RenderContext("Kent", "Ord. No. 4463"))
    assert len(text) < len(before) or len(before.splitlines()) < 100


@pytest.mark.parametrize("width", [40, 60, 100, 140])
def test_the_text_wraps_at_the_width(policy: Policy, width: int) -> None:
    for path in [CO_48, SF_18, HOUSTON, ACROSS]:
        text = render_text(_result(policy, path), RenderContext("J", "R", width=width))
        assert max(len(x) for x in text.splitlines()) <= width, path.stem


def test_colour_only_when_asked_and_case_text_is_never_markup(policy: Policy) -> None:
    case = read_case(CO_48)
    case.id = "[bold red]K-1[/bold red]\x1b[2J"
    result = policy.evaluate(case)
    plain = render_text(result, RenderContext("Kent", "R"))
    assert "\x1b" not in plain
    assert "[bold red]K-1[/bold red]\\x1b[2J" in plain
    coloured = render_text(result, RenderContext("Kent", "R", color=True))
    assert "\x1b[" in coloured
    assert "[bold red]K-1[/bold red]\\x1b[2J" in coloured  # shown, not obeyed
    assert "\x1b[2J" not in coloured
    stripped = re.sub("\x1b\\[[0-9;]*m", "", coloured)
    assert stripped == plain


def test_the_command_line_wraps_at_100_when_piped_and_takes_a_width(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # not a terminal: 100, whatever the environment says
    out = CliRunner().invoke(main, ["eval", str(CO_48)]).output
    assert max(len(x) for x in out.splitlines()) == 100 and "\x1b" not in out
    out = CliRunner().invoke(main, ["eval", str(CO_48), "--width", "60"]).output
    assert max(len(x) for x in out.splitlines()) <= 60
    run = CliRunner().invoke(main, ["eval", str(CO_48), "--width", "10"])
    assert run.exit_code == 2 and "Invalid value for '--width'" in run.output


def test_colour_follows_the_terminal_and_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.tools import cli

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert cli._terminal(None)[0] is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli._terminal(None)[0] is False
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    monkeypatch.delenv("NO_COLOR")
    assert cli._terminal(None) == (False, 100)
    assert cli._terminal(72) == (False, 72)


def test_only_decisions_that_can_still_apply_are_listed(policy: Policy) -> None:
    result = _result(policy, CO_48)
    listed = {d.id for d in result.decisions.values() if can_still_apply(result, d)}
    assert not any(r.startswith(("appeal.", "stop_order.", "tco.", "application.")) for r in listed)
    assert {"permit.expires_on", "co.can_issue", "co.certificate_missing_items"} <= listed
    text = _kent(policy, CO_48, width=WIDE)
    assert "appeal.filing_deadline" not in text and "stop_order.max_fine" not in text
    # a constant of the law is decided, but from nothing this case said
    assert result.decisions["appeal.heard_by"].status == "determined"
    assert "appeal.heard_by" not in listed and "\n  appeal.heard_by = " not in text
    everything = _kent(policy, CO_48, width=WIDE, all=True)
    assert "\n  appeal.heard_by = the city hearing examiner [KCC 14.01.110.A.1]\n" in everything
    assert "appeal.filing_deadline [KCC 14.01.110.A.2]: needs appeal.decision_on" in everything
    assert "Not listed" not in everything


def test_can_still_apply_by_a_fact_of_its_matter_or_a_settled_step(policy: Policy) -> None:
    base = yaml.safe_load(CO_48.read_text("utf-8"))
    base["facts"] = {
        "permit": {"code": "IEBC"},
        "project": {"kind": "change_of_occupancy"},
        "building": {"type": "other"},
    }
    result = policy.evaluate(base)
    decisions = result.decisions
    # 2: no co.… fact, but co.required is settled from project.kind, and co.can_issue reads it
    assert decisions["co.required"].status == "determined"
    assert can_still_apply(result, decisions["co.can_issue"])
    assert not can_still_apply(result, decisions["co.missing_approvals"])
    # 1: a fact of the appeal opens every appeal decision; none of its own reads it
    assert not can_still_apply(result, decisions["appeal.standing"])
    base["facts"]["appeal"] = {"decision_on": "2025-05-01"}
    appealed = policy.evaluate(base)
    assert can_still_apply(appealed, appealed.decisions["appeal.standing"])
    assert can_still_apply(appealed, appealed.decisions["appeal.timely"])
    assert not can_still_apply(appealed, appealed.decisions["stop_order.max_fine"])
    # a decided one does; one that does not apply cannot
    assert can_still_apply(result, decisions["co.required"])
    sf = _result(policy, SF_18)
    assert sf.decisions["co.can_issue"].status == "not_applicable"
    assert not can_still_apply(sf, sf.decisions["co.can_issue"])


def test_explain_shows_one_whole_tree_and_no_summary(policy: Policy) -> None:
    text = _kent(policy, SF_18, only=("permit.expired",), width=WIDE)
    assert "Decided (" not in text and "Procedure:" not in text and "above)" not in text
    assert "For inaction the permit expires after Tuesday, April 15, 2025" in text
    open_one = _kent(policy, CO_48, only=("appeal.timely",), width=WIDE)
    assert "appeal.timely: undetermined, needs appeal.decision_on, appeal.filed_at" in open_one


def test_the_html_answer_escapes_what_the_case_wrote(policy: Policy) -> None:
    case = read_case(CO_48)
    case.id = '<script>alert(1)</script>"><img src=x onerror=alert(2)>\u202e'
    page = render_html(policy.evaluate(case), RenderContext("Kent <b>", "R & D"))
    assert page.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "\u202e" not in page
    assert "Kent &lt;b&gt;" in page and "R &amp; D" in page
    # self-contained: nothing to fetch, and a policy forbidding anything to be fetched
    plain = render_html(_result(policy, CO_48), RenderContext("Kent", "R"))
    assert not re.search(r"<[^>]*\b(src|href)=|url\(|@import", plain)
    assert "default-src 'none'" in page and "@media print" in page and "<svg" in page
    assert page == render_html(policy.evaluate(case), RenderContext("Kent <b>", "R & D"))


def test_the_html_page_is_one_case(tmp_path: Path) -> None:
    one = CliRunner().invoke(main, ["eval", str(CO_48), "--format", "html"])
    assert one.exit_code == 0 and one.output.count("<!DOCTYPE html>") == 1
    two = CliRunner().invoke(main, ["eval", str(CO_48), str(SF_18), "--format", "html"])
    assert two.exit_code == 2 and "one page for one case" in two.output


def test_a_decisions_headline_reads_its_label_and_its_json_keeps_the_id(policy: Policy) -> None:
    """`permit.expiration_reason` is the enum id `suspended`; staff read the policy's label."""
    result = _result(policy, GOLDEN / "kent" / "ord-4463" / "05-suspended-after-inspection.yaml")
    label = "work suspended or abandoned for 180 days"
    ctx = RenderContext("Kent", "Ord. No. 4463", width=WIDE)
    assert f"permit.expiration_reason = {label}" in render_text(result, ctx)
    assert label in RENDERERS["markdown"](result, ctx) and label in RENDERERS["html"](result, ctx)
    decision = result.to_dict()["decisions"]["permit.expiration_reason"]
    assert decision["value"] == "suspended"
