"""Stage 3 of the expression language: typed syntax tree → a Python closure ``env -> value``.

Nothing is ever handed to ``eval``/``exec``: every node becomes a small closure, built once per
policy. Evaluation is three-valued: an ``Unknown`` (a fact the case does not give) propagates
through every operation except where the logic already decides (``false and unknown`` is false).
A ``None`` is a null event (a date that has not happened) or the value of a rule that did not
apply: arithmetic on it gives null, comparisons with it are false, earliest/latest/min/max/sum
skip it, and as a condition it counts as false.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import lru_cache, reduce
from typing import Any, Generic, Protocol, TypeVar

from dateutil.relativedelta import relativedelta

from dsl import nodes as n
from dsl.typecheck import Types
from dsl.values import Duration, RangeError, Unknown, merge_unknowns

Env = dict[str, Any]
Fn = Callable[[Env], Any]
U = Unknown


class Context(Protocol):
    """What compiled expressions need from the jurisdiction: its calendar and its sections."""

    @property
    def time_zone(self) -> dt.tzinfo: ...

    def is_business_day(self, day: dt.date) -> bool: ...

    def add_business_days(self, day: dt.date, count: int) -> dt.date:
        """``day`` moved by ``count`` business days; OverflowError past the calendar's reach."""
        ...

    def in_force(self, citation: str) -> bool: ...


