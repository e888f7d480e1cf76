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

from dsl.values import Duration, RangeError, Unknown, merge_unknowns

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
    """The unknown of ``a op b`` (at least one of them is unknown); the hot path of
    ``unknown_of``."""
    if a.__class__ is U:
        return a.merge(b) if b.__class__ is U else a
    return b  # type: ignore[no-any-return]


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
