"""Pipeline stage 8b, render (HTML): the printable answer a clerk hands the applicant, from a
``Result`` and its ``Answer`` (``engine/answer.py``): the decisions with their citations, the
next steps, what is still open and a timeline of the case's dates drawn as inline SVG.

One self-contained page: inline CSS with a print stylesheet, no script, no font, no image
from anywhere (its Content-Security-Policy forbids every request). Built as ``xml.etree``
elements, so whatever the case or the policy wrote is a text node or an attribute value,
escaped by the serializer, and passed through ``printable`` first (no bidi overrides).
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from engine.answer import Answer, Moment, build_answer, group_needs, timeline
from engine.printable import printable
from engine.result import Decision, ProcedureResult, Result, Step
from engine.values import to_words

_STATUS_WORDS = {
    "done": "done",
    "ready": "next",
    "waiting": "waiting",
    "undetermined": "unknown yet",
    "not_applicable": "does not apply",
}
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'"
_CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1b1f24; max-width: 52rem; margin: 2rem auto; padding: 0 1.25rem; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; overflow-wrap: anywhere; }
h2 { font-size: 1.15rem; border-bottom: 2px solid #1b1f24; padding-bottom: .15rem;
  margin: 1.6rem 0 .6rem; }
.meta { color: #4a5360; margin: 0; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
col.c-id { width: 30%; } col.c-value { width: 48%; } col.c-cite { width: 22%; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem;
  border-bottom: 1px solid #d0d5db; overflow-wrap: anywhere; }
th { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: #4a5360; }
td.value { font-weight: 600; }
.why { display: block; font-weight: 400; color: #4a5360; font-size: .9rem; }
code { font: .85rem ui-monospace, "SFMono-Regular", Menlo, monospace; overflow-wrap: anywhere; }
.cite { font-size: .9rem; }
ol.steps { padding-left: 1.4rem; } ol.steps li { margin: .3rem 0; }
.badge { display: inline-block; font-size: .75rem; font-weight: 700; padding: 0 .45rem;
  border-radius: .6rem; border: 1px solid currentColor; margin-right: .4rem; }
.s-ready { color: #0b6b2e; } .s-done { color: #4a5360; } .s-waiting { color: #7a4d00; }
.s-undetermined { color: #8a1c1c; } .s-not_applicable { color: #6b7280; }
li.step-not_applicable { color: #6b7280; }
.due { font-weight: 600; }
svg { width: 100%; height: auto; display: block; }
svg text { font: 11px system-ui, sans-serif; fill: #1b1f24; }
footer { margin-top: 2rem; font-size: .8rem; color: #4a5360; }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  h2 { break-after: avoid; } tr, li, figure { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  .badge { border-color: #000; color: #000; }
}
@page { size: auto; margin: 16mm 14mm; }
"""


def el(tag: str, attrs: dict[str, str] | None = None, *kids: ET.Element | str) -> ET.Element:
    """An element with attributes and children; a string child is text (escaped on output)."""
    node = ET.Element(tag, attrs or {})
    last: ET.Element | None = None
    for kid in kids:
        if isinstance(kid, str):
            if last is None:
                node.text = (node.text or "") + kid
            else:
                last.tail = (last.tail or "") + kid
        else:
            node.append(kid)
            last = kid
    return node


def page_text(text: str) -> str:
    """Case or policy text for the page: shown as written, never a control or a reordering."""
    return printable(" ".join(text.split()))


