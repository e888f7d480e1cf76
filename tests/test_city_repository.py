"""A city's own repository (issue 14): made by `ordinance init` outside this repository, with only
the installed wheel, it builds on the bundled model codes without forking them, amends IBC 105.5,
adds a revision, diffs it over its golden cases and builds its site, with no `--policy` anywhere.

Also the pieces: project discovery (ordinance.toml, [tool.ordinance], ORDINANCE_POLICY,
--policy), `extends:` resolved on a search path and from an installed policy package, and the
configuration's located errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.project import ProjectError, discover
from engine.tools.cli import main

AMENDMENT = """\
sections:
  - citation: CITY 15.04.050
    title: Permits - Expiration
    text: |
      Section 105.5 of the International Building Code is amended to read as follows:
    amends:
      section: IBC 105.5
      action: substitute
      title: Expiration
      text: |
        Every permit issued shall become invalid unless the work on the site authorized by
        such permit is commenced within 365 days after its issuance.
    when: permit.code == "IBC"
    rules:
      - id: permit.expires_on
        type: date
        description: The last day on which the permit is valid
        when: permit.issued_on is set and permit.issued_on <= as_of
        value: permit.issued_on + 365 days
        explain: The permit is valid for 365 days after its issuance on {permit.issued_on}.
"""


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel unpacked as an installation: its code, its policy, its entry points."""
    site = tmp_path_factory.mktemp("site-packages")
    zipfile.ZipFile(wheel).extractall(site)
    return site


