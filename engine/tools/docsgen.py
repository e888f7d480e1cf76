"""Pipeline stage 9, docs: the compiled policy → a mkdocs-material site of the rules in force.

Everything on the site is derived from the policy (and the golden cases, as worked examples),
so it cannot drift from what the engine decides. The output is deterministic: the same policy
gives the same bytes (sorted everything, no timestamps).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

import click
import yaml

from dsl.typesys import Type
from engine.api import Policy
from engine.compile import graph as gr
from engine.model import EffectiveSection
from engine.paths import bundled_doc
from engine.printable import md_code, md_fence, md_lines, md_text, mermaid_text
from engine.result import Result
from engine.run.catalogue import decided_by
from engine.run.program import CompiledPolicy, CompiledRule, Variant
from engine.tools.coverage import Exercise
from engine.tools.site_examples import (
    describe,
    example_lines,
    exercise_lines,
    exercises_of,
    load_examples,
    named,
)
from engine.tools.site_output import write_site

HAND_WRITTEN = ("architecture.md", "dsl.md", "diagnostics.md", "lsp.md", "security.md")  # docs/
WRITING = (
    "A case file",
    "Writing a policy file",
    "Using the language server",
    "Fee schedules",
    "Adding a jurisdiction",
    "Adding a golden case",
    "Would the tests notice a wrong rule?",
)  # the README's sections on the administrator's work


class FenceFormat:
    """Stands for ``pymdownx.superfences.fence_code_format`` in the site config: the one Python
    reference mkdocs.yml holds (mkdocs's loader honours ``!!python/...`` tags, so every other
    value must reach it as plain data, never as pasted text)."""


class ConfigDumper(yaml.SafeDumper):
    """The safe YAML emitter, plus exactly one tag: ``FenceFormat`` as the Mermaid fence's
    formatter. Policy text in the config (nav titles) is emitted, so quoted, like any string."""


def _represent_fence_format(dumper: yaml.SafeDumper, _: FenceFormat) -> yaml.ScalarNode:
    tag = "tag:yaml.org,2002:python/name:pymdownx.superfences.fence_code_format"
    return dumper.represent_scalar(tag, "")


ConfigDumper.add_representer(FenceFormat, _represent_fence_format)

SITE_CONFIG: dict[str, Any] = {
    "site_name": "ordinance - the rules in force",
    "site_description": "Building codes, amendments, fees and procedures as the engine applies "
    "them.",
    # font: false, system fonts: the theme would fetch Roboto from Google on every page view.
    "theme": {"name": "material", "font": False,
              "features": ["navigation.sections", "navigation.indexes", "search.highlight",
                           "content.code.copy"]},
    "plugins": ["search"],
    "markdown_extensions": [
        "admonition", "tables", "attr_list", {"toc": {"permalink": True}},
        {"pymdownx.superfences": {"custom_fences": [
            {"name": "mermaid", "class": "mermaid", "format": FenceFormat()}]}},
    ],
    "extra_css": ["stylesheets/print.css"],
}  # fmt: skip
# Mermaid is served with the site: without a ``mermaid`` of its own, the theme fetches one from
# a CDN, and a reader without internet access sees each diagram as its raw source.
MERMAID_JS = "vendor/mermaid.min.js"
VENDOR = Path(__file__).resolve().parent / "vendor"  # ships in the wheel (engine/tools/vendor/)
VENDORED = {"mermaid.min.js": MERMAID_JS, "mermaid.LICENSE": "vendor/mermaid.LICENSE.txt"}
Nav = list[Any]  # mkdocs's nav: page paths, and {title: Nav} sections


def site_config(nav: Nav) -> str:
    """``mkdocs.yml``, written by the YAML emitter (never by formatting text)."""
    config = {**SITE_CONFIG, "extra_javascript": [MERMAID_JS]}
    return yaml.dump({**config, "nav": nav}, Dumper=ConfigDumper, sort_keys=False,
                     allow_unicode=True, width=1000)  # fmt: skip


def nav_title(text: str) -> str:
    """A nav or page title from policy text: mkdocs-material inserts titles into its HTML
    unescaped, so they are HTML-escaped here (and shown as written)."""
    return html.escape(text, quote=False)


def _titled(title: str, lines: list[str]) -> str:
    """A page whose title holds policy text; the title is given as front matter when it
    holds HTML-significant characters.

    Without it mkdocs takes the title from the first heading and mkdocs-material writes it
    into ``<title>`` through Jinja's ``striptags``, which unescapes it: an escaped
    ``</title><script>`` would be live again. A front-matter title is inserted as given. A
    title with no ``<``, ``>`` or ``&`` reads the same from the heading, so its page is left
    as it was.
    """
    page = "\n".join(lines) + "\n"
    if nav_title(title) == title:
        return page
    meta = yaml.safe_dump({"title": nav_title(title)}, allow_unicode=True, width=1000)
    return f"---\n{meta}---\n\n{page}"


PRINT_CSS = """\
/* Staff print section pages: no navigation, full width, no link decoration. */
@media print {
  .md-header, .md-sidebar, .md-footer, .md-tabs, .md-search, .headerlink {
    display: none !important;
  }
  .md-main__inner, .md-content { margin: 0 !important; max-width: 100% !important; }
  .md-typeset a { color: inherit; text-decoration: none; }
  .md-typeset pre, .md-typeset table { page-break-inside: avoid; }
}
"""


def slug(text: str) -> str:
    """A file name for a citation or id: ``IBC 105.5`` → ``ibc-105-5``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def build_docs(
    policy: Policy,
    out: Path,
    examples: Path | None = None,
    mermaid_js: Path | None = None,
    commands: click.Group | None = None,
) -> list[Path]:
    """Write the site's Markdown and ``mkdocs.yml`` under ``out``; returns the files written.

    Policy text is quoted (``md_text``: HTML and link markup escaped) wherever it enters a page,
    and ``mkdocs.yml`` is emitted as YAML data, so no policy text runs in a browser or in mkdocs.

    Args:
        policy: the loaded policy (every jurisdiction's latest encoded revision is documented).
        out: the folder to write (``out/mkdocs.yml`` and ``out/docs/``); new, empty, or an
            earlier build's, whose files (listed in its manifest) are replaced.
        examples: golden cases (``<jurisdiction>/<revision>/*.yaml``) shown as worked examples.
        mermaid_js: another ``mermaid.min.js`` to serve with the site instead of the one
            ordinance ships (``engine/tools/vendor/``); either way no page loads anything
            from outside the site.
        commands: the command line to document on a reference page (``ordinance docs build``
            passes its own; the command line imports this module, never the reverse).
    """
    pages: dict[str, str] = {}
    nav: Nav = [{"Home": "index.md"}]
    latest = _latest(policy)
    for cp in latest.values():
        cases = load_examples(policy, cp, examples)
        exercised = exercises_of(policy, cp, cases, examples)
        own = (_jurisdiction_pages(cp, cases, exercised, pages)
               + _change_pages(policy, cp.jurisdiction, pages))  # fmt: skip
        nav.append({nav_title(cp.layered.jurisdiction.title): own})
    pages["index.md"] = _home(policy, latest)
    nav.append({"Reference": _reference_pages(pages, commands)})
    pages["stylesheets/print.css"] = PRINT_CSS
    files = {f"docs/{rel}": text.encode() for rel, text in pages.items()}
    for name, rel in VENDORED.items():
        files[f"docs/{rel}"] = (VENDOR / name).read_bytes()
    if mermaid_js is not None:
        files[f"docs/{MERMAID_JS}"] = mermaid_js.read_bytes()
    files["mkdocs.yml"] = site_config(nav).encode()
    return write_site(out, files)


