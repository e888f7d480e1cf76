"""Which policy a command works on: project discovery, as ruff and pytest find their settings.

The nearest ``ordinance.toml`` up from the current folder (or a ``pyproject.toml`` with a
``[tool.ordinance]`` table) is the project; its keys, paths relative to its folder::

    policy = "policy"              # the city's policy folder (one folder per jurisdiction)
    path = ["../state-policy"]     # further policy folders where `extends:` finds parents
    tests = "tests/golden"         # the golden cases `ordinance test` runs
    coverage_fail_under = 90       # `ordinance test --coverage` fails under this percentage
    mutation_fail_under = 80       # `ordinance mutate` fails under this mutation score

``--policy DIR`` and then ``ORDINANCE_POLICY`` override ``policy``; ``ORDINANCE_PATH``
(folders separated by ``os.pathsep``) adds to ``path``. With no project and no override, the
policy is the one bundled with ordinance. Every command resolves it here, the same way, and
``--verbose`` prints ``Project.describe()``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsl.errors import did_you_mean
from engine.api import Policy, load_policy
from engine.diagnostics import Diagnostic, OrdinanceError, Span
from engine.paths import bundled_policy_dir

CONFIG = "ordinance.toml"
KEYS = {"policy": "the policy folder", "path": "a list of policy folders",
        "tests": "the golden cases folder",
        "coverage_fail_under": "the coverage `ordinance test --coverage` must reach",
        "mutation_fail_under": "the mutation score `ordinance mutate` must reach"}  # fmt: skip


class ProjectError(OrdinanceError):
    """The project's configuration cannot be read; carries located diagnostics."""


@dataclass(frozen=True)
class Project:
    """Where a command's policy, parent layers and golden cases are, and why there."""

    policy: Path
    search_path: tuple[Path, ...]
    tests: Path
    chosen_by: str  # "--policy", "ORDINANCE_POLICY", the config file, or "bundled"
    config: Path | None = None
    coverage_fail_under: float | None = None  # percent; None: no threshold
    mutation_fail_under: float | None = None  # likewise

    @property
    def root(self) -> Path:
        """The project's folder (the current folder when no configuration was found)."""
        return self.config.parent if self.config else Path.cwd()

    @property
    def root_shown(self) -> Path:
        """The project's folder as messages show it: relative to the current folder when that
        is inside it (``.`` here), else absolute."""
        return _shown(self.config.parent) if self.config else Path()

    def describe(self) -> str:
        lines = [f"policy: {self.policy} ({self.chosen_by})"]
        if self.config is not None:
            lines.append(f"project: {self.config}")
        if self.search_path:
            lines.append("search path: " + ", ".join(str(p) for p in self.search_path))
        lines.append(f"golden cases: {self.tests}")
        return "\n".join(lines)


def find_config(start: Path) -> Path | None:
    """The nearest ``ordinance.toml``, or ``pyproject.toml`` with ``[tool.ordinance]``, in
    ``start`` or a folder above it."""
    for folder in (start, *start.parents):
        own = folder / CONFIG
        if own.is_file():
            return own
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and _has_tool_table(pyproject):
            return pyproject
    return None


def _has_tool_table(pyproject: Path) -> bool:
    # Read loosely: a broken pyproject.toml that is not ours is someone else's to report; one
    # that holds a [tool.ordinance] table is ours, and `_read` reports where it is broken.
    try:
        text = pyproject.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return re.search(r"^\s*\[\s*tool\s*\.\s*ordinance\s*\]", text, re.M) is not None
    tool = data.get("tool")
    return isinstance(tool, dict) and isinstance(tool.get("ordinance"), dict)


