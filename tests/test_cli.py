"""The `ordinance` command end to end, in process (click's runner) so the suite stays fast."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from click.testing import CliRunner

from engine.compile.schema import schema
from engine.tools.cli import main
from tests.conftest import GOLDEN, ROOT

EXAMPLE = str(ROOT / "examples" / "kent-co-and-permit.yaml")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_eval_json_is_one_valid_object_per_case_per_line() -> None:
    case2 = str(GOLDEN / "kent" / "ord-4463" / "58-appeal-deadline-saturday.yaml")
    code, out, _ = run("eval", EXAMPLE, case2, "--format", "json")
    assert code == 0
    lines = out.strip().split("\n")
    assert len(lines) == 2
    for line in lines:
        jsonschema.validate(json.loads(line), schema("result"))
    first = json.loads(lines[0])
    assert first["case"] == "KENT-2025-0153"
    assert first["decisions"]["permit.expires_on"]["value"] == "2026-04-28"
    assert first["revision_basis"] == {"by": "application.complete_on", "date": "2024-04-02"}
    # Fire Prevention's approval is missing: the inspection waits for it, though requested.
    assert first["procedures"]["certificate_of_occupancy"]["next_steps"] == ["final_approvals"]


def test_eval_output_is_byte_identical_across_runs() -> None:
    outs = {run("eval", EXAMPLE, "--format", fmt)[1] for fmt in ("json", "json")}
    assert len(outs) == 1
    texts = {run("eval", EXAMPLE)[1] for _ in range(2)}
    assert len(texts) == 1


def test_eval_text_explains_with_citations_and_next_steps() -> None:
    code, out, _ = run("eval", EXAMPLE)
    assert code == 0
    assert "permit.expires_on = Tuesday, April 28, 2026" in out
    assert "[IBC 105.5.1 as amended by KCC 14.01.030.D]" in out
    assert "Procedure: Certificate of Occupancy (Kent)" in out
    assert "Next: Obtain final inspection approvals" in out


def test_eval_explain_limits_to_one_decision() -> None:
    code, out, _ = run("eval", EXAMPLE, "--explain", "co.missing_approvals")
    assert code == 0
    assert "co.missing_approvals = Fire Prevention" in out  # the label, not the id
    assert "permit.expires_on" not in out
    code, _, err = run("eval", EXAMPLE, "--explain", "co.missing_aprovals")
    assert code == 2
    assert "did you mean `co.missing_approvals`?" in err


def test_eval_as_of_overrides_the_case() -> None:
    code, out, _ = run("eval", EXAMPLE, "--as-of", "2026-04-29", "--format", "json")
    assert code == 0
    assert json.loads(out)["decisions"]["permit.expired"]["value"] is True
    code, _, err = run("eval", EXAMPLE, "--as-of", "2026-02-30")
    assert code == 2
    assert "not a date" in err


def test_eval_markdown_has_a_table_and_procedure() -> None:
    code, out, _ = run("eval", EXAMPLE, "--format", "markdown")
    assert code == 0
    assert out.startswith("# Case KENT-2025-0153")
    assert "| `permit.expires_on` | Tuesday, April 28, 2026 | determined |" in out
    assert "## Procedure: Certificate of Occupancy (Kent)" in out


def test_check_bundled_policy_is_clean() -> None:
    for path in (None, "policy/kent", "policy/generic"):
        code, out, err = run("check", *([str(ROOT / path)] if path else []))
        assert code == 0, err
        assert "0 error(s), 0 warning(s)" in out


def test_check_rejects_a_file_path() -> None:
    code, _, err = run("check", EXAMPLE)
    assert code == 2
    assert "is not a folder" in err


def test_test_command_runs_golden_cases_and_reports_mismatches(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run("test", str(GOLDEN))
    assert code == 0
    assert out.strip().endswith("0 failed")
    bad = tmp_path / "bad.yaml"
    text = (GOLDEN / "kent" / "ord-4463" / "10-tie-at-three-years.yaml").read_text()
    bad.write_text(text.replace("permit.expired: false", "permit.expired: true"))
    code, out, _ = run("test", str(bad))
    assert code == 1
    assert "permit.expired: expected value `true`, got `false`" in out
    assert out.strip().endswith("0 passed, 1 failed")


def test_show_amended_repealed_and_deleted_sections() -> None:
    code, out, _ = run("show", "IBC", "105.5", "-j", "kent")
    assert code == 0
    assert "IBC 105.5 as amended by KCC 14.01.030.D" in out
    assert "shall expire automatically three years after the date of permit issuance" in out
    assert "Model text before amendment" in out
    assert "permit.expires_on" in out
    code, out, _ = run("show", "IPMC 604", "-j", "kent")
    assert code == 0
    assert "IPMC 604: deleted by KCC 14.01.090.H" in out
    code, out, _ = run("show", "IRC R110.1", "-j", "kent")
    assert "repealed by KCC 14.01.050.F" in out
    code, out, _ = run("show", "IBC 105.5", "--jurisdiction", "generic")
    assert "become invalid unless the work" in out
    code, _, err = run("show", "IBC 105.6", "-j", "kent")
    assert code == 1
    assert "no section `IBC 105.6`" in err


def test_graph_exports_mermaid_and_dot() -> None:
    code, out, _ = run("graph", "--decision", "permit.expired", "-j", "kent")
    assert code == 0
    assert out.splitlines()[3] == "flowchart LR"
    assert '(["permit.issued_on"])' in out
    assert "appeal" not in out
    code, out, _ = run("graph", "--format", "dot", "--policy", str(ROOT / "policy" / "kent"))
    assert code == 0
    assert out.startswith('digraph "kent ord-4463"')
    assert '"fact:permit.issued_on" -> "rule:permit.three_year_limit";' in out


def test_unknown_jurisdiction_in_show_is_located_error() -> None:
    code, _, err = run("show", "IBC 105.5", "--jurisdiction", "kentt")
    assert code == 1
    assert "did you mean `kent`?" in err


def test_facts_and_decisions_catalogues() -> None:
    code, out, _ = run("facts", "-j", "kent")
    assert code == 0
    assert "permit.code: enum (IBC, IRC, IEBC, UPC, IMC)" in out
    assert "work.commenced_on: date, may be null" in out
    code, out, _ = run("decisions", "--format", "json", "-j", "kent")
    rows = {r["id"]: r for r in json.loads(out)}
    assert "permit.three_year_limit" not in rows  # internal helpers are not decisions
    assert rows["permit.expires_on"]["citations"][0] == "IBC 105.5.1 as amended by KCC 14.01.030.D"
    assert len(rows["permit.expires_on"]["citations"]) == 5  # one per code
    code, out, _ = run("facts", "--jurisdiction", "generic")
    assert "appeal.decision_on" not in out


def test_a_jurisdiction_must_be_named_when_there_are_several() -> None:
    code, _, err = run("facts")
    assert code == 2
    assert "--jurisdiction" in err and "houston" in err and "kent" in err
    code, out, _ = run("facts", "--policy", str(ROOT / "policy" / "houston"))
    assert code == 0
    assert "request.kind: enum (new, duplicate, name_change, building_core)" in out


def test_houston_example_itemizes_fees_and_gives_next_steps() -> None:
    example = str(ROOT / "examples" / "houston-office-building.yaml")
    code, out, _ = run("eval", example, "--format", "json")
    assert code == 0
    result = json.loads(out)
    fee = result["decisions"]["co.fee"]
    assert fee["value"] == "1063.11"  # 501.29 + 2 x 125.32 + 311.18
    step = result["steps"][fee["because"][0]]  # version 2: each step once, by its id
    lines = [s for s in step["because"] if isinstance(s, dict) and "line" in s]
    assert [(s["line"], s["quantity"], s["amount"], s["citation"]) for s in lines] == [
        ("certificate_of_compliance", 1, "501.29", "Houston CO Fees"),
        ("additional_floors", 2, "250.64", "Houston CO Fees"),
        ("investigation", 1, "311.18", "Houston CO Fees"),
    ]
    procedure = result["procedures"]["houston_certificate_of_occupancy"]
    assert [s["status"] for s in procedure["steps"]] == [
        "done", "done", "done", "done", "ready", "waiting"
    ]  # fmt: skip
    assert procedure["next_steps"] == ["inspection"]
    assert result["decisions"]["inspection.blockers"]["value"] == ["ladder"]


def test_eval_revision_forces_a_revision_and_says_so() -> None:
    code, out, _ = run("eval", EXAMPLE, "--revision", "ord-4463", "--format", "json")
    assert code == 0
    assert json.loads(out)["revision_basis"] == {"by": "revision", "date": None}
    code, _, err = run("eval", EXAMPLE, "--revision", "ord-4387")
    assert code == 1
    assert "case/unknown-revision" in err and "encoded revisions: ord-4463" in err


def test_error_paths_an_administrator_can_hit_are_located(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run("eval", EXAMPLE, "--policy", str(tmp_path / "nowhere"))
    assert code == 1
    assert "project/bad-config" in err and "is not a folder (named by --policy)" in err
    (tmp_path / "notes.txt").write_text("keep me")
    code, _, err = run("docs", "build", "--out", str(tmp_path))
    assert code == 1
    assert "cli/unsafe-output" in err
    assert (tmp_path / "notes.txt").read_text() == "keep me"  # nothing was deleted
    code, _, err = run("revision", "new", "-j", "kent", "--id", "Ord 45/01", "--effective",
                       "2030-01-01", "--policy", str(tmp_path / "nowhere"))  # fmt: skip
    assert code == 1 and "is not a folder" in err


def test_eval_dash_reads_the_case_from_standard_input() -> None:
    text = (ROOT / "examples" / "kent-co-and-permit.json").read_text("utf-8")
    result = CliRunner().invoke(main, ["eval", "-", "--format", "json"], input=text)
    assert result.exit_code == 0, result.stderr
    from_file = CliRunner().invoke(main, ["eval", EXAMPLE, "--format", "json"]).stdout
    assert result.stdout == from_file
    bad = CliRunner().invoke(
        main, ["eval", "-"], input="jurisdiction: kent\nfacts: {permit: {code: 5}}\n"
    )
    assert bad.exit_code == 1 and "<stdin>:2:24" in bad.stderr and "case/bad-value" in bad.stderr


def test_show_needs_no_jurisdiction_when_only_one_has_the_section() -> None:
    code, out, _ = run("show", "IPMC", "604")
    assert code == 0 and "deleted by KCC 14.01.090.H" in out
    code, _, err = run("show", "IBC", "105.5")
    assert code == 2 and "generic, houston, kent" in err


def test_a_reader_that_leaves_early_does_not_change_the_exit_status(tmp_path: Path) -> None:
    """`ordinance test DIR | head -1` exits as the tests did (it exited 0 when the pipe closed,
    so a failing run could pass a CI step)."""
    import os
    import shutil
    import subprocess
    import sys

    for case in sorted((GOLDEN / "kent" / "ord-4463").glob("*.yaml"))[:40]:
        shutil.copy(case, tmp_path)
    first = sorted(tmp_path.glob("01-*.yaml"))[0]
    wrong = first.read_text("utf-8").replace("    value: 2025-04-15", "    value: 2025-04-16", 1)
    first.write_text(wrong, "utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "engine.tools.cli", "test", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith(b"FAIL")
    proc.stdout.close()  # the reader leaves, as `head -1` does
    assert proc.wait(60) == 1


def test_the_table_of_commands_elsewhere_names_each_module_s_commands(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`ordinance` imports a command's module when the command is named (engine/tools/cli.py's
    ELSEWHERE): the table must name every command each module adds, and nothing else."""
    import click

    from engine.tools import cli

    for module in sorted(set(cli.ELSEWHERE.values())):
        group = click.Group()
        monkeypatch.setattr(cli, "main", group)
        cli._register(module)
        assert set(group.commands) == {c for c, m in cli.ELSEWHERE.items() if m == module}
    monkeypatch.undo()
    assert set(cli.ELSEWHERE) <= set(main.list_commands(click.Context(main)))
    assert main.get_command(click.Context(main), "fmt") is not None
