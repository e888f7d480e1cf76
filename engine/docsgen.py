"""Pipeline stage 9, docs: the compiled policy → a mkdocs-material site of the rules in force.

Everything on the site is derived from the policy (and the golden cases, as worked examples),
so it cannot drift from what the engine decides. The output is deterministic: the same policy
gives the same bytes (sorted everything, no timestamps).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from itertools import pairwise
from pathlib import Path
from typing import Any

from engine import graph as gr
from engine.api import Policy
from engine.case import read_case
from engine.compiler import CompiledPolicy, CompiledRule, Variant
from engine.diagnostics import Diagnostic, OrdinanceError
from engine.evaluate import Result
from engine.layer import EffectiveSection
from engine.render import render_markdown
from engine.sections import decided_by

DOCS = Path(__file__).resolve().parent.parent / "docs"
HAND_WRITTEN = ("architecture.md", "dsl.md", "diagnostics.md")  # copied from docs/
WRITING = (
    "A case file",
    "Writing a policy file",
    "Fee schedules",
    "Adding a jurisdiction",
    "Adding a golden case",
)  # the README's sections on the administrator's work

MKDOCS_HEAD = """\
site_name: ordinance - the rules in force
site_description: Building codes, amendments, fees and procedures as the engine applies them.
theme:
  name: material
  features:
    - navigation.sections
    - navigation.indexes
    - search.highlight
    - content.code.copy
plugins:
  - search
markdown_extensions:
  - admonition
  - tables
  - attr_list
  - toc:
      permalink: true
  - pymdownx.superfences:
      custom_fences:
        - name: mermaid
          class: mermaid
          format: !!python/name:pymdownx.superfences.fence_code_format
extra_css:
  - stylesheets/print.css