def discover(
    policy: Path | None = None,
    *,
    start: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Project:
    """The project a command run in ``start`` (default: the current folder) works on.

    Raises:
        ProjectError: the configuration file is not valid TOML, has an unknown key or a
            value of the wrong kind (located at the file, line and column).
    """
    env = os.environ if environ is None else environ
    config = find_config((start or Path.cwd()).resolve())
    settings = _read(config) if config else {}
    base = _shown(config.parent) if config else Path()
    search = [base / p for p in settings.get("path", [])]
    search += [Path(p) for p in env.get("ORDINANCE_PATH", "").split(os.pathsep) if p]
    tests = base / settings.get("tests", "tests/golden")
    if policy is not None:
        chosen, folder = "--policy", policy
    elif env.get("ORDINANCE_POLICY"):
        chosen, folder = "ORDINANCE_POLICY", Path(env["ORDINANCE_POLICY"])
    elif config is not None:
        chosen, folder = str(config), base / settings.get("policy", "policy")
    else:
        chosen, folder = "bundled with ordinance", bundled_policy_dir()
    coverage, mutation = (settings.get(f"{k}_fail_under") for k in ("coverage", "mutation"))
    return Project(folder, tuple(search), tests, chosen, config,
                   None if coverage is None else float(coverage),
                   None if mutation is None else float(mutation))  # fmt: skip


def require_folders(project: Project) -> None:
    """Refuse a policy folder or a search-path folder that does not exist, saying where it
    was named: the configuration's line, the environment variable, or the option."""
    problems = []
    for folder, key in [(project.policy, "policy"), *((p, "path") for p in project.search_path)]:
        if folder.is_dir():
            continue
        from_config = key == "path" or project.chosen_by == str(project.config)
        if project.config is not None and from_config:
            text = project.config.read_text("utf-8")
            where = _key_span(project.config, text, key, project.config.name == "pyproject.toml")
            said = f"`{key}` in {project.config.name}"
        else:
            where, said = None, ("ORDINANCE_PATH" if key == "path" else project.chosen_by)
        problems.append(Diagnostic(
            "project/bad-config", f"`{folder}` is not a folder (named by {said})", where,
            help="give a folder that holds one folder per jurisdiction, each with its "
            "jurisdiction.yaml; paths in the configuration are relative to it"))  # fmt: skip
    if problems:
        raise ProjectError(problems)


def load_project(
    policy: Path | None = None, *, strict: bool = True, start: Path | None = None
) -> tuple[Project, Policy]:
    """The project (``discover``) and its policy, compiled with its search path."""
    project = discover(policy, start=start)
    require_folders(project)
    return project, load_policy(project.policy, strict=strict, search_path=project.search_path)


def layers_text(policy: Policy, *, shadows: bool = True) -> str:
    """The parent layers found outside the policy folder, and (``shadows``) each of the
    folder's own jurisdictions that hides an installed layer of the same id, for
    ``--verbose``: a local copy of a model-code layer is used, not the package's."""
    lines = [f"layer: {jid} from {jur.package or jur.directory}"
             for jid, jur in sorted(policy.layers.items())]  # fmt: skip
    if shadows:
        from engine.compile.find import LayerFinder  # a scan of the installed packages

        installed = set(LayerFinder().installed())
        own = sorted(policy.jurisdictions.items())
        lines += [f"note: {jur.directory} is used for `{jid}`, not the installed layer"
                  for jid, jur in own if jid in installed]  # fmt: skip
    return "\n".join(lines)


def _shown(folder: Path) -> Path:
    """``folder`` relative to the current folder when it is the current folder or above it
    (paths in messages stay short, as `tests/golden/…`), else as it is."""
    here = Path.cwd()
    for up, parent in enumerate((here, *here.parents)):
        if parent == folder:
            return Path(*([".."] * up)) if up else Path()
    return folder


def _read(config: Path) -> dict[str, Any]:
    try:
        text = config.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ProjectError([Diagnostic("project/bad-config", f"`{config}` cannot be read: {e}",
                                       Span(str(config), 1, 1, 1, 1))]) from None  # fmt: skip
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line, col = _position(str(e), text)
        raise ProjectError([Diagnostic(
            "project/bad-config", f"`{config.name}` is not valid TOML: {str(e).split(' (at')[0]}",
            Span(str(config), line, col, line, col + 1),
            help="see https://toml.io for the syntax")]) from None  # fmt: skip
    if config.name == "pyproject.toml":
        data = data["tool"]["ordinance"]
    problems = []
    for key, value in data.items():
        where = _key_span(config, text, key, config.name == "pyproject.toml")
        if key not in KEYS:
            guess = did_you_mean(key, KEYS)
            problems.append(
                Diagnostic(
                    "project/bad-config",
                    f"`{key}` is not a setting of ordinance",
                    where,
                    help=f"did you mean `{guess}`?"
                    if guess
                    else "the settings are " + ", ".join(f"`{k}` ({v})" for k, v in KEYS.items()),
                )
            )
        elif key == "path" and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            problems.append(
                Diagnostic(
                    "project/bad-config",
                    "`path` is a list of folders",
                    where,
                    help='write `path = ["../state-policy"]`',
                )
            )
        elif key in ("coverage_fail_under", "mutation_fail_under"):
            problems += _bad_threshold(key, value, where)
        elif key != "path" and not isinstance(value, str):
            problems.append(
                Diagnostic(
                    "project/bad-config",
                    f"`{key}` is a folder, as text",
                    where,
                    help=f'write `{key} = "{key}"`',
                )
            )
    if problems:
        raise ProjectError(problems)
    return data


def _bad_threshold(key: str, value: Any, where: Span) -> list[Diagnostic]:
    """A threshold is a percentage: a number from 0 to 100 (true is not a number)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 100:
        return []
    return [Diagnostic("project/bad-config", f"`{key}` is a percentage from 0 to "
                       f"100, found `{value}`", where, help=f"write `{key} = 85`")]  # fmt: skip


def _position(message: str, text: str) -> tuple[int, int]:
    """tomllib's "(at line L, column C)" as numbers; "(at end of document)" as the place
    just past the last line."""
    found = re.search(r"line (\d+), column (\d+)", message)
    if found:
        return int(found[1]), int(found[2])
    if "end of document" in message:
        return text.count("\n") + 1, 1
    return 1, 1


def _key_span(config: Path, text: str, key: str, in_tool_table: bool) -> Span:
    """Where ``key = …`` is written (tomllib keeps no positions; the key's line is enough);
    in a pyproject.toml, below its ``[tool.ordinance]`` header."""
    inside = not in_tool_table
    for number, line in enumerate(text.splitlines(), 1):
        if in_tool_table and line.strip().startswith("["):
            inside = line.strip().replace(" ", "") == "[tool.ordinance]"
            continue
        match = inside and re.match(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=", line)
        if match:
            col = len(line) - len(line.lstrip()) + 1
            return Span(str(config), number, col, number, col + len(key))
    return Span(str(config), 1, 1, 1, 1)
