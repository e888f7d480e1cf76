"""Bulk evaluation: many cases at once, column by column (``Policy.values_many``).

Case by case, most of the time goes to walking the same closures and the same checks again for
every case. Here each fact becomes a column (checked and converted once per distinct value), and
each rule is computed for all the cases of a batch by the column closures of ``dsl.columns``. The
results are those of ``Policy.values`` for every case; a test holds the two paths to that:

- a case with an unknown input of a rule (a fact it does not give) is decided for that rule by
  the scalar closures, so three-valued logic stays in one place;
- a fee schedule is decided case by case likewise;
- a batch the column reader does not take as it is (a problem to report, a value in a form other
  than the usual one, a ``revision:`` key) is evaluated by ``Policy.values``, case by case, so
  every diagnostic is the one a single case gets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from dsl import nodes as n
from dsl.columns import Cols, Rows, VFn, compile_vector, conjoin_vector, select
from dsl.values import Unknown
from engine.run.decide import Decide
from engine.run.facts import EARLIEST, LATEST
from engine.run.fees import lines_key

U = Unknown
_fromiso = dt.date.fromisoformat
_MISS: Any = type("_Missing", (), {"__repr__": lambda self: "<missing>"})()
# Kinds whose conversion depends only on the value (equal values of the types in _TYPES_OF
# convert alike), so a column is converted once per distinct value.
_BY_VALUE = frozenset({"date", "datetime", "bool", "int", "enum", "string", "time"})
# Kinds whose converted value is the given value itself.
_AS_GIVEN = frozenset({"bool", "int", "enum", "string"})
# Numbers are converted from their text (1.50 stays 1.50), so once per distinct value only when
# equal values have equal texts: all strings or all ints (not 1.0 and 1, nor 0.0 and -0.0).
_NUMBERS = frozenset({"decimal", "money"})
_MISSING, _NULL = type(_MISS), type(None)
_ABSENT = frozenset({_MISSING, _NULL})
_ONE_TEXT: tuple[set[type], ...] = (set(), {str}, {int})
_EMPTY: dict[str, Any] = {}
_GROUP_TYPES = frozenset({dict, type(_MISS)})
# Per kind converted by value, the types a value may have (exactly: not a subclass).
_TYPES_OF: dict[str, frozenset[type]] = {
    kind: frozenset({*types, type(_MISS), type(None)})
    for kind, types in (("bool", {bool}), ("int", {int}), ("enum", {str}), ("string", {str}),
                        ("date", {str, dt.date}), ("datetime", {str, dt.datetime}),
                        ("time", {str, dt.time}))
}  # fmt: skip


@dataclass(slots=True)
class Marks:
    """What is known of a batch's columns."""

    unknown: set[str]  # columns that may hold an Unknown
    irregular: set[str]  # columns whose equal values may be of different types


class Fallback(Exception):
    """The column reader does not take this batch as it is; evaluate it case by case."""


FactKind = tuple[str, Callable[[Any, str | None], Any], bool, Unknown]
Candidates = tuple[tuple[VFn | None, VFn], ...]  # (conditions or None, value), tried in order


@dataclass(frozen=True, slots=True)
class BatchRule:
    """How bulk evaluation decides one rule."""

    id: str
    inputs: tuple[str, ...]  # every fact and rule its definitions read (and as_of, if read)
    decide: Decide  # the scalar decision, for cases with an unknown input
    dispatch: str | None  # the fact whose value selects the candidate definitions
    table: dict[Any, int]  # that fact's value → the candidates to try (index in groups)
    default: int
    groups: tuple[Candidates, ...] | None  # None: decided case by case (a fee schedule)
    # What the scalar decision leaves in the environment besides the value (a fee's lines).
    side: tuple[str, ...] = ()
    # Whether equal inputs are alike in every way a value can show (not so for decimals:
    # 1.0 == 1; nor for moments: 17:00 Pacific == 20:00 Eastern), so a decision may be reused.
    reusable: bool = False


