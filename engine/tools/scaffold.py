"""``ordinance init``: a city's own repository, on top of a model-code layer, that passes
``ordinance check`` and ``ordinance test`` the moment it is made.

What it writes (``NAME`` the jurisdiction id)::

    ordinance.toml                       the project: policy and golden cases folders
    policy/NAME/jurisdiction.yaml        `extends:` the parent, a first revision
    policy/NAME/REV/sections.yaml        where the city's amendments go (none yet)
    tests/golden/NAME/REV/01-….yaml      one golden case with `expect:`
    .gitignore                           the built site
    .pre-commit-config.yaml              ordinance's published hooks (check, test)
    .github/workflows/ordinance.yml      a CI example: install, check, test
    README.md                            what to do next

Every file is written by an emitter (YAML by PyYAML, TOML by hand from checked names only:
the id, which must match the id pattern, and fixed keys), never pasted from input text. The
golden case's expectations are what the parent's law decides for it, recorded at init and
said so in the file: the first snapshot of the inherited law, for the city to check.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import re
import shutil
import tempfile
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from engine.api import Policy, load_policy
from engine.compile.find import LayerFinder
from engine.compile.read import read_jurisdiction
from engine.diagnostics import Collector, Diagnostic, OrdinanceError
from engine.model import JurisdictionDef
from engine.tools.fmt import format_file, policy_files
from engine.values import to_json

ID = re.compile(r"[a-z][a-z0-9_-]{0,63}")
HOOKS_REPO = "https://github.com/ordinance-project/ordinance"
# The decisions the first golden case records, when the parent decides them: the permit's
# expiration (IBC 105.5 in the model codes), which every city inherits.
RECORDED = ("permit.expires_on", "permit.expiration_reason", "permit.expired")


class ScaffoldError(OrdinanceError):
    """The repository cannot be made as asked."""


def _refuse(message: str, help: str | None = None) -> ScaffoldError:
    return ScaffoldError([Diagnostic("init/cannot-create", message, help=help)])


def scaffold(
    name: str,
    into: Path,
    *,
    extends: str | None = None,
    time_zone: str | None = None,
    title: str | None = None,
    revision: str = "initial",
    effective: dt.date | None = None,
    version: str = "0",
) -> list[Path]:
    """Write a city repository for jurisdiction ``name`` into the new (or empty) folder
    ``into``; return the files written. ``time_zone`` defaults to the parent's."""
    if not ID.fullmatch(name) or not ID.fullmatch(revision):
        bad = name if not ID.fullmatch(name) else revision
        raise _refuse(
            f"`{bad}` is not an id: lowercase letters, digits, `-` and `_`, starting "
            "with a letter (like `springfield`)"
        )
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise _refuse(
            f"`{into}` exists and is not an empty folder",
            help="give a new folder: `ordinance init NAME --into DIR`",
        )
    extends = extends or model_code_layer()
    found = LayerFinder().find(extends) if ID.fullmatch(extends) else None
    if found is None:
        raise _refuse(
            f"no installed policy layer `{extends}` to extend", help=LayerFinder().places()
        )
    out = Collector()
    parent_jur = read_jurisdiction(found.folder, out, found.package,
                                   expected=extends if found.package else None)  # fmt: skip
    out.raise_if_errors(ScaffoldError)
    assert parent_jur is not None  # read_jurisdiction returns None only with an error
    effective = effective or dt.date.today()
    time_zone = time_zone or parent_jur.time_zone
    title = title or f"City of {name.replace('-', ' ').replace('_', ' ').title()}"
    _check_inputs(parent_jur, time_zone, title, effective)
    # A parent from another package than ordinance must be installed wherever the hooks and
    # CI run: its distribution's name (from its entry point), which is checked text.
    dist = (found.package or "").split(" ")[0]
    extra = (
        [dist] if dist and dist != "ordinance" and re.fullmatch(r"[A-Za-z0-9._-]+", dist) else []
    )
    files: dict[str, str] = {
        "ordinance.toml": _config(),
        f"policy/{name}/jurisdiction.yaml": _jurisdiction(
            name, title, extends, time_zone, revision, effective
        ),
        f"policy/{name}/{revision}/sections.yaml": _sections(name, revision),
        ".pre-commit-config.yaml": _pre_commit(version, extra),
        ".github/workflows/ordinance.yml": _workflow(extra),
        ".gitignore": "# what ordinance docs build and mkdocs write\nbuild/\nsite/\n",
        "README.md": _readme(name, extends, revision),
    }
    # Made in a staging folder beside the target and moved there whole: a refusal half-way
    # (a case the parent cannot decide) leaves nothing behind to block the next try.
    try:
        into.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=into.parent, prefix=f".{into.name}.init-"))
    except OSError as e:
        raise _refuse(f"cannot create `{into}`: {e.strerror}",
                      help="give a folder that can be made") from None  # fmt: skip
    try:
        for rel, text in files.items():
            _write(staging, rel, text)
        for path in policy_files([staging / "policy"]):
            format_file(path)  # as `ordinance fmt` (its pre-commit hook) would leave them
        policy = load_policy(staging / "policy", cache=False)  # a folder about to be renamed
        case_rel, case_text = _golden_case(policy, name, revision, effective, extends)
        _write(staging, case_rel, case_text)
        mask = os.umask(0)
        os.umask(mask)
        staging.chmod(0o777 & ~mask)  # mkdtemp made it private; the repository is not
        if into.exists():
            into.rmdir()  # empty, checked above
        staging.rename(into)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(p for p in into.rglob("*") if p.is_file())