def _reference_pages(pages: dict[str, str], commands: click.Group | None) -> Nav:
    """The administrator's guide, the hand-written docs and the command line reference."""
    pages["reference/writing-policy.md"] = _from_readme("Writing and testing policy", WRITING)
    nav: Nav = ["reference/writing-policy.md"]
    for name in HAND_WRITTEN:
        if name == "diagnostics.md":
            nav += _diagnostic_pages(bundled_doc(name).read_text("utf-8"), pages)
            continue
        pages[f"reference/{name}"] = bundled_doc(name).read_text("utf-8")
        nav.append(f"reference/{name}")
    if commands is None:
        return nav
    pages["reference/cli.md"] = _cli_reference(commands)
    return [*nav, "reference/cli.md"]


def _latest(policy: Policy) -> dict[str, CompiledPolicy]:
    """Each jurisdiction's latest encoded revision (the one documented)."""
    return {jid: policy.latest(jid) for jid in sorted({j for j, _ in policy.compiled})}


def _home(policy: Policy, latest: dict[str, CompiledPolicy]) -> str:
    lines = ["# The rules in force", "",
             "Every page here is generated from the policy files the engine evaluates, so it "
             "shows exactly what the engine decides: the effective text of each section with "
             "what amended it, the decisions it makes, their deadlines and fees, and worked "
             "examples.", "",
             "| jurisdiction | revision | effective |", "|---|---|---|"]  # fmt: skip
    for jid, cp in latest.items():
        rev = cp.layered.revision
        lines.append(f"| [{md_text(cp.layered.jurisdiction.title)}]({jid}/index.md) | "
                     f"{md_text(rev.title)} | {rev.effective_on or '—'} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _jurisdiction_pages(cp: CompiledPolicy, cases: list[tuple[Any, Result]],
                        exercised: dict[str, list[Exercise]],
                        pages: dict[str, str]) -> Nav:  # fmt: skip
    base = cp.layered.jurisdiction.id
    pages[f"{base}/index.md"] = _jurisdiction_home(cp)
    pages[f"{base}/decisions.md"] = _decision_catalogue(cp)
    pages[f"{base}/facts.md"] = _fact_catalogue(cp)
    nav: Nav = [f"{base}/index.md", f"{base}/decisions.md", f"{base}/facts.md"]
    if cp.procedures:
        procedures = []
        for pid in sorted(cp.procedures):
            pages[f"{base}/procedures/{slug(pid)}.md"] = _procedure_page(cp, pid)
            procedures.append(f"{base}/procedures/{slug(pid)}.md")
        nav.append({"Procedures": procedures})
    sections = []
    for cite, sec in sorted(cp.layered.sections.items(), key=lambda kv: _order(kv[0])):
        rel = f"{base}/sections/{slug(cite)}.md"
        pages[rel] = _section_page(cp, sec, cases, exercised.get(cite, []))
        sections.append(rel)
    return [*nav, {"Sections": sections}]


