"""Many cases at once: group them by the compiled revision that decides each, then evaluate every
group column by column (``engine.run.batch``).

The column path gives exactly the values the case-by-case path gives (``tests/test_batch.py``
compares them); anything it cannot take as is (a malformed case, a value past the calendar)
sends the whole batch case by case, so the error raised is the one ``values`` raises for the
first case with the problem.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from engine.diagnostics import CaseError
from engine.run import cases as one
from engine.run.batch import Fallback, by_value, iso_dates, nested, read_columns, run_rules
from engine.run.facts import CASE_KEYS, KEY_TYPES, as_of_date
from engine.run.program import CompiledPolicy
from engine.run.timeline import Timeline, today, vesting_value

_BATCH_KEYS = frozenset(CASE_KEYS) - {"revision"}
_IGNORED_KEYS = frozenset({"case", "description", "expect"})
_AS_OF_TYPES = frozenset({str, dt.date, type(None)})
Group = tuple[CompiledPolicy, Sequence[int], list[dt.date]]


def values_many(
    timeline: Timeline,
    cases: Iterable[dict[str, Any]],
    decisions: Iterable[str] | None,
    as_of: dt.date | None,
) -> list[dict[str, Any]]:
    """``values`` of every case, in their order (see ``Policy.values_many``)."""
    one.check_arguments(as_of, None)
    cases = list(cases)
    decisions = None if decisions is None else tuple(decisions)  # read once, for every group
    try:
        groups = _groups(timeline, cases, as_of)
    except (Fallback, TypeError):  # TypeError: an unhashable `as_of` or vesting date
        return _each(timeline, cases, decisions, as_of)
    results: list[dict[str, Any]] = [{}] * len(cases)
    for cp, rows, days in groups:
        only = one.checked(cp, decisions)
        part = cases if len(rows) == len(cases) else [cases[r] for r in rows]
        try:
            found = _columns(cp, part, days, only)
        except (Fallback, ArithmeticError, ValueError):
            # Case by case, in order: the first case with a problem is the one reported.
            return _each(timeline, cases, decisions, as_of)
        if part is cases:
            return found
        for r, value in zip(rows, found, strict=True):
            results[r] = value
    return results


def _groups(timeline: Timeline, cases: list[Any], as_of: dt.date | None) -> list[Group]:
    """The cases by compiled revision: (revision, row numbers, evaluation dates).

    Raises ``Fallback`` for anything the case-by-case path must report or handle."""
    if not cases:
        return []
    facts, jids = _plain(cases)
    given = [c.get("as_of") for c in cases]
    if not set(map(type, given)) <= _AS_OF_TYPES:
        raise Fallback  # equal values of other types must not be merged below
    days: list[Any] = by_value(given, _case_day, {None: None}, iso_dates)  # checked
    if as_of:  # as `values` reads it: the argument, when given, overrides the case's
        days = [as_of] * len(cases)
    groups: dict[int, tuple[CompiledPolicy, Sequence[int]]] = {}
    for jid in dict.fromkeys(jids):
        jur = timeline.jurisdictions.get(jid)
        if jur is None:
            raise Fallback
        rows: Sequence[int] = range(len(cases))
        if len(set(jids)) > 1:
            rows = [r for r, j in enumerate(jids) if j == jid]
        if None in days:
            now = today(jur)
            for r in rows:
                days[r] = days[r] or now
        basis = [days[r] for r in rows]
        if jur.vesting is not None:
            vested = by_value(nested([facts[r] for r in rows], jur.vesting[0].split(".")),
                              vesting_value)  # fmt: skip
            basis = [v or d for v, d in zip(vested, basis, strict=True)]
        _group(timeline, jid, rows, basis, groups)
    return [(cp, rows, days if rows.__class__ is range else [days[r] for r in rows])
            for cp, rows in groups.values()]  # fmt: skip


def _plain(cases: list[Any]) -> tuple[list[Any], list[Any]]:
    """The facts and jurisdictions of a batch whose every case is a plain, well-formed
    mapping (else ``Fallback``: the case-by-case path reports what is wrong)."""
    if set(map(type, cases)) != {dict}:
        raise Fallback
    keys = set().union(*cases)
    if not keys <= _BATCH_KEYS or not {"jurisdiction", "facts"} <= keys:
        raise Fallback
    facts = [c.get("facts") for c in cases]
    jids = [c.get("jurisdiction") for c in cases]
    if set(map(type, facts)) != {dict} or set(map(type, jids)) != {str}:
        raise Fallback
    for key in keys & _IGNORED_KEYS:  # unread here, yet refused by `values` when malformed
        valid = KEY_TYPES[key][0]
        if not all(valid(c[key]) for c in cases if key in c):
            raise Fallback
    if "as_of" in keys and any("as_of" in c and c["as_of"] is None for c in cases):
        raise Fallback  # `as_of: null` is an error, not today
    return facts, jids


def _group(
    timeline: Timeline,
    jid: str,
    rows: Sequence[int],
    basis: list[dt.date],
    groups: dict[int, tuple[CompiledPolicy, Sequence[int]]],
) -> None:
    """Add the rows of one jurisdiction to ``groups``, by the revision in force on each row's
    basis date (one group holding the range itself when a single revision decides them all)."""
    revision: dict[dt.date, CompiledPolicy] = {}
    for d in set(basis):
        compiled = timeline.on(jid, d)
        if compiled is None:
            raise Fallback  # no encoded revision: the case-by-case path says so
        revision[d] = compiled
    chosen = {id(cp): cp for cp in revision.values()}
    if len(chosen) == 1:
        (cp,) = chosen.values()
        groups[id(cp)] = (cp, rows)
        return
    for r, d in zip(rows, basis, strict=True):
        member = groups.setdefault(id(revision[d]), (revision[d], []))[1]
        assert isinstance(member, list)
        member.append(r)


def _case_day(v: Any) -> dt.date:
    """A case's ``as_of`` as ``case_from_dict`` reads it (a Fallback when it is wrong)."""
    day = as_of_date(v)
    if day is None:
        raise Fallback
    return day