"""

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
    policy: Policy, out: Path, examples: Path | None = None, mermaid_js: Path | None = None
) -> list[Path]:
    """Write the site's Markdown and ``mkdocs.yml`` under ``out``; returns the files written.

    Args:
        policy: the loaded policy (every jurisdiction's latest encoded revision is documented).
        out: the folder to write (``out/mkdocs.yml`` and ``out/docs/``); emptied first.
        examples: golden cases (``<jurisdiction>/<revision>/*.yaml``) shown as worked examples.
        mermaid_js: a local copy of Mermaid (``mermaid.min.js``) to serve with the site, for
            readers without internet access; by default mkdocs-material loads it from its CDN.
    """
    if out.exists() and any(out.iterdir()):
        if not (out / "mkdocs.yml").is_file():
            # Never empty a folder this command did not write (`--out .` would wipe the repo).
            raise OrdinanceError([Diagnostic(
                "cli/unsafe-output", f"`{out}` is not empty and holds no earlier site build",
                help="give an empty or new folder, such as build/site-src")])  # fmt: skip
        shutil.rmtree(out)
    pages: dict[str, str] = {}
    nav: list[str] = ["  - Home: index.md"]
    latest = _latest(policy)
    for cp in latest.values():
        cases = _examples(policy, cp, examples)
        nav += _jurisdiction_pages(cp, cases, pages)
        nav += _change_pages(policy, cp.jurisdiction, pages)
    pages["index.md"] = _home(policy, latest)
    nav.append("  - Reference:")
    pages["reference/writing-policy.md"] = _from_readme("Writing and testing policy", WRITING)
    nav.append("    - reference/writing-policy.md")
    for name in HAND_WRITTEN:
        if name == "diagnostics.md":
            nav += _diagnostic_pages((DOCS / name).read_text("utf-8"), pages)
            continue
        pages[f"reference/{name}"] = (DOCS / name).read_text("utf-8")
        nav.append(f"    - reference/{name}")
    pages["reference/cli.md"] = _cli_reference()
    nav.append("    - reference/cli.md")
    pages["stylesheets/print.css"] = PRINT_CSS
    written = []
    for rel, text in sorted(pages.items()):
        path = out / "docs" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        written.append(path)
    head = MKDOCS_HEAD
    if mermaid_js is not None:
        target = out / "docs" / "javascripts" / "mermaid.min.js"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mermaid_js, target)
        written.append(target)
        head += "extra_javascript:\n  - javascripts/mermaid.min.js\n"
    config = out / "mkdocs.yml"
    config.write_text(head + "nav:\n" + "\n".join(nav) + "\n", "utf-8")
    return [config, *written]


def _latest(policy: Policy) -> dict[str, CompiledPolicy]:
    """Each jurisdiction's latest encoded revision (the one documented)."""
    return {jid: policy.latest(jid) for jid in sorted({j for j, _ in policy.compiled})}


def _examples(policy: Policy, cp: CompiledPolicy, root: Path | None) -> list[tuple[Any, Result]]:
    """The golden cases of this revision, evaluated (worked examples for the section pages)."""
    if root is None:
        return []
    folder = root / cp.jurisdiction / cp.revision
    found = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            case = read_case(path)
            found.append((case, policy.evaluate(case)))
        except OrdinanceError:
            continue  # a broken example is the test suite's business, not the site's
    return found


def _home(policy: Policy, latest: dict[str, CompiledPolicy]) -> str:
    lines = ["# The rules in force", "",
             "Every page here is generated from the policy files the engine evaluates, so it "
             "shows exactly what the engine decides: the effective text of each section with "
             "what amended it, the decisions it makes, their deadlines and fees, and worked "
             "examples.", "",
             "| jurisdiction | revision | effective |", "|---|---|---|"]  # fmt: skip
    for jid, cp in latest.items():
        rev = cp.layered.revision
        lines.append(f"| [{cp.layered.jurisdiction.title}]({jid}/index.md) | {rev.title} | "
                     f"{rev.effective_on or '—'} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _jurisdiction_pages(cp: CompiledPolicy, cases: list[tuple[Any, Result]],
                        pages: dict[str, str]) -> list[str]:  # fmt: skip
    jur = cp.layered.jurisdiction
    base = jur.id
    nav = [f"  - {jur.title}:", f"    - {base}/index.md"]
    pages[f"{base}/index.md"] = _jurisdiction_home(cp)
    pages[f"{base}/decisions.md"] = _decision_catalogue(cp)
    pages[f"{base}/facts.md"] = _fact_catalogue(cp)
    nav += [f"    - {base}/decisions.md", f"    - {base}/facts.md"]
    if cp.procedures:
        nav.append("    - Procedures:")
        for pid in sorted(cp.procedures):
            pages[f"{base}/procedures/{slug(pid)}.md"] = _procedure_page(cp, pid)
            nav.append(f"      - {base}/procedures/{slug(pid)}.md")
    nav.append("    - Sections:")
    for cite, sec in sorted(cp.layered.sections.items(), key=lambda kv: _order(kv[0])):
        rel = f"{base}/sections/{slug(cite)}.md"
        pages[rel] = _section_page(cp, sec, cases)
        nav.append(f"      - {rel}")
    return nav


def _order(citation: str) -> list[Any]:
    """Sort citations as people read them: IBC 105.3.2 before IBC 105.5 before IBC 111."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", citation)]


def _change_pages(policy: Policy, jid: str, pages: dict[str, str]) -> list[str]:
    """A "what changed" page per encoded revision after the first, from the same diff as
    ``ordinance diff`` (the law's changes; run the command for the cases they affect)."""
    from engine.revisions import diff_revisions, render_diff

    revisions = sorted((cp for (j, _), cp in policy.compiled.items() if j == jid),
                       key=lambda cp: cp.layered.revision.effective_on or dt.date.min)  # fmt: skip
    nav = []
    for before, after in pairwise(revisions):
        rel = f"{jid}/changes/{after.revision}.md"
        title = f"What changed in {after.layered.revision.title}"
        body = render_diff(before, after, diff_revisions(before, after), [], 0, "markdown")
        pages[rel] = f"# {title}\n\n" + body.split("\n", 1)[1].replace(
            "## Cases affected (0 of 0)\n", "Run `ordinance diff` for the cases affected.\n"
        )
        nav.append(f"      - {rel}")
    return ["    - What changed:", *nav] if nav else []


def _jurisdiction_home(cp: CompiledPolicy) -> str:
    jur = cp.layered.jurisdiction
    lines = [f"# {jur.title}", ""]
    if jur.description:
        lines += [jur.description, ""]
    if jur.extends:
        lines += [f"Extends the `{jur.extends}` layer: every section it does not amend applies "
                  "as written there.", ""]  # fmt: skip
    if jur.adopts:
        lines += ["## Codes adopted", "", "| code | edition | adopted by | note |",
                  "|---|---|---|---|"]  # fmt: skip
        lines += [f"| {a.title} ({a.code}) | {a.edition} | {a.citation or '—'} | {a.note or ''} |"
                  for a in jur.adopts]  # fmt: skip
        lines.append("")
    lines += ["## Revisions", "", "| revision | adopted | effective | encoded |",
              "|---|---|---|---|"]  # fmt: skip
    for r in jur.revisions:
        lines.append(f"| {r.title} (`{r.id}`) | {r.adopted_on or '—'} | "
                     f"{r.effective_on or '—'} | {'yes' if r.encoded else 'no'} |")  # fmt: skip
    for r in jur.revisions:
        if r.interpretation:
            lines += ["", f'!!! note "How {r.title} is dated"', f"    {r.interpretation}"]
    if jur.vesting:
        lines += [
            "",
            f"A case is decided under the revision in force on `{jur.vesting[0]}` "
            f"({jur.vesting[1]}) when it gives that date, else on its `as_of` date.",
        ]
    lines += ["", "## Calendar", "", f"Time zone: `{jur.time_zone}`. Business days: "
              + ", ".join(_DAY_NAMES[d] for d in sorted(jur.business_days)) + "."]  # fmt: skip
    spec = jur.holidays
    if spec:
        if spec.citation:
            lines += ["", f"Holidays: {spec.citation}."]
        for text in (spec.observed, spec.note):
            if text:
                lines += ["", text]
        year = cp.layered.revision.effective_on.year if cp.layered.revision.effective_on else 2024
        days = cp.calendar.holidays(year)
        if days:
            lines += ["", f"Holidays observed in {year}:", "", "| date | holiday |", "|---|---|"]
            lines += [f"| {d.isoformat()} ({d:%A}) | {name} |" for d, name in days.items()]
    if cp.procedures:
        lines += ["", "## Procedures", ""]
        lines += [f"- [{p.procedure.title}](procedures/{slug(pid)}.md)"
                  for pid, p in sorted(cp.procedures.items())]  # fmt: skip
    return "\n".join(lines) + "\n"


_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _section_page(cp: CompiledPolicy, sec: EffectiveSection,
                  cases: list[tuple[Any, Result]]) -> str:  # fmt: skip
    lines = [f"# {sec.citation} — {sec.title}", ""]
    if sec.status != "in_force":
        lines += [f"!!! warning \"{sec.status.capitalize()}\"",
                  f"    {sec.citation} is {sec.provenance[-1].phrase()}.", ""]  # fmt: skip
    elif sec.provenance:
        lines += [f"**{sec.cited_as}**", ""]
    if sec.kind == "guidance":
        lines += ["!!! info \"Guidance, not code\"",
                  f"    Source: {sec.defined_by.source if sec.defined_by else ''}", ""]  # fmt: skip
    if sec.text:
        lines += ["## Effective text", "", _quote(sec.text), ""]
    if sec.model_text:
        lines += [f"## Model text before amendment ({sec.model_title or sec.citation})", "",
                  _quote(sec.model_text), ""]  # fmt: skip
    if sec.provenance:
        lines += ["## History", ""]
        lines += [f"- {p.phrase()} ({p.jurisdiction}, revision `{p.revision}`)"
                  for p in sec.provenance]  # fmt: skip
        lines.append("")
    if sec.amends:
        lines += ["Amends: " + ", ".join(f"[{t}]({slug(t)}.md)" for t in sec.amends), ""]
    if sec.defined_by is not None and sec.defined_by.history:
        lines += [f"*{sec.defined_by.history}*", ""]
    if sec.defined_by is not None and sec.defined_by.interpretation:
        lines += ['!!! note "Interpretation"', f"    {sec.defined_by.interpretation}", ""]
    defined = [(r, v) for r in cp.rules.values() for v in r.variants if v.section is sec]
    if defined:
        lines += ["## What this section decides", ""]
        for rule, variant in defined:
            lines += _rule_block(cp, rule, variant)
    examples = [(c, r) for c, r in cases if c.expect and any(
        d in c.expect for d in decided_by(cp, sec))]  # fmt: skip
    if examples:
        lines += ["## Worked examples", ""]
        for case, result in examples[:3]:
            lines += _example(case, result, [d for d in decided_by(cp, sec) if d in case.expect])
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.strip().splitlines())


def _rule_block(cp: CompiledPolicy, rule: CompiledRule, v: Variant) -> list[str]:
    r = v.rule
    kind = "helper value" if rule.internal else "decision"
    lines = [f"### `{rule.id}`", "", f"*{kind}, {rule.type}* — {rule.description or ''}".rstrip(),
             "", f"Cited as: {v.citation}", ""]  # fmt: skip
    if v.whens:
        lines += ["Applies when: " + " and ".join(f"`{' '.join(w.text.split())}`"
                                                  for w in v.whens), ""]  # fmt: skip
    if r.value is not None:
        lines += ["```text", r.value.text.strip(), "```", ""]
    if r.fee is not None:
        lines += _fee_table(r.fee, v.citation)
    if r.interpretation:
        lines += ['!!! note "Interpretation"', f"    {r.interpretation}", ""]
    if not rule.internal:
        deps = gr.dependencies(cp.graph, gr.RULE, rule.id) | {gr.node_id(gr.RULE, rule.id)}
        if len(deps) > 1:
            lines += ["```mermaid", gr.to_mermaid(cp.graph.subgraph(deps)).strip(), "```", ""]
    return lines


def _fee_table(fee: Any, citation: str) -> list[str]:
    lines = [f"Fee schedule effective {fee.effective_on or '(no date)'}"
             + (f", from {fee.source}" if fee.source else "") + f"; each line rounded "
             f"{fee.rounding.replace('_', ' ')} to the cent.", "",
             "| item | amount | counted | applies when | citation |",
             "|---|---|---|---|---|"]  # fmt: skip
    for it in fee.items:
        if it.amount is not None:
            amount, counted = it.amount.text, "once"
        else:
            assert it.unit_amount is not None and it.quantity is not None
            amount = f"{it.unit_amount.text} per {it.unit or 'unit'}"
            counted = (
                f"`{it.quantity.text}`"
                + (f" beyond {it.over}" if it.over else "")
                + (f", at most {it.up_to}" if it.up_to else "")
            )
        when = f"`{' '.join(it.when.text.split())}`" if it.when else "always"
        lines.append(f"| {it.title} | {amount} | {counted} | {when} | {it.citation or citation} |")
    lines.append("")
    if fee.interpretation:
        lines += ['!!! note "How the items combine"', f"    {fee.interpretation}", ""]
    return lines


def _example(case: Any, result: Result, decisions: list[str]) -> list[str]:
    """A golden case as a worked example: its facts as written, then the decisions made."""
    lines = [f"### Example {case.id}", ""]
    if case.doc is not None:
        desc = case.doc.data.get("description")
        if desc:
            lines += [" ".join(str(desc).split()), ""]
        start, end = case.doc.values[("facts",)]
        lines += [f"Facts, as of {result.as_of.isoformat()}:", "", "```yaml",
                  "facts:" + ("\n" if not case.doc.text[start:end].startswith("\n") else "")
                  + case.doc.text[start:end].rstrip(), "```", ""]  # fmt: skip
    md = render_markdown(result, "", "", decisions)
    body = md.split("\n", 3)[3]  # past the case header: the table and each decision's tree
    lines.append(re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + 2) + " ", body, flags=re.M))
    return lines


def _decision_catalogue(cp: CompiledPolicy) -> str:
    lines = [f"# Decisions — {cp.layered.jurisdiction.title}", "",
             "Decision ids are public API: embedding programs read them from the JSON result.",
             "", "| decision | type | description | sections |", "|---|---|---|---|"]  # fmt: skip
    for rid in sorted(cp.public):
        rule = cp.rules[rid]
        cites = "; ".join(dict.fromkeys(
            f"[{v.section.citation}](sections/{slug(v.section.citation)}.md)"
            for v in rule.variants))  # fmt: skip
        lines.append(f"| `{rid}` | {rule.type} | {rule.description} | {cites} |")
    return "\n".join(lines) + "\n"


def _fact_catalogue(cp: CompiledPolicy) -> str:
    lines = [f"# Facts — {cp.layered.jurisdiction.title}", "",
             "The facts a case file may give. An absent fact is unknown; `null` is allowed only "
             "where it says so, and means the event has not happened.", "",
             "| fact | type | description | citation | declared by |",
             "|---|---|---|---|---|"]  # fmt: skip
    for fid in sorted(cp.facts):
        f = cp.facts[fid]
        null = " (may be null)" if f.nullable else ""
        lines.append(f"| `{fid}` | {f.type}{null} | {f.description} | {f.citation or ''} | "
                     f"{f.jurisdiction} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _procedure_page(cp: CompiledPolicy, pid: str) -> str:
    proc = cp.procedures[pid].procedure
    lines = [f"# {proc.title}", ""]
    if proc.description:
        lines += [proc.description, ""]
    if proc.citation:
        lines += [f"Source: [{proc.citation}](../sections/{slug(proc.citation)}.md)", ""]
    lines += ["```mermaid", "flowchart TD"]
    for s in proc.steps:
        label = s.title.replace('"', "'")
        if s.deadline is not None:
            label += f"<br/>due by: {' '.join(s.deadline.text.split())}"
        lines.append(f'  {s.id}["{label}"]')
        lines += [f"  {req} --> {s.id}" for req in s.requires]
    lines += ["```", "", "| step | requires | done when | deadline |", "|---|---|---|---|"]
    for s in proc.steps:
        done = f"`{' '.join(s.done.text.split())}`" if s.done else "—"
        due = f"`{' '.join(s.deadline.text.split())}`" if s.deadline else "—"
        lines.append(f"| {s.title} | {', '.join(s.requires) or '—'} | {done} | {due} |")
    return "\n".join(lines) + "\n"


def _from_readme(title: str, headings: tuple[str, ...]) -> str:
    """The README's sections on writing policy, as one page (the README stays the source)."""
    readme = (DOCS.parent / "README.md").read_text("utf-8")
    parts = re.split(r"^## ", readme, flags=re.M)
    chosen = {p.split("\n", 1)[0].strip(): p for p in parts[1:]}
    body = [f"## {chosen[h]}" for h in headings if h in chosen]
    text = f"# {title}\n\n" + "\n".join(body)
    # Links in the README point into docs/; on the site those pages sit beside this one.
    return text.replace("](docs/", "](")


def _diagnostic_pages(source: str, pages: dict[str, str]) -> list[str]:
    """One page per diagnostic code (its meaning, an example and the fix), and an index."""
    intro, *entries = re.split(r"^## ", source, flags=re.M)
    nav = ["    - Diagnostics:", "      - reference/diagnostics/index.md"]
    rows = []
    for entry in entries:
        code, body = entry.split("\n", 1)
        name = slug(code)
        pages[f"reference/diagnostics/{name}.md"] = f"# {code}\n{body}"
        nav.append(f"      - reference/diagnostics/{name}.md")
        rows.append(f"| [`{code}`]({name}.md) | {body.strip().splitlines()[0]} |")
    pages["reference/diagnostics/index.md"] = (
        intro.strip() + "\n\n| code | meaning |\n|---|---|\n" + "\n".join(rows) + "\n"
    )
    return nav


def _cli_reference() -> str:
    import click

    from engine.cli import main

    lines = ["# Command line", ""]
    ctx = click.Context(main, info_name="ordinance")
    for name in sorted(main.list_commands(ctx)):
        cmd = main.get_command(ctx, name)
        assert cmd is not None
        sub = click.Context(cmd, info_name=f"ordinance {name}", parent=ctx)
        lines += [f"## ordinance {name}", "", "```text", cmd.get_help(sub), "```", ""]
    return "\n".join(lines) + "\n"
