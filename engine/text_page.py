"""Pipeline stage 8b, render (text): the page permit-center staff read on a terminal, from a
``Result`` and its ``Answer`` (``engine/answer.py``): the case summary first, then each
decision's reasons, every reason shown once and referred back to where it recurs.

Laid out with ``rich``: wrapped at the given width, coloured only when asked (the command line
asks on a terminal without NO_COLOR). What the case or the policy wrote goes into ``Text``
objects already passed through ``printable`` (no control sequences), and never through rich
markup, so a ``[bold]`` in a case id is shown as written.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from engine.answer import Answer, build_answer, walk
from engine.printable import one_line, printable
from engine.result import Decision, Node, ProcedureResult, Result, Step, StepResult
from engine.values import to_words

if TYPE_CHECKING:
    from engine.render import RenderContext

# rich reads its table of character widths the first time it measures a character outside
# ASCII (an em dash in a title). Read it with this module, so that rendering a case imports
# nothing (tests/test_architecture.py holds the run path to that) and no case pays for it.
cell_len("\u2014")

STEP_MARKS = {
    "done": "[x]",
    "ready": "[>]",
    "waiting": "[ ]",
    "undetermined": "[?]",
    "not_applicable": "[-]",
}
# Styles: only ever applied to text we lay out; the words inside come from the result.
_ID, _HEAD, _DIM, _OPEN = "bold cyan", "bold", "dim", "yellow"
_VALUE, _NOT = "green", "magenta"


def _cat(*parts: Text) -> Text:
    """Texts in a row, each keeping its own style (``a + b`` would give ``b`` the style of
    ``a``)."""
    return Text.assemble(*parts)


def safe(text: str) -> str:
    """Case or policy text for one line of the page: no line break, no control sequence."""
    return printable(one_line(text))


@dataclass(slots=True)
class Page:
    """The lines of the page being laid out, and where each reason was first shown."""

    width: int
    console: Console
    lines: list[Text] = field(default_factory=list)
    shown: dict[int, str] = field(default_factory=dict)  # node id → the decision it is under
    here: set[int] = field(default_factory=set)  # the nodes placed in the current tree

    def para(self, text: Text, first: str = "", rest: str | None = None) -> None:
        """``text`` wrapped to the page, ``first`` before its first line and ``rest`` (the
        same width of blank, by default) before the others."""
        rest = " " * len(first) if rest is None else rest
        room = max(self.width - max(len(first), len(rest)), 10)
        lines = text.wrap(self.console, room)
        for i, line in enumerate(lines):
            line.rstrip()
            self.lines.append(_cat(Text(first if i == 0 else rest, style=_DIM), line))

    def blank(self) -> None:
        self.lines.append(Text())


def render_page(result: Result, ctx: RenderContext, header: list[str]) -> str:
    """The staff page: ``header`` (already quoted), the summary, then the reasons; with
    ``ctx.only``, only those decisions' trees (``ordinance eval --explain``)."""
    console = Console(file=io.StringIO(), width=ctx.width, color_system="standard" if ctx.color
                      else None, force_terminal=ctx.color, no_color=not ctx.color,
                      highlight=False, markup=False, emoji=False, legacy_windows=False)  # fmt: skip
    page = Page(ctx.width, console)
    for line in header:
        page.para(Text(printable(line), style=_HEAD if not page.lines else ""))
    if ctx.only:
        chosen = [d for rid, d in sorted(result.decisions.items()) if rid in ctx.only]
        for d in chosen:
            _reason(page, d, ctx.depth)
    else:
        answer = build_answer(result, everything=ctx.all)
        _summary(page, answer)
        if answer.reasons:
            page.blank()
            page.para(Text("Why", style=_HEAD))
            for d in answer.reasons:
                _reason(page, d, ctx.depth)
    return _print(page, header_blank=bool(header))


def _print(page: Page, header_blank: bool) -> str:
    lines = page.lines
    if not header_blank:  # no header: the page starts at its first line, not a blank one
        while lines and not lines[0].plain:
            lines = lines[1:]
    with page.console.capture() as cap:
        for line in lines:
            page.console.print(line, soft_wrap=True, crop=False)
    return "\n".join(x.rstrip() for x in cap.get().split("\n")).rstrip("\n") + "\n"


