"""The quick way of ``Policy.values``: a case dict of the common shape decided on generated
code from its keys to its values.

``engine.run.cases`` is the whole way (``prepare``: the case's shape, the revision, the facts
read and checked with messages ready; then the rules). A program embedding the engine, or the
service, mostly sends plain dicts that need none of that: the keys ``case``, ``jurisdiction``,
``as_of`` and ``facts``, ISO dates, values already of their facts' types. Here such a case goes
straight to the revision's generated reader (``engine.run.readers``) and decision function
(``engine.run.generated``); anything else, and anything either declines, returns None, and the
caller takes the whole way, which reports it. Both ways give the same values
(``tests/test_generated.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from engine.diagnostics import CaseError
from engine.run import generated, readers
from engine.run.cases import Prepared, checked
from engine.run.facts import EARLIEST, KEY_TYPES, LATEST, PLAIN_KEYS, Case, as_of_date
from engine.run.program import CompiledPolicy
from engine.run.timeline import Basis, Timeline, vesting_in

Entry = tuple[dict[str, Any], readers.ReadFn, Callable[[dict[str, Any]], dict[str, Any]]]
_fromiso = dt.date.fromisoformat
_case_id = KEY_TYPES["case"][0]


def quick_values(
    timeline: Timeline, data: Any, decisions: Iterable[str] | None
) -> dict[str, Any] | None:
    """``values`` of ``data``, or None when it is not of the common shape or either generated
    function declines it."""
    chosen = _choose(timeline, data)
    if chosen is None:
        return None
    cp, day, _, given = chosen
    entry = _entry(cp, decisions)
    if entry is None:
        return None
    missing, read, decide = entry
    env = dict(missing)
    if not read(given, env):
        return None
    env["as_of"] = day
    try:
        return decide(env)
    except (ArithmeticError, ValueError):  # placed by the closures, the whole way
        return None


def quick_prepare(timeline: Timeline, data: Any) -> Prepared | None:
    """``prepare`` of ``data`` when it is of the common shape and the generated reader takes
    its facts (the same Prepared, warnings none); None otherwise."""
    chosen = _choose(timeline, data)
    if chosen is None:
        return None
    cp, day, basis, given = chosen
    facts: dict[str, Any] = {}
    read = readers.reader(cp)
    if read is None or not read(given, facts):
        return None
    cid = data.get("case")
    case = Case(None if cid is None else str(cid), cp.jurisdiction, day, None, given)
    return Prepared(cp, case, facts, day, basis)


def _choose(
    timeline: Timeline, data: Any
) -> tuple[CompiledPolicy, dt.date, Basis, dict[str, Any]] | None:
    """The revision deciding ``data``, its ``as_of``, how the revision was chosen and the
    facts as given; None for anything but the common shape (``case_from_dict`` and
    ``Timeline.choose`` take it then, and report what is wrong)."""
    if data.__class__ is not dict or not data.keys() <= PLAIN_KEYS:
        return None
    jid, facts, raw = data.get("jurisdiction"), data.get("facts"), data.get("as_of")
    jur = timeline.jurisdictions.get(jid) if jid.__class__ is str else None
    if jur is None or facts.__class__ is not dict:
        return None
    if raw.__class__ is str and len(raw) == 10:  # the usual ISO date, else the full reading
        try:
            day = _fromiso(raw)
        except ValueError:
            return None
        if not EARLIEST <= day <= LATEST:
            return None
    elif raw is None or (day := as_of_date(raw)) is None:  # type: ignore[assignment]
        return None
    if "case" in data and (cid := data["case"]).__class__ is not str and not _case_id(cid):
        return None
    basis: Basis = vesting_in(jur, facts) or ("as_of", day)
    cp = timeline.on(jur.id, basis[1])  # type: ignore[arg-type]
    return None if cp is None else (cp, day, basis, facts)


def _entry(cp: CompiledPolicy, decisions: Iterable[str] | None) -> Entry | None:
    """What a case needs for these decisions: the unknowns of the facts their rules read, the
    reader and the decision function; kept per request when the request can be a key (None,
    a tuple or a frozenset of ids), so a repeated request costs one lookup."""
    key = decisions if decisions is None or decisions.__class__ in (tuple, frozenset) else None
    if key is not None or decisions is None:
        found: Entry | None = cp._fast.get((key, "quick"))
        if found is not None:
            return found
    try:
        only = checked(cp, decisions)
    except CaseError:  # reported after the case's own errors, the whole way
        return None
    decide, read = generated.cached(cp, only, "values"), readers.reader(cp)
    if decide is None or read is None:
        return None
    found = (cp.missing if only is None else cp.plan_for(only)[1], read, decide)
    if (key is not None or decisions is None) and len(cp._fast) < generated.KEEP:
        cp._fast[(key, "quick")] = found
    return found