def _columns(
    cp: CompiledPolicy, cases: list[dict[str, Any]], days: list[dt.date],
    only: frozenset[str] | None,
) -> list[dict[str, Any]]:  # fmt: skip
    missing = cp.missing if only is None else cp.plan_for(only)[1]
    rules = cp.batch_plan(only)
    cols, marks = read_columns(cp.reader.tree, cp.batch_kinds, [c["facts"] for c in cases], missing)
    cols["as_of"] = days
    run_rules(rules, cols, len(cases), marks)
    wanted = only if only is not None else cp.public
    if not wanted:
        return [{} for _ in cases]
    return [dict(zip(wanted, row, strict=True))
            for row in zip(*(cols[r] for r in wanted), strict=True)]  # fmt: skip


def _each(
    timeline: Timeline, cases: list[Any], decisions: Iterable[str] | None, as_of: dt.date | None
) -> list[dict[str, Any]]:
    """``values`` case by case; an error about a case names its place in the batch (an
    unknown decision is the request's error, not a case's)."""
    out = []
    for r, case in enumerate(cases):
        try:
            out.append(one.values(one.prepare(timeline, case, as_of), decisions))
        except CaseError as exc:
            cid = case.get("case") if isinstance(case, dict) else None
            named = KEY_TYPES["case"][0](cid) and bool(cid)  # a valid id, else none
            where = f"case {r + 1} of the batch" + (f" (`{cid}`)" if named else "")
            raise CaseError([
                d if d.code == "case/unknown-decision"
                else replace(d, message=f"{where}: {d.message}")
                for d in exc.diagnostics]) from None  # fmt: skip
    return out
