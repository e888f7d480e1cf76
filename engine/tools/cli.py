"""The ``ordinance`` command: eval, check, test, show, graph.

Exit codes: 0 ok, 1 problems found (a broken policy or case, a failed expectation), 2 usage or
internal error. No input, however broken, produces a Python traceback.
"""

from __future__ import annotations

import datetime as dt
import gc
import importlib
import json
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from engine.api import Policy
from engine.compile.load import read_case
from engine.diagnostics import Diagnostic, OrdinanceError, in_file, render
from engine.project import discover
from engine.render import RENDERERS, RenderContext
from engine.result import RESULT_VERSION, RESULT_VERSIONS
from engine.tools.cli_common import (
    PERCENT,
    _compiled,
    _echo,
    _guarded,
    _load,
    _parse_date,
    catalogue_format_option,
    jurisdiction_option,
    policy_option,
    revision_option,
)

# The commands that live in their own modules (certificates and keys, serve, replay, tokens,
# the language server…), by name: a module is imported when one of its commands runs or help
# lists them, so `ordinance eval` loads none of them (tests/test_cli.py checks the table).
ELSEWHERE = {"certificate": "certificate_cli", "keys": "certificate_cli", "diff": "revision_cli",
             "revision": "revision_cli", "fmt": "fmt", "mutate": "mutate_cli", "init": "scaffold",
             "serve": "serve_cli", "lsp": "lsp_cli", "replay": "replay_cli",
             "token": "token_cli", "compile": "compile_cli"}  # fmt: skip


class _Keys(click.Choice):  # type: ignore[type-arg]
    """The keys of the table ``engine.tools.<module>.<name>`` as a choice, read when the option
    is given or shown: its module is imported by the command that has the option, not by
    every command."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(())
        self._table = (f"engine.tools.{module}", name)

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(getattr(importlib.import_module(self._table[0]), self._table[1]))

    @choices.setter
    def choices(self, _: Any) -> None:  # click.Choice's __init__ sets it
        pass


class _Commands(click.Group):
    """The ``ordinance`` group: its own commands, and those of ``ELSEWHERE`` on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *ELSEWHERE})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in ELSEWHERE:
            _register(ELSEWHERE[cmd_name])
        return self.commands.get(cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ordinance")
def main() -> None:
    """Building codes as code: evaluate case files against city policy, with citations."""


@main.command("eval")
@click.argument("cases", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--as-of", callback=_parse_date, help="Evaluate as of this date (YYYY-MM-DD).")
@click.option("--revision", default=None,
              help="Decide under this encoded revision instead of the one in force.")  # fmt: skip
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(RENDERERS)),
    default="text",
    show_default=True,
)
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Show explanation trees N steps deep, with a count of the steps left out "
    "(text and markdown; JSON always has them all).",
)
@click.option(
    "--explain",
    "explain",
    multiple=True,
    metavar="DECISION",
    help="Show only this decision, with its whole explanation tree (repeatable).",
)
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="List every undetermined decision in the summary, also those that cannot apply to "
    "the case yet (text).",
)
@click.option(
    "--result-version",
    type=click.Choice(list(RESULT_VERSIONS)),
    default=RESULT_VERSION,
    show_default=True,
    help="The shape of the JSON (json): 2 writes each explanation step once, 1 each "
    "decision's whole tree (deprecated, written until the next version).",
)
@click.option(
    "--width",
    type=click.IntRange(min=40),
    default=None,
    metavar="COLUMNS",
    help="Wrap the text at this width (default: the terminal's, or 100 when not a terminal).",
)
@policy_option
@_guarded
def eval_cmd(
    cases: tuple[Path, ...],
    as_of: dt.date | None,
    revision: str | None,
    fmt: str,
    depth: int | None,
    explain: tuple[str, ...],
    everything: bool,
    result_version: str,
    width: int | None,
    policy_dir: Path | None,
) -> None:
    """Evaluate CASE files (YAML or JSON) and print the decisions: for staff (text), for
    programs (json), for reports (markdown), or a printable page for the applicant (html)."""
    if fmt == "html" and len(cases) > 1:
        raise click.UsageError("`--format html` writes one page for one case: give one CASE")
    color, width = _terminal(width)
    policy = _load(policy_dir)
    _leave_to_exit(policy)
    failed = False
    for path in cases:
        try:
            case = _read(path)
            result = policy.evaluate(case, as_of=as_of, revision=revision)
        except OrdinanceError as exc:
            _refused(in_file(exc.diagnostics, str(path)), str(path), fmt)
            failed = True
            continue
        _warn(result.warnings, str(path))
        unknown = [e for e in explain if e not in result.decisions]
        if unknown:
            _unknown_decisions(unknown, result.decisions)
        jur = policy.jurisdictions[result.jurisdiction]
        rev = next(r.title for r in jur.revisions if r.id == result.revision)
        ctx = RenderContext(jur.title, rev, explain, depth, width=width, color=color,
                            all=everything, result_version=result_version)  # fmt: skip
        out = RENDERERS[fmt](result, ctx)
        if fmt == "text" and color:
            # Quoted by the text page already (engine/text_page.py); printing it through
            # `printable` again would show its own colour codes as escapes.
            click.echo(out, color=True)
        else:
            _echo(out, data=fmt == "json")
    sys.exit(1 if failed else 0)