def batch_rule(rule: Any, ctx: Any) -> BatchRule:
    """Compile one rule for bulk evaluation (an ``engine.run.program.CompiledRule``).

    Definitions told apart by one fact's value (a ruleset's ``permit.code == "IBC"``) are
    grouped by that value (the rule's ``Dispatch``, found at compile time); values whose
    definitions read alike (a ruleset gives every code the same wording) share one group,
    computed once.
    """
    variants = rule.variants
    inputs = tuple(dict.fromkeys(x for v in variants for x in (*v.facts, *v.rules)))
    if any(v.value_node is None or _reads_as_of(v) for v in variants):
        inputs += ("as_of",)
    if any(v.value_node is None for v in variants):
        # A fee leaves its lines for its `_lines` companion to read.
        lines = tuple(lines_key(r) for v in variants for r in v.rules)
        return BatchRule(rule.id, inputs + lines, rule.decide, None, {}, 0, None,
                         (lines_key(rule.id),))  # fmt: skip
    dispatch = rule.dispatch
    signatures: dict[Any, int] = {}
    groups: list[Candidates] = []

    def group(indices: list[int]) -> int:
        cands = []
        for i in indices:
            v = variants[i]
            parts = v.when_parts[1:] if dispatch and dispatch.keyed[i] else v.when_parts
            cands.append((tuple(p[0] for p in parts), v.value_node, v.types))
        signature = tuple((w, val) for w, val, _ in cands)
        if signature not in signatures:
            signatures[signature] = len(groups)
            groups.append(tuple(
                (conjoin_vector([compile_vector(w, types, ctx) for w in whens]),
                 compile_vector(val, types, ctx))
                for whens, val, types in cands))  # fmt: skip
        return signatures[signature]

    if dispatch is None:
        return BatchRule(rule.id, inputs, rule.decide, None, {},
                         group(list(range(len(variants)))), tuple(groups),
                         reusable=_reusable(inputs, ctx))  # fmt: skip
    table = {value: group(list(indices)) for value, indices in dispatch.table.items()}
    default = group(list(dispatch.default))
    return BatchRule(rule.id, inputs, rule.decide, dispatch.fact, table, default, tuple(groups),
                     reusable=_reusable(inputs, ctx))  # fmt: skip


# Types whose equal values are the same value: a decision on them may be reused.
_SAME_WHEN_EQUAL = frozenset({"bool", "int", "date", "enum", "string", "list"})


def _reusable(inputs: tuple[str, ...], cp: Any) -> bool:
    def type_of(name: str) -> str:
        decl = cp.facts.get(name) or cp.rules.get(name)
        return "date" if name == "as_of" else decl.type.name if decl is not None else "any"

    return all(type_of(k) in _SAME_WHEN_EQUAL for k in inputs)


def _reads_as_of(variant: Any) -> bool:
    nodes = [*(p[0] for p in variant.when_parts), variant.value_node]
    return any(r.path == "as_of" for node in nodes for r in n.iter_refs(node))


def run_rules(rules: Sequence[BatchRule], cols: Cols, n_rows: int, marks: Marks) -> None:
    """Compute the column of every rule into ``cols``; the marks grow with the rules."""
    every = range(n_rows)
    unknown = marks.unknown
    for rule in rules:
        flagged = [k for k in rule.inputs if k in unknown]
        good: Rows = every
        bad: list[int] = []
        if rule.groups is None:  # a fee schedule: case by case
            bad, good = list(every), []
        elif flagged:
            bad = sorted({r for k in flagged for r, v in enumerate(cols[k]) if v.__class__ is U})
            skip = set(bad)
            good = [r for r in every if r not in skip] if bad else every
        irregular = not marks.irregular.isdisjoint(rule.inputs)
        if irregular:
            marks.irregular.add(rule.id)
        out = _decide_columns(rule, cols, good, n_rows) if good else [None] * n_rows
        if bad:
            _decide_rows(rule, cols, bad, out, marks, reuse=rule.reusable and not irregular)
        cols[rule.id] = out


