"""The evaluation kernel: how one rule picks the definition that decides it, and the loop over a
compiled plan. Kept apart so that nothing on this path imports YAML, Lark or networkx.

A condition that reads a rule which did not apply gets null, and null counts as false.
A rule's definitions read as nested ``if … then … else``: the first whose conditions hold gives
the value; one whose conditions are unknown leaves the rule undetermined unless every way it
could go gives the same value; when none applies the rule is not applicable (-1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dsl import nodes as n
from dsl.compile import Fn
from dsl.recipe import recorded
from dsl.values import RangeError, Unknown

Env = dict[str, Any]
Decide = Callable[[Env], tuple[Any, int]]
Definition = tuple[Fn | None, Fn]  # (conditions or None, value)
U = Unknown


Candidate = tuple[int, Fn | None, Fn]  # (index among the definitions, conditions, value)


def decide_among(candidates: tuple[Candidate, ...], defs: tuple[Definition, ...], env: Env
                 ) -> tuple[Any, int]:  # fmt: skip
    """The first candidate whose conditions hold decides; an unknown one is resolved against
    all later definitions."""
    for i, when, fn in candidates:
        if when is not None:
            w = when(env)
            if w is False or w is None:
                continue
            if w is not True:
                return resolve_unknown(defs, i, w, env)
        return fn(env), i
    return None, -1


def resolve_unknown(defs: tuple[Definition, ...], i: int, w: Unknown, env: Env) -> tuple[Any, int]:
    """Definition ``i`` may or may not apply; decided anyway when both ways agree."""
    mine = defs[i][1](env)
    rest, pick = None, -1
    for j in range(i + 1, len(defs)):
        when, fn = defs[j]
        wj = True if when is None else when(env)
        if wj is False or wj is None:
            continue
        if wj is True:
            rest, pick = fn(env), j
        else:
            rest, pick = resolve_unknown(defs, j, wj, env)
        break
    if (
        pick >= 0
        and mine.__class__ is not U
        and rest.__class__ is not U
        and mine.__class__ is rest.__class__
        and mine == rest
    ):
        return mine, i
    u = w.merge(mine) if mine.__class__ is U else w
    return (u.merge(rest) if rest.__class__ is U else u), i


def dispatch_key(node: n.Node) -> tuple[str, frozenset[Any]] | None:
    """``fact == "x"`` or ``fact in ["x", "y"]``: the fact and the values that select."""
    if not isinstance(node, n.Binary) or not isinstance(node.left, n.Ref):
        return None
    if node.op == "==" and isinstance(node.right, n.Literal) and isinstance(node.right.value, str):
        return node.left.path, frozenset({node.right.value})
    if node.op == "in" and isinstance(node.right, n.ListExpr):
        items = node.right.items
        if all(isinstance(i.expr, n.Literal) and i.cond is None for i in items):
            return node.left.path, frozenset(i.expr.value for i in items)  # type: ignore[attr-defined]
    return None


@dataclass(frozen=True)
class Dispatch:
    """Definitions told apart by one fact's value (``permit.code == "IBC"`` in each section of a
    ruleset): per value of that fact, the definitions that may apply, so a case tries those
    alone. Found once when the rule is compiled; the scalar decide function and the column
    path (``engine.run.batch``) both read it.
    """

    fact: str
    keyed: tuple[bool, ...]  # per definition: its first condition is the test on ``fact``
    table: dict[Any, tuple[int, ...]]  # a value named by some test → its candidate definitions
    default: tuple[int, ...]  # the candidates for any other value: the untested definitions


def find_dispatch(parts: Sequence[Sequence[tuple[n.Node, Any]]]) -> Dispatch | None:
    """The dispatch of a rule whose definitions have these condition parts, or None when the
    definitions are not told apart by one fact (fewer than two test it)."""
    keys = [dispatch_key(p[0][0]) if p else None for p in parts]
    facts = {k[0] for k in keys if k is not None}
    if len(facts) != 1 or sum(k is not None for k in keys) < 2:
        return None
    every = frozenset().union(*(k[1] for k in keys if k is not None))
    table = {value: tuple(i for i, k in enumerate(keys) if k is None or value in k[1])
             for value in sorted(every, key=repr)}  # fmt: skip
    return Dispatch(facts.pop(), tuple(k is not None for k in keys), table,
                    tuple(i for i, k in enumerate(keys) if k is None))  # fmt: skip


@recorded  # a compiled policy in the cache saves this call, not the closure (dsl.recipe)
def build_decide(
    parts: list[list[tuple[n.Node, Fn]]],
    values: list[Fn],
    conjoin: Callable[[list[Fn]], Fn | None],
    dispatch: Dispatch | None,
) -> Decide:
    """The function deciding one rule from its definitions' condition parts and values; with a
    ``dispatch``, a table from the fact's value to the candidate definitions replaces trying
    each in turn (the dispatch test itself is then known to hold and is not run again)."""
    defs = tuple((conjoin([f for _, f in p]), v) for p, v in zip(parts, values, strict=True))
    if len(defs) == 1:
        return _single(defs)
    linear = tuple((i, w, f) for i, (w, f) in enumerate(defs))
    if dispatch is None:
        return lambda env: decide_among(linear, defs, env)
    rest = [conjoin([f for _, f in p[1:]]) if keyed else d[0]
            for p, keyed, d in zip(parts, dispatch.keyed, defs, strict=True)]  # fmt: skip
    fact = dispatch.fact
    table = {value: tuple((i, rest[i], defs[i][1]) for i in indices)
             for value, indices in dispatch.table.items()}  # fmt: skip
    default = tuple((i, rest[i], defs[i][1]) for i in dispatch.default)

    def dispatched(env: Env) -> tuple[Any, int]:
        key = env[fact]
        if key.__class__ is U:
            return decide_among(linear, defs, env)
        return decide_among(table.get(key, default), defs, env)

    return dispatched


def _single(defs: tuple[Definition, ...]) -> Decide:
    """The common case of one definition: no candidates to go through."""
    when, fn = defs[0]
    if when is None:
        return lambda env: (fn(env), 0)

    def single(env: Env) -> tuple[Any, int]:
        w = when(env)
        if w is True:
            return fn(env), 0
        if w is False or w is None:
            return None, -1
        return resolve_unknown(defs, 0, w, env)

    return single


Plan = tuple[tuple[str, Decide], ...]


def run_plan(plan: Plan, env: Env) -> dict[str, int]:
    """Decide every rule of ``plan`` into ``env``; returns each rule's deciding definition.

    Raises:
        OutOfRange: a number the case gives takes a date past the calendar's end."""
    chosen: dict[str, int] = {}
    rid = ""
    try:
        for rid, decide in plan:
            env[rid], chosen[rid] = decide(env)
    except (ArithmeticError, ValueError) as exc:
        raise out_of_range(rid, exc) from None
    return chosen