def _leave_to_exit(policy: Policy) -> None:
    """When this command is the whole process (it prints to the process's own output, not to a
    test runner's or a calling program's capture), leave the policy for the operating system
    to reclaim: held by a cycle the frozen collector never walks, its 10^5 objects are neither
    walked by each collection nor freed one by one as the interpreter ends (a seventh of a cold
    `ordinance eval`, the cache warm). In any other caller it is freed as usual."""
    if sys.stdout is not sys.__stdout__:
        return
    keep: list[Any] = [policy]
    keep.append(keep)
    gc.freeze()


def _refused(diags: list[Diagnostic], file: str, fmt: str) -> None:
    """A refused case: the diagnostics on stderr for people and, with ``--format json``, one
    line ``{"case": FILE, "diagnostics": [...]}`` on stdout where its result would have been,
    so a program reading the results line by line sees every case, refused or not."""
    _echo(render(diags), err=True)
    if fmt == "json":
        line = {"case": file, "diagnostics": [d.to_json() for d in diags]}
        _echo(json.dumps(line, ensure_ascii=False, separators=(",", ":")), data=True)


def _warn(warnings: Iterable[Diagnostic], file: str) -> None:
    """A case's warnings (a fact another jurisdiction declares, ignored) on stderr: the result
    JSON has no place for them, and they must not make the command fail."""
    if warnings:
        _echo(render(in_file(warnings, file)), err=True)


def _read(path: Path) -> Any:
    """A case file, or with ``-`` the case on standard input (YAML or JSON)."""
    if str(path) == "-":
        from engine.compile.load import read_case_text

        return read_case_text(sys.stdin.buffer.read(), "<stdin>")
    return read_case(path)


def _terminal(width: int | None) -> tuple[bool, int]:
    """Colour and width for the text: colour only on a terminal and without NO_COLOR (any
    non-empty value, no-color.org); the terminal's width there, else 100, unless given."""
    tty = sys.stdout.isatty()
    color = tty and not os.environ.get("NO_COLOR")
    if width is None:
        width = shutil.get_terminal_size((100, 24)).columns if tty else 100
    return color, max(width, 40)


def _unknown_decisions(names: list[str], known: Any) -> None:
    from dsl.errors import did_you_mean

    for name in names:
        guess = did_you_mean(name, known)
        _echo(
            f"error[cli/unknown-decision]: no decision `{name}`"
            + (f"\n   = help: did you mean `{guess}`?" if guess else ""),
            err=True,
        )
    sys.exit(2)


