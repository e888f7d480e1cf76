"""Pipeline stage 8b, render: results as text for staff, JSON for programs, Markdown for reports,
and a printable HTML answer for the applicant.

Every format is one entry of ``RENDERERS``, a function of the result and a ``RenderContext``;
the command line's ``--format`` choices are that table's keys.

Everything here is deterministic: the same result renders to the same bytes. What a case or the
policy gave is shown, never obeyed: text goes out through ``printable`` (no terminal control
sequences), Markdown quotes it with ``md_text`` (no HTML, links or injected headings), the
HTML page builds it into elements (``engine/html_page.py``). The text page and the HTML page
read one ``Answer`` (``engine/answer.py``), so staff and applicant are told the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.printable import md_code, md_text, one_line
from engine.result import RESULT_VERSION, Decision, Node, Result, Step, StepResult
from engine.text_page import STEP_MARKS, render_page
from engine.values import to_words

# The marks of a procedure's steps, one table for every format that lists them.
_STEP_MARKS = STEP_MARKS


@dataclass(frozen=True, slots=True)
class RenderContext:
    """What a renderer is told besides the result; each format reads what applies to it.

    Attributes:
        title: the jurisdiction's title, for the header.
        revision_title: the title of the revision that decided (``Ord. No. 4463``).
        only: the decisions to show (all when empty); the text leaves out the procedures then.
        depth: the text and Markdown show explanation trees this many levels deep (1: each
            decision's own step), and say how many steps they leave out; None shows all. The
            JSON always holds every step (it is the contract).
        header: the text and Markdown open with the case and the revision that decided it; a
            page that embeds the report under its own heading leaves it out.
        heading_level: the level of the Markdown title (``#``); its sections are one below.
        width: the text page wraps at this many columns (the command line gives the
            terminal's width, or 100 when the output is not a terminal).
        color: the text page is coloured (the command line asks on a terminal, never when
            piped or when NO_COLOR is set); False gives no escape code at all.
        all: the text summary lists every undetermined decision, not only those that can
            still apply to the case (``engine.answer.can_still_apply``).
        result_version: the shape of the JSON (``engine.result.RESULT_VERSIONS``).
    """

    title: str = ""
    revision_title: str = ""
    only: tuple[str, ...] = ()
    depth: int | None = None
    header: bool = True
    heading_level: int = 1
    width: int = 100
    color: bool = False
    all: bool = False
    result_version: str = RESULT_VERSION


Renderer = Callable[[Result, RenderContext], str]


def render_json(result: Result, ctx: RenderContext = RenderContext()) -> str:
    """One line of JSON per DESIGN.md §4 (restricted to ``ctx.only`` decisions when given)."""
    if ctx.only:
        result = _restrict(result, ctx.only)
    return result.to_json(ctx.result_version)


def _restrict(result: Result, only: tuple[str, ...]) -> Result:
    return Result(
        result.case,
        result.jurisdiction,
        result.revision,
        result.revision_basis,
        result.as_of,
        {k: v for k, v in result.decisions.items() if k in only},
        result.procedures,
        result.warnings,
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


def render_text(result: Result, ctx: RenderContext = RenderContext()) -> str:
    """The staff page (``engine/text_page.py``): the case summary (what is decided, the next
    steps, the facts that would decide what can still apply), then each decision's reasons,
    every reason shown once; with ``ctx.only``, only those decisions' trees.

    Printed as is on a terminal: everything the case or the policy wrote is quoted there.
    """
    header = _header(result, ctx.title, ctx.revision_title, one_line) if ctx.header else []
    return render_page(result, ctx, header)


def render_html(result: Result, ctx: RenderContext = RenderContext()) -> str:
    """The printable answer for the applicant (``engine/html_page.py``): one self-contained
    page with the decisions, their citations, the next steps and the case's timeline."""
    from engine.html_page import build_page  # its XML builder is loaded for this format only

    return build_page(result, ctx.title, ctx.revision_title, ctx.only)


@dataclass(slots=True)
class _Shown:
    """A node as shown, with the children shown under it and how many steps the depth limit
    leaves out below it."""

    node: Node
    kids: list[_Shown] = field(default_factory=list)
    hidden: int = 0


def _because(node: Node) -> list[Node]:
    return (node.because or []) if isinstance(node, Step) else []


def _prune(steps: list[Node], depth: int | None = None) -> list[_Shown]:
    """The explanation as shown: a step that recurs in one tree is shown only the first time
    (nodes are shared, so by identity), and none below ``depth`` levels: those are counted."""
    seen: set[int] = set()

    def visit(node: Node, level: int) -> _Shown:
        seen.add(id(node))
        if depth is not None and level >= depth:
            return _Shown(node, hidden=_count_below(node, seen))
        shown = _Shown(node)
        for k in _because(node):
            if id(k) not in seen:
                shown.kids.append(visit(k, level + 1))
        return shown

    return [visit(n, 1) for n in steps]


def _count_below(node: Node, seen: set[int]) -> int:
    """The distinct steps under ``node`` not already shown (they stay unseen, so a shallower
    place in the tree may still show them)."""
    found: set[int] = set()
    stack = list(_because(node))
    while stack:
        k = stack.pop()
        if id(k) not in seen and id(k) not in found:
            found.add(id(k))
            stack += _because(k)
    return len(found)


def _hidden_words(n: int) -> str:
    return f"… {n} more step{'s' if n != 1 else ''} not shown"


def render_markdown(result: Result, ctx: RenderContext = RenderContext()) -> str:
    """A Markdown report (for staff reports and the docs); every text it quotes is escaped."""
    only, title = ctx.only, "#" * ctx.heading_level
    section = title + "#"
    lines = []
    if ctx.header:
        h1, h2 = _header(result, ctx.title, ctx.revision_title, md_text)
        lines += [f"{title} {h1}", "", h2, ""]
    lines += ["| decision | value | status | section |", "|---|---|---|---|"]
    chosen = [d for rid, d in sorted(result.decisions.items()) if not only or rid in only]
    for d in chosen:
        value = md_text(d.in_words()) if d.status == "determined" else "—"
        cites = md_text("; ".join(d.citations))
        lines.append(f"| {md_code(d.id)} | {value} | {d.status} | {cites} |")
    for d in chosen:
        lines += ["", f"{section} {md_code(d.id)}", ""]
        lines += markdown_explanation(d, ctx.depth)
        if d.needs:
            lines.append(f"\nNeeds: {', '.join(md_code(n) for n in d.needs)}")
    if not only:
        for proc in sorted(result.procedures.values(), key=lambda p: p.id):
            lines += ["", f"{section} Procedure: {md_text(proc.title)}", ""]
            lines += [_md_step(s) for s in proc.steps]
    return "\n".join(lines) + "\n"


def _md_step(s: StepResult) -> str:
    due = f" — due by {md_text(to_words(s.deadline))}" if s.deadline is not None else ""
    return f"- {_STEP_MARKS[s.status]} {md_text(s.title)} *({s.status})*{due}"


# A nested list item is indented four spaces per level: Python-Markdown (mkdocs, the site)
# nests only at four, and CommonMark (GitHub, editors) nests at two or more, so four reads as
# the same tree in both. At two, Python-Markdown flattens the whole explanation into one list.
_MD_INDENT = "    "


def markdown_explanation(decision: Decision, depth: int | None = None) -> list[str]:
    """A decision's explanation tree as nested Markdown list lines (``depth`` as in
    ``RenderContext``); the site's worked examples show the same tree as the report."""
    lines: list[str] = []
    for shown in _prune(decision.because or [], depth):
        _md_tree(shown, 0, lines)
    return lines


def _md_tree(shown: _Shown, depth: int, lines: list[str]) -> None:
    node = shown.node
    cite = f" — *{md_text(node.citation)}*" if node.citation else ""
    lines.append(f"{_MD_INDENT * depth}- {_md_item(node.text)}{cite}")
    for child in shown.kids:
        _md_tree(child, depth + 1, lines)
    if shown.hidden:
        lines.append(f"{_MD_INDENT * (depth + 1)}- {_hidden_words(shown.hidden)}")


def _md_item(text: str) -> str:
    """A step's text as a list item's text: a leading ``3.`` or ``-`` in it is text, not the
    start of another list inside the item."""
    out = md_text(text)
    return re.sub(r"^(\d+)\.(?=\s|$)", r"\1\\.", re.sub(r"^([-+*])(?=\s|$)", r"\\\1", out))


# One entry per output format: the command line offers these keys, in this order.
RENDERERS: dict[str, Renderer] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
    "html": render_html,
}