def _decide_rows(
    rule: BatchRule, cols: Cols, rows: list[int], out: list[Any], marks: Marks, reuse: bool
) -> None:
    """Decide ``rows`` one by one with the scalar closures. A batch often lacks the same facts
    in many cases, so a decision is remembered by its inputs when equal inputs are the same
    inputs (``BatchRule.reusable``, and no input column ``irregular``) and they can be keys,
    and reused unless it is a list (no two cases share a list their receiver may change)."""
    inputs = [k for k in rule.inputs if k in cols]
    columns = [cols[k] for k in inputs]
    decide, side = rule.decide, rule.side
    memo: dict[tuple[Any, ...], Any] = {}
    reuse = reuse and not side
    key: tuple[Any, ...] = ()
    for r in rows:
        if reuse:
            key = tuple([c[r] for c in columns])
            try:
                out[r] = memo[key]
                continue
            except KeyError:
                pass
            except TypeError:  # an input is a list: no key
                key = ()
        env = dict(zip(inputs, key, strict=True)) if key else {k: cols[k][r] for k in inputs}
        out[r] = value = decide(env)[0]
        if value.__class__ is U:
            marks.unknown.add(rule.id)
        if side:
            for k in side:
                if k in env:  # a fee's lines: absent reads as none charged
                    cols.setdefault(k, [()] * len(out))[r] = env[k]
        elif key and value.__class__ is not list:
            memo[key] = value


def _decide_columns(rule: BatchRule, cols: Cols, rows: Rows, n_rows: int) -> list[Any]:
    """The rule's column: its value at ``rows`` (every input known), None elsewhere."""
    assert rule.groups is not None
    if rule.dispatch is None:
        return _first_applying(rule.groups[rule.default], cols, rows, None, n_rows)
    table, default = rule.table, rule.default
    keys = cols[rule.dispatch]
    by_value = {v: table.get(v, default) for v in set(keys)}
    chosen = set(by_value.values())
    if len(chosen) == 1:
        return _first_applying(rule.groups[chosen.pop()], cols, rows, None, n_rows)
    out: list[Any] = [None] * n_rows
    for g in sorted(chosen):
        part = [r for r in rows if by_value[keys[r]] == g]
        if part:
            _first_applying(rule.groups[g], cols, part, out, n_rows)
    return out


def _first_applying(
    cands: Candidates, cols: Cols, rows: Rows, out: list[Any] | None, n_rows: int
) -> list[Any]:
    """Each row's value from the first candidate whose conditions hold (None when none does),
    written into ``out`` (a new column when None)."""
    remaining = rows
    for when, value in cands:
        if when is None:
            take, remaining = remaining, []
        else:
            take, rest = select(remaining, when(cols, remaining))
            take, remaining = (remaining, []) if not rest else (take, rest)
        if take:
            vals = value(cols, take)
            if take.__class__ is range and out is None:
                return vals  # every row, from one candidate
            if out is None:
                out = [None] * n_rows
            for r, v in zip(take, vals, strict=True):
                out[r] = v
        if not remaining:
            break
    return out if out is not None else [None] * n_rows


# Reading: the facts of many cases as columns.


def read_columns(
    tree: dict[str, Any],
    kinds: dict[str, FactKind],
    facts: list[Any],
    need: dict[str, Unknown],
) -> tuple[Cols, Marks]:
    """The column of every fact the cases give (and of every fact ``need`` names), and what
    is marked about them.

    ``tree`` is ``FactReader.tree``; ``kinds`` gives per fact id its type name, its converter,
    whether it may be null and its unknown. Raises ``Fallback`` on anything to report.
    """
    cols: Cols = {}
    marks = Marks(set(), set())
    try:
        _read_level(tree, facts, kinds, cols, marks)
    except Exception as exc:
        # Not only TypeError and BadValue: an embedding program's key or value may raise
        # anything from the ``__hash__``, ``__eq__`` or ``__lt__`` a set or sort calls. The
        # case-by-case reader, which touches only plain values, then names the problem.
        raise Fallback from exc
    n_rows = len(facts)
    for fid, u in need.items():
        if fid not in cols:
            cols[fid] = [u] * n_rows
            marks.unknown.add(fid)
    return cols, marks


