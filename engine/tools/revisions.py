"""Revisions over time: start a new revision from the current one, and say what changes between
two revisions, in legal terms and case by case.

``new_revision`` copies the latest encoded revision's folder and lists the new revision in
``jurisdiction.yaml`` (older folders are never touched, so history is kept). ``diff_revisions``
compares two compiled revisions section by section, rule by rule and fee item by fee item;
``case_impact`` evaluates cases under both and traces every changed decision to the changed
rules it depends on (through the dependency graph).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.api import Policy, load_policy
from engine.compile import graph as gr
from engine.diagnostics import Diagnostic, OrdinanceError
from engine.printable import md_code, md_text, one_line
from engine.result import Result, Step
from engine.run.facts import Case
from engine.run.program import CompiledPolicy, Variant

_REVISION_ID = re.compile(r"[a-z0-9][a-z0-9_.-]*")  # as engine/schemas/jurisdiction.schema.json
# A revision id names a folder: far below any file system's limit on a name (255 bytes).
MAX_REVISION_ID = 64


def check_revision_id(rev_id: str) -> str | None:
    """Why ``rev_id`` cannot name a new revision, or None when it can.

    >>> check_revision_id("ord-4501") is None
    True
    >>> check_revision_id("x" * 65)
    'the revision id is 65 characters long: at most 64'
    """
    if len(rev_id) > MAX_REVISION_ID:
        return f"the revision id is {len(rev_id)} characters long: at most {MAX_REVISION_ID}"
    if not _REVISION_ID.fullmatch(rev_id):
        return (f"`{rev_id}` is not a revision id: lowercase letters, digits, `-`, `.`, `_` "
                "(like `ord-4501`)")  # fmt: skip
    return None


class RevisionError(OrdinanceError):
    """A revision cannot be created or compared as asked."""


def new_revision(policy_root: Path, jurisdiction: str, rev_id: str, effective: dt.date,
                 title: str | None = None, search_path: tuple[Path, ...] = ()) -> Path:  # fmt: skip
    """Copy the latest encoded revision of ``jurisdiction`` to ``<rev_id>/`` and list it.

    Returns the new revision's folder. Raises ``RevisionError`` when the id is taken, the date
    is not after the latest revision, or the jurisdiction's file cannot be extended safely.
    """
    policy = load_policy(policy_root / jurisdiction, search_path=search_path)
    jur = policy.jurisdictions[jurisdiction]
    encoded = sorted((r for r in jur.revisions if r.encoded and r.effective_on),
                     key=lambda r: r.effective_on or dt.date.min)  # fmt: skip
    problems = []
    id_problem = check_revision_id(rev_id)
    if id_problem:
        problems.append(id_problem)
    if any(r.id == rev_id for r in jur.revisions):
        problems.append(f"`{jurisdiction}` already has a revision `{rev_id}`")
    if encoded and encoded[-1].effective_on and effective <= encoded[-1].effective_on:
        problems.append(f"{effective} is not after {encoded[-1].title}'s effective date "
                        f"({encoded[-1].effective_on})")  # fmt: skip
    if not encoded:
        problems.append(f"`{jurisdiction}` has no encoded revision to start from")
    path = jur.directory / "jurisdiction.yaml"
    text = path.read_text("utf-8")
    last_key = [ln for ln in text.splitlines() if ln and not ln.startswith((" ", "#", "-"))]
    if not last_key or not last_key[-1].startswith("revisions:"):
        problems.append("`revisions:` must be the last key of jurisdiction.yaml to add to it")
    if problems:
        raise RevisionError([Diagnostic("revision/cannot-create", p) for p in problems])
    source = jur.directory / encoded[-1].id
    target = jur.directory / rev_id
    listed = _with_revision(text, {"id": rev_id, "title": title or rev_id,
                                   "effective_on": effective, "encoded": True,
                                   "note": f"Started from {encoded[-1].id}."})  # fmt: skip
    shutil.copytree(source, target)
    try:
        _replace(path, listed)
    except OSError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise RevisionError(
            [Diagnostic("revision/cannot-create", f"cannot write `{path}`: {exc.strerror}")]
        ) from None
    return target


def _with_revision(text: str, entry: dict[str, object]) -> str:
    """``text`` (a jurisdiction.yaml ending with its ``revisions:`` list) with ``entry`` added,
    written by the YAML emitter: a title such as ``Ord. No. 4502: appeal periods`` is quoted as
    YAML needs, never pasted. The result is read back and must hold the entry as given."""
    emitted = yaml.safe_dump([entry], sort_keys=False, allow_unicode=True, width=100,
                             default_flow_style=False)  # fmt: skip
    indent = _item_indent(text)
    block = "".join(f"{indent}{line}\n" for line in emitted.splitlines())
    out = text.rstrip("\n") + "\n" + block
    try:
        revisions = (yaml.safe_load(out) or {}).get("revisions") or []
    except yaml.YAMLError:
        revisions = []
    if not revisions or revisions[-1] != entry:
        raise RevisionError([Diagnostic(
            "revision/cannot-create",
            "the new revision could not be added to jurisdiction.yaml as written",
            help="check that `revisions:` is the file's last key, a list")])  # fmt: skip
    return out


def _item_indent(text: str) -> str:
    """The indentation of the items of the `revisions:` list (the file's last key), so the
    new item lines up with them: `  - ` in the bundled files, `- ` as PyYAML writes it."""
    lines = text.splitlines()
    start = max(i for i, ln in enumerate(lines) if ln.startswith("revisions:"))
    for line in lines[start + 1 :]:
        if line.lstrip().startswith("- "):
            return line[: len(line) - len(line.lstrip())]
    return "  "


def _replace(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder: a reader (or a crash) never sees
    half a jurisdiction.yaml."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def copy_golden(golden: Path, jurisdiction: str, source: str, target: str) -> list[Path]:
    """Copy the golden cases of revision ``source`` into ``target``'s folder, each forced to
    the new revision (``revision: <target>``), so the snapshot diff shows what changes."""
    written = []
    for path in sorted((golden / jurisdiction / source).glob("*.yaml")):
        lines = path.read_text("utf-8").splitlines(keepends=True)
        out = [ln for ln in lines if not ln.startswith("revision:")]
        at = next((i + 1 for i, ln in enumerate(out) if ln.startswith("jurisdiction:")), 0)
        out.insert(at, f"revision: {target}\n")
        dest = golden / jurisdiction / target / path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("".join(out), "utf-8")
        written.append(dest)
    return written


@dataclass(frozen=True)
class Change:
    """One change between two revisions, in legal terms."""

    kind: str  # section | rule | fee
    what: str  # citation, rule id, or rule id + fee item
    change: str  # added | removed | changed
    citation: str
    before: Any = None
    after: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "what": self.what, "change": self.change,
                "citation": self.citation, "before": self.before, "after": self.after}  # fmt: skip


def diff_revisions(a: CompiledPolicy, b: CompiledPolicy) -> list[Change]:
    """What changed from revision ``a`` to revision ``b``: sections, rules, fee items."""
    out: list[Change] = []
    secs_a, secs_b = a.layered.sections, b.layered.sections
    for cite in sorted(set(secs_a) | set(secs_b)):
        sa, sb = secs_a.get(cite), secs_b.get(cite)
        if sa is None or sb is None:
            sec = sb or sa
            assert sec is not None
            out.append(Change("section", cite, "added" if sa is None else "removed",
                              sec.cited_as, sa and sa.text, sb and sb.text))  # fmt: skip
        elif (sa.text, sa.status) != (sb.text, sb.status):
            out.append(Change("section", cite, "changed", sb.cited_as,
                              sa.text if sa.text == sb.text else sa.text or sa.status,
                              sb.text if sa.text == sb.text else sb.text or sb.status))  # fmt: skip
    rules_a, rules_b = definitions(a), definitions(b)
    for key in sorted(set(rules_a) | set(rules_b)):
        va, vb = rules_a.get(key), rules_b.get(key)
        rid = key[0]
        if va is None or vb is None:
            v = vb or va
            assert v is not None
            out.append(Change("rule", rid, "added" if va is None else "removed", v.citation,
                              va and expression(va), vb and expression(vb)))  # fmt: skip
            continue
        if expression(va) != expression(vb):
            out.append(Change("rule", rid, "changed", vb.citation, expression(va),
                              expression(vb)))  # fmt: skip
        out += _fee_changes(rid, va, vb)
    return out


def definitions(cp: CompiledPolicy) -> dict[tuple[str, str], Variant]:
    """Every definition by rule and section (a fee's companion `<id>_lines` is the fee's own
    definition again, so it is left out)."""
    return {(rid, v.section.citation): v for rid, r in cp.rules.items() for v in r.variants
            if v.rule.id == rid}  # fmt: skip


def expression(v: Variant) -> str:
    whens = " and ".join(" ".join(w.text.split()) for w in v.whens)
    value = " ".join(v.rule.value.text.split()) if v.rule.value else "fee schedule"
    return f"{value}" + (f"  [when {whens}]" if whens else "")


def _fee_changes(rid: str, va: Variant, vb: Variant) -> list[Change]:
    fa, fb = va.rule.fee, vb.rule.fee
    if fa is None or fb is None:
        return []
    items_a = {it.id: _item(it) for it in fa.items}
    items_b = {it.id: _item(it) for it in fb.items}
    out = []
    for iid in sorted(set(items_a) | set(items_b)):
        ia, ib = items_a.get(iid), items_b.get(iid)
        if ia != ib:
            change = "added" if ia is None else "removed" if ib is None else "changed"
            out.append(Change("fee", f"{rid}: {iid}", change, vb.citation, ia, ib))
    if fa.effective_on != fb.effective_on:
        out.append(Change("fee", f"{rid}: effective_on", "changed", vb.citation,
                          str(fa.effective_on), str(fb.effective_on)))  # fmt: skip
    return out


def _item(it: Any) -> str:
    amount = it.amount.text if it.amount else f"{it.unit_amount.text} × {it.quantity.text}"
    limits = (f" over {it.over}" if it.over else "") + (f" up to {it.up_to}" if it.up_to else "")
    when = f" when {' '.join(it.when.text.split())}" if it.when else ""
    return f"{amount}{limits}{when}"


@dataclass
class DecisionChange:
    decision: str
    before: dict[str, Any]
    after: dict[str, Any]
    causes: list[str] = field(default_factory=list)  # citations of the changed rules behind it

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "before": self.before, "after": self.after,
                "caused_by": self.causes}  # fmt: skip


@dataclass
class CaseImpact:
    case: str
    file: str
    changes: list[DecisionChange]


def case_impact(policy: Policy, cases: list[Case], a: CompiledPolicy, b: CompiledPolicy,
                changes: list[Change]) -> list[CaseImpact]:  # fmt: skip
    """Each case under both revisions; every decision whose value, status or citations
    changed, with the changed rules (and their sections) it depends on."""
    changed = {c.what.split(":")[0] for c in changes if c.kind in ("rule", "fee")}
    out = []
    for case in cases:
        ra = policy.evaluate(case, revision=a.revision, explain=False)
        rb = policy.evaluate(case, revision=b.revision)
        found = []
        for rid in sorted(set(ra.decisions) | set(rb.decisions)):
            before, after = _summary(ra, rid), _summary(rb, rid)
            if before != after:
                found.append(DecisionChange(rid, before, after, _causes(b, rb, rid, changed)))
        if found:
            out.append(CaseImpact(case.id or "(no id)", case.doc.file if case.doc else "", found))
    return out


def _summary(result: Result, rid: str) -> dict[str, Any]:
    d = result.decisions.get(rid)
    if d is None:
        return {"status": "absent"}
    return {k: v for k, v in d.to_dict().items() if k in ("value", "status", "citations")}


def _causes(cp: CompiledPolicy, result: Result, rid: str, changed: set[str]) -> list[str]:
    """The changed rules this decision depends on, each cited by the definition that decided
    it for this case (read from the explanation tree under the later revision)."""
    if rid not in cp.rules:
        return []
    upstream = {cp.graph.nodes[n]["name"] for n in gr.dependencies(cp.graph, gr.RULE, rid)}
    wanted = (upstream | {rid}) & changed
    found: set[str] = set()
    decision = result.decisions.get(rid)
    stack = [n for n in decision.because or [] if isinstance(n, Step)] if decision else []
    while stack:
        node = stack.pop()
        if node.rule in wanted:
            found.add(f"{node.rule} ({node.citation or 'not applicable'})")
        stack += [n for n in node.because or [] if isinstance(n, Step)]
    return sorted(found) or sorted(wanted)


def render_diff(a: Any, b: Any, changes: list[Any], impact: list[Any] | None, n: int,
                fmt: str, *, title: bool = True,
                warnings: list[Diagnostic] | None = None) -> str:  # fmt: skip
    """The diff as text for the terminal, Markdown for a staff report, or JSON for tools.

    ``impact`` None: the cases were not evaluated (the report says how to); ``title`` False
    leaves out the first line (a page that gives its own title)."""
    if impact is None:
        impact, cases = [], "Run `ordinance diff` for the cases affected."
    else:
        cases = None
    if fmt == "json":
        return json.dumps({"jurisdiction": a.jurisdiction, "from": a.revision, "to": b.revision,
                           "changes": [c.to_dict() for c in changes], "cases_evaluated": n,
                           "warnings": [w.to_json() for w in warnings or ()],
                           "impact": [{"case": i.case, "file": i.file, "decisions": [
                               d.to_dict() for d in i.changes]} for i in impact]},
                          indent=2, ensure_ascii=False, default=str)  # fmt: skip
    md = fmt == "markdown"
    # Markdown quotes policy and case text escaped (it is shown, never obeyed); the terminal
    # gets it as written on one line (the command line's printing shows control characters
    # escaped), so a case id cannot print lines of its own into the report.
    text, code = (md_text, md_code) if md else (one_line, lambda v: f"`{one_line(v)}`")
    head = "## " if md else ""
    lines = (
        [f"{'# ' if md else ''}{a.jurisdiction}: {a.revision} → {b.revision}", ""] if title else []
    )
    lines += [f"{head}What the law changes ({len(changes)})", ""]
    for c in changes:
        lines.append(f"- {c.kind} {code(c.what)} {c.change} [{text(c.citation)}]")
        if c.change == "changed":
            shown = code if md else str  # an expression reads as code in a report
            lines += [f"    - before: {shown(_short(c.before))}",
                      f"    - after:  {shown(_short(c.after))}"]  # fmt: skip
    lines += ["", cases or f"{head}Cases affected ({len(impact)} of {n})", ""]
    for i in impact:
        lines.append(f"- {text(i.case)} ({text(i.file)})")
        for d in i.changes:
            cause = f" because of {text(', '.join(d.causes))}" if d.causes else ""
            lines.append(f"    - {code(d.decision)}: {text(_summary_words(d.before))} → "
                         f"{text(_summary_words(d.after))}{cause}")  # fmt: skip
    if not changes and not impact:
        lines.append("Nothing changes.")
    return "\n".join(lines)


def _short(value: Any) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= 160 else text[:157] + "..."


def _summary_words(s: dict[str, Any]) -> str:
    if s.get("status") != "determined":
        return str(s.get("status"))
    return json.dumps(s.get("value"), ensure_ascii=False)