def run_values(plan: Plan, env: Env) -> None:
    """``run_plan`` for bulk work: the values only, not which definition decided each."""
    rid = ""
    try:
        for rid, decide in plan:
            env[rid] = decide(env)[0]
    except (ArithmeticError, ValueError) as exc:
        raise out_of_range(rid, exc) from None


class OutOfRange(Exception):
    """A date computed for rule ``rid`` falls outside the calendar (year 1 to 9999): a number
    the case gives is far too large (``tco.valid_days: 1000000000``). Dates a case gives are
    checked where they are written; the numbers that move them can only be caught here. The
    API turns it into a ``case/out-of-range`` diagnostic placed at those numbers."""

    def __init__(self, rid: str, reason: str) -> None:
        super().__init__(f"`{rid}` cannot be computed for this case: {reason}")
        self.rid = rid


def out_of_range(rid: str, exc: Exception) -> Exception:
    """``OutOfRange`` for a date past the calendar or a number past what arithmetic holds,
    in the words of a ``RangeError`` or in plain words for Python's own overflow; any other
    error as it is (a bug)."""
    if isinstance(exc, ValueError) and "out of range" not in str(exc):
        return exc
    return OutOfRange(rid, str(exc) if isinstance(exc, RangeError) else PAST_RANGE)


PAST_RANGE = ("a date or number it computes is past what the calendar (years 1 to 9999) or "
              "decimal arithmetic can hold")  # fmt: skip
