"""``ordinance mutate``: the command and its report, as text for the author, JSON for tools and
Markdown for a CI summary. The work is ``engine.tools.mutate``'s; this module words it.

The report leads with what the author acts on: the mutants that survived, grouped by the
section they are in, each with where it is and the one-line change. The JSON holds every mutant
with its status and no timings, so the same policy, cases, seed and a budget that runs them all
give byte-identical output.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from itertools import groupby
from pathlib import Path
from typing import Any

import click

from engine.printable import md_cell_code, md_text
from engine.tools.cli_common import PERCENT, SECONDS
from engine.tools.mutants import OPERATORS, located
from engine.tools.mutate import (
    INVALID,
    KILLED,
    NO_EFFECT,
    NOT_RUN,
    SILENCED,
    SURVIVED,
    Report,
    enumerate_mutants,
    golden_cases,
    run,
)

_LABELS = {KILLED: "killed", SURVIVED: "survived", SILENCED: "silenced",
           INVALID: "not compiled", NO_EFFECT: "no effect", NOT_RUN: "not run"}  # fmt: skip


def _score(report: Report) -> str:
    s = report.score
    return "no mutant ran" if s is None else f"{s:.1f}%"


def _survivors(report: Report) -> list[Any]:
    return [o for o in report.outcomes if o.status == SURVIVED]


def render_text(report: Report) -> str:
    c = report.counts
    total = len(report.outcomes)
    ran = c[KILLED] + c[SURVIVED] + c[INVALID] + c[NO_EFFECT]
    lines = [
        f"{total} mutants, {report.cases} golden cases; ran {ran} in {report.elapsed:.1f} s "
        f"(budget {report.budget:g} s, seed {report.seed})",
        " · ".join(f"{_LABELS[k]} {c[k]}" for k in _LABELS),
        f"mutation score {_score(report)} (killed of the mutants that ran and compiled)"
        if report.score is not None
        else "no mutation score: no mutant ran and compiled",
    ]
    if c[NOT_RUN]:
        lines.append(f"{c[NOT_RUN]} not run within the budget: give --budget-seconds more, or "
                     "another --seed to sample others")  # fmt: skip
    survivors = _survivors(report)
    if survivors:
        lines += ["", "Survived: no golden case noticed these changes. Add a case that tells "
                  "them apart, or silence one with `mutation:` and a reason.", ""]  # fmt: skip
    lines += _by_citation(survivors)
    silenced = [o for o in report.outcomes if o.status == SILENCED]
    if silenced:
        lines += ["", "Silenced by a `mutation:` annotation (not scored):"]
        for reason, group in groupby(sorted(silenced, key=lambda o: (o.by or "", o.mutant.key)),
                                     key=lambda o: o.by or ""):  # fmt: skip
            lines.append(f"  because: {reason}")
            lines += [f"    {o.mutant.where}  {o.mutant.operator}: {o.mutant.before}  →  "
                      f"{o.mutant.after}" for o in group]  # fmt: skip
    if report.unused:
        lines += ["", "Annotations that silenced nothing (remove them, or fix `ignore:`):"]
        for s in report.unused:
            lines.append(f"  {located(s.origin.span())}  ignore {', '.join(sorted(s.ignore))}")
    if report.left_out:
        lines += ["", "Golden cases not used:", *(f"  {w}" for w in report.left_out)]
    return "\n".join(lines)


def _by_citation(outcomes: list[Any]) -> list[str]:
    """Each citation once, as a heading, with its mutants in file order under it."""
    lines = []
    ordered = sorted(outcomes, key=lambda o: (o.mutant.citation, o.mutant.key))
    for citation, group in groupby(ordered, key=lambda o: o.mutant.citation):
        lines.append(citation)
        lines += [f"  {o.mutant.where}  {o.mutant.operator}: {o.mutant.before}  →  "
                  f"{o.mutant.after}" for o in group]  # fmt: skip
    return lines


def to_json(report: Report) -> dict[str, Any]:
    """The report as data: every mutant in a stable order, nothing that depends on timing
    other than which mutants the budget reached."""
    score = report.score
    return {
        "version": 1,
        "seed": report.seed,
        "budget_seconds": report.budget if math.isfinite(report.budget) else None,
        "golden_cases": report.cases,
        "counts": report.counts,
        "score": None if score is None else round(score, 1),
        "mutants": [
            {
                "operator": o.mutant.operator,
                "jurisdiction": o.mutant.layer,
                "revision": o.mutant.revision,
                "citation": o.mutant.citation,
                "where": o.mutant.where,
                "before": o.mutant.before,
                "after": o.mutant.after,
                "status": o.status,
                "by": o.by,
            }
            for o in report.outcomes
        ],
        "unused_annotations": [
            {"where": located(s.origin.span()), "ignore": sorted(s.ignore), "reason": s.reason}
            for s in report.unused
        ],
        "left_out": report.left_out,
    }


def render_markdown(report: Report) -> str:
    c = report.counts
    lines = [
        "## Mutation testing",
        "",
        f"Mutation score **{_score(report)}**: {c[KILLED]} killed, {c[SURVIVED]} survived, "
        f"{c[SILENCED]} silenced, {c[INVALID]} not compiled, {c[NO_EFFECT]} with no effect, "
        f"{c[NOT_RUN]} not run "
        f"({report.cases} golden cases, seed {report.seed}).",
    ]
    survivors = _survivors(report)
    if survivors:
        lines += ["", "| Section | Where | Change | Before | After |", "|---|---|---|---|---|"]
        for o in survivors:
            m = o.mutant
            lines.append(f"| {md_text(m.citation)} | {md_cell_code(m.where)} | {m.operator} | "
                         f"{md_cell_code(m.before)} | {md_cell_code(m.after)} |")  # fmt: skip
    return "\n".join(lines)


RENDER: dict[str, Callable[[Report], str]] = {
    "text": render_text,
    "json": lambda r: json.dumps(to_json(r), ensure_ascii=False, sort_keys=True),
    "markdown": render_markdown,
}


def register(main: click.Group, echo: Callable[..., None], guarded: Callable[[Any], Any],
             policy_option: Callable[[Any], Any]) -> None:  # fmt: skip
    """Add ``ordinance mutate`` to the ``ordinance`` command."""

    @main.command("mutate")
    @click.option("--jurisdiction", "-j", "jurisdictions", multiple=True, metavar="J",
                  help="Mutate only this jurisdiction's own files (repeatable; default: each "
                  "jurisdiction of the policy folder).")  # fmt: skip
    @click.option("--sections", "sections", multiple=True, metavar="CITATION",
                  help="Mutate only these sections and their subsections (repeatable; "
                  "`KCC 14.01.030`).")  # fmt: skip
    @click.option("--cases", "case_dirs", multiple=True, metavar="DIR",
                  type=click.Path(exists=True, path_type=Path),
                  help="The golden cases (default: the project's tests folder).")  # fmt: skip
    @click.option("--budget-seconds", "budget", type=SECONDS, default=120.0,
                  show_default=True, help="Stop starting mutants after this long; the rest "
                  "are reported as not run.")  # fmt: skip
    @click.option("--seed", type=int, default=0, show_default=True,
                  help="The order mutants are sampled in (one seed, one sample).")  # fmt: skip
    @click.option("--fail-under", type=PERCENT, default=None, metavar="SCORE",
                  help="Exit 1 when the mutation score (percent) is below SCORE (default: "
                  "`mutation_fail_under` of the project's configuration).")  # fmt: skip
    @click.option("--format", "fmt", type=click.Choice(sorted(RENDER)), default="text",
                  show_default=True)  # fmt: skip
    @policy_option
    @guarded
    def mutate_cmd(jurisdictions: tuple[str, ...], sections: tuple[str, ...],
                   case_dirs: tuple[Path, ...], budget: float, seed: int,
                   fail_under: float | None, fmt: str, policy_dir: Path | None
                   ) -> None:  # fmt: skip
        """Mutation testing of the policy: change one rule at a time (a `<` for a `<=`, a day
        more, a `when:` left out, an amendment removed, ...), run the golden cases against
        each change, and report each change no case notices, by section and citation."""
        from engine.tools.cli_common import _load, _project

        policy = _load(policy_dir)
        unknown = [j for j in jurisdictions if j not in policy.jurisdictions
                   and j not in policy.layers]  # fmt: skip
        if unknown:
            known = ", ".join(sorted(policy.jurisdictions))
            raise click.UsageError(f"no jurisdiction {', '.join(unknown)} (known: {known})")
        every = enumerate_mutants(policy, jurisdictions or None)
        mutants = enumerate_mutants(policy, jurisdictions or None, sections) if sections else every
        if sections and not mutants:
            raise click.UsageError(f"no mutant in the sections {', '.join(sections)}: check "
                                   "the citations (`ordinance show`)")  # fmt: skip
        project = _project(policy_dir)
        cases, left_out = golden_cases(policy, list(case_dirs) or [project.tests])
        if not cases:
            echo("warning: no passing golden case: every mutant survives", err=True)
        report = run(policy, mutants, cases, budget=budget, seed=seed, left_out=left_out,
                     every=every)  # fmt: skip
        echo(RENDER[fmt](report), data=fmt == "json")
        threshold = project.mutation_fail_under if fail_under is None else fail_under
        score = report.score
        if threshold is not None and score is None:
            echo(f"error[cli/mutation-under]: no mutant ran and compiled, so there is no "
                 f"mutation score to reach {threshold:g}%", err=True)  # fmt: skip
            sys.exit(1)
        if threshold is not None and score is not None and score < threshold:
            echo(f"error[cli/mutation-under]: the mutation score {_score(report)} is under "
                 f"{threshold:g}%", err=True)  # fmt: skip
            sys.exit(1)


__all__ = ["OPERATORS", "RENDER", "register", "render_markdown", "render_text", "to_json"]