@main.command("check")
@click.argument("policy_path", required=False, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["full", "short", "json"]),
    default="full",
    show_default=True,
)
@policy_option
@_guarded
def check_cmd(policy_path: Path | None, fmt: str, policy_dir: Path | None) -> None:
    """Validate, type-check and graph-check a policy folder; exit 1 on errors. Given one policy
    file (a `jurisdiction.yaml` or a revision's file), check the policy it belongs to and
    report only that file's problems."""
    if policy_path is not None and policy_dir is not None:
        raise click.UsageError("give the policy as POLICY_PATH or as --policy, not both")
    from engine.tools.check_scope import check_summary, jurisdiction_of, located_in

    policy_path = policy_path or policy_dir
    only = None
    if policy_path is not None and policy_path.is_file():
        only, policy_path = policy_path, jurisdiction_of(policy_path)
    elif policy_path is not None and not policy_path.exists():
        raise click.BadParameter(f"`{policy_path}` does not exist", param_hint="POLICY_PATH")
    elif policy_path is not None and not policy_path.is_dir():
        raise click.BadParameter(f"`{policy_path}` is not a folder", param_hint="POLICY_PATH")
    from engine.tools.history import edited_in_force

    # The project is the one the checked path is in (its search path, its golden cases).
    start = (policy_path if policy_path.is_dir() else policy_path.parent) if policy_path else None
    policy = _load(policy_path, strict=False, start=start)
    tests = discover(policy_path, start=start).tests
    everything = [*policy.diagnostics, *edited_in_force(policy, tests)]
    diags = everything if only is None else located_in(everything, only)
    errors = sum(d.severity == "error" for d in diags)
    if diags:
        _echo(render(diags, fmt), err=fmt != "json", data=fmt == "json")
    if fmt != "json":
        scope = ""
        if only is not None:
            elsewhere = len(everything) - len(diags)
            scope = f"; only the problems in {only}, {elsewhere} more elsewhere"
        _echo(check_summary(policy, scope) + f": {errors} error(s), "
              f"{len(diags) - errors} warning(s)")  # fmt: skip
    sys.exit(1 if errors else 0)


@main.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("-k", "pattern", default=None, metavar="PATTERN",
              help="Run only the cases whose file path or case id contains PATTERN (plain "
              "text, case-sensitive; `-k r1/`, `-k CASE-0153`).")  # fmt: skip
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help="Also write a JUnit XML report to FILE for a CI system: "
              "one test case per case file, a failure per mismatch.")  # fmt: skip
@click.option("--lock", is_flag=True, help="Record each revision whose golden cases all pass "
              "in its policy.lock (what `check` compares a revision in force with).")  # fmt: skip
@click.option("--coverage", is_flag=True, help="Also report, per jurisdiction and revision, "
              "the sections, conditions, definitions, fee items, amendments and procedure "
              "steps the cases exercise, and the sections none does.")  # fmt: skip
@click.option("--fail-under", type=PERCENT, default=None, metavar="PERCENT",
              help="Exit 1 when the total coverage is below PERCENT (implies --coverage; "
              "default: `coverage_fail_under` of the project's configuration).")  # fmt: skip
@click.option("--format", "fmt", type=_Keys("coverage_report", "RENDERERS"), default=None,
              help="The coverage report's format (default text); with json or markdown, "
              "standard output holds the report alone and the test lines go to standard "
              "error.")  # fmt: skip