def _summary(page: Page, answer: Answer) -> None:
    if answer.decided:
        page.blank()
        page.para(Text(f"Decided ({len(answer.decided)})", style=_HEAD))
        for d in answer.decided:
            page.para(_cat(_value(d), _cites(d.citations)), "  ", "      ")
    if answer.not_applicable:
        page.blank()
        page.para(Text(f"Does not apply ({len(answer.not_applicable)})", style=_HEAD))
        for d in answer.not_applicable:  # the reason is its whole tree: given here, once
            page.para(_cat(Text(d.id, style=_ID), Text(": "), _unmet(d)), "  ", "      ")
    for proc in answer.procedures:
        page.blank()
        _procedure(page, proc)
    if answer.open:
        page.blank()
        page.para(Text("Still open: the facts that would decide them", style=_HEAD))
        for group in answer.open:
            ids = Text(", ").join(Text(d.id, style=_ID) for d in group.decisions)
            cites = list(dict.fromkeys(c for d in group.decisions for c in d.citations))
            needs = Text(", ".join(group.needs), style=_OPEN)
            page.para(_cat(ids, _cites(cites), Text(": needs "), needs), "  ", "      ")
    if answer.constants or answer.elsewhere:
        page.blank()
        page.para(Text(_left_out(answer), style=_DIM))


def _left_out(answer: Answer) -> str:
    """The line that counts what the summary leaves to ``--all``, and says why."""
    parts = []
    if answer.constants:
        ids = ", ".join(d.id for d in answer.constants)
        parts.append(f"{len(answer.constants)} decided from no fact of this case ({ids})")
    if answer.elsewhere:
        matters = ", ".join(sorted({d.id.split(".")[0] for d in answer.elsewhere}))
        parts.append(f"{len(answer.elsewhere)} that cannot apply to this case yet: it gives no "
                     f"fact of their matter ({matters})")  # fmt: skip
    return f"Not listed (--all lists them): {'; '.join(parts)}."


def _value(d: Decision) -> Text:
    head = Text(d.id, style=_ID)
    if d.status == "determined":
        return _cat(head, Text(" = "), Text(safe(d.in_words()), style=_VALUE))
    if d.status == "undetermined":
        return _cat(head, Text(": undetermined, needs "), Text(", ".join(d.needs), style=_OPEN))
    return _cat(head, Text(": does not apply", style=_NOT))


def _unmet(d: Decision) -> Text:
    """Why a decision does not apply: the condition of each definition that fails."""
    top = d.because[0] if d.because else None
    unmet = [n for n in (top.because or []) if not isinstance(n, Step)] if isinstance(
        top, Step) else []  # fmt: skip
    if not unmet:
        return Text("no definition applies", style=_NOT)
    words = "; ".join(safe(n.text.removeprefix("does not apply: ")) for n in unmet)
    cites = list(dict.fromkeys(n.citation for n in unmet if n.citation))
    return _cat(Text(words, style=_NOT), _cites(cites))


def _cites(citations: list[str]) -> Text:
    return Text(f" [{safe('; '.join(citations))}]", style=_DIM) if citations else Text()


def _procedure(page: Page, proc: ProcedureResult) -> None:
    title = Text(f"Procedure: {safe(proc.title)}", style=_HEAD)
    cite = _cites([proc.citation] if proc.citation else [])
    if all(s.status == "not_applicable" for s in proc.steps):
        page.para(_cat(title, cite, Text(": no step applies to this case", style=_NOT)), "", "  ")
        return
    page.para(_cat(title, cite), "", "  ")
    number = {s.id: i for i, s in enumerate(proc.steps, 1)}
    by_id = {s.id: s for s in proc.steps}
    for i, s in enumerate(proc.steps, 1):
        extra = _step_extra(s, number, by_id)
        tail = Text(f" ({'; '.join(extra)})", style=_OPEN) if extra else Text()
        mark = f"  {i}. {STEP_MARKS[s.status]} "
        words = Text(safe(s.title), style="" if s.status != "not_applicable" else _DIM)
        page.para(_cat(words, tail), mark, " " * len(mark))
    page.para(_cat(Text("Next: ", style=_HEAD), Text(_next_words(proc))), "  ", "        ")