@lru_cache(maxsize=65536)
def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus whole months, clamped to the month's end (Feb 29 + 12 months = Feb 28).

    >>> add_months(dt.date(2024, 2, 29), 12)
    datetime.date(2025, 2, 28)
    """
    result: dt.date = day + relativedelta(months=months)
    return result


def shift(value: Any, d: Duration, ctx: Context, sign: int = 1) -> Any:
    """``value`` (a date or datetime) moved by the duration ``d``, forward or back."""
    amount = d.amount * sign
    if isinstance(value, dt.datetime):
        # Calendar arithmetic on a moment happens on the jurisdiction's wall clock, so
        # "5:00 p.m. plus one day" stays 5:00 p.m. across a daylight-saving change.
        value = value.astimezone(ctx.time_zone)
    if d.unit == "days":
        return value + dt.timedelta(days=amount)
    if d.unit == "weeks":
        return value + dt.timedelta(weeks=amount)
    if d.unit in ("months", "years"):
        months = amount * (12 if d.unit == "years" else 1)
        if isinstance(value, dt.datetime):
            return value + relativedelta(months=months)
        return add_months(value, months)
    return add_business_days(value, amount, ctx)


def add_business_days(day: dt.date, count: int, ctx: Context) -> dt.date:
    """Count ``count`` business days forward (or back, when negative) from ``day``; a moment
    keeps its wall-clock time (its day is counted as the date it is on there)."""
    if isinstance(day, dt.datetime):
        moved = ctx.add_business_days(day.date(), count)
        return dt.datetime.combine(moved, day.timetz())
    return ctx.add_business_days(day, count)


def next_business_day(day: dt.date, ctx: Context) -> dt.date:
    """The first business day after ``day``."""
    return add_business_days(day, 1, ctx)


def roll_forward(day: dt.date, ctx: Context) -> dt.date:
    """``day`` when it is a business day, else the next business day."""
    return day if ctx.is_business_day(day) else next_business_day(day, ctx)


def _unknown(*values: Any) -> Unknown:
    u = merge_unknowns(list(values))
    assert u is not None
    return u


def _unknown2(a: Any, b: Any) -> Unknown:
    """The unknown of ``a op b`` (at least one of them is unknown); the hot path of ``_unknown``."""
    if a.__class__ is U:
        return a.merge(b) if b.__class__ is U else a
    return b  # type: ignore[no-any-return]


COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


T = TypeVar("T")


class NodeCompiler(Generic[T]):
    """A compiler of typed syntax trees: ``compile`` hands each node to the method named after
    its class (``_if`` for ``If``). The scalar and the column compilers share this shape."""

    def __init__(self, types: Types, ctx: Any) -> None:
        self.types = types
        self.ctx = ctx

    def compile(self, node: n.Node) -> T:
        method: Callable[[Any], T] = getattr(self, "_" + type(node).__name__.lower())
        return method(node)


class _Compiler(NodeCompiler[Fn]):
    ctx: Context

    def _literal(self, node: n.Literal) -> Fn:
        value = node.value
        return lambda env: value

    def _ref(self, node: n.Ref) -> Fn:
        return operator.itemgetter(node.path)

    def _test(self, node: n.Test) -> Fn:
        if isinstance(node.operand, n.Ref):
            return _ref_test(node.operand.path, node.kind)
        f = self.compile(node.operand)
        if node.kind == "missing":
            return lambda env: f(env).__class__ is U
        if node.kind == "set" or node.kind == "not_null":

            def is_set(env: Env) -> Any:
                v = f(env)
                return v if v.__class__ is U else v is not None

            return is_set

        def is_null(env: Env) -> Any:
            v = f(env)
            return v if v.__class__ is U else v is None

        return is_null

    def _unary(self, node: n.Unary) -> Fn:
        f = self.compile(node.operand)
        if node.op == "not":

            def not_(env: Env) -> Any:
                v = f(env)
                return v if v.__class__ is U else not v  # not null is true: null is false

            return not_

        def neg(env: Env) -> Any:
            v = f(env)
            return v if v.__class__ is U or v is None else -v

        return neg

    def _if(self, node: n.If) -> Fn:
        fc, ft, fe = self.compile(node.cond), self.compile(node.then), self.compile(node.else_)

        def if_(env: Env) -> Any:
            c = fc(env)
            if c is True:
                return ft(env)
            if c is False or c is None:  # a condition that did not apply is false
                return fe(env)
            # Unknown condition: still decided when both branches agree.
            t, e = ft(env), fe(env)
            if t.__class__ is not U and t.__class__ is e.__class__ and t == e:
                return t
            return _unknown(c, t, e)

        return if_

    def _listexpr(self, node: n.ListExpr) -> Fn:
        items = [
            (self.compile(i.expr), None if i.cond is None else self.compile(i.cond))
            for i in node.items
        ]
        if all(c is None for _, c in items):
            fs = [f for f, _ in items]

            def plain_list(env: Env) -> Any:
                out = [f(env) for f in fs]
                u = merge_unknowns(out)
                return out if u is None else u

            return plain_list

        def cond_list(env: Env) -> Any:
            out: list[Any] = []
            unknowns: list[Any] = []
            for f, c in items:
                keep = True if c is None else c(env)
                if keep.__class__ is U:
                    unknowns.append(keep)
                elif keep:
                    v = f(env)
                    (unknowns if v.__class__ is U else out).append(v)
            return _unknown(*unknowns) if unknowns else out

        return cond_list

    def _binary(self, node: n.Binary) -> Fn:
        fa, fb = self.compile(node.left), self.compile(node.right)
        op = node.op
        if op == "and":
            return _and(fa, fb)
        if op == "or":
            return _or(fa, fb)
        if op in ("in", "not_in"):
            right = node.right
            if (
                isinstance(right, n.ListExpr)
                and isinstance(node.left, n.Ref)
                and all(isinstance(i.expr, n.Literal) and i.cond is None for i in right.items)
            ):
                consts = frozenset(i.expr.value for i in right.items)  # type: ignore[attr-defined]
                return _member_ref_const(node.left.path, consts, op == "not_in")
            return _membership(fa, fb, op == "not_in")
        if op in COMPARE:
            if isinstance(node.left, n.Ref) and isinstance(node.right, n.Literal):
                return _compare_ref_const(COMPARE[op], node.left.path, node.right.value)
            if isinstance(node.left, n.Ref) and isinstance(node.right, n.Ref):
                return _compare_refs(COMPARE[op], node.left.path, node.right.path)
            return _compare(COMPARE[op], fa, fb)
        return self._arith(node, fa, fb)

    def _arith(self, node: n.Binary, fa: Fn, fb: Fn) -> Fn:
        lt, rt = self.types[id(node.left)].name, self.types[id(node.right)].name
        ctx, op = self.ctx, node.op
        if rt == "duration" and lt in ("date", "datetime") and isinstance(node.right, n.Literal):
            # The common case: `x + 180 days`.
            sign, d = -1 if op == "-" else 1, node.right.value
            if isinstance(node.left, n.Ref):
                return _shift_ref(node.left.path, d, ctx, sign)
            return _lift1(fa, lambda a: shift(a, d, ctx, sign))
        return _lift2(fa, fb, arithmetic(lt, rt, op, ctx))

    def _call(self, node: n.Call) -> Fn:
        fs = [self.compile(a) for a in node.args]
        impl = IMPLEMENTATIONS[node.name]
        ctx = self.ctx
        if node.name in STRICT_UNARY:
            return _lift1(fs[0], lambda a: impl(ctx, a))
        if node.name == "at":
            return _lift2(fs[0], fs[1], lambda d, t: impl(ctx, d, t))
        scalar_args = all(self.types[id(a)].name != "list" for a in node.args)
        if node.name in PICK and scalar_args:
            return (
                _pick2(PICK[node.name], fs[0], fs[1])
                if len(fs) == 2
                else _pick(PICK[node.name], fs)
            )

        def call(env: Env) -> Any:
            args = [f(env) for f in fs]
            return impl(ctx, *args)

        return call


def _pick2(first: bool, fa: Fn, fb: Fn) -> Fn:
    """``earliest``/``min`` (first=True) or ``latest``/``max`` of two scalars: nulls skipped."""

    def pick(env: Env) -> Any:
        a, b = fa(env), fb(env)
        if a.__class__ is U or b.__class__ is U:
            return _unknown2(a, b)
        if a is None:
            return b
        if b is None:
            return a
        return (a if a <= b else b) if first else (a if a >= b else b)

    return pick


def _pick(first: bool, fs: list[Fn]) -> Fn:
    """``_pick2`` for any number of scalars."""

    def pick(env: Env) -> Any:
        best: Any = None
        unknown: Any = None
        for f in fs:
            v = f(env)
            if v.__class__ is U:
                unknown = v if unknown is None else unknown.merge(v)
            elif v is not None and (best is None or (v < best if first else v > best)):
                best = v
        return best if unknown is None else unknown

    return pick


def _lift1(f: Fn, calc: Callable[[Any], Any]) -> Fn:
    def lifted(env: Env) -> Any:
        a = f(env)
        if a is None or a.__class__ is U:
            return a
        return calc(a)

    return lifted


def _lift2(fa: Fn, fb: Fn, calc: Callable[[Any, Any], Any]) -> Fn:
    def lifted(env: Env) -> Any:
        a, b = fa(env), fb(env)
        if a.__class__ is U or b.__class__ is U:
            return _unknown2(a, b)
        if a is None or b is None:
            return None
        return calc(a, b)

    return lifted


def arithmetic(lt: str, rt: str, op: str, ctx: Context) -> Callable[[Any, Any], Any]:
    """The operation ``a op b`` on known, non-null operands of types ``lt`` and ``rt`` (the
    scalar and the column compilers share it)."""
    if rt == "duration" and lt in ("date", "datetime"):
        sign = -1 if op == "-" else 1
        return lambda a, b: shift(a, b, ctx, sign)
    if lt == "duration" and rt == "date":
        return lambda a, b: shift(b, a, ctx)
    if lt == "date" and rt == "date":
        return lambda a, b: (a - b).days
    if "duration" in (lt, rt):
        return _scale_duration
    calc = _divide if op == "/" else ARITHMETIC[op]
    if lt == "int" and rt == "int" and op != "/":
        return calc  # ints are exact and unbounded: nothing to check
    if "money" in (lt, rt) and not (op == "/" and lt == rt):
        return _checked(calc, MAX_MONEY)
    return _checked(calc, None)


ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}
# The largest amount of money a computation may give: written with its cents, it still fits the
# 28 digits of exact decimal arithmetic.
MAX_MONEY = Decimal(10) ** 18
# What a clerk reads when decimal arithmetic overflows (the exception's class says nothing).
TOO_LARGE = "a number it reads is out of range, too large to compute with"


def _checked(calc: Callable[[Any, Any], Any], limit: Decimal | None) -> Callable[[Any, Any], Any]:
    """``calc`` on decimals, whose overflow (or an amount past ``limit``) is an OverflowError:
    a number the case gives is out of range (``case/out-of-range``), not an internal error."""

    def checked(a: Any, b: Any) -> Any:
        try:
            v = calc(a, b)
        except ArithmeticError:  # decimal.Overflow, decimal.InvalidOperation
            raise RangeError(TOO_LARGE) from None
        if limit is not None and v is not None and abs(v) >= limit:
            raise RangeError(f"the amount {v:.2E} is out of range")
        return v

    return checked


def _scale_duration(a: Any, b: Any) -> Duration:
    d, k = (a, b) if isinstance(a, Duration) else (b, a)
    return Duration(d.amount * k, d.unit)


def _divide(a: Any, b: Any) -> Any:
    if b == 0:
        return None  # a division by zero has no value; the rule reads it as null
    return Decimal(a) / Decimal(b)


def _connective(decisive: bool, fa: Fn, fb: Fn) -> Fn:
    """``and`` (decisive False) or ``or`` (decisive True): one operand with the decisive value
    decides, whatever the other is; otherwise both must be known."""
    other = not decisive

    def connective(env: Env) -> Any:
        a = fa(env)
        if a is None:  # a condition that did not apply counts as false
            a = False
        if a is decisive:
            return decisive
        b = fb(env)
        if b is None:
            b = False
        if b is decisive:
            return decisive
        if a is other and b is other:
            return other
        return _unknown2(a, b)

    return connective


def _and(fa: Fn, fb: Fn) -> Fn:
    return _connective(False, fa, fb)


def _or(fa: Fn, fb: Fn) -> Fn:
    return _connective(True, fa, fb)


# Specialised closures for the shapes policies use most (a reference compared with a constant, a
# reference tested for null, a date reference plus a fixed duration): they read the environment
# directly instead of calling a closure per operand. Same semantics as the general forms.


def _ref_test(key: str, kind: str) -> Fn:
    if kind == "missing":
        return lambda env: env[key].__class__ is U
    if kind in ("set", "not_null"):

        def is_set(env: Env) -> Any:
            v = env[key]
            return v if v.__class__ is U else v is not None

        return is_set

    def is_null(env: Env) -> Any:
        v = env[key]
        return v if v.__class__ is U else v is None

    return is_null


def _compare_ref_const(cmp: Callable[[Any, Any], bool], key: str, const: Any) -> Fn:
    if const is None:
        return lambda env: env[key] if env[key].__class__ is U else False

    def compare(env: Env) -> Any:
        a = env[key]
        if a.__class__ is U:
            return a
        return False if a is None else cmp(a, const)

    return compare


def _compare_refs(cmp: Callable[[Any, Any], bool], ka: str, kb: str) -> Fn:
    def compare(env: Env) -> Any:
        a, b = env[ka], env[kb]
        if a.__class__ is U or b.__class__ is U:
            return _unknown2(a, b)
        if a is None or b is None:
            return False
        return cmp(a, b)

    return compare


def _shift_ref(key: str, d: Duration, ctx: Context, sign: int) -> Fn:
    if d.unit == "days":
        delta = dt.timedelta(days=d.amount * sign)

        def add_days(env: Env) -> Any:
            a = env[key]
            if a is None or a.__class__ is U:
                return a
            return a + delta if a.__class__ is dt.date else shift(a, d, ctx, sign)

        return add_days

    if d.unit in ("months", "years"):
        months = d.amount * sign * (12 if d.unit == "years" else 1)

        def add_calendar_months(env: Env) -> Any:
            a = env[key]
            if a is None or a.__class__ is U:
                return a
            return add_months(a, months) if a.__class__ is dt.date else shift(a, d, ctx, sign)

        return add_calendar_months

    def shifted(env: Env) -> Any:
        a = env[key]
        if a is None or a.__class__ is U:
            return a
        return shift(a, d, ctx, sign)

    return shifted


def _compare(cmp: Callable[[Any, Any], bool], fa: Fn, fb: Fn) -> Fn:
    def compare(env: Env) -> Any:
        a, b = fa(env), fb(env)
        if a.__class__ is U or b.__class__ is U:
            return _unknown2(a, b)
        if a is None or b is None:
            return False  # a null event is neither before, after nor equal to anything
        return cmp(a, b)

    return compare


def _member_ref_const(key: str, consts: frozenset[Any], negate: bool) -> Fn:
    def member(env: Env) -> Any:
        a = env[key]
        if a.__class__ is U:
            return a
        return False if a is None else (a in consts) is not negate

    return member


def _membership(fa: Fn, fb: Fn, negate: bool) -> Fn:
    def member(env: Env) -> Any:
        a, b = fa(env), fb(env)
        if a.__class__ is U or b.__class__ is U:
            return _unknown2(a, b)
        if a is None or b is None:
            return False
        return (a in b) is not negate

    return member


def _values(args: tuple[Any, ...]) -> list[Any] | Unknown:
    """Flatten list arguments, drop nulls; an unknown anywhere makes the whole unknown."""
    out: list[Any] = []
    for a in args:
        out.extend(a) if isinstance(a, list) else out.append(a)
    u = merge_unknowns(out)
    return u if u is not None else [v for v in out if v is not None]


def _aggregate(pick: Callable[[list[Any]], Any], empty: Any = None) -> Callable[..., Any]:
    def agg(ctx: Context, *args: Any) -> Any:
        vals = _values(args)
        if vals.__class__ is U:
            return vals
        if not vals:
            return empty
        try:
            return pick(vals)  # type: ignore[arg-type]
        except ArithmeticError:  # a sum of decimals past decimal arithmetic's range
            raise RangeError(TOO_LARGE) from None

    return agg


def _any(ctx: Context, *args: Any) -> Any:
    vals: list[Any] = []
    for a in args:
        vals.extend(a) if isinstance(a, list) else vals.append(a)
    vals = [False if v is None else v for v in vals]
    if True in vals:
        return True
    u = merge_unknowns(vals)
    return u if u is not None else False


def _all(ctx: Context, *args: Any) -> Any:
    vals: list[Any] = []
    for a in args:
        vals.extend(a) if isinstance(a, list) else vals.append(a)
    vals = [False if v is None else v for v in vals]
    if False in vals:
        return False
    u = merge_unknowns(vals)
    return u if u is not None else True


def _count(ctx: Context, a: Any) -> Any:
    return a if a.__class__ is U else (0 if a is None else len(a))


def _at(ctx: Context, day: dt.date, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=ctx.time_zone)


# The tables below are shared with the column compiler (dsl.columns): each built-in function's
# implementation ``(ctx, *args) -> value``, the comparison operators, which functions pick one of
# their arguments (True: the least), and which give null for a null argument.
IMPLEMENTATIONS: dict[str, Callable[..., Any]] = {
    "earliest": _aggregate(min),
    "latest": _aggregate(max),
    "min": _aggregate(min),
    "max": _aggregate(max),
    "sum": _aggregate(sum, 0),
    "count": _count,
    "any": _any,
    "all": _all,
    "next_business_day": lambda ctx, d: next_business_day(d, ctx),
    "roll_forward": lambda ctx, d: roll_forward(d, ctx),
    "is_business_day": lambda ctx, d: ctx.is_business_day(d),
    "at": _at,
    "days": lambda ctx, k: Duration(k, "days"),
    "business_days": lambda ctx, k: Duration(k, "business_days"),
    "months": lambda ctx, k: Duration(k, "months"),
    "years": lambda ctx, k: Duration(k, "years"),
    "in_force": lambda ctx, c: ctx.in_force(c),
}
PICK = {"earliest": True, "min": True, "latest": False, "max": False}
STRICT_UNARY = frozenset(
    {
        "next_business_day",
        "roll_forward",
        "is_business_day",
        "days",
        "business_days",
        "months",
        "years",
        "in_force",
        "count",
    }
)


def compile_expression(node: n.Node, types: Types, ctx: Context) -> Fn:
    """Compile a type-checked expression into a closure over an environment of values."""
    return _Compiler(types, ctx).compile(node)


def conjoin(fns: list[Fn]) -> Fn | None:
    """One closure for several conditions that must all hold (three-valued ``and``)."""
    return chain(fns, _and)


F = TypeVar("F")


def chain(fns: Sequence[F], join: Callable[[F, F], F]) -> F | None:
    """``fns`` joined pairwise from the left (None when there are none): conditions that must
    all hold, in the scalar and the column compilers alike."""
    return reduce(join, fns) if fns else None