@policy_option
@_guarded
def test_cmd(paths: tuple[Path, ...], pattern: str | None, junit: Path | None, lock: bool,
             coverage: bool, fail_under: float | None, fmt: str | None,
             policy_dir: Path | None) -> None:  # fmt: skip
    """Run case files that carry an `expect:` block, each under the revision its folder
    (`<jurisdiction>/<revision>/`) names; report every mismatch."""
    if lock and (paths or pattern):
        raise click.UsageError("--lock records what every golden case of a revision passes: "
                               "leave out -k and the paths")  # fmt: skip
    from engine.tools.coverage import Measure
    from engine.tools.expect import CaseOutcome, find_case_files, run_case, write_junit

    coverage = coverage or fail_under is not None  # a threshold asks for the report
    if fmt is not None and not coverage:
        raise click.UsageError("--format is the format of the coverage report: add --coverage")
    try:
        policy = _load(policy_dir)
    except OrdinanceError as exc:  # a CI system reading the report learns why too
        if junit is not None:
            failed = CaseOutcome("policy", "policy", error=render(exc.diagnostics, "short"))
            write_junit([failed], junit)
        raise
    project = discover(policy_dir)
    tests = project.tests
    measure = Measure(policy) if coverage else None
    aside = fmt in ("json", "markdown")  # stdout is the report's alone
    outcomes = []
    for path in find_case_files(list(paths) or [tests]):
        outcome = run_case(policy, path, pattern, measure.observe if measure else None)
        if outcome is None:
            continue
        outcomes.append(outcome)
        for m in outcome.mismatches:
            _echo(f"FAIL {path}: {m}", err=aside)
        if outcome.error:
            _echo(f"ERROR {path}: {outcome.error}", err=aside)
    if junit is not None:
        write_junit(outcomes, junit)
    if lock:
        from engine.tools.revision_cli import lock as write_locks

        write_locks(policy, tests, outcomes)
    passed = sum(o.passed for o in outcomes)
    _echo(f"{passed} passed, {len(outcomes) - passed} failed", err=aside)
    if pattern is not None and not outcomes:  # a typo in CI must not pass as "all green"
        _echo(f"error[cli/no-case-selected]: no case matches -k {pattern}", err=True)
        sys.exit(1)
    low = False
    if measure is not None:
        threshold = project.coverage_fail_under if fail_under is None else fail_under
        if threshold is not None and not outcomes:  # a CI step pointed at the wrong folder
            _echo("error[cli/no-case-selected]: no golden case ran, so there is no coverage "
                  f"to reach {threshold:g}%\n   = help: give the folder of the golden cases "
                  "(cases with an `expect:` block)", err=True)  # fmt: skip
            sys.exit(1)
        low = _report_coverage(measure.suites(not paths and pattern is None), fmt or "text",
                               threshold)  # fmt: skip
    sys.exit(0 if passed == len(outcomes) and not low else 1)


def _report_coverage(suites: list[Any], fmt: str, threshold: float | None) -> bool:
    """Print the coverage report; True when it is under ``threshold`` (said on stderr)."""
    from engine.tools.coverage_report import RENDERERS, total, under

    _echo(RENDERERS[fmt](suites, threshold), data=fmt == "json")
    if threshold is None or not under(suites, threshold):
        return False
    reached, outcomes = total(suites)
    _echo(f"error[cli/coverage-under]: the golden cases reach {reached} of {outcomes} "
          f"outcomes ({100 * reached / outcomes:.1f}%), under the threshold of {threshold:g}%"
          "\n   = help: add golden cases for what the report lists", err=True)  # fmt: skip
    return True


@main.command("show")
@click.argument("section", nargs=-1, required=True)
@jurisdiction_option
@revision_option
@policy_option
@_guarded
def show_cmd(
    section: tuple[str, ...],
    jurisdiction: str | None,
    revision: str | None,
    policy_dir: Path | None,
) -> None:
    """Print the effective text of SECTION (e.g. `IBC 105.5`) with its provenance."""
    from engine.tools.sections import render_section

    policy = _load(policy_dir)
    citation = " ".join(section)
    if jurisdiction is None:
        jurisdiction = _defining(policy, citation)
    cp = _compiled(policy, jurisdiction, revision)
    text, ok = render_section(cp, citation)
    _echo(text, err=not ok)
    sys.exit(0 if ok else 1)


def _defining(policy: Policy, citation: str) -> str | None:
    """The one jurisdiction whose latest revision has the section (a city's own amendment
    is in its layer only), else None, and the usual choice of jurisdiction applies."""
    from engine.run.catalogue import find_section

    having = sorted({j for j, _ in policy.compiled if find_section(policy.latest(j), citation)})
    if len(having) == 1:
        return having[0]
    if len(having) > 1 and len({j for j, _ in policy.compiled}) > 1:
        raise click.UsageError(f"`{citation}` is in several jurisdictions: name one with "
                               f"--jurisdiction ({', '.join(having)})")  # fmt: skip
    return None


