"""The three-valued core of the expression language, shared by the built-in functions
(dsl.builtins), the scalar compiler (dsl.compile) and the column compiler (dsl.columns).

Known values in, known values out: how an ``Unknown`` merges, how a duration moves a date, what
arithmetic and comparison mean on two known, non-null operands. It imports no compiler, so that
every compiler can import it.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import lru_cache, reduce
from typing import Any, Protocol, TypeVar

from dateutil.relativedelta import relativedelta

from dsl.values import Bounds, Duration, PartialList, RangeError, Unknown, merge_unknowns

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


def unknown_of(*values: Any) -> Unknown:
    """The merged unknown of ``values``, at least one of which is unknown."""
    u = merge_unknowns(list(values))
    assert u is not None
    return u


def unknown2(a: Any, b: Any) -> Unknown:
    """The unknown of ``a op b`` (at least one of them is unknown), plain; the hot path of
    ``unknown_of``."""
    if a.__class__ is U:
        return a.merge(b) if b.__class__ is U else a.plain()
    return b.plain()  # type: ignore[no-any-return]


@lru_cache(maxsize=65536)
def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus whole months, clamped to the month's end (Feb 29 + 12 months = Feb 28).

    >>> add_months(dt.date(2024, 2, 29), 12)
    datetime.date(2025, 2, 28)
    """
    # What ``day + relativedelta(months=months)`` gives (tests/test_generated.py compares the
    # two on 200,000 dates, errors past year 9999 included), at a twentieth of its cost: the
    # expiry rules call this on every case.
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    if month == 1 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        last = 29
    else:
        last = _MONTH_DAYS[month]
    return dt.date(year, month + 1, min(day.day, last))


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


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


COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
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


def arithmetic(lt: str, rt: str, op: str, ctx: Context) -> Callable[[Any, Any], Any]:
    """The operation ``a op b`` on known, non-null operands of types ``lt`` and ``rt``, for a
    pair the type checker accepts (``dsl.typecheck.arith_result``)."""
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


F = TypeVar("F")


def chain(fns: Sequence[F], join: Callable[[F, F], F]) -> F | None:
    """``fns`` joined pairwise from the left (None when there are none): conditions that must
    all hold, in the scalar and the column compilers alike."""
    return reduce(join, fns) if fns else None


# Partially known lists and counts -------------------------------------------------------------
# What list operations decide although a list is not wholly known (docs/dsl.md, "Unknown and
# null in lists"). Each is called only on the unknown path: a known list never comes here.


def count_unknown(u: Unknown) -> Any:
    """``count`` of an unknown list: the count itself when only item values are unknown, a
    count known to lie in a range when some items may or may not be in the list."""
    known = u.known
    if known.__class__ is not PartialList:
        return u.plain()
    lo, hi = known.count_bounds()
    return lo if lo == hi else Unknown(u.needs, Bounds(lo, hi))


def member_unknown(a: Any, b: Any, negate: bool) -> Any:
    """``a in b`` (``a not in b`` when ``negate``) when ``a`` or ``b`` is unknown: true as soon
    as a member known to be in the list equals ``a``, false when no item could."""
    if a.__class__ is U:
        if b.__class__ is list and not b and not negate:
            return False  # nothing is in an empty list (not even null)
        return unknown2(a, b)
    if a is None:
        return False  # null is in no list, nor "not in" one, as when the list is known
    known = b.known
    if known.__class__ is not PartialList:
        return b.plain()
    undecided = False
    for v, certain in known.items:
        if v.__class__ is U:
            undecided = True
        elif v == a:
            if certain:
                return not negate
            undecided = True
    return b.plain() if undecided else negate


def _interval(v: Any) -> tuple[Any, Any] | None:
    if v.__class__ is U:
        k = v.known
        return (k.lo, k.hi) if k.__class__ is Bounds else None
    return None if v is None else (v, v)


def _lists_differ(p: Any, other: Any) -> bool:
    """Whether the partially known list ``p`` surely differs from the known list ``other``:
    it has too many or too few items to equal it, or a member that ``other`` lacks."""
    if p.__class__ is not U or p.known.__class__ is not PartialList or other.__class__ is not list:
        return False
    lo, hi = p.known.count_bounds()
    return not lo <= len(other) <= hi or any(m not in other for m in p.known.members())


def compare_unknown(cmp: Callable[[Any, Any], bool], a: Any, b: Any) -> Any:
    """``a cmp b`` when ``a`` or ``b`` is unknown: decided when one is a count known to lie in
    a range and every value of the range gives the same answer (``count(xs) == 0`` is false
    once one item is known to be in ``xs``)."""
    if cmp is operator.eq or cmp is operator.ne:
        differ = _lists_differ(a, b) or _lists_differ(b, a)
        if differ:
            return cmp is operator.ne
    ia, ib = _interval(a), _interval(b)
    if ia is None or ib is None:
        return unknown2(a, b)
    (alo, ahi), (blo, bhi) = ia, ib
    if cmp is operator.eq or cmp is operator.ne:
        if ahi < blo or bhi < alo:  # the ranges do not meet: never equal
            return cmp is operator.ne
        return unknown2(a, b)
    # An order holds for every pair of the ranges when it holds for the pair least likely
    # to, and fails for every pair when it fails for the pair most likely to.
    every, some = cmp(ahi, blo), cmp(alo, bhi)
    if cmp is operator.gt or cmp is operator.ge:
        every, some = some, every
    if every:
        return True
    if not some:
        return False
    return unknown2(a, b)


def quantify(decisive: bool, args: tuple[Any, ...]) -> Any:
    """``any`` (decisive True) or ``all`` (decisive False) of values and lists of them: one
    item with the decisive value that is surely there decides; an item that may or may not be
    in a list matters only when it has the decisive value. A null counts as false."""
    unknowns: list[Any] = []
    for a in args:
        if a.__class__ is U and a.known.__class__ is PartialList:
            for v, certain in a.known.items:
                v = False if v is None else v
                if v is decisive and certain:
                    return decisive
                if v is decisive or v.__class__ is U:
                    unknowns.append(a)
            continue
        for v in a if isinstance(a, list) else (a,):
            v = False if v is None else v
            if v is decisive:
                return decisive
            if v.__class__ is U:
                unknowns.append(v)
    u = merge_unknowns(unknowns)
    return (not decisive) if u is None else u


def partial_list(items: Sequence[tuple[Callable[[Any], Any], Any]], env: Any) -> Unknown:
    """A list expression some of whose items are undecided, as a ``PartialList``: each item
    whose condition is not known false, with its value and whether it is surely there. Its
    needs are those of the unknown conditions and values."""
    entries: list[tuple[Any, bool]] = []
    unknowns: list[Any] = []
    dropped = 0
    for f, c in items:
        keep = True if c is None else c(env)
        if keep is False or keep is None:  # a condition that did not apply is false
            dropped += 1
            continue
        if keep is not True:
            unknowns.append(keep)
        v = f(env)
        if v.__class__ is U:
            unknowns.append(v)
            v = v.plain()
        entries.append((v, keep is True))
    u = merge_unknowns(unknowns)
    assert u is not None
    return Unknown(u.needs, PartialList(tuple(entries), dropped))
