"""What an adversarial review of the city-repository work (issue 14) found, each fixed and
kept fixed: locks over failing cases, the installed policy written to, refusals that left
half a repository, a broken [tool.ordinance] ignored, package layers by module, folders
named by the configuration that do not exist, JSON on stdout when the policy fails, `check
DIR` from elsewhere, misfiled golden cases."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from engine.tools.cli import main
from tests.conftest import ROOT


@pytest.fixture
def inside(tmp_path: Path) -> Iterator[Path]:
    """Commands run in ``tmp_path``, outside this repository's project."""
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(cwd)


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"ORDINANCE_POLICY": None})


@pytest.fixture
def town(inside: Path) -> Path:
    made = cli("init", "town", "--effective", "2025-01-01")
    assert made.exit_code == 0, made.output
    os.chdir(inside / "town")
    return inside / "town"


def test_a_case_that_cannot_run_keeps_its_revision_unlocked(town: Path) -> None:
    broken = town / "tests" / "golden" / "town" / "initial" / "02-broken.yaml"
    broken.write_text("case: T-2\njurisdiction: town\nas_of: 2025-03-01\nfacts:\n"
                      "  permit: {colour: red}\nexpect:\n  permit.expired: false\n")  # fmt: skip
    locked = cli("test", "--lock")
    assert locked.exit_code == 1 and "not locked: town/initial" in locked.stderr
    assert not (broken.parent / "policy.lock").exists()
    assert cli("test", "--lock", "-k", "G-01").exit_code == 2  # never from a subset


def test_a_pattern_that_selects_nothing_fails(town: Path) -> None:
    result = cli("test", "-k", "NO-SUCH-CASE")
    assert result.exit_code == 1 and "cli/no-case-selected" in result.stderr


def test_revision_new_outside_a_project_leaves_the_installed_policy_alone(inside: Path) -> None:
    before = (ROOT / "policy" / "kent" / "jurisdiction.yaml").read_text()
    result = cli("revision", "new", "-j", "kent", "--id", "ord-9999", "--effective", "2030-01-01")
    assert result.exit_code == 2 and "no project here" in result.output
    assert (ROOT / "policy" / "kent" / "jurisdiction.yaml").read_text() == before
    assert not (ROOT / "policy" / "kent" / "ord-9999").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--time-zone", "Nowhere/Zone"], "is not a time zone"),
        (["--effective", "1990-01-01"], "has no revision in force on 1990-01-01"),
        (["--title", "City\x07of Bells"], "printable text"),
    ],
)
def test_a_refused_init_leaves_nothing_behind(inside: Path, args: list[str], words: str) -> None:
    result = cli("init", "town", *args)
    assert result.exit_code == 1 and words in result.stderr, result.output
    assert list(inside.iterdir()) == []  # nothing to block the next try
    assert cli("init", "town").exit_code == 0


def test_init_into_a_path_under_a_file_is_refused(inside: Path) -> None:
    (inside / "afile").write_text("x")
    result = cli("init", "town", "--into", "afile/town")
    assert result.exit_code == 1 and "init/cannot-create" in result.stderr
    assert "internal error" not in result.stderr


def test_a_broken_tool_ordinance_table_is_reported_not_ignored(inside: Path) -> None:
    (inside / "pyproject.toml").write_text('[tool.ordinance]\npolicy = "policy\n')
    result = cli("check")
    assert result.exit_code == 1 and "project/bad-config" in result.stderr
    assert "pyproject.toml:2:" in result.stderr


def test_a_policy_folder_the_config_names_must_exist(inside: Path) -> None:
    (inside / "ordinance.toml").write_text('tests = "t"\npolicy = "nope"\n')
    result = cli("check")
    assert result.exit_code == 1 and "`nope` is not a folder" in result.stderr
    assert "ordinance.toml:2:1" in result.stderr  # where it was named
    env = CliRunner().invoke(main, ["facts"], env={"ORDINANCE_POLICY": "gone"})
    assert env.exit_code == 1 and "named by ORDINANCE_POLICY" in env.stderr


