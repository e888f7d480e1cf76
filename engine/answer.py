"""Pipeline stage 8b, render (shared part): a case's answer as staff and applicants read it,
from a ``Result``: what is decided, what can still apply and the facts that would decide it,
the procedures' next steps, the case's dates, and the order the reasons are shown in.

The text page (``engine/text_page.py``) and the printable page (``engine/html_page.py``) both
read this, so the terminal and the paper say the same thing. Nothing here formats or escapes.

"Can still apply" is defined once, here (``can_still_apply``), and in the README.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from engine.result import Decision, Node, ProcedureResult, Result, Step

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def walk(nodes: list[Node] | None) -> Iterator[Node]:
    """Every node under ``nodes``, depth first; a shared node once per place it stands."""
    for node in nodes or ():
        yield node
        if isinstance(node, Step):
            yield from walk(node.because)


def matter(ident: str) -> str:
    """What a fact or decision is about: the first part of its id (``appeal`` for
    ``appeal.filing_deadline``). Ids are public and read like the law (DESIGN.md §4), so the
    policy's own naming says which decisions and facts belong to one matter.

    >>> matter("appeal.filing_deadline")
    'appeal'
    """
    return ident.split(".", 1)[0]


def given_facts(result: Result) -> dict[str, object]:
    """The facts the case gave, as the explanation read them (JSON forms; null is given: an
    event that has not happened). A fact no rule read is not here."""
    out: dict[str, object] = {}
    for d in result.decisions.values():
        for node in walk(d.because):
            if isinstance(node, Step):
                out.update((f, v) for f, v in node.facts.items() if f not in node.absent)
    return dict(sorted(out.items()))


def _given_dates(result: Result) -> dict[str, object]:
    """The facts the case gave that are declared as dates (a text fact may read like one)."""
    out: dict[str, object] = {}
    for d in result.decisions.values():
        for node in walk(d.because):
            if isinstance(node, Step):
                out.update((f, node.facts[f]) for f in node.dates - node.absent)
    return dict(sorted(out.items()))


def _settled_on_facts(node: Node) -> bool:
    """A determined step that rests on a fact the case gave (itself or a determined step below
    it read one); a constant of the law (the hearing examiner hears appeals) is not."""
    if not isinstance(node, Step) or node.status != "determined":
        return False
    if any(f not in node.absent for f in node.facts):
        return True
    return any(_settled_on_facts(k) for k in node.because or ())


def can_still_apply(result: Result, decision: Decision, matters: set[str] | None = None) -> bool:
    """Whether ``decision`` can still apply to this case, so the summary lists it.

    One that does not apply cannot. Any other can when the case has begun on it, in either of
    two ways:

    1. the case gives a fact of the decision's matter (``matter``): a case that gives
       ``appeal.decision_on`` has begun on every ``appeal.…`` decision; or
    2. its explanation rests on something the case settled: a step of it is determined from
       facts the case gave (its own step, for a determined decision; ``co.can_issue`` still
       waits on the workflow's facts, but the case settled ``co.required``, its condition).

    Anything else is left to ``--all``: an undetermined decision of a matter the case says
    nothing about (the appeal rules of a case with no appeal, the stop-order penalties of a
    case with no stop order), whose facts would open a separate matter; and a constant of the
    law, decided from no fact of the case (``appeal.heard_by = hearing_examiner``).

    ``matters`` is the matters of the given facts, when the caller has them already.
    """
    if decision.status == "not_applicable":
        return False
    if matters is None:
        matters = {matter(f) for f in given_facts(result)}
    if matter(decision.id) in matters:
        return True
    return any(_settled_on_facts(n) for n in walk(decision.because))


@dataclass(frozen=True, slots=True)
class Open:
    """Undetermined decisions that need the same facts: giving these facts would decide them."""

    decisions: tuple[Decision, ...]
    needs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Moment:
    """A date on the case's timeline: a date fact or a date decision of the result."""

    day: dt.date
    label: str  # the fact or decision id
    kind: str  # "fact" | "decision" | "as_of"
    citation: str = ""


@dataclass(slots=True)
class Answer:
    """The case's answer, in the order staff read it."""

    decided: list[Decision]  # determined and can still apply, alphabetical
    not_applicable: list[Decision]
    open: list[Open]  # undetermined decisions that can still apply, grouped by their needs
    constants: list[Decision]  # determined from no fact of the case (``--all`` lists them)
    elsewhere: list[Decision]  # undetermined decisions that cannot apply yet (``--all``)
    procedures: list[ProcedureResult]
    reasons: list[Decision] = field(default_factory=list)  # decided: trees, after what they read


def build_answer(result: Result, everything: bool = False) -> Answer:
    """The answer of ``result``; ``everything`` lists every decision, whether or not it can
    still apply (``can_still_apply``)."""
    ds = [d for _, d in sorted(result.decisions.items())]
    matters = {matter(f) for f in given_facts(result)}
    listed = [d for d in ds if everything or can_still_apply(result, d, matters)]
    decided = [d for d in listed if d.status == "determined"]
    absent = [d for d in ds if d.status == "not_applicable"]
    return Answer(
        decided,
        absent,
        group_needs([d for d in listed if d.status == "undetermined"]),
        [d for d in ds if d.status == "determined" and d not in listed],
        [d for d in ds if d.status == "undetermined" and d not in listed],
        sorted(result.procedures.values(), key=lambda p: p.id),
        order_reasons(decided),  # one that does not apply: its reason is in the summary
    )


def group_needs(pending: list[Decision]) -> list[Open]:
    """Decisions with the same missing facts, together, in the order of their first id."""
    groups: dict[tuple[str, ...], list[Decision]] = {}
    for d in pending:
        groups.setdefault(tuple(d.needs), []).append(d)
    return [Open(tuple(ds), needs) for needs, ds in groups.items()]


def order_reasons(decisions: list[Decision]) -> list[Decision]:
    """The decisions in the order their trees are shown: each after every shown decision its
    tree reads (so a step recurring later can say "see permit.expires_on above"), else by id."""
    ids = {d.id for d in decisions}
    reads = {d.id: _reads(d) & ids - {d.id} for d in decisions}
    placed: list[Decision] = []
    left = sorted(decisions, key=lambda d: d.id)
    while left:
        done = {p.id for p in placed}
        nxt = next((d for d in left if reads[d.id] <= done), left[0])  # a cycle: by id
        placed.append(nxt)
        left.remove(nxt)
    return placed


def _reads(d: Decision) -> set[str]:
    return {n.rule for n in walk(d.because) if isinstance(n, Step)}


def timeline(result: Result) -> list[Moment]:
    """The case's dates: its date facts, its date decisions (a datetime by its day) and
    ``as_of``, sorted by day."""
    out = [Moment(result.as_of, "as_of", "as_of")]
    for fact, value in _given_dates(result).items():
        if isinstance(value, str) and _ISO_DATE.fullmatch(value):
            out.append(Moment(dt.date.fromisoformat(value), fact, "fact"))
    for d in result.decisions.values():
        if d.status == "determined" and d.type.name in ("date", "datetime") and d.value:
            day = d.value.date() if isinstance(d.value, dt.datetime) else d.value
            out.append(Moment(day, d.id, "decision", "; ".join(d.citations)))
    return sorted(out, key=lambda m: (m.day, m.kind != "fact", m.label))
