"""The coverage report of ``ordinance test --coverage``: per revision, the outcomes reached of
each kind of legal unit and the units no golden case exercised, as text for people, JSON for
tools (sorted, deterministic) and Markdown for a CI summary. One renderer per format.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from engine.printable import md_cell_code, md_code, md_text, one_line
from engine.tools.coverage import KINDS, SuiteCoverage, Unit, percent

PLURAL = {"section": "sections", "condition": "conditions", "definition": "definitions",
          "fee item": "fee items", "amendment": "amendments",
          "step": "procedure steps"}  # fmt: skip


def total(suites: list[SuiteCoverage]) -> tuple[int, int]:
    """(outcomes reached, outcomes there are) over every revision."""
    counts = [s.counts() for s in suites]
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


def under(suites: list[SuiteCoverage], threshold: float) -> bool:
    """Whether the total coverage is below ``threshold`` percent (compared exactly: 2 of 3
    outcomes is under 66.67 and not under 66.66)."""
    reached, outcomes = total(suites)
    return outcomes > 0 and reached * 100 < threshold * outcomes


def _pct(reached: int, outcomes: int) -> str:
    return f"{percent(reached, outcomes):.1f}%"


def gaps(suite: SuiteCoverage, unit: Unit) -> list[str]:
    """The outcomes of ``unit`` no case reached (``taken``, ``not charged``, …)."""
    return [o for o in unit.outcomes if o not in suite.hits.get(unit.key, ())]


def _partial(suite: SuiteCoverage) -> list[tuple[Unit, list[str]]]:
    """Every unit but a section with an outcome no case reached, in the report's order."""
    return [(u, g) for u in suite.units if u.kind != "section" and (g := gaps(suite, u))]


# --- text ----------------------------------------------------------------------------------------


def render_text(suites: list[SuiteCoverage], threshold: float | None) -> str:
    lines = ["coverage of the golden cases in legal units (outcomes reached / outcomes):"]
    for s in suites:
        lines += ["", f"{s.name}: {_pct(*s.counts())} ({_ratio(s.counts())}), {s.cases} case(s)"]
        for kind in KINDS:
            reached, outcomes = s.counts(kind)
            if outcomes:
                lines.append(f"  {PLURAL[kind]:<16} {_ratio((reached, outcomes)):>9}  "
                             f"{_pct(reached, outcomes):>6}")  # fmt: skip
        missed = s.missed("section")
        if missed:
            lines.append("  sections never exercised:")
        for u in missed:
            lines.append(f"    {one_line(u.citation or u.key)} ({one_line(u.label)})  {u.where}")
            lines += [f"      {rid}  {where}" for rid, where in u.rules]
        partial = _partial(s)
        if partial:
            lines.append("  not exercised every way:")
        for u, g in partial:
            lines.append(f"    {u.kind} {one_line(u.label)} [{one_line(u.citation or '')}] "
                         f"{u.where}: never {', never '.join(g)}")  # fmt: skip
    reached, outcomes = total(suites)
    bar = f" (threshold {threshold:g}%)" if threshold is not None else ""
    return "\n".join([*lines, "", f"total: {_pct(reached, outcomes)} "
                      f"({_ratio((reached, outcomes))}){bar}"])  # fmt: skip


def _ratio(counts: tuple[int, int]) -> str:
    return f"{counts[0]}/{counts[1]}"


# --- JSON ----------------------------------------------------------------------------------------


def render_json(suites: list[SuiteCoverage], threshold: float | None) -> str:
    """Stable for tools: keys sorted, units in file order, percentages rounded to 2 places,
    no time or machine in it (the same policy and cases give the same bytes)."""
    reached, outcomes = total(suites)
    data = {"total": _counts(reached, outcomes), "fail_under": threshold,
            "suites": [_suite_json(s) for s in suites]}  # fmt: skip
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)


def _counts(reached: int, outcomes: int) -> dict[str, Any]:
    return {"reached": reached, "outcomes": outcomes,
            "percent": round(percent(reached, outcomes), 2)}  # fmt: skip


def _suite_json(s: SuiteCoverage) -> dict[str, Any]:
    return {
        "jurisdiction": s.jurisdiction,
        "revision": s.revision,
        "cases": s.cases,
        **_counts(*s.counts()),
        "kinds": {kind: _counts(*s.counts(kind)) for kind in KINDS},
        "never_exercised": [
            {
                "citation": u.citation,
                "title": u.label,
                "where": u.where,
                "rules": [{"id": r, "where": w} for r, w in u.rules],
            }
            for u in s.missed("section")
        ],
        "units": [
            {
                "kind": u.kind,
                "key": u.key,
                "citation": u.citation,
                "where": u.where,
                "label": u.label,
                "reached": sorted(s.hits.get(u.key, ())),
                "missed": gaps(s, u),
            }
            for u in s.units
        ],
    }


# --- Markdown ------------------------------------------------------------------------------------


def render_markdown(suites: list[SuiteCoverage], threshold: float | None) -> str:
    """A CI job summary: a table per revision, then what no case exercised. Every policy text
    passes through the Markdown emitters (``md_text``, ``md_code``)."""
    reached, outcomes = total(suites)
    bar = f", threshold {threshold:g}%" if threshold is not None else ""
    lines = ["## Coverage of the golden cases, in legal units", "",
             f"Total: **{_pct(reached, outcomes)}** ({_ratio((reached, outcomes))} outcomes"
             f"{bar})", ""]  # fmt: skip
    for s in suites:
        lines += [f"### {md_text(s.name)}: {_pct(*s.counts())}", "",
                  f"{s.cases} golden case(s).", "", "| unit | reached | coverage |",
                  "|---|---|---|"]  # fmt: skip
        for kind in KINDS:
            counts = s.counts(kind)
            if counts[1]:
                lines.append(f"| {PLURAL[kind]} | {_ratio(counts)} | {_pct(*counts)} |")
        lines.append("")
        lines += _markdown_gaps(s)
    return "\n".join(lines).rstrip("\n") + "\n"


def _markdown_gaps(s: SuiteCoverage) -> list[str]:
    lines = []
    missed = s.missed("section")
    if missed:
        lines += ["Sections never exercised:", ""]
    for u in missed:
        rules = ", ".join(f"{md_code(r)} ({md_code(w)})" for r, w in u.rules)
        lines.append(f"- {md_text(u.citation or u.key)} — {md_text(u.label)} "
                     f"({md_code(u.where)}): {rules}")  # fmt: skip
    partial = _partial(s)
    if partial:
        lines += ["", "| not exercised every way | section | where | never |", "|---|---|---|---|"]
    for u, g in partial:
        lines.append(f"| {md_text(u.kind)} {md_cell_code(u.label)} | "
                     f"{md_text(u.citation or '')} | {md_cell_code(u.where)} | "
                     f"{md_text(', '.join(g))} |")  # fmt: skip
    return [*lines, ""] if lines else []


Renderer = Callable[[list[SuiteCoverage], float | None], str]
RENDERERS: dict[str, Renderer] = {"text": render_text, "json": render_json,
                                  "markdown": render_markdown}  # fmt: skip