def _order(citation: str) -> list[Any]:
    """Sort citations as people read them: IBC 105.3.2 before IBC 105.5 before IBC 111."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", citation)]


def _change_pages(policy: Policy, jid: str, pages: dict[str, str]) -> Nav:
    """A "what changed" page per encoded revision after the first, from the same diff as
    ``ordinance diff`` (the law's changes; run the command for the cases they affect)."""
    from engine.tools.revisions import diff_revisions, render_diff

    revisions = sorted((cp for (j, _), cp in policy.compiled.items() if j == jid),
                       key=lambda cp: cp.layered.revision.effective_on or dt.date.min)  # fmt: skip
    nav = []
    for before, after in pairwise(revisions):
        rel = f"{jid}/changes/{after.revision}.md"
        title = f"What changed in {after.layered.revision.title}"
        changes = diff_revisions(before, after)
        body = render_diff(before, after, changes, None, 0, "markdown", title=False)
        pages[rel] = _titled(title, [f"# {md_text(title)}", "", body.rstrip("\n")])
        nav.append(rel)
    return [{"What changed": nav}] if nav else []


def _admonition(kind: str, title: str, body: str) -> list[str]:
    """A ``!!! kind`` block: every line of ``body`` indented, so all of it stays inside."""
    return [f'!!! {kind} "{md_text(title)}"', *(f"    {ln}" if ln else "" for ln in md_lines(body))]


def _jurisdiction_home(cp: CompiledPolicy) -> str:
    jur = cp.layered.jurisdiction
    lines = [f"# {md_text(jur.title)}", ""]
    if jur.description:
        lines += [*md_lines(jur.description), ""]
    if jur.extends:
        lines += [f"Extends the `{jur.extends}` layer: every section it does not amend applies "
                  "as written there.", ""]  # fmt: skip
    if jur.adopts:
        lines += ["## Codes adopted", "", "| code | edition | adopted by | note |",
                  "|---|---|---|---|"]  # fmt: skip
        lines += [f"| {md_text(a.title)} ({md_text(a.code)}) | {md_text(a.edition)} | "
                  f"{md_text(a.citation or '—')} | {md_text(a.note or '')} |"
                  for a in jur.adopts]  # fmt: skip
        lines.append("")
    lines += ["## Revisions", "", "| revision | adopted | effective | encoded |",
              "|---|---|---|---|"]  # fmt: skip
    for r in jur.revisions:
        lines.append(f"| {md_text(r.title)} ({md_code(r.id)}) | {r.adopted_on or '—'} | "
                     f"{r.effective_on or '—'} | {'yes' if r.encoded else 'no'} |")  # fmt: skip
    for r in jur.revisions:
        if r.interpretation:
            lines += ["", *_admonition("note", f"How {r.title} is dated", r.interpretation)]
    if jur.vesting:
        lines += [
            "",
            f"A case is decided under the revision in force on {md_code(jur.vesting[0])} "
            f"({md_text(jur.vesting[1])}) when it gives that date, else on its `as_of` date.",
        ]
    lines += ["", "## Calendar", "", f"Time zone: {md_code(jur.time_zone)}. Business days: "
              + ", ".join(_DAY_NAMES[d] for d in sorted(jur.business_days)) + "."]  # fmt: skip
    lines += _holidays(cp)
    if cp.procedures:
        lines += ["", "## Procedures", ""]
        lines += [f"- [{md_text(p.procedure.title)}](procedures/{slug(pid)}.md)"
                  for pid, p in sorted(cp.procedures.items())]  # fmt: skip
    return _titled(jur.title, lines)


def _holidays(cp: CompiledPolicy) -> list[str]:
    spec = cp.layered.jurisdiction.holidays
    if not spec:
        return []
    lines = ["", f"Holidays: {md_text(spec.citation)}."] if spec.citation else []
    for text in (spec.observed, spec.note):
        if text:
            lines += ["", *md_lines(text)]
    year = cp.layered.revision.effective_on.year if cp.layered.revision.effective_on else 2024
    days = cp.calendar.holidays(year)
    if days:
        lines += ["", f"Holidays observed in {year}:", "", "| date | holiday |", "|---|---|"]
        lines += [f"| {d.isoformat()} ({d:%A}) | {md_text(name)} |" for d, name in days.items()]
    return lines


_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _section_page(cp: CompiledPolicy, sec: EffectiveSection, cases: list[tuple[Any, Result]],
                  exercised: list[Exercise]) -> str:  # fmt: skip
    lines = [f"# {md_text(sec.citation)} — {md_text(sec.title)}", ""]
    if sec.status != "in_force":
        phrase = f"{sec.citation} is {sec.provenance[-1].phrase()}."
        lines += [*_admonition("warning", sec.status.capitalize(), phrase), ""]
    elif sec.provenance:
        lines += [f"**{md_text(sec.cited_as)}**", ""]
    if sec.kind == "guidance":
        source = sec.defined_by.source if sec.defined_by else ""
        lines += [*_admonition("info", "Guidance, not code", f"Source: {source}"), ""]
    if sec.text:
        lines += ["## Effective text", "", _quote(sec.text), ""]
    if sec.model_text:
        lines += [f"## Model text before amendment ({md_text(sec.model_title or sec.citation)})",
                  "", _quote(sec.model_text), ""]  # fmt: skip
    lines += _history(sec)
    defined = [(r, v) for r in cp.rules.values() for v in r.variants if v.section is sec]
    if defined:
        lines += ["## What this section decides", ""]
        for rule, variant in defined:
            lines += _rule_block(cp, rule, variant)
        lines += exercise_lines(cp, exercised)
    # A worked example is a golden case this section decided: a decision id alone is shared by
    # every code's section (IRC R105.3.2 and IMC 106.3.2 both decide `application.expires_on`),
    # and an IMC case is no example of the IRC's text.
    mine = {e.case for e in exercised}
    examples = [(c, r) for c, r in cases if c.expect and str(c.id) in mine and any(
        d in c.expect for d in decided_by(cp, sec))]  # fmt: skip
    if examples:
        lines += ["## Worked examples", ""]
        for case, result in examples[:3]:
            chosen = [d for d in decided_by(cp, sec) if d in case.expect]
            lines += example_lines(cp, case, result, chosen)
    return _titled(f"{sec.citation} — {sec.title}", lines)


def _history(sec: EffectiveSection) -> list[str]:
    """What amended the section, what it amends, and the notes on its history."""
    lines = []
    if sec.provenance:
        lines += ["## History", ""]
        lines += [f"- {md_text(p.phrase())} ({md_text(p.jurisdiction)}, revision "
                  f"{md_code(p.revision)})" for p in sec.provenance]  # fmt: skip
        lines.append("")
    if sec.amends:
        lines += ["Amends: " + ", ".join(f"[{md_text(t)}]({slug(t)}.md)" for t in sec.amends), ""]
    if sec.defined_by is not None and sec.defined_by.history:
        lines += [f"*{md_text(sec.defined_by.history)}*", ""]
    if sec.defined_by is not None and sec.defined_by.interpretation:
        lines += [*_admonition("note", "Interpretation", sec.defined_by.interpretation), ""]
    return lines


def _quote(text: str) -> str:
    """Law as a block quote, each line as written: its own numbering and letters included."""
    return "\n".join(f"> {law_line(line)}" if line else ">" for line in md_lines(text))


# What Markdown would take for list markup or a heading underline at the start of a line of
# law, once ``md_text`` has escaped it: ``3. No permit…`` would become item 1 of a new list
# (Python-Markdown numbers every list from 1), ``- `` a bullet, a line of ``---`` a heading.
_NUMBERED = re.compile(r"^(\d+)([.)])(?=\s|$)")
_BULLET = re.compile(r"^([-+*])(?=\s|$)")
_UNDERLINE = re.compile(r"^[-=]+\s*$")


def law_line(line: str) -> str:
    r"""One escaped line of law (``md_text``'s output), with its list number or bullet made
    text, so the page shows the source's numbering exactly.

    >>> law_line("3. No permit extension"), law_line("- a"), law_line("a. A permit")
    ('3\\. No permit extension', '\\- a', 'a. A permit')
    """
    if _UNDERLINE.match(line):
        return "&#" + str(ord(line[0])) + ";" + line[1:]
    return _BULLET.sub(r"\\\1", _NUMBERED.sub(r"\1\\\2", line))


def _rule_block(cp: CompiledPolicy, rule: CompiledRule, v: Variant) -> list[str]:
    r = v.rule
    kind = "helper value" if rule.internal else "decision"
    lines = [f"### {md_code(rule.id)}", "",
             f"*{kind}, {rule.type}* — {md_text(rule.description or '')}".rstrip(), "",
             f"Cited as: {md_text(v.citation)}", ""]  # fmt: skip
    if v.whens:
        lines += ["Applies when: " + " and ".join(md_code(w.text) for w in v.whens), ""]
    if r.value is not None:
        lines += [*md_fence(r.value.text.strip(), "text"), ""]
    if r.fee is not None:
        lines += _fee_table(r.fee, v.citation)
    if r.interpretation:
        lines += [*_admonition("note", "Interpretation", r.interpretation), ""]
    return lines + _inputs_diagram(cp, rule.id)


def _inputs_diagram(cp: CompiledPolicy, rule_id: str) -> list[str]:
    """One rule and what it reads directly (facts as stadiums, other rules as boxes), each
    labelled with its description and id: the inputs of a rule read as a list, never the
    whole web of the policy (each input rule has its own diagram on its own section page)."""
    node = gr.node_id(gr.RULE, rule_id)
    inputs = sorted(cp.graph.predecessors(node))
    if not inputs:
        return []
    shapes = {gr.FACT: ('(["', '"])'), gr.RULE: ('["', '"]')}
    lines = ["```mermaid", "flowchart LR", f'  d[["{_label(cp, gr.RULE, rule_id)}"]]']
    for i, n in enumerate(inputs):
        kind, name = cp.graph.nodes[n]["kind"], cp.graph.nodes[n]["name"]
        open_, close = shapes.get(kind, ('["', '"]'))
        lines += [f"  i{i}{open_}{_label(cp, kind, name)}{close}", f"  i{i} --> d"]
    return [*lines, "```", ""]


def _label(cp: CompiledPolicy, kind: str, name: str) -> str:
    """A Mermaid label: the description, then the id in small type (both escaped)."""
    desc = describe(cp, kind, name)
    ident = f"<small>{mermaid_text(name)}</small>"
    return f"{mermaid_text(desc)}<br/>{ident}" if desc else ident


def _fee_table(fee: Any, citation: str) -> list[str]:
    source = f", from {md_text(fee.source)}" if fee.source else ""
    lines = [f"Fee schedule effective {fee.effective_on or '(no date)'}{source}; each line "
             f"rounded {fee.rounding.replace('_', ' ')} to the cent.", "",
             "| item | amount | counted | applies when | citation |",
             "|---|---|---|---|---|"]  # fmt: skip
    for it in fee.items:
        when = md_code(it.when.text) if it.when else "always"
        lines.append(f"| {md_text(it.title)} | {_fee_amount(it)} | {when} | "
                     f"{md_text(it.citation or citation)} |")  # fmt: skip
    lines.append("")
    if fee.interpretation:
        lines += [*_admonition("note", "How the items combine", fee.interpretation), ""]
    return lines


def _fee_amount(it: Any) -> str:
    """A fee item's amount and how it is counted: two cells of the fee table."""
    if it.amount is not None:
        return f"{md_text(it.amount.text)} | once"
    assert it.unit_amount is not None and it.quantity is not None
    amount = f"{md_text(it.unit_amount.text)} per {md_text(it.unit or 'unit')}"
    counted = (
        md_code(it.quantity.text)
        + (f" beyond {md_text(str(it.over))}" if it.over else "")
        + (f", at most {md_text(str(it.up_to))}" if it.up_to else "")
    )
    return f"{amount} | {counted}"


def type_words(t: Type, labels: Mapping[str, str]) -> str:
    """A type as a catalogue cell (Markdown): an enum's values by their labels, each with its
    id, which a case file writes ("one of: work suspended or abandoned for 180 days
    (`suspended`), …"); other types by name."""
    values = t.values or (t.item.values if t.item is not None else ())
    if not values:
        return md_text(str(t))
    named_values = ", ".join(
        f"{md_text(labels[v])} ({md_code(v)})" if v in labels else md_code(v) for v in values
    )
    return ("a list of: " if t.name == "list" else "one of: ") + named_values


def _decision_catalogue(cp: CompiledPolicy) -> str:
    lines = [f"# Decisions — {md_text(cp.layered.jurisdiction.title)}", "",
             "Decision ids are public API: embedding programs read them from the JSON result.",
             "", "| decision | type | sections |", "|---|---|---|"]  # fmt: skip
    for rid in sorted(cp.public):
        rule = cp.rules[rid]
        cites = "; ".join(dict.fromkeys(
            f"[{md_text(v.section.citation)}](sections/{slug(v.section.citation)}.md)"
            for v in rule.variants))  # fmt: skip
        lines.append(f"| {named(rule.description or '', rid)} | "
                     f"{type_words(rule.type, rule.labels)} | {cites} |")  # fmt: skip
    return _titled(f"Decisions — {cp.layered.jurisdiction.title}", lines)


def _fact_catalogue(cp: CompiledPolicy) -> str:
    lines = [f"# Facts — {md_text(cp.layered.jurisdiction.title)}", "",
             "The facts a case file may give. An absent fact is unknown; `null` is allowed only "
             "where it says so, and means the event has not happened.", "",
             "| fact | type | citation | declared by |", "|---|---|---|---|"]  # fmt: skip
    for fid in sorted(cp.facts):
        f = cp.facts[fid]
        null = " (may be null)" if f.nullable else ""
        kind = type_words(f.type, f.labels)
        lines.append(f"| {named(f.description or '', fid)} | {kind}{null} | "
                     f"{md_text(f.citation or '')} | {md_text(f.jurisdiction)} |")  # fmt: skip
    return _titled(f"Facts — {cp.layered.jurisdiction.title}", lines)


def _procedure_page(cp: CompiledPolicy, pid: str) -> str:
    proc = cp.procedures[pid].procedure
    lines = [f"# {md_text(proc.title)}", ""]
    if proc.description:
        lines += [*md_lines(proc.description), ""]
    if proc.citation:
        lines += [f"Source: [{md_text(proc.citation)}](../sections/{slug(proc.citation)}.md)", ""]
    lines += ["```mermaid", "flowchart TD"]
    for s in proc.steps:
        label = mermaid_text(s.title)
        if s.deadline is not None:
            due = describe(cp, gr.RULE, s.deadline.text.strip()) or s.deadline.text
            label += f"<br/>due by: {mermaid_text(due)}"
        lines.append(f'  {s.id}["{label}"]')
        lines += [f"  {req} --> {s.id}" for req in s.requires]
    lines += ["```", "", "| step | after | done when | deadline |", "|---|---|---|---|"]
    titles = {s.id: s.title for s in proc.steps}
    for s in proc.steps:
        after = "; ".join(md_text(titles.get(r, r)) for r in s.requires) or "—"
        done = md_code(s.done.text) if s.done else "—"
        lines.append(f"| {md_text(s.title)} | {after} | {done} | {_deadline(cp, s.deadline)} |")
    return _titled(proc.title, lines)


def _deadline(cp: CompiledPolicy, deadline: Any) -> str:
    """A step's deadline: the decision it names, described, or its expression."""
    if deadline is None:
        return "—"
    text = deadline.text.strip()
    desc = describe(cp, gr.RULE, text)
    return named(desc, text) if desc else md_code(text)


def _from_readme(title: str, headings: tuple[str, ...]) -> str:
    """The README's sections on writing policy, as one page (the README stays the source)."""
    readme = bundled_doc("README.md").read_text("utf-8")
    parts = re.split(r"^## ", readme, flags=re.M)
    chosen = {p.split("\n", 1)[0].strip(): p for p in parts[1:]}
    body = [f"## {chosen[h]}" for h in headings if h in chosen]
    text = f"# {title}\n\n" + "\n".join(body)
    # Links in the README point into docs/; on the site those pages sit beside this one.
    return text.replace("](docs/", "](")


def _diagnostic_pages(source: str, pages: dict[str, str]) -> Nav:
    """One page per diagnostic code (its meaning, an example and the fix), and an index."""
    intro, *entries = re.split(r"^## ", source, flags=re.M)
    nav = ["reference/diagnostics/index.md"]
    rows = []
    for entry in entries:
        code, body = entry.split("\n", 1)
        name = slug(code)
        pages[f"reference/diagnostics/{name}.md"] = f"# {code}\n{body}"
        nav.append(f"reference/diagnostics/{name}.md")
        rows.append(f"| [`{code}`]({name}.md) | {body.strip().splitlines()[0]} |")
    pages["reference/diagnostics/index.md"] = (
        intro.strip() + "\n\n| code | meaning |\n|---|---|\n" + "\n".join(rows) + "\n"
    )
    return [{"Diagnostics": nav}]


def _cli_reference(main: click.Group) -> str:
    lines = ["# Command line", ""]
    ctx = click.Context(main, info_name="ordinance")
    for name in sorted(main.list_commands(ctx)):
        cmd = main.get_command(ctx, name)
        assert cmd is not None
        sub = click.Context(cmd, info_name=f"ordinance {name}", parent=ctx)
        lines += [f"## ordinance {name}", "", "```text", cmd.get_help(sub), "```", ""]
    return "\n".join(lines) + "\n"