def _check_inputs(parent: JurisdictionDef, time_zone: str, title: str,
                  effective: dt.date) -> None:  # fmt: skip
    """Refuse, before anything is written, what would make the new policy fail ``check``."""
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _refuse(f"`{time_zone}` is not a time zone",
                      help="give an IANA name, like `America/Chicago`") from None  # fmt: skip
    if not title.isprintable() or not title.strip():
        raise _refuse("the title must be printable text on one line",
                      help='like `--title "City of Springfield"`')  # fmt: skip
    starts = [r.effective_on for r in parent.revisions if r.encoded and r.effective_on]
    if not starts or effective < min(starts):
        first = min(starts) if starts else "its first revision"
        raise _refuse(f"`{parent.id}` has no revision in force on {effective}",
                      help=f"give --effective on or after {first}")  # fmt: skip


def model_code_layer() -> str:
    """The installed layer that extends nothing (the model codes every city builds on): the
    default parent, when there is exactly one."""
    finder = LayerFinder()
    roots = []
    for jid in finder.installed():
        found = finder.find(jid)
        if found is None:
            continue
        try:
            data = yaml.safe_load((found.folder / "jurisdiction.yaml").read_text("utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and not data.get("extends"):
            roots.append(jid)
    if len(roots) != 1:
        raise _refuse(
            "name the layer to build on with --extends",
            help="installed: " + (", ".join(finder.installed()) or "none"),
        )
    return roots[0]


def _write(into: Path, rel: str, text: str) -> Path:
    path = into / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def _dump(data: Any, comment: str = "") -> str:
    head = "".join(f"# {line}\n" if line else "#\n" for line in comment.splitlines())
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=96)


def _config() -> str:
    # Fixed keys and values only: nothing the user typed reaches this file.
    return (
        "# The city's ordinance project: every `ordinance` command run in this folder (or below)\n"
        "# reads this. Paths are relative to this file.\n"
        'policy = "policy"\n'
        'tests = "tests/golden"\n'
        '# path = ["../state-amendments"]  # further policy folders `extends:` may name\n'
        "# `ordinance test --coverage` (and CI) fails when the golden cases exercise less of the\n"
        "# policy than this, in percent: raise it as golden cases are added.\n"
        "coverage_fail_under = 20\n"
        "# `ordinance mutate` (and CI) fails when the golden cases notice fewer of its changes to\n"
        "# the city's rules than this, in percent (set it once the city's layer has rules).\n"
        "# mutation_fail_under = 80\n"
    )


def _jurisdiction(
    name: str, title: str, extends: str, time_zone: str, revision: str, effective: dt.date
) -> str:
    data = {
        "id": name,
        "title": title,
        "extends": extends,
        "time_zone": time_zone,
        "revisions": [
            {
                "id": revision,
                "title": f"Adoption of the {extends} layer",
                "effective_on": effective,
                "encoded": True,
                "note": "Made by `ordinance init`: replace the title and date with the "
                "adopting ordinance's.",
            }
        ],
    }
    return _dump(
        data,
        f"{title}: built on `{extends}`; its own amendments are in\n"
        f"policy/{name}/<revision>/. Keep `revisions:` the last key.",
    )


def _sections(name: str, revision: str) -> str:
    example = {
        "citation": "CITY 1.01.050",
        "title": "Permits - Expiration",
        "text": "Section 105.5 of the International Building Code is amended to read: ...",
        "amends": {
            "section": "IBC 105.5",
            "action": "substitute",
            "title": "Expiration",
            "text": "The amended text, as the ordinance gives it.",
        },
    }
    example_text = "".join(
        f"#   {line}\n"
        for line in yaml.safe_dump({"sections": [example]}, sort_keys=False, width=92).splitlines()
    )
    return (
        f"# The sections of {name}'s revision `{revision}`: each amendment to the layer below,\n"
        "# with its citation and text (see `ordinance show IBC 105.5` for what it amends).\n"
        "# An amendment looks like this (rules under `use:` or `rules:` decide its effect):\n"
        f"{example_text}"
        "sections: []\n"
    )


def _golden_case(
    policy: Policy, name: str, revision: str, effective: dt.date, extends: str
) -> tuple[str, str]:
    """The first golden case: a permit issued in the new revision, never started, and what
    the inherited law decides of its expiration."""
    issued = effective + dt.timedelta(days=10)
    case: dict[str, Any] = {
        "case": f"{name.upper()}-G-01",
        "jurisdiction": name,
        "as_of": issued + dt.timedelta(days=30),
        "description": "A permit issued, its work not begun: when does it expire (the permit "
        "expiration of the model codes, as this city inherits it)?",
        "facts": {
            "permit": {"code": "IBC", "issued_on": issued},
            "work": {"commenced_on": None, "last_inspection_on": None},
        },
    }
    try:
        result = policy.evaluate(json.loads(json.dumps(case, default=str)))
        recorded: tuple[str, ...] = RECORDED
    except OrdinanceError:  # a parent without the permit facts: a case of no facts at all
        case["description"] = f"A case that gives no fact: what `{extends}` decides of it."
        case["facts"] = {}
        result = policy.evaluate(json.loads(json.dumps(case, default=str)))
        recorded = tuple(sorted(result.decisions))[:5]
    expect = {}
    for rid in recorded:
        decision = result.decisions.get(rid)
        if decision is not None and decision.status == "determined":
            value = decision.value
            plain = isinstance(value, bool | int | str | dt.date)  # YAML writes these as such
            expect[rid] = value if plain else to_json(value)
    case["expect"] = expect
    rel = f"tests/golden/{name}/{revision}/01-permit-not-started.yaml"
    note = (
        f"Recorded by `ordinance init` from what `{extends}` decides: check each value\n"
        "against the law's text before you trust it, then keep it as the snapshot of\n"
        "this revision (`ordinance test` fails when a change alters it)."
    )
    return rel, _dump(case, note)


def _pre_commit(version: str, extra: list[str]) -> str:
    hooks: list[dict[str, Any]] = [{"id": "ordinance-fmt"}, {"id": "ordinance-check"},
                                   {"id": "ordinance-test"}]  # fmt: skip
    if extra:  # the parent layer's package, installed beside ordinance in the hook's env
        hooks = [{**h, "additional_dependencies": extra} for h in hooks]
    data = {"repos": [{"repo": HOOKS_REPO, "rev": f"v{version}", "hooks": hooks}]}
    return _dump(
        data,
        "pre-commit (https://pre-commit.com): `pre-commit install` runs these\n"
        "on every commit; the hooks are ordinance's .pre-commit-hooks.yaml.",
    )


def _workflow(extra: list[str]) -> str:
    data = {
        "name": "ordinance",
        "on": ["push", "pull_request"],
        "jobs": {
            "policy": {
                "runs-on": "ubuntu-latest",
                "steps": [
                    {"uses": "actions/checkout@v4"},
                    {"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
                    {"run": " ".join(["pip install ordinance", *extra])},
                    {"run": "ordinance check"},
                    # The coverage report, in legal units, is the job's summary; the
                    # threshold is the project's `coverage_fail_under`.
                    {
                        "run": "ordinance test --junit test-results.xml --coverage --format "
                        'markdown >> "$GITHUB_STEP_SUMMARY"'
                    },
                    # Would the golden cases notice a wrong rule? Time-boxed for CI.
                    {
                        "run": "ordinance mutate --budget-seconds 300 --format markdown "
                        '>> "$GITHUB_STEP_SUMMARY"'
                    },
                ],
            }
        },
    }
    return _dump(
        data,
        "A CI example (GitHub Actions): check the policy and run the golden\ncases on every "
        "push; it fails under the coverage (and mutation score) ordinance.toml sets.",
    )


def _readme(name: str, extends: str, revision: str) -> str:
    return (
        f"# {name}: building codes as code\n\n"
        f"This repository holds {name}'s amendments to the `{extends}` layer that ordinance\n"
        "installs. Run every command from this folder; `ordinance.toml` tells them where the\n"
        "policy and the golden cases are.\n\n"
        "```sh\n"
        "ordinance check                 # the policy is well formed\n"
        "ordinance test                  # the golden cases still decide as recorded\n"
        "ordinance show IBC 105.5        # a section as it stands here, with its provenance\n"
        f"ordinance revision new -j {name} --id ord-2 --effective 2027-01-01\n"
        f"ordinance diff -j {name} --from {revision} --to ord-2\n"
        "ordinance docs build            # the documentation site\n"
        "ordinance test --lock           # once reviewed: record each revision's files, so that\n"
        "                                # `check` warns when a revision in force is edited\n"
        "```\n"
    )


def register(
    main: click.Group,
    echo: Callable[..., None],
    guarded: Callable[[Any], Any],
    parse_date: Callable[..., Any],
) -> None:
    """Add ``ordinance init`` to the ``ordinance`` command."""

    @main.command("init")
    @click.argument("name")
    @click.option(
        "--extends",
        default=None,
        help="The layer the city builds on: an installed policy package's id (default: the "
        "model-code layer, the installed one that extends nothing).",
    )
    @click.option(
        "--time-zone", default=None, help="The city's IANA time zone (default: the parent's)."
    )
    @click.option("--title", default=None, help="The jurisdiction's name (`City of Springfield`).")
    @click.option(
        "--revision", default="initial", show_default=True, help="The first revision's id."
    )
    @click.option(
        "--effective",
        default=None,
        callback=parse_date,
        help="The first revision's effective date (default: today).",
    )
    @click.option(
        "--into",
        type=click.Path(file_okay=True, path_type=Path),
        default=None,
        help="The folder to create (default: ./NAME).",
    )
    @guarded
    def init_cmd(
        name: str,
        extends: str | None,
        time_zone: str | None,
        title: str | None,
        revision: str,
        effective: dt.date | None,
        into: Path | None,
    ) -> None:
        """Make a city's own repository on an installed layer; it passes check and test."""
        try:
            version = importlib.metadata.version("ordinance")
        except importlib.metadata.PackageNotFoundError:
            version = "0"
        folder = into or Path(name)
        written = scaffold(
            name,
            folder,
            extends=extends,
            time_zone=time_zone,
            title=title,
            revision=revision,
            effective=effective,
            version=version,
        )
        echo(f"created {len(written)} files in {folder}:")
        for path in written:
            echo(f"  {path.relative_to(folder)}")
        echo(f"next: cd {folder} && ordinance check && ordinance test")