def test_eval_json_says_on_stdout_why_the_policy_did_not_load(inside: Path) -> None:
    (inside / "ordinance.toml").write_text('policy = "nope"\n')
    case = ROOT / "examples" / "kent-co-and-permit.json"
    result = cli("eval", str(case), "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["diagnostics"][0]["code"] == "project/bad-config"


def test_check_of_a_folder_uses_the_project_that_folder_is_in(tmp_path: Path) -> None:
    city = tmp_path / "city"
    shutil.copytree(ROOT / "policy" / "kent", city / "law" / "kent")
    shutil.copytree(ROOT / "policy" / "generic", city / "vendor" / "generic")
    (city / "ordinance.toml").write_text('policy = "law"\npath = ["vendor"]\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cwd = os.getcwd()
    os.chdir(elsewhere)
    try:
        result = cli("check", str(city / "law"))
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    assert "policy/unknown-parent" not in result.stderr


def test_a_golden_case_in_a_folder_that_names_no_revision_is_an_error(town: Path) -> None:
    wrong = town / "tests" / "golden" / "town" / "intial"
    wrong.mkdir()
    case = town / "tests" / "golden" / "town" / "initial" / "01-permit-not-started.yaml"
    shutil.copy(case, wrong / case.name)
    result = cli("test")
    assert result.exit_code == 1 and "case/revision-folder" in result.stdout
    assert "names no encoded revision of `town`" in result.stdout


def test_a_policy_package_by_module_is_a_layer_with_its_version(tmp_path: Path) -> None:
    """An installed distribution `state-codes` declaring `state = state_codes`: its package
    folder holds the jurisdiction, whose id is the entry point's name."""
    site = tmp_path / "site"
    pkg = site / "state_codes"
    shutil.copytree(ROOT / "policy" / "kent", pkg)
    (pkg / "__init__.py").write_text('"""Kent\'s law as a policy package (a test)."""\n')
    yaml_file = pkg / "jurisdiction.yaml"
    yaml_file.write_text(yaml_file.read_text().replace("id: kent", "id: state"))
    info = site / "state_codes-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: state-codes\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[ordinance.policies]\nstate = state_codes\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    env.pop("ORDINANCE_POLICY", None)

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "engine.tools.cli", *args], cwd=cwd,
                              env=env, capture_output=True, text=True, timeout=300)  # fmt: skip

    made = run("init", "ville", "--extends", "state", "--time-zone", "America/Los_Angeles",
               "--effective", "2025-01-01", cwd=tmp_path)  # fmt: skip
    assert made.returncode == 0, made.stderr
    ville = tmp_path / "ville"
    shown = run("show", "KCC 14.01.030.D", "-v", cwd=ville)
    assert shown.returncode == 0, shown.stderr
    assert "layer: state from state-codes 1.0" in shown.stderr
    assert run("test", cwd=ville).returncode == 0
    workflow = (ville / ".github" / "workflows" / "ordinance.yml").read_text()
    assert "pip install ordinance state-codes" in workflow
    hooks = (ville / ".pre-commit-config.yaml").read_text()
    assert "additional_dependencies" in hooks and "state-codes" in hooks


def test_the_new_repository_has_the_usual_permissions(inside: Path) -> None:
    assert cli("init", "town").exit_code == 0
    mask = os.umask(0)
    os.umask(mask)
    assert (inside / "town").stat().st_mode & 0o777 == 0o777 & ~mask


def _dist(site: Path, name: str, module: str, entry: str, body: str = "") -> None:
    """An installed distribution `name` 1.0 whose entry point `entry` names `module`."""
    pkg = site / module
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(body or '"""A policy package (a test)."""\n')
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[ordinance.policies]\n{entry} = {module}\n")


def _city(root: Path, parent: str) -> None:
    (root / "policy" / "town" / "r1").mkdir(parents=True)
    (root / "policy" / "town" / "jurisdiction.yaml").write_text(
        f"id: town\ntitle: Town\nextends: {parent}\ntime_zone: America/Chicago\nrevisions:\n"
        "  - {id: r1, title: R1, effective_on: 2025-01-01, encoded: true}\n")  # fmt: skip
    (root / "policy" / "town" / "r1" / "sections.yaml").write_text("sections: []\n")
    (root / "ordinance.toml").write_text('policy = "policy"\n')


def _run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    env.pop("ORDINANCE_POLICY", None)
    return subprocess.run([sys.executable, "-m", "engine.tools.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_a_package_that_fails_to_import_is_named_with_its_error(tmp_path: Path) -> None:
    _dist(tmp_path / "site", "broken-codes", "broken_codes", "state",
          body="raise RuntimeError('half installed')\n")  # fmt: skip
    _city(tmp_path / "city", "state")
    result = _run(tmp_path / "site", tmp_path / "city", "check")
    assert result.returncode == 1 and "policy/unknown-parent" in result.stderr
    assert "broken-codes 1.0 declares `state` but fails to import" in result.stderr
    assert "half installed" in result.stderr


def test_two_packages_declaring_one_layer_is_a_warning(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for name, module in (("state-codes", "state_a"), ("state-fork", "state_b")):
        _dist(site, name, module, "state")
        shutil.copytree(ROOT / "policy" / "generic", site / module, dirs_exist_ok=True)
        jur = site / module / "jurisdiction.yaml"
        jur.write_text(jur.read_text().replace("id: generic", "id: state"))
    _city(tmp_path / "city", "state")
    result = _run(site, tmp_path / "city", "check")
    assert result.returncode == 0, result.stderr
    assert "warning[policy/layer-package]" in result.stderr
    assert "declared by several installed packages" in result.stderr


def test_verbose_says_when_a_local_folder_hides_an_installed_layer(inside: Path) -> None:
    shutil.copytree(ROOT / "policy" / "generic", inside / "policy" / "generic")
    (inside / "ordinance.toml").write_text('policy = "policy"\n')
    result = cli("facts", "-v")
    assert result.exit_code == 0, result.output
    assert "is used for `generic`, not the installed layer" in result.stderr


def test_junit_reports_a_policy_that_does_not_load(inside: Path) -> None:
    import xml.etree.ElementTree as ET

    (inside / "ordinance.toml").write_text('policy = "nope"\n')
    result = cli("test", "--junit", "report.xml")
    assert result.exit_code == 1
    (case,) = ET.parse(inside / "report.xml").getroot().iter("testcase")
    error = case.find("error")
    assert error is not None and "project/bad-config" in (error.text or "")