def run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`ordinance ARGS` from the installed wheel, in ``cwd``, with no source tree in sight."""
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(cwd),
           "NO_MKDOCS_2_WARNING": "1"}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "engine.tools.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def site_pages(site: Path, city: Path, out: Path) -> str:
    """`ordinance docs build` in the city's folder: its pages' text."""
    built = run(site, city, "docs", "build", "--out", str(out))
    assert built.returncode == 0, built.stderr
    return "".join(p.read_text("utf-8") for p in out.rglob("*.md"))


def test_a_new_city_from_init_to_site_with_the_installed_wheel(
    installed: Path, tmp_path: Path
) -> None:
    made = run(installed, tmp_path, "init", "springfield", "--effective", "2025-01-01",
               "--time-zone", "America/Chicago")  # fmt: skip
    assert made.returncode == 0, made.stderr
    city = tmp_path / "springfield"
    assert (city / "ordinance.toml").is_file() and (city / ".pre-commit-config.yaml").is_file()
    checked = run(installed, city, "check")
    assert checked.returncode == 0, checked.stderr + checked.stdout
    assert "springfield" in checked.stdout and "0 error(s)" in checked.stdout
    tested = run(installed, city, "test")
    assert tested.returncode == 0 and "1 passed, 0 failed" in tested.stdout, tested.stdout
    assert "SPRINGFIELD-G-01" in site_pages(installed, city, tmp_path / "site-1")  # an example
    # The inherited model law, with where it came from.
    shown = run(installed, city / "policy", "show", "IBC 105.5", "--verbose")  # from below
    assert shown.returncode == 0, shown.stderr
    assert "180 days" in shown.stdout and "from ordinance" in shown.stdout
    assert f"project: {city / 'ordinance.toml'}" in shown.stderr
    assert "layer: generic from ordinance" in shown.stderr

    # A new revision amends IBC 105.5; the old revision's golden case stays with it.
    new = run(installed, city, "revision", "new", "-j", "springfield", "--id", "ord-2",
              "--effective", "2026-01-01", "--title", "Ord. No. 2: permit expiration")  # fmt: skip
    assert new.returncode == 0, new.stderr
    (city / "policy" / "springfield" / "ord-2" / "sections.yaml").write_text(AMENDMENT)
    assert run(installed, city, "check").returncode == 0
    shown = run(installed, city, "show", "IBC 105.5", "--revision", "ord-2")
    assert "IBC 105.5 as amended by CITY 15.04.050" in shown.stdout, shown.stdout + shown.stderr
    diff = run(installed, city, "diff", "-j", "springfield", "--from", "initial", "--to", "ord-2",
               "--format", "json")  # fmt: skip
    assert diff.returncode == 1, diff.stderr  # something changed
    report = json.loads(diff.stdout)
    text = json.dumps(report)
    # issued 2025-01-11: + 180 days under the model code, + 365 days as amended
    assert "IBC 105.5" in text and "2025-07-10" in text and "2026-01-11" in text
    assert run(installed, city, "test").returncode == 0  # the initial case still passes
    # ... and over a folder of the city's own permits (an export), not only its golden cases.
    (city / "permits").mkdir()
    for n, issued in enumerate(["2025-03-03", "2025-05-20"]):
        (city / "permits" / f"p{n}.json").write_text(json.dumps({
            "case": f"BLD-{n}", "jurisdiction": "springfield", "as_of": "2025-06-01",
            "facts": {"permit": {"code": "IBC", "issued_on": issued},
                      "work": {"commenced_on": None}}}))  # fmt: skip
    over = run(installed, city, "diff", "-j", "springfield", "--from", "initial", "--to", "ord-2",
               "--cases", "permits", "--format", "json")  # fmt: skip
    impact = json.loads(over.stdout)["impact"]
    assert [i["case"] for i in impact] == ["BLD-0", "BLD-1"]
    assert json.loads(over.stdout)["cases_evaluated"] == 2

    assert "CITY 15.04.050" in site_pages(installed, city, tmp_path / "site-2")


def test_without_a_project_the_bundled_policy_is_used(tmp_path: Path) -> None:
    project = discover(start=tmp_path, environ={})
    assert project.chosen_by.startswith("bundled") and project.config is None
    assert (project.policy / "generic" / "jurisdiction.yaml").is_file()


def test_discovery_finds_the_nearest_config_and_the_overrides_win(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.ordinance]\n'
                                             'policy = "law"\npath = ["vendor"]\n')  # fmt: skip
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    found = discover(start=deep, environ={})
    assert (found.policy, found.search_path) == (tmp_path / "law", (tmp_path / "vendor",))
    assert found.tests == tmp_path / "tests" / "golden"
    (tmp_path / "a" / "ordinance.toml").write_text('policy = "p"\ntests = "cases"\n')
    nearer = discover(start=deep, environ={})
    assert (nearer.policy, nearer.tests, nearer.config) == (
        tmp_path / "a" / "p",
        tmp_path / "a" / "cases",
        tmp_path / "a" / "ordinance.toml",
    )
    env = discover(start=deep, environ={"ORDINANCE_POLICY": "/x", "ORDINANCE_PATH": "/y"})
    assert (env.policy, env.chosen_by, env.search_path[-1]) == (Path("/x"), "ORDINANCE_POLICY",
                                                                Path("/y"))  # fmt: skip
    flag = discover(Path("/z"), start=deep, environ={"ORDINANCE_POLICY": "/x"})
    assert (flag.policy, flag.chosen_by) == (Path("/z"), "--policy")


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ('policy = "p"\npolciy = "q"\n', 2, "did you mean `policy`"),
        ('path = "vendor"\n', 1, "list of folders"),
        ("policy = [\n", 2, "not valid TOML"),
    ],
)
def test_a_bad_config_is_located(tmp_path: Path, text: str, where: int, words: str) -> None:
    (tmp_path / "ordinance.toml").write_text(text)
    with pytest.raises(ProjectError) as e:
        discover(start=tmp_path, environ={})
    (d,) = e.value.diagnostics
    assert d.span is not None and d.span.line == where and d.code == "project/bad-config"
    assert words in d.message + (d.help or "")


def _town(root: Path, parent: str) -> None:
    (root / "town" / "r1").mkdir(parents=True)
    (root / "town" / "jurisdiction.yaml").write_text(textwrap.dedent(f"""\
        id: town
        title: Town
        extends: {parent}
        time_zone: America/Chicago
        revisions:
          - {{id: r1, title: R1, effective_on: 2025-01-01, encoded: true}}
        """))  # fmt: skip
    (root / "town" / "r1" / "sections.yaml").write_text("sections: []\n")


def test_extends_finds_a_parent_on_the_search_path(tmp_path: Path) -> None:
    from engine.paths import bundled_policy_dir

    _town(tmp_path / "city", "state")
    state = tmp_path / "vendor" / "state"
    state.mkdir(parents=True)
    (state / "jurisdiction.yaml").write_text(
        (bundled_policy_dir() / "kent" / "jurisdiction.yaml").read_text().replace(
            "id: kent", "id: state"))  # fmt: skip
    os.symlink(bundled_policy_dir() / "kent" / "ord-4463", state / "ord-4463")
    (tmp_path / "ordinance.toml").write_text('policy = "city"\npath = ["vendor"]\n')
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)  # the project is found from the current folder
        shown = CliRunner().invoke(main, ["show", "KCC 14.01.030.D", "-v"],
                                   env={"ORDINANCE_POLICY": None})  # fmt: skip
    finally:
        os.chdir(cwd)
    assert shown.exit_code == 0, shown.output
    assert "Permits – Expiration" in shown.stdout
    assert "search path: vendor" in shown.stderr  # relative to the current folder
    assert "layer: state from vendor/state" in shown.stderr


def test_an_unknown_parent_says_where_it_looked(tmp_path: Path) -> None:
    _town(tmp_path, "nowhere")
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "policy/unknown-parent" in result.stderr and "installed policy packages" in result.stderr
    assert "generic (ordinance" in result.stderr  # the bundled layers are packages too


def test_the_wheel_carries_the_pages_the_site_includes(wheel: Path) -> None:
    from engine.tools.docsgen import HAND_WRITTEN

    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"engine/_docs/{n}" for n in (*HAND_WRITTEN, "README.md")} <= names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[ordinance.policies]" in text and "generic = engine.paths:bundled_policy_dir" in text


def test_the_scaffold_uses_the_hooks_this_repository_publishes(tmp_path: Path) -> None:
    import yaml

    from tests.conftest import ROOT

    made = CliRunner().invoke(main, ["init", "riverton", "--into", str(tmp_path / "r")])
    assert made.exit_code == 0, made.output
    config = yaml.safe_load((tmp_path / "r" / ".pre-commit-config.yaml").read_text())
    used = {h["id"] for repo in config["repos"] for h in repo["hooks"]}
    published = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert used == {"ordinance-fmt", "ordinance-check", "ordinance-test"} <= published.keys()
    fmt = CliRunner().invoke(main, ["fmt", "--check", str(tmp_path / "r" / "policy")])
    assert fmt.exit_code == 0, fmt.output  # init's files are already formatted
    for hook in published.values():  # each entry is a command ordinance has
        command = hook["entry"].split()[1]
        assert command in main.commands, hook  # type: ignore[attr-defined]
    again = CliRunner().invoke(main, ["init", "riverton", "--into", str(tmp_path / "r")])
    assert again.exit_code == 1 and "init/cannot-create" in again.stderr  # never overwrites
    bad = CliRunner().invoke(main, ["init", "Spring Field", "--into", str(tmp_path / "s")])
    assert bad.exit_code == 1 and "is not an id" in bad.stderr