def document(title: str, csp: str, css: str, body: ET.Element, *meta: ET.Element) -> str:
    """A self-contained page: the head every page of ordinance has (charset, its content
    security policy, a phone's viewport, the title, inline CSS, any further ``meta``), then
    ``body``, serialised by ElementTree so all text is escaped."""
    head = el(
        "head",
        None,
        el("meta", {"charset": "utf-8"}),
        el("meta", {"http-equiv": "Content-Security-Policy", "content": csp}),
        el("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
        *meta,
        el("title", None, title),
        el("style", None, css),
    )
    html = el("html", {"lang": "en"}, head, body)
    return "<!DOCTYPE html>\n" + ET.tostring(html, encoding="unicode", method="html") + "\n"


def build_page(result: Result, title: str, revision_title: str, only: Iterable[str] = ()) -> str:
    """The whole page as one string (``<!DOCTYPE html>`` and the ``html`` element)."""
    chosen = set(only)
    # A decision asked for is on the page whatever it is: undetermined (under "Still open"),
    # or decided from no fact of the case, which the whole answer leaves out.
    answer = build_answer(result, everything=bool(chosen))
    if chosen:
        answer.decided = [d for d in answer.decided + answer.constants if d.id in chosen]
        answer.decided.sort(key=lambda d: d.id)
        answer.not_applicable = [d for d in answer.not_applicable if d.id in chosen]
        pending = [d for g in answer.open for d in g.decisions if d.id in chosen]
        answer.open = group_needs(pending)
    case = page_text(result.case) if result.case else "(no id)"
    body = el(
        "body",
        None,
        *_header(result, case, title, revision_title),
        *_sections(result, answer, bool(chosen)),
    )
    return document(f"Case {case} · {page_text(title)}", _CSP, _CSS, body)


def _header(result: Result, case: str, title: str, revision_title: str) -> list[ET.Element]:
    by, day = result.revision_basis
    why = "forced by the case" if by == "revision" else f"in force on {day} ({by})"
    return [
        el("h1", None, f"Case {case}"),
        el("p", {"class": "meta"}, page_text(title)),
        el(
            "p",
            {"class": "meta"},
            f"Decided under {page_text(revision_title)} "
            f"({page_text(result.revision)}), {why}; as of {to_words(result.as_of)}.",
        ),
    ]


def _sections(result: Result, answer: Answer, only: bool) -> list[ET.Element]:
    out = [el("h2", None, "Decisions"), _decisions(answer)]
    if not only:
        for proc in answer.procedures:
            out += [el("h2", None, f"Next steps: {page_text(proc.title)}"), _procedure(proc)]
    moments = timeline(result)
    if len(moments) > 1:
        out += [el("h2", None, "Dates of this case"), el("figure", None, _timeline(moments))]
    if answer.open:
        out += [el("h2", None, "Still open"), _open(answer)]
    out.append(
        el(
            "footer",
            None,
            "Each answer cites the section of the code that decides it. "
            f"Evaluated by ordinance as of {result.as_of.isoformat()}.",
        )
    )
    return out


def _decisions(answer: Answer) -> ET.Element:
    rows = [
        el(
            "tr",
            None,
            el("th", None, "Decision"),
            el("th", None, "Answer"),
            el("th", None, "Section"),
        )
    ]
    for d in [*answer.decided, *answer.not_applicable]:
        rows.append(
            el(
                "tr",
                None,
                el("td", None, el("code", None, d.id)),
                el("td", {"class": "value"}, _answer(d), _why(d)),
                el("td", {"class": "cite"}, page_text("; ".join(d.citations))),
            )
        )
    cols = el("colgroup", None, *(el("col", {"class": f"c-{c}"}) for c in ("id", "value", "cite")))
    return el("table", {"class": "decisions"}, cols, *rows)


def _answer(d: Decision) -> str:
    return page_text(d.in_words()) if d.status == "determined" else "does not apply"


def _why(d: Decision) -> ET.Element:
    """The decision's own step, in the policy's words; why a rule does not apply, for one that
    does not."""
    top = d.because[0] if d.because else None
    text = top.text if isinstance(top, Step) else ""
    if isinstance(top, Step) and d.status == "not_applicable" and top.because:
        text = "; ".join(n.text for n in top.because if not isinstance(n, Step))
    return el("span", {"class": "why"}, page_text(text))


def _procedure(proc: ProcedureResult) -> ET.Element:
    items = []
    for s in proc.steps:
        extra = []
        if s.deadline is not None:
            extra.append(el("span", {"class": "due"}, f" Due by {to_words(s.deadline)}."))
        items.append(
            el(
                "li",
                {"class": f"step-{s.status}"},
                el("span", {"class": f"badge s-{s.status}"}, _STATUS_WORDS[s.status]),
                page_text(s.title),
                *extra,
            )
        )
    cite = [el("p", {"class": "meta"}, f"Per {page_text(proc.citation)}.")] if proc.citation else []
    return el("div", {"class": "procedure"}, el("ol", {"class": "steps"}, *items), *cite)


def _open(answer: Answer) -> ET.Element:
    items = []
    for group in answer.open:
        ids = ", ".join(d.id for d in group.decisions)
        items.append(
            el(
                "li",
                None,
                el("code", None, ids),
                " would be decided by: ",
                el("code", None, ", ".join(group.needs)),
            )
        )
    return el("ul", {"class": "open"}, *items)


# The timeline: a scale from the first date to the last, a mark per date (a circle for a fact
# the case gave, a diamond for a date the law decides, a bar for the evaluation date) and each
# label in the first row where it does not run into the label before it.
_W, _PAD, _ROW, _AXIS = 760, 16, 16, 34
_CHAR = 6.1  # the width of one character at 11px, near enough to keep labels apart


def _timeline(moments: list[Moment]) -> ET.Element:
    first, last = moments[0].day, moments[-1].day
    span = max((last - first).days, 1)
    ends: list[float] = []  # per row, where its last label ends
    marks, labels = [], []
    for m in moments:
        x = _PAD + (_W - 2 * _PAD) * (m.day - first).days / span
        said = "evaluated (as of)" if m.kind == "as_of" else page_text(m.label)
        words = f"{m.day.isoformat()} {said}"
        width = len(words) * _CHAR
        left = min(max(x - 4, 0), _W - width)
        row = next((i for i, end in enumerate(ends) if end < left), len(ends))
        if row == len(ends):
            ends.append(0.0)
        ends[row] = left + width + 8
        y = _AXIS + 18 + row * _ROW
        marks.append(_mark(m, x))
        labels += [
            el(
                "line",
                {
                    "x1": f"{x:.1f}",
                    "y1": str(_AXIS + 6),
                    "x2": f"{x:.1f}",
                    "y2": str(y - 10),
                    "stroke": "#9aa3ad",
                },
            ),
            el("text", {"x": f"{left:.1f}", "y": str(y), "class": m.kind}, words),
        ]
    height = _AXIS + 18 + len(ends) * _ROW + 4
    axis = el(
        "line",
        {
            "x1": str(_PAD),
            "y1": str(_AXIS),
            "x2": str(_W - _PAD),
            "y2": str(_AXIS),
            "stroke": "#1b1f24",
            "stroke-width": "2",
        },
    )
    years = [el("text", {"x": str(_PAD), "y": "14"}, _span_words(first, last))]
    return el(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "viewBox": f"0 0 {_W} {height}",
            "role": "img",
            "aria-label": "Timeline of the dates of this case",
        },
        el("title", None, "Timeline of the dates of this case"),
        *years,
        axis,
        *labels,
        *marks,
    )


def _mark(m: Moment, x: float) -> ET.Element:
    y, tip = _AXIS, el("title", None, f"{m.label}: {to_words(m.day)}")
    if m.kind == "as_of":
        return el(
            "rect",
            {
                "x": f"{x - 2:.1f}",
                "y": str(y - 12),
                "width": "4",
                "height": "24",
                "fill": "#0b6b2e",
            },
            tip,
        )
    if m.kind == "fact":
        return el(
            "circle",
            {
                "cx": f"{x:.1f}",
                "cy": str(y),
                "r": "6",
                "fill": "#1f5fbf",
                "stroke": "#fff",
                "stroke-width": "1.5",
            },
            tip,
        )
    pts = f"{x:.1f},{y - 8} {x + 8:.1f},{y} {x:.1f},{y + 8} {x - 8:.1f},{y}"
    return el(
        "polygon", {"points": pts, "fill": "#b3261e", "stroke": "#fff", "stroke-width": "1.5"}, tip
    )


def _span_words(first: dt.date, last: dt.date) -> str:
    return (
        f"{to_words(first)} to {to_words(last)} · ● a date the case gives · ◆ a date the "
        "law decides · ▮ the evaluation date"
    )