def _step_extra(s: StepResult, number: dict[str, int], by_id: dict[str, StepResult]) -> list[str]:
    """What holds a step back: the earlier steps it waits for, its deadline, its facts."""
    extra = []
    if s.status in ("waiting", "undetermined"):
        wait = [str(number[r]) for r in s.requires
                if r in by_id and by_id[r].status not in ("done", "not_applicable")]  # fmt: skip
        if wait:
            extra.append(f"after step{'s' if len(wait) > 1 else ''} {', '.join(wait)}")
    if s.deadline is not None:
        extra.append(f"due by {to_words(s.deadline)}")
    if s.needs:
        extra.append("needs " + ", ".join(s.needs))
    return extra


def _next_words(proc: ProcedureResult) -> str:
    nxt = [safe(s.title) for s in proc.steps if s.status == "ready"]
    if nxt:
        return "; ".join(nxt)
    if any(s.status == "undetermined" for s in proc.steps):
        return "unknown until the facts of the steps marked [?] are given"
    if all(s.status in ("done", "not_applicable") for s in proc.steps):
        return "nothing: every step is done or does not apply"
    return "nothing yet: waiting on earlier steps"


def _reason(page: Page, d: Decision, depth: int | None) -> None:
    """One decision's tree. A step shown under an earlier decision is referred back to in one
    line; one that recurs in this tree is shown at its first place only (as it always was)."""
    page.here = set()
    page.blank()
    page.para(_value(d), "", "  ")
    items = [x for n in d.because or [] if (x := _plan(page, n, d.id, 1, depth))]
    for i, item in enumerate(items):
        _draw(page, item, "  ", i == len(items) - 1)


@dataclass(slots=True)
class _Item:
    """A node as placed: in full (with the items under it and how many steps the depth limit
    leaves out), or as a reference to the decision it was shown under."""

    node: Node
    see: str | None = None
    kids: list[_Item] = field(default_factory=list)
    hidden: int = 0


def _plan(page: Page, node: Node, under: str, level: int, depth: int | None) -> _Item | None:
    if id(node) in page.here:
        return None
    page.here.add(id(node))
    if isinstance(node, Step) and id(node) in page.shown:
        return _Item(node, see=page.shown[id(node)])
    item = _Item(node)
    if not isinstance(node, Step):
        return item
    page.shown[id(node)] = under
    if depth is not None and level >= depth:
        item.hidden = _count_below(node, page.shown)
        return item
    item.kids = [x for k in node.because or [] if (x := _plan(page, k, under, level + 1, depth))]
    return item


def _draw(page: Page, item: _Item, indent: str, last: bool) -> None:
    branch, below = ("└─ ", "   ") if last else ("├─ ", "│  ")
    first, rest = indent + branch, indent + below
    node = item.node
    if item.see is not None and isinstance(node, Step):
        _reference(page, node, item.see, first, rest)
        return
    cite = Text(f" [{safe(node.citation)}]", style=_DIM) if node.citation else Text()
    page.para(_cat(Text(safe(node.text)), cite), first, rest)
    for i, kid in enumerate(item.kids):
        _draw(page, kid, rest, i == len(item.kids) - 1 and not item.hidden)
    if item.hidden:
        words = f"… {item.hidden} more step{'s' if item.hidden != 1 else ''} not shown"
        page.para(Text(words, style=_DIM), rest + "└─ ")


def _reference(page: Page, node: Step, where: str, first: str, rest: str) -> None:
    """One line for a step shown above: the start of its sentence, and where it is (on a
    narrow page, the start and where it is wrap to two lines)."""
    see = Text(f" (see {where} above)", style=_DIM)
    room = page.width - len(first) - len(see.plain)
    start = Text(safe(node.text))
    if room >= 12:
        start.truncate(room, overflow="ellipsis")
        page.lines.append(_cat(Text(first, style=_DIM), start, see))
        return
    start.truncate(max(page.width - len(first), 10), overflow="ellipsis")
    page.para(_cat(start, see), first, rest)


def _count_below(node: Step, shown: dict[int, str]) -> int:
    """The distinct steps under ``node`` not shown anywhere on the page yet (they stay unshown,
    so a shallower place may still show them)."""
    return len({id(n) for n in walk(node.because) if id(n) not in shown})
