"""The built-in functions of the expression language: one table, ``BUILTINS``, one entry each.

An entry holds everything about a function: how a call is written, its line in docs/dsl.md,
its typing rule, its implementation and how it meets null and unknown arguments. The type
checker, the scalar compiler and the column compiler read this table, and the function table of
docs/dsl.md is generated from it (``python -m dsl.builtins --markdown``; a test keeps the two
equal). Adding a function is one entry here and its fixtures in tests/fixtures/dsl_cases.yaml.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dsl.semantics import (
    TOO_LARGE,
    Context,
    U,
    count_unknown,
    next_business_day,
    quantify,
    roll_forward,
)
from dsl.typesys import (
    BOOL,
    DATE,
    DATETIME,
    DURATION,
    INT,
    NULL,
    STRING,
    TIME,
    Type,
    article,
    unify,
)
from dsl.values import Duration, RangeError, Unknown, merge_unknowns

Check = Callable[[list[Type]], Type | str]


@dataclass(frozen=True)
class Builtin:
    """One built-in function.

    Attributes:
        name: what a call is written with.
        usage: a call as written, the ``help:`` line of its type errors.
        doc: what it gives, one line of docs/dsl.md's function table.
        check: the argument types → the result type, or what is wrong with them.
        impl: ``(ctx, *args) -> value``, the semantics; every compiler calls it.
        strict: a null argument gives null and an unknown one unknown, so ``impl`` sees known,
            non-null values only (the compilers do the lifting, once for every such function).
            Otherwise ``impl`` gets the arguments as they are and decides itself.
        pick: the function gives the least (True) or the greatest (False) of its arguments,
            nulls skipped: on scalar arguments both compilers use their specialised pairwise
            closures instead of calling ``impl``, which stays the semantics they must equal.
        partial: for a strict function of one list: what it gives for an unknown argument
            that is partly known (``count``'s range); a plain unknown otherwise. Functions that
            are not strict meet partly known lists in ``impl`` (``any``, ``all``).
    """

    name: str
    usage: str
    doc: str
    check: Check
    impl: Callable[..., Any]
    strict: bool = False
    pick: bool | None = None
    partial: Callable[[Unknown], Any] | None = None


# Typing rules ---------------------------------------------------------------------------------


def _flat(args: list[Type]) -> list[Type]:
    return [a.item if a.name == "list" and a.item is not None else a for a in args]


def _same_of(kinds: tuple[str, ...], what: str, empty: Type = NULL) -> Check:
    """Arguments of one of ``kinds``, flattened; the result is their type, or ``empty`` when
    every argument is null (what the implementation gives for no values: null, or sum's 0)."""

    def check(args: list[Type]) -> Type | str:
        if not args:
            return "needs at least one argument"
        t: Type | None = NULL
        for a in _flat(args):
            if a.name not in (*kinds, "any", "null") or t is None:
                return f"needs {what}, found {article(a)}"
            t = unify(t, a)
        if t is None:
            return f"needs {what} of one type"
        return t if t.name != "null" else empty

    return check


def _fixed(params: tuple[Type, ...], result: Type) -> Check:
    def check(args: list[Type]) -> Type | str:
        if len(args) != len(params):
            return (
                f"takes {len(params)} argument{'s' if len(params) != 1 else ''}, found {len(args)}"
            )
        for got, want in zip(args, params, strict=True):
            if not want.accepts(got):
                return f"needs {article(want)}, found {article(got)}"
        return result

    return check


def _one_list(args: list[Type]) -> Type | str:
    if len(args) != 1 or args[0].name not in ("list", "any"):
        return "takes one list"
    return INT


def _bools(args: list[Type]) -> Type | str:
    for a in _flat(args):
        if a.name not in ("bool", "any", "null"):  # a null counts as false, as in `and`
            return f"needs true/false values, found {article(a)}"
    return BOOL if args else "needs at least one argument"


_DATES = _same_of(("date", "datetime"), "dates")
_NUMBERS = _same_of(("int", "decimal", "money"), "numbers")


# Implementations ------------------------------------------------------------------------------


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
    return quantify(True, args)


def _all(ctx: Context, *args: Any) -> Any:
    return quantify(False, args)


def _at(ctx: Context, day: dt.date, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=ctx.time_zone)


def _duration(unit: str) -> Callable[[Context, int], Duration]:
    return lambda ctx, k: Duration(k, unit)


# The table ------------------------------------------------------------------------------------

_FLAT = "(list arguments are flattened, nulls skipped)"

BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in [
        Builtin("earliest", "earliest(date, date, …)", f"the earliest date {_FLAT}",
                _DATES, _aggregate(min), pick=True),
        Builtin("latest", "latest(date, date, …)", f"the latest date {_FLAT}",
                _DATES, _aggregate(max), pick=False),
        Builtin("min", "min(a, b, …)", f"the least number or amount {_FLAT}",
                _NUMBERS, _aggregate(min), pick=True),
        Builtin("max", "max(a, b, …)", f"the greatest number or amount {_FLAT}; "
                "`max(list, 0)` is 0 for an empty list", _NUMBERS, _aggregate(max), pick=False),
        Builtin("sum", "sum(list, …)", f"the total of numbers or amounts {_FLAT}; 0 for none",
                _same_of(("int", "decimal", "money"), "numbers", INT), _aggregate(sum, 0)),
        Builtin("count", "count(list)", "the number of items of the list",
                _one_list, lambda ctx, a: len(a), strict=True, partial=count_unknown),
        Builtin("any", "any(list of true/false, …)", "whether any of the true/false values (or "
                "lists of them) is true; a null counts as false", _bools, _any),
        Builtin("all", "all(list of true/false, …)", "whether all of the true/false values (or "
                "lists of them) are true; a null counts as false", _bools, _all),
        Builtin("next_business_day", "next_business_day(date)",
                "the first business day after the date", _fixed((DATE,), DATE),
                lambda ctx, d: next_business_day(d, ctx), strict=True),
        Builtin("roll_forward", "roll_forward(date)",
                "the date if it is a business day, else the next business day",
                _fixed((DATE,), DATE), lambda ctx, d: roll_forward(d, ctx), strict=True),
        Builtin("is_business_day", "is_business_day(date)", "whether the date is a business day",
                _fixed((DATE,), BOOL), lambda ctx, d: ctx.is_business_day(d), strict=True),
        Builtin("at", "at(date, 17:00)",
                "the moment of that date at that time of day, in the jurisdiction's time zone",
                _fixed((DATE, TIME), DATETIME), _at, strict=True),
        Builtin("days", "days(n)", "a duration of n calendar days",
                _fixed((INT,), DURATION), _duration("days"), strict=True),
        Builtin("business_days", "business_days(n)", "a duration of n business days",
                _fixed((INT,), DURATION), _duration("business_days"), strict=True),
        Builtin("months", "months(n)", "a duration of n months (clamped to the month's end)",
                _fixed((INT,), DURATION), _duration("months"), strict=True),
        Builtin("years", "years(n)", "a duration of n years (clamped to the month's end)",
                _fixed((INT,), DURATION), _duration("years"), strict=True),
        Builtin("in_force", 'in_force("IPMC 604")', "false when the section (or one containing "
                "it) is repealed or deleted in this jurisdiction",
                _fixed((STRING,), BOOL), lambda ctx, c: ctx.in_force(c), strict=True),
    ]
}  # fmt: skip


def build_markdown() -> str:
    """docs/dsl.md's function table, one row per entry of ``BUILTINS``.

    >>> build_markdown().splitlines()[2][:60]
    '| `earliest(date, date, …)` | the earliest date (list argume'
    """
    rows = [f"| `{b.usage}` | {b.doc} |" for b in BUILTINS.values()]
    return "\n".join(["| function | result |", "|---|---|", *rows]) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m dsl.builtins --markdown")
    sys.stdout.write(build_markdown())