@main.command("graph")
@jurisdiction_option
@revision_option
@click.option(
    "--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True
)
@click.option("--decision", default=None, help="Only this decision and what it depends on.")
@policy_option
@_guarded
def graph_cmd(
    jurisdiction: str | None,
    revision: str | None,
    fmt: str,
    decision: str | None,
    policy_dir: Path | None,
) -> None:
    """Export the dependency graph of facts, rules and procedure steps."""
    from engine.compile import graph as gr

    policy = _load(policy_dir)
    cp = _compiled(policy, jurisdiction, revision)
    g = cp.graph
    if decision is not None:
        if decision not in cp.rules:
            _unknown_decisions([decision], cp.rules)
        node = gr.node_id(gr.RULE, decision)
        g = g.subgraph({node} | gr.dependencies(g, gr.RULE, decision))
    title = f"{cp.jurisdiction} {cp.revision}"
    _echo(gr.to_mermaid(g, title) if fmt == "mermaid" else gr.to_dot(g, title), nl=False)


@main.command("facts")
@jurisdiction_option
@revision_option
@catalogue_format_option
@policy_option
@_guarded
def facts_cmd(
    jurisdiction: str | None, revision: str | None, fmt: str, policy_dir: Path | None
) -> None:
    """List the facts a case may give: id, type, allowed values, description."""
    from engine.run.catalogue import fact_rows

    _print_catalogue(fact_rows(_compiled(_load(policy_dir), jurisdiction, revision)), fmt)


@main.command("decisions")
@jurisdiction_option
@revision_option
@catalogue_format_option
@policy_option
@_guarded
def decisions_cmd(
    jurisdiction: str | None, revision: str | None, fmt: str, policy_dir: Path | None
) -> None:
    """List the decisions the policy makes: id, type, description and the sections defining it."""
    from engine.run.catalogue import decision_rows

    _print_catalogue(decision_rows(_compiled(_load(policy_dir), jurisdiction, revision)), fmt)


def _print_catalogue(rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        _echo(json.dumps(rows, indent=2, ensure_ascii=False), data=True)
        return
    for row in rows:
        values = f" ({', '.join(row['values'])})" if row["values"] else ""
        null = ", may be null" if row.get("nullable") else ""
        _echo(f"{row['id']}: {row['type']}{values}{null}")
        _echo(f"    {row['description']}")
        cites = row.get("citations") or ([row["citation"]] if row.get("citation") else [])
        if cites:
            _echo(f"    [{'; '.join(cites)}]")


@main.group("docs")
def docs_group() -> None:
    """The documentation site of the rules in force, generated from the policy."""


@docs_group.command("build")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write mkdocs.yml and the Markdown pages (default: build/site-src in the "
    "project's folder): a new or empty folder, or an earlier build's (only the files it wrote "
    "are replaced; a symbolic link is refused).",
)
@click.option(
    "--examples",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Golden cases shown as worked examples (default: the project's `tests`, "
    "`tests/golden`; skipped when the folder is absent).",
)
@click.option(
    "--mermaid-js",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    envvar="ORDINANCE_MERMAID_JS",
    default=None,
    help="Another mermaid.min.js to serve with the site (default: the copy ordinance ships; "
    "the site never loads anything from outside itself).",
)
@policy_option
@_guarded
def docs_build_cmd(
    out: Path | None, examples: Path | None, mermaid_js: Path | None, policy_dir: Path | None
) -> None:
    """Write the Markdown site; then `mkdocs build --strict -f OUT/mkdocs.yml` renders it."""
    from engine.tools.docsgen import build_docs

    policy = _load(policy_dir)
    project = discover(policy_dir)
    out = out or project.root_shown / "build" / "site-src"
    examples = examples or project.tests
    golden = examples if examples.is_dir() else None
    written = build_docs(policy, out, golden, mermaid_js, commands=main)
    _echo(f"wrote {len(written)} files under {out}; render with: "
               f"mkdocs build --strict -f {out / 'mkdocs.yml'}")  # fmt: skip


def _register(module: str) -> None:
    """Add the commands of ``engine.tools.<module>`` to ``main`` (what each module's
    ``register`` takes besides the group)."""
    tools = importlib.import_module(f"engine.tools.{module}")
    args = {"revision_cli": (), "lsp_cli": (_guarded,), "token_cli": (_echo, _guarded),
            "serve_cli": (_guarded, policy_option), "scaffold": (_echo, _guarded, _parse_date),
            "certificate_cli": (_echo, _guarded, policy_option, _parse_date)}  # fmt: skip
    tools.register(main, *args.get(module, (_echo, _guarded, policy_option)))


if __name__ == "__main__":
    main()
