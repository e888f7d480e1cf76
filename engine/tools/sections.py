"""The effective text of a section with its provenance, for ``ordinance show`` and the docs."""

from __future__ import annotations

from dsl.errors import did_you_mean
from engine.run.catalogue import decided_by, find_section
from engine.run.program import CompiledPolicy


def render_section(cp: CompiledPolicy, citation: str) -> tuple[str, bool]:
    """Text for ``ordinance show``; the flag is False when no such section exists."""
    sec = find_section(cp, citation)
    if sec is None:
        guess = did_you_mean(" ".join(citation.split()), cp.layered.sections)
        return (
            f"error[cli/unknown-section]: no section `{citation}` in "
            f"{cp.jurisdiction} {cp.revision}"
            + (f"\n   = help: did you mean `{guess}`?" if guess else ""),
            False,
        )
    lines = [f"{sec.citation} — {sec.title}"]
    if sec.status != "in_force":
        lines.append(f"{sec.citation}: {sec.provenance[-1].phrase()}")
    elif sec.provenance:
        lines.append(f"{sec.cited_as} ({cp.layered.jurisdiction.title}, {cp.revision})")
    else:
        lines.append(f"{_layer_title(cp, sec.jurisdiction)}, {sec.kind}")
    for p in sec.provenance[:-1]:
        lines.append(f"  earlier: {p.phrase()} ({p.jurisdiction}, {p.revision})")
    if sec.text:
        lines += ["", sec.text.rstrip()]
    if sec.model_text:
        lines += [
            "",
            f"Model text before amendment ({sec.model_title or sec.citation}):",
            "",
            sec.model_text.rstrip(),
        ]
    elif sec.provenance and sec.provenance[0].action != "add":
        lines += ["", "Model text: not encoded in this policy."]
    decisions = decided_by(cp, sec)
    if decisions:
        lines += ["", "Decides: " + ", ".join(decisions)]
    return "\n".join(lines) + "\n", True


def _layer_title(cp: CompiledPolicy, jid: str) -> str:
    """The layer's title, and the package it was installed with when it came from one."""
    for jur, _ in cp.layered.chain:
        if jur.id == jid:
            return f"{jur.title}, from {jur.package}" if jur.package else jur.title
    return jid
