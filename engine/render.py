"""Pipeline stage 8b, render: results as text for staff, JSON for programs, Markdown for reports.

Everything here is deterministic: the same result renders to the same bytes. What a case or the
policy gave is shown, never obeyed: text goes out through ``printable`` (no terminal control
sequences), Markdown quotes it with ``md_text`` (no HTML, links or injected headings).
"""

from __future__ import annotations

from collections.abc import Callable

from engine.printable import md_code, md_text, one_line, printable
from engine.result import Decision, Node, ProcedureResult, Result, Step, StepResult
from engine.values import to_words

_STEP_MARKS = {
    "done": "[x]",
    "ready": "[>]",
    "waiting": "[ ]",
    "undetermined": "[?]",
    "not_applicable": "[-]",
}


def render_json(result: Result, only: list[str] | None = None) -> str:
    """One line of JSON per DESIGN.md §4 (restricted to ``only`` decisions when given)."""
    if only:
        result = _restrict(result, only)
    return result.to_json()


def _restrict(result: Result, only: list[str]) -> Result:
    return Result(
        result.case,
        result.jurisdiction,
        result.revision,
        result.revision_basis,
        result.as_of,
        {k: v for k, v in result.decisions.items() if k in only},
        result.procedures,
    )


def _header(
    result: Result, title: str, revision_title: str, esc: Callable[[str], str] = str
) -> list[str]:
    """The case and the revision it was decided under; ``esc`` quotes what the case or the
    policy wrote (the rest is ours)."""
    by, day = result.revision_basis
    why = "forced by the case's `revision:`" if by == "revision" else f"in force on {day} ({by})"
    return [
        f"Case {esc(str(result.case)) if result.case else '(no id)'} · {esc(title)}",
        f"Decided under {esc(revision_title)} ({esc(result.revision)}), {why}; as of "
        f"{result.as_of.isoformat()}",
    ]


def _value_line(d: Decision) -> str:
    if d.status == "determined":
        return f"{d.id} = {to_words(d.value, d.type)}"
    if d.status == "undetermined":
        return f"{d.id}: undetermined, needs " + ", ".join(d.needs)
    return f"{d.id}: does not apply"


def render_text(
    result: Result, title: str, revision_title: str, only: list[str] | None = None
) -> str:
    """The staff rendering: each decision with its explanation tree, then what cannot be
    decided yet and what it needs, then the procedures' next steps.

    Printed as is on a terminal, so it leaves through ``printable``, once, for every line.
    """
    lines = _header(result, title, revision_title, one_line)
    chosen = [d for rid, d in sorted(result.decisions.items()) if not only or rid in only]
    pending = [d for d in chosen if d.status == "undetermined"]
    for d in chosen:
        if d in pending and not only:
            continue
        lines += ["", _value_line(d)]
        shown = _prune(d.because or [])
        for i, node in enumerate(shown):
            _tree(node, "  ", i == len(shown) - 1, lines)
    if pending and not only:
        lines += ["", "Cannot be decided yet (facts needed):"]
        lines += [
            f"  {d.id} [{'; '.join(d.citations)}]: needs {', '.join(d.needs)}" for d in pending
        ]
    if not only:
        for proc in sorted(result.procedures.values(), key=lambda p: p.id):
            lines += ["", *_procedure_text(proc)]
    return printable("\n".join(lines) + "\n")


Shown = tuple[Node, list["Shown"]]


def _because(node: Node) -> list[Node]:
    return (node.because or []) if isinstance(node, Step) else []


def _prune(steps: list[Node]) -> list[Shown]:
    """The explanation as shown: a step that recurs in one tree is shown only the first time
    (nodes are shared, so by identity)."""
    seen: set[int] = set()

    def visit(node: Node) -> Shown:
        seen.add(id(node))
        kids = []
        for k in _because(node):
            if id(k) not in seen:
                kids.append(visit(k))
        return node, kids

    return [visit(n) for n in steps]


def _tree(shown: Shown, indent: str, last: bool, lines: list[str]) -> None:
    node, kids = shown
    branch = "└─ " if last else "├─ "
    cite = f" [{node.citation}]" if node.citation else ""
    lines.append(f"{indent}{branch}{one_line(node.text)}{cite}")
    for i, child in enumerate(kids):
        _tree(child, indent + ("   " if last else "│  "), i == len(kids) - 1, lines)


def _procedure_text(proc: ProcedureResult) -> list[str]:
    cite = f" [{proc.citation}]" if proc.citation else ""
    out = [f"Procedure: {proc.title}{cite}"]
    for s in proc.steps:
        extra = []
        if s.deadline is not None:
            extra.append(f"due by {to_words(s.deadline)}")
        if s.needs:
            extra.append("needs " + ", ".join(s.needs))
        tail = f" ({'; '.join(extra)})" if extra else ""
        out.append(f"  {_STEP_MARKS[s.status]} {s.title}{tail}")
    nxt = [s.title for s in proc.steps if s.status == "ready"]
    if nxt:
        msg = "; ".join(nxt)
    elif any(s.status == "undetermined" for s in proc.steps):
        msg = "unknown until the facts of the steps marked [?] are given"
    elif all(s.status in ("done", "not_applicable") for s in proc.steps):
        msg = "nothing: every step is done or does not apply"
    else:
        msg = "nothing yet: waiting on earlier steps"
    out.append(f"  Next: {msg}")
    return out


def render_markdown(
    result: Result, title: str, revision_title: str, only: list[str] | None = None
) -> str:
    """A Markdown report (for staff reports and the docs); every text it quotes is escaped."""
    h1, h2 = _header(result, title, revision_title, md_text)
    lines = [f"# {h1}", "", h2, "", "| decision | value | status | section |", "|---|---|---|---|"]
    chosen = [d for rid, d in sorted(result.decisions.items()) if not only or rid in only]
    for d in chosen:
        value = md_text(to_words(d.value, d.type)) if d.status == "determined" else "—"
        cites = md_text("; ".join(d.citations))
        lines.append(f"| {md_code(d.id)} | {value} | {d.status} | {cites} |")
    for d in chosen:
        lines += ["", f"## {md_code(d.id)}", ""]
        for shown in _prune(d.because or []):
            _md_tree(shown, 0, lines)
        if d.needs:
            lines.append(f"\nNeeds: {', '.join(md_code(n) for n in d.needs)}")
    if not only:
        for proc in sorted(result.procedures.values(), key=lambda p: p.id):
            lines += ["", f"## Procedure: {md_text(proc.title)}", ""]
            lines += [_md_step(s) for s in proc.steps]
    return "\n".join(lines) + "\n"


def _md_step(s: StepResult) -> str:
    due = f" — due by {md_text(to_words(s.deadline))}" if s.deadline is not None else ""
    return f"- {_STEP_MARKS[s.status]} {md_text(s.title)} *({s.status})*{due}"


def _md_tree(shown: Shown, depth: int, lines: list[str]) -> None:
    node, kids = shown
    cite = f" — *{md_text(node.citation)}*" if node.citation else ""
    lines.append(f"{'  ' * depth}- {md_text(node.text)}{cite}")
    for child in kids:
        _md_tree(child, depth + 1, lines)
