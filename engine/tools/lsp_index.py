"""What the language server knows of one jurisdiction at one revision (``engine.tools.lsp``):
every fact, rule, section and ruleset its layers declare, where each is declared, and the
effective law, for hover, go to definition and completion.

Built by layering the files that were read (``apply_layers``), not from the compiled program:
a policy with a type error in one expression compiles to nothing, and the author hovering over
the next line still wants to see what a fact means.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dsl.builtins import BUILTINS
from engine.api import Policy
from engine.compile.find import LayerFinder
from engine.compile.layer import apply_layers
from engine.compile.pipeline import layer_chain
from engine.diagnostics import Collector
from engine.model import (
    EffectiveSection,
    FactDecl,
    JurisdictionDef,
    LayeredPolicy,
    Origin,
    RevisionContent,
    RuleDef,
    SectionDef,
)
from engine.printable import md_code, md_lines, md_text
from engine.run.program import BUILTINS as NAMES
from engine.source import Span

TEXT_SHOWN = 1500  # characters of a section's text in a hover (a chapter can be pages long)


@dataclass
class Index:
    """The declarations visible from one jurisdiction at one revision, its layers included."""

    layered: LayeredPolicy
    facts: dict[str, FactDecl] = field(default_factory=dict)
    # Each definition of a rule, with the effective section it decides for (None: a ruleset's
    # rule no section uses).
    rules: dict[str, list[tuple[RuleDef, EffectiveSection | None]]] = field(default_factory=dict)
    sections: dict[str, list[SectionDef]] = field(default_factory=dict)  # citation → its defs
    rulesets: dict[str, Span] = field(default_factory=dict)
    jurisdictions: dict[str, JurisdictionDef] = field(default_factory=dict)

    def names(self) -> dict[str, str]:
        """Every name an expression may use, with what it is: ``fact``, ``rule``, ``function``."""
        out = {b: "built-in" for b in NAMES}
        out.update({f: "fact" for f in self.facts})
        out.update({r: "rule" for r in self.rules})
        out.update({b: "function" for b in BUILTINS})
        return out


def build_index(policy: Policy, jid: str, revision: str | None = None) -> Index | None:
    """The index of ``jid`` at ``revision`` (default: its latest encoded revision); None when
    its layers cannot be put together (a parent missing: the check says why)."""
    known = {**policy.layers, **policy.jurisdictions}
    jur = known.get(jid)
    if jur is None:
        return None
    revs = [r for r in jur.revisions if r.encoded and r.id in jur.content]
    rev = next((r for r in revs if r.id == revision), revs[-1] if revs else None)
    if rev is None:
        return None
    scratch = Collector()  # the check reports the problems; this only needs the law
    chain = layer_chain(known, jur, rev, scratch, LayerFinder(packages=False))
    if chain is None:
        return None
    index = Index(apply_layers(chain, scratch), jurisdictions=known)
    index.facts = dict(index.layered.facts)
    for sec in index.layered.sections.values():
        for rule in sec.rules:
            index.rules.setdefault(rule.id, []).append((rule, sec))
    for layer, at in chain:
        content = layer.content.get(at.id, RevisionContent())
        for sec_def in content.sections:
            index.sections.setdefault(sec_def.citation, []).append(sec_def)
        for name, rules in content.rulesets.items():
            if rules:
                index.rulesets[name] = rules[0].origin.doc.span(("rulesets", name), key=True)
            for rule in rules:  # a ruleset's rule no section uses still has a declaration
                index.rules.setdefault(rule.id, [(rule, None)])
    return index


def declarations(index: Index, name: str) -> list[Span]:
    """Where a fact, rule or ruleset called ``name`` is declared (a rule: each definition)."""
    if name in index.facts:
        return [index.facts[name].origin.span()]
    if name in index.rules:
        spans = [rule.origin.span("id") for rule, _ in index.rules[name]]
        return list(dict.fromkeys(spans))
    if name in index.rulesets:
        return [index.rulesets[name]]
    return []


def section_declarations(index: Index, citation: str) -> list[Span]:
    """Where the section ``citation`` is defined in the layers, else the sections that
    amend it (an ``add`` creates a section no layer defines)."""
    cite = " ".join(citation.split())
    found = [s.origin.span("citation") for s in index.sections.get(cite, [])]
    if found:
        return found
    return [s.origin.span("citation") for defs in index.sections.values() for s in defs
            if any(a.target == cite for a in s.amends)]  # fmt: skip


def jurisdiction_declaration(index: Index, jid: str) -> list[Span]:
    jur = index.jurisdictions.get(jid)
    return [jur.origin.doc.span(("id",))] if jur is not None else []


# Hover ---------------------------------------------------------------------------------------


def hover_text(index: Index, name: str) -> str | None:
    """Markdown for a fact, rule, ruleset, built-in or function called ``name``."""
    if name in index.facts:
        return _fact_text(index, index.facts[name])
    if name in index.rules:
        return _rule_text(index, name)
    if name in BUILTINS:
        b = BUILTINS[name]
        return f"**function** {md_code(b.usage)}\n\n{md_text(b.doc)}"
    if name in NAMES:
        return f"**built-in** {md_code(name)}: {md_text(str(NAMES[name]))}, the evaluation date"
    if name in index.rulesets:
        used = sorted(c for c, defs in index.sections.items() for s in defs if name in s.use)
        return (f"**ruleset** {md_code(name)}\n\nused by "
                + (", ".join(md_text(c) for c in used) or "no section"))  # fmt: skip
    return None


def section_text(index: Index, citation: str) -> str | None:
    """Markdown for the section ``citation``: its effective citation, title and text."""
    sec = index.layered.sections.get(" ".join(citation.split()))
    return _section_block(sec) if sec is not None else None


def _fact_text(index: Index, fact: FactDecl) -> str:
    lines = [f"**fact** {md_code(fact.id)}: {md_text(str(fact.type))}"
             + (" or null" if fact.nullable else ""), "", md_text(fact.description)]  # fmt: skip
    if fact.labels:
        lines += ["", "values: " + "; ".join(f"{md_code(k)} {md_text(v)}"
                                             for k, v in fact.labels.items())]  # fmt: skip
    lines += ["", f"declared by {md_code(fact.jurisdiction)} in {_where(fact.origin)}"]
    sec = index.layered.sections.get(fact.citation or "")
    if fact.citation:
        lines += ["", "---", "", _section_block(sec) if sec else md_text(fact.citation)]
    return "\n".join(lines)


def _rule_text(index: Index, rid: str) -> str:
    defs = index.rules[rid]
    first = defs[0][0] if defs else None
    kind = "internal rule" if first is not None and first.internal else "rule"
    head = f"**{kind}** {md_code(rid)}" + (f": {md_text(str(first.type))}" if first else "")
    lines = [head]
    if first is not None and first.description:
        lines += ["", md_text(first.description)]
    shown: set[str] = set()
    for rule, sec in defs[:5]:
        where = sec.cite(rule.subsection) if sec else "a ruleset no section uses"
        cond = f" when {md_code(rule.when.text)}" if rule.when else ""
        lines += ["", f"- decided by {md_text(where)}{cond} ({_where(rule.origin)})"]
        if rule.interpretation:
            lines.append(f"  interpretation: {md_text(rule.interpretation)}")
        if sec is not None and sec.citation not in shown and len(shown) < 2:
            shown.add(sec.citation)
            lines += ["", "---", "", _section_block(sec)]
    if len(defs) > 5:
        lines += ["", f"and {len(defs) - 5} more definitions"]
    return "\n".join(lines)


def _section_block(sec: EffectiveSection) -> str:
    status = "" if sec.status == "in_force" else f" ({md_text(sec.status.replace('_', ' '))})"
    lines = [f"**{md_text(sec.cited_as)}** {md_text(sec.title)}{status}"]
    text = sec.text or ""
    if len(text) > TEXT_SHOWN:
        text = text[:TEXT_SHOWN].rsplit(" ", 1)[0] + " …"
    lines += ["", *(f"> {line}" if line else ">" for line in md_lines(text))] if text else []
    return "\n".join(lines)


def _where(origin: Origin) -> str:
    span = origin.span()
    return md_code(f"{span.file}:{span.line}")


def completion_names(index: Index, prefix: str) -> Iterable[tuple[str, str, str]]:
    """The names starting with ``prefix``: (name, what it is, a one-line detail)."""
    for name, kind in sorted(index.names().items()):
        if name.startswith(prefix):
            yield name, kind, _detail(index, name, kind)


def _detail(index: Index, name: str, kind: str) -> str:
    if kind == "fact":
        return f"{index.facts[name].type}: {index.facts[name].description}"
    if kind == "rule" and index.rules[name]:
        rule = index.rules[name][0][0]
        return f"{rule.type}: {rule.description}"
    if kind == "function":
        return f"{BUILTINS[name].usage}: {BUILTINS[name].doc}"
    return kind
