"""What a compiled policy offers, as data: its facts, its decisions and its sections with their
provenance. ``ordinance facts``, ``decisions`` and ``show`` print these rows, the service serves
them as JSON (``/v1/facts``, ``/v1/decisions``, ``/v1/sections/…``): one source, so the two never
disagree."""

from __future__ import annotations

from typing import Any

from engine.model import EffectiveSection
from engine.run.program import CompiledPolicy


def typed_row(ident: str, t: Any) -> dict[str, Any]:
    """A catalogue row's id, type name and allowed values."""
    name = f"list of {t.item.name}" if t.name == "list" else str(t.name)
    values = t.values or (t.item.values if t.item else ())
    return {"id": ident, "type": name, "values": list(values)}


def fact_rows(cp: CompiledPolicy) -> list[dict[str, Any]]:
    """Every fact a case may give, by id."""
    return [{**typed_row(f.id, f.type), "nullable": f.nullable, "description": f.description,
             "citation": f.citation, "layer": f.jurisdiction}
            for f in sorted(cp.facts.values(), key=lambda f: f.id)]  # fmt: skip


def decision_rows(cp: CompiledPolicy) -> list[dict[str, Any]]:
    """Every public decision, by id, with the sections that define it."""
    return [{**typed_row(r.id, r.type), "description": r.description,
             "citations": list(dict.fromkeys(v.citation for v in r.variants))}
            for r in sorted(cp.rules.values(), key=lambda r: r.id) if not r.internal]  # fmt: skip


def find_section(cp: CompiledPolicy, citation: str) -> EffectiveSection | None:
    """The section cited, tolerating case and spacing differences (`ibc  105.5`)."""
    wanted = " ".join(citation.split()).upper()
    for cite, sec in cp.layered.sections.items():
        if cite.upper() == wanted:
            return sec
    return None


def decided_by(cp: CompiledPolicy, sec: EffectiveSection) -> list[str]:
    """The decisions (public rules) that have a definition in ``sec``."""
    return sorted(
        {
            v.rule.id
            for r in cp.rules.values()
            for v in r.variants
            if v.section is sec and not r.internal
        }
    )


def layer_package(cp: CompiledPolicy, jid: str) -> str | None:
    """`name version` of the installed policy package layer ``jid`` came from, else None."""
    return next((jur.package for jur, _ in cp.layered.chain if jur.id == jid), None)


def section_row(cp: CompiledPolicy, sec: EffectiveSection) -> dict[str, Any]:
    """A section as it stands: its text, status, provenance and the decisions it makes."""
    return {
        "citation": sec.citation,
        "cited_as": sec.cited_as,
        "title": sec.title,
        "status": sec.status,
        "kind": sec.kind,
        "layer": sec.jurisdiction,
        "layer_package": layer_package(cp, sec.jurisdiction),
        "text": sec.text,
        "model_text": sec.model_text,
        "provenance": [
            {
                "action": p.action,
                "by": p.by,
                "jurisdiction": p.jurisdiction,
                "revision": p.revision,
                "phrase": p.phrase(),
            }
            for p in sec.provenance
        ],
        "decides": decided_by(cp, sec),
    }