def _read_level(
    tree: dict[str, Any],
    given: list[dict[str, Any]],
    kinds: dict[str, FactKind],
    cols: Cols,
    marks: Marks,
) -> None:
    """Read one level of the fact tree; ``given`` holds each case's mapping at this level (an
    empty one where the case has none)."""
    present: set[Any] = set().union(*given)
    if not present <= tree.keys():
        raise Fallback  # an unknown fact: the case-by-case reader names it
    for key in sorted(present):
        node = tree[key]
        # dict.get on a value that is not a mapping raises TypeError: a Fallback
        col: list[Any] = list(map(dict.get, given, repeat(key), repeat(_MISS)))
        if node.__class__ is dict:
            if not set(map(type, col)) <= _GROUP_TYPES:
                raise Fallback  # a group given as null, a list, text: the reader says so
            if _MISS in col:
                col = [_EMPTY if v is _MISS else v for v in col]
            _read_level(node, col, kinds, cols, marks)
            continue
        fid = node[0]
        kind, convert, nullable, u = kinds[fid]
        cols[fid], missing, each = _convert(col, kind, convert, nullable, u)
        if each:
            marks.irregular.add(fid)
        if missing:
            marks.unknown.add(fid)


def _convert(
    col: list[Any], kind: str, convert: Callable[[Any, str | None], Any], nullable: bool,
    u: Unknown,
) -> tuple[list[Any], bool, bool]:  # fmt: skip
    """One fact's column (converted and checked, a missing value made the fact's unknown),
    whether any value is missing, and whether the values were converted one by one (equal
    values of other types are then kept apart, and no decision may be reused across them)."""
    types = set(map(type, col))
    if _NULL in types and not nullable:
        raise Fallback  # the reader says which fact cannot be null
    missing = _MISSING in types
    by_kind = kind in _BY_VALUE and types <= _TYPES_OF[kind]
    if not by_kind and not (kind in _NUMBERS and types - _ABSENT in _ONE_TEXT):
        # Equal values of other types (1 for true, a date subclass, 1.0 and 1) must not be
        # merged: convert each one.
        each = [u if v is _MISS else None if v is None else convert(v, None) for v in col]
        return each, missing, kind in _BY_VALUE
    if kind in _AS_GIVEN and not missing:
        for v in set(col) - {None}:
            convert(v, None)  # checks, raising BadValue
        return col, False, False
    fixed = {_MISS: u, None: None}
    fast = iso_dates if kind == "date" else None
    return by_value(col, lambda v: convert(v, None), fixed, fast), missing, False


def iso_dates(values: list[Any]) -> list[dt.date] | None:
    """``YYYY-MM-DD`` strings as dates, when every one is such a date in the range a case may
    give (None otherwise: convert each with its messages)."""
    try:
        days = list(map(_fromiso, values))
    except (TypeError, ValueError):
        return None
    return days if not days or (min(days) >= EARLIEST and max(days) <= LATEST) else None


def nested(values: list[Any], path: Sequence[str]) -> list[Any]:
    """The value at ``path`` in each mapping (None where it is absent)."""
    for key in path:
        values = [v.get(key) if v.__class__ is dict else None for v in values]
    return values


def by_value(
    values: list[Any],
    convert: Callable[[Any], Any],
    fixed: dict[Any, Any] | None = None,
    fast: Callable[[list[Any]], list[Any] | None] | None = None,
) -> list[Any]:
    """``convert`` applied once per distinct value of a column; the values in ``fixed`` map as
    given there, and ``fast`` may convert all the others at once (None: it cannot)."""
    fixed = fixed or {}
    distinct = [v for v in set(values) if v not in fixed]
    found = fast(distinct) if fast is not None else None
    table = dict(zip(distinct, found if found is not None else map(convert, distinct),
                     strict=True))  # fmt: skip
    table.update(fixed)
    return list(map(table.__getitem__, values))
