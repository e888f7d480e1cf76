"""Pipeline stage 9a, docs examples: golden cases → the worked examples of the site's section
pages, the golden cases that exercise each section (as ``ordinance test --coverage`` traces
them), and the words that name a fact or decision for staff (its description, its id beside).

A worked example's facts are emitted by a YAML emitter, so the block on the page reads back as
the golden case it comes from; its explanations are the Markdown report's nested trees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from engine.api import Policy
from engine.compile import graph as gr
from engine.compile.load import read_case
from engine.diagnostics import OrdinanceError
from engine.printable import md_code, md_fence, md_text, printable
from engine.render import markdown_explanation
from engine.result import Result
from engine.run.program import CompiledPolicy
from engine.tools.coverage import Exercise, Tracker, measure
from engine.tools.expect import evaluate_pinned


def load_examples(
    policy: Policy, cp: CompiledPolicy, root: Path | None
) -> list[tuple[Any, Result]]:
    """The golden cases of this revision, evaluated (worked examples for the section pages)."""
    if root is None:
        return []
    folder = root / cp.jurisdiction / cp.revision
    found = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            case = read_case(path)
            found.append((case, evaluate_pinned(policy, case, cp.revision)))
        except OrdinanceError:
            continue  # a broken example is the test suite's business, not the site's
    return found


def exercises_of(policy: Policy, cp: CompiledPolicy, cases: list[tuple[Any, Result]],
                 root: Path | None) -> dict[str, list[Exercise]]:  # fmt: skip
    """Per section citation, the golden cases (those with an ``expect:`` block, the ones
    ``ordinance test`` runs) in which a definition of the section decided something, each
    file named relative to the folder of golden cases (the page reads the same anywhere)."""
    key = (cp.jurisdiction, cp.revision)
    trackers = {key: Tracker.for_revision(cp)}
    for case, result in cases:
        if case.expect and case.doc is not None:
            file = Path(case.doc.file)
            shown = file.relative_to(root) if root and file.is_relative_to(root) else file
            measure(policy, case, shown.as_posix(), result, trackers)
    return trackers[key].suite.exercises


def exercise_lines(cp: CompiledPolicy, exercises: list[Exercise]) -> list[str]:
    """The section page's table of the golden cases that exercise it: the case, its file and
    what the section decided there, every text through the Markdown emitters."""
    lines = ["## Golden cases that exercise this section", ""]
    if not exercises:
        return [*lines, "No golden case exercises this section: `ordinance test --coverage` "
                "lists it among the sections never exercised.", ""]  # fmt: skip
    lines += ["| case | file | what it decided here |", "|---|---|---|"]
    for e in exercises:
        # The decisions, by id (the rule blocks above describe them); helper values only when
        # the section decided nothing else in the case.
        shown = [d for d in e.decided if not cp.rules[d[0]].internal] or list(e.decided)
        decided = "; ".join(f"{md_code(rid)} = {md_text(words)}" for rid, words in shown)
        lines.append(f"| {md_text(e.case)} | {md_code(e.file)} | {decided} |")
    return [*lines, ""]


def describe(cp: CompiledPolicy, kind: str, name: str) -> str:
    """What a fact or rule is, in the policy's words ('' when it gives none)."""
    if kind == gr.FACT:
        return cp.facts[name].description or "" if name in cp.facts else ""
    return cp.rules[name].description or "" if name in cp.rules else ""


def named(description: str, ident: str) -> str:
    """A fact or decision for staff: its description, then its id (``Permit expires on
    (`permit.expires_on`)``); the id alone when the policy gives no description."""
    text = description.strip().removesuffix(".")  # "Who brings the appeal (`appeal.appellant`)"
    return f"{md_text(text)} ({md_code(ident)})" if text else md_code(ident)


def example_lines(cp: CompiledPolicy, case: Any, result: Result, decisions: list[str]) -> list[str]:
    """A golden case as a worked example: its facts as YAML, then the decisions made, each
    with the explanation tree the Markdown report gives."""
    lines = [f"### Example {md_text(str(case.id))}", ""]
    if case.doc is not None:
        desc = case.doc.data.get("description")
        if desc:
            lines += [md_text(str(desc)), ""]
        lines += [f"Facts, as of {result.as_of.isoformat()}:", "",
                  *md_fence(facts_yaml(case), "yaml"), ""]  # fmt: skip
    lines += ["| decision | value | status | section |", "|---|---|---|---|"]
    chosen = [result.decisions[rid] for rid in sorted(decisions) if rid in result.decisions]
    for d in chosen:
        value = md_text(d.in_words()) if d.status == "determined" else "—"
        cites = md_text("; ".join(d.citations))
        status = d.status.replace("_", " ")
        lines.append(f"| {named(describe(cp, gr.RULE, d.id), d.id)} | {value} | {status} | "
                     f"{cites} |")  # fmt: skip
    for d in chosen:
        lines += ["", f"#### {named(describe(cp, gr.RULE, d.id), d.id)}", ""]
        lines += markdown_explanation(d)
        if d.needs:
            needs = ", ".join(named(describe(cp, gr.FACT, n), n) for n in d.needs)
            lines += ["", f"Needs: {needs}"]
    return [*lines, ""]


class FactsDumper(yaml.SafeDumper):
    """The safe YAML emitter for a worked example's facts: every value written out in full
    (no anchors), and a string holding a control character double-quoted, so the escape that
    ``md_fence`` shows it as (``\\u202e``) is YAML's escape for the same character."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = '"' if printable(text) != text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


FactsDumper.add_representer(str, _represent_str)


def facts_yaml(case: Any) -> str:
    """A case's ``facts:`` as YAML that reads back as the same data (never its source text
    pasted: a slice of a flow mapping or a commented block is not YAML on its own).

    The facts are read again with the standard safe loader, which keeps what the engine's
    loader turns to text (a date is a date, a quoted ``"2025-05-01"`` a string); the text was
    already accepted by ``read_case`` within the loader's budgets (size, aliases, nesting), so
    this second reading is bounded too. Comments are not data and are not shown.
    """
    try:
        data = yaml.safe_load(case.doc.text)["facts"]
    except (yaml.YAMLError, ValueError, TypeError, KeyError):
        data = case.doc.data.get("facts")
    return yaml.dump({"facts": data}, Dumper=FactsDumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, indent=2, width=88).rstrip("\n")  # fmt: skip
