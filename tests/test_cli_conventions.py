"""Command-line conventions (issue 14, section 3): JSON refusals from `eval`, an honest `check`
summary and single-file checks, `test -k` and `--junit`, `python -m ordinance`, shell
completion, and facts of another jurisdiction ignored with a warning (CLI, API, service)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from starlette.testclient import TestClient

from engine.api import Policy
from engine.compile.schema import schema
from engine.diagnostics import CaseError
from engine.service.app import create_app
from engine.service.state import Loaded, Service
from engine.tools.cli import main
from tests.conftest import GOLDEN, ROOT

EXAMPLE = ROOT / "examples" / "kent-co-and-permit.yaml"
TIE = GOLDEN / "kent" / "ord-4463" / "10-tie-at-three-years.yaml"
# A fact Houston declares and Kent does not: one record shape sent to every city.
HOUSTON_ONLY = "application.processed_on"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    return path


def example(**facts: Any) -> dict[str, Any]:
    """The Kent example case, with ``facts`` merged into its facts one group deep."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    for group, given in facts.items():
        data["facts"].setdefault(group, {}).update(given)
    return data


# --- 1. eval --format json: a refused case is a JSON line too ---------------------------------


def test_eval_json_gives_a_line_per_case_refused_ones_included(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", example(permit={"isued_on": "2024-06-03"}))
    broken = tmp_path / "broken.yaml"
    broken.write_text("case: X\nfacts: [unclosed\n", "utf-8")
    code, out, err = run("eval", str(EXAMPLE), str(bad), str(broken), "--format", "json")
    assert code == 1
    lines = [json.loads(line) for line in out.strip().split("\n")]
    assert len(lines) == 3  # in the order given, each where its result would have been
    jsonschema.validate(lines[0], schema("result"))
    assert lines[0]["case"] == "KENT-2025-0153"
    assert lines[1]["case"] == str(bad)
    (unknown,) = lines[1]["diagnostics"]
    assert unknown["code"] == "case/unknown-fact"
    assert unknown["span"]["file"] == str(bad)
    assert unknown["span"]["line"] > 1 and unknown["help"] == "did you mean `permit.issued_on`?"
    assert lines[2]["case"] == str(broken)
    assert lines[2]["diagnostics"][0]["code"].startswith("load/")
    # People still read the refusals on stderr, in full.
    assert "error[case/unknown-fact]" in err and f"--> {bad}:" in err


def test_eval_text_keeps_refusals_off_stdout(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", example(permit={"isued_on": "2024-06-03"}))
    code, out, err = run("eval", str(bad))
    assert code == 1
    assert out == ""
    assert "error[case/unknown-fact]" in err


# --- 2. check: the summary counts, and one file ------------------------------------------------


HOLIDAY_TYPO = """calendar:
  business_days: [monday, tuesday, wednesday, thursday, friday]
  holidays:
    citation: TC 2.01
    library: {country: US}
    names: ["New Yaer's Day"]
"""
TWO_BAD_RULES = """      - id: permit.a
        type: date
        value: permit.isued_on + 1 day
      - id: permit.b
        type: bool
        value: permit.issued_on + 1
"""


def _two_errors_one_warning(root: Path) -> Path:
    """A town policy with two errors in its rules and a warning in its jurisdiction file."""
    shutil.copytree(ROOT / "tests" / "fixtures" / "broken_policies" / "graph-unused-fact", root)
    for name, text in (("jurisdiction.yaml", HOLIDAY_TYPO), ("r1/rules.yaml", TWO_BAD_RULES)):
        with (root / "town" / name).open("a", encoding="utf-8") as f:
            f.write(text)
    return root


def test_check_summary_counts_errors_and_warnings(tmp_path: Path) -> None:
    root = _two_errors_one_warning(tmp_path / "p")
    code, out, err = run("check", str(root), "--format", "short")
    assert code == 1
    assert out.strip() == (
        "checked town (1 encoded revision(s), 1 not compiled): 2 error(s), 1 warning(s)"
    )
    assert err.count("error[") == 2 and err.count("warning[policy/unknown-holiday]") == 1


def test_check_one_file_reports_only_that_file(tmp_path: Path) -> None:
    root = _two_errors_one_warning(tmp_path / "p")
    rules = root / "town" / "r1" / "rules.yaml"
    code, out, err = run("check", str(rules), "--format", "short")
    assert code == 1
    assert f"only the problems in {rules}, 1 more elsewhere" in out
    assert out.strip().endswith(": 2 error(s), 0 warning(s)")
    assert "unknown-holiday" not in err and err.count(f"{rules}:") == 2
    jurisdiction = root / "town" / "jurisdiction.yaml"
    code, out, err = run("check", str(jurisdiction), "--format", "short")
    assert code == 0  # only a warning in that file: the rules' errors are not its own
    assert out.strip().endswith(": 0 error(s), 1 warning(s)")
    assert f"{jurisdiction}:14:13: warning[policy/unknown-holiday]" in err
    code, out, _ = run("check", str(root / "town" / "r1" / "facts.yaml"), "--format", "short")
    assert code == 0 and out.strip().endswith("3 more elsewhere): 0 error(s), 0 warning(s)")


def test_check_bundled_revision_file_and_a_file_outside_a_policy() -> None:
    code, out, _ = run("check", str(ROOT / "policy" / "kent" / "ord-4463" / "14.01.030.yaml"))
    assert code == 0
    assert out.startswith("checked kent (1 encoded revision(s); only the problems in ")
    code, _, err = run("check", str(EXAMPLE))
    assert code == 2
    assert "no `jurisdiction.yaml` in a folder above it" in err


# --- 3. test -k and --junit ---------------------------------------------------------------------


def test_test_k_selects_by_path_or_case_id(tmp_path: Path) -> None:
    code, out, _ = run("test", str(GOLDEN), "-k", "58-appeal")
    assert code == 0 and out.strip() == "1 passed, 0 failed"
    case_id = yaml.safe_load(TIE.read_text("utf-8"))["case"]
    code, out, _ = run("test", str(GOLDEN), "-k", case_id)
    # A plain substring: KENT-G-10 also selects KENT-G-100 to KENT-G-109.
    files = [f for f in GOLDEN.rglob("*.yaml") if f.name != "policy.lock"]
    ids = [str(yaml.safe_load(f.read_text("utf-8"))["case"]) for f in files]
    selected = sum(case_id in i or case_id in str(f) for f, i in zip(files, ids, strict=True))
    assert selected >= 1
    assert code == 0 and out.strip() == f"{selected} passed, 0 failed"
    code, out, _ = run("test", str(GOLDEN), "-k", "no-such-case")
    assert out.strip() == "0 passed, 0 failed"
    code, out, _ = run("test", "--help")
    assert "-k PATTERN" in out and "--junit FILE" in out


def test_junit_report_marks_a_failing_case(tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    cases.mkdir()
    shutil.copy(GOLDEN / "kent" / "ord-4463" / "58-appeal-deadline-saturday.yaml", cases)
    text = TIE.read_text("utf-8").replace("permit.expired: false", "permit.expired: true")
    (cases / "bad.yaml").write_text(text, "utf-8")
    (cases / "broken.yaml").write_text("case: B\njurisdiction: kent\nexpect: {a: 1}\nfacts: 3\n")
    report = tmp_path / "junit.xml"
    code, _, _ = run("test", str(cases), "--junit", str(report))
    assert code == 1
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    by_name = {c.get("name"): c for c in suite.iter("testcase")}
    bad = by_name[yaml.safe_load(text)["case"]]
    assert bad.get("classname") == "kent/ord-4463"
    failure = bad.find("failure")
    assert failure is not None and failure.text is not None
    assert "permit.expired: expected value `true`, got `false`" in failure.text
    assert by_name["KENT-G-58"].find("failure") is None
    unreadable = by_name[str(cases / "broken.yaml")]  # no case id: named by its file
    error = unreadable.find("error")
    assert error is not None and "schema/type" in (error.text or "")


# --- 4. python -m ordinance, --version; 5. shell completion --------------------------------------


def _module(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ordinance", *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env})  # fmt: skip


def test_python_m_ordinance_is_the_command() -> None:
    ran = _module("check", "--help")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("Usage: ordinance check ")
    ran = _module("eval", str(EXAMPLE), "--format", "json")
    assert ran.returncode == 0 and json.loads(ran.stdout)["case"] == "KENT-2025-0153"


def test_version_names_the_package() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(main, ["--version"], prog_name="ordinance")
    assert result.exit_code == 0
    assert result.stdout == f"ordinance, version {version('ordinance')}\n"
    # `python -m ordinance` names itself `ordinance`, as the script does (click would say
    # `python -m ordinance` without the prog_name __main__ gives).
    assert _module("--version").stdout == result.stdout


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F _ordinance_completion ordinance"),
     ("zsh", "#compdef ordinance"), ("fish", "complete --no-files --command ordinance")],
)  # fmt: skip
def test_shell_completion_script(shell: str, marker: str) -> None:
    result = CliRunner().invoke(main, [], prog_name="ordinance",
                                env={"_ORDINANCE_COMPLETE": f"{shell}_source"})  # fmt: skip
    assert result.exit_code == 0
    assert marker in result.stdout
    readme = (ROOT / "README.md").read_text("utf-8")
    assert f"_ORDINANCE_COMPLETE={shell}_source ordinance" in readme


def test_shell_completion_completes_commands() -> None:
    env = {"_ORDINANCE_COMPLETE": "bash_complete", "COMP_WORDS": "ordinance ch", "COMP_CWORD": "1"}
    result = CliRunner().invoke(main, [], prog_name="ordinance", env=env)
    assert "plain,check" in result.stdout.split()


def test_wheel_ships_the_ordinance_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {"ordinance/__init__.py", "ordinance/__main__.py"} <= set(names)


# --- 6. a fact of another jurisdiction is a warning, and ignored --------------------------------


def test_foreign_fact_is_a_located_warning_and_ignored(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", example(application={"processed_on": "2024-04-01"},
                                              agent_letter={"received": True}))  # fmt: skip
    code, out, err = run("eval", str(path), "--format", "json")
    assert code == 0
    result = json.loads(out)
    _, plain, _ = run("eval", str(EXAMPLE), "--format", "json")
    assert result == json.loads(plain)  # decided as if the fact were not given
    assert f"warning[case/foreign-fact]: `{HOUSTON_ONLY}` is a fact of `houston`, not of " in err
    assert "`agent_letter.received` is a fact of `houston`" in err  # a whole foreign group
    lines = path.read_text("utf-8").splitlines()
    line = next(i for i, t in enumerate(lines, 1) if t.strip().startswith("processed_on:"))
    assert f"--> {path}:{line}:5" in err
    assert "error[" not in err


def test_a_fact_no_jurisdiction_knows_stays_an_error(tmp_path: Path) -> None:
    given = example(agent_letter={"recieved": True}, application={"processed_on": "2024-04-01"})
    path = write(tmp_path / "c.yaml", given)
    code, out, err = run("eval", str(path))
    assert code == 1 and out == ""
    assert "error[case/unknown-fact]: unknown fact `agent_letter.recieved`" in err
    assert "warning[case/foreign-fact]" in err  # the other problems are still told


def test_foreign_fact_in_the_api_and_the_bulk_path(policy: Policy) -> None:
    case = example(application={"processed_on": "2024-04-01"})
    result = policy.evaluate(case)
    assert [d.code for d in result.warnings] == ["case/foreign-fact"]
    assert result.to_dict() == policy.evaluate(example()).to_dict()
    wanted = ["permit.expires_on", "co.missing_approvals"]
    many = policy.values_many([case, example(), case], wanted)
    assert many == [policy.values(example(), wanted)] * 3
    with pytest.raises(CaseError) as refused:
        policy.values_many([case, example(application={"procesed_on": "2024-04-01"})], wanted)
    assert [d.code for d in refused.value.diagnostics] == ["case/unknown-fact"]


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(Service(Loaded.load(None), None)), raise_server_exceptions=False)


def test_the_service_decides_a_case_with_a_foreign_fact(client: TestClient) -> None:
    body = json.loads(json.dumps(example(application={"processed_on": "2024-04-01"}), default=str))
    response = client.post("/v1/decide", json=body)
    assert response.status_code == 200, response.text
    plain = client.post("/v1/decide", json=json.loads(json.dumps(example(), default=str))).json()
    assert response.json()["decisions"] == plain["decisions"]
    body["facts"]["application"] = {"procesed_on": "2024-04-01"}
    refused = client.post("/v1/decide", json=body)
    assert refused.status_code == 422
    assert [d["code"] for d in refused.json()["error"]["diagnostics"]] == ["case/unknown-fact"]
