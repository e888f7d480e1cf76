"""Turning evaluated values into the result contract's JSON forms and into words for staff.

Money is a string with two decimals (rounded half up), dates ISO 8601, datetimes ISO 8601 with
their offset (DESIGN.md §4).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import cache, lru_cache
from typing import Any

from dsl.typesys import Type
from dsl.values import Duration, Unknown

CENT = Decimal("0.01")
_PRECISION = 28  # the default decimal context's digits


def cents(value: Any, rounding: str = ROUND_HALF_UP) -> Decimal:
    """``value`` rounded to the cent, however many digits it has.

    The default context holds 28 digits and refuses to round a larger amount
    (``InvalidOperation``); an amount is never refused for its size, so such a one is rounded
    in a context wide enough for it.

    >>> cents(Decimal("1e30"))
    Decimal('1000000000000000000000000000000.00')
    """
    d = Decimal(value)
    if d.adjusted() < _PRECISION - 3:
        return d.quantize(CENT, rounding=rounding)
    return d.quantize(CENT, rounding=rounding, context=Context(prec=d.adjusted() + 3))


def to_json(value: Any, t: Type | None = None) -> Any:
    """The JSON form of a value (``None`` for null, not-applicable and unknown)."""
    if value is None or value.__class__ is Unknown:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, Duration):
        return str(value)
    if isinstance(value, list):
        item = t.item if t is not None else None
        return [to_json(v, item) for v in value]
    if t is not None and t.name == "money":
        return str(cents(value))
    if isinstance(value, Decimal):
        return str(value.normalize()) if value == value.to_integral() else str(value)
    return value


@lru_cache(maxsize=8192)
def _date_words(value: dt.date) -> str:
    """Dates recur across cases and explanation steps; format each once."""
    return f"{value:%A}, {value:%B} {value.day}, {value.year}"


def to_words(value: Any, t: Type | None = None) -> str:
    """A value as staff read it: ``March 5, 2024``, ``$1,000.00``, ``yes``."""
    if value.__class__ is Unknown:
        return "unknown"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        # Not cached: equal moments in different zones hash alike but read differently.
        return (
            f"{value:%B} {value.day}, {value.year} at {value.hour % 12 or 12}:"
            f"{value:%M} {'a.m.' if value.hour < 12 else 'p.m.'} {value.tzname()}"
        )
    if isinstance(value, dt.date):
        return _date_words(value)
    if isinstance(value, list):
        item = t.item if t is not None else None
        return ", ".join(to_words(v, item) for v in value) if value else "none"
    if t is not None and t.name == "money":
        return f"${cents(value):,}"
    return str(to_json(value, t))


@cache
def json_converter(t: Type) -> Callable[[Any], Any]:
    """``to_json`` specialised for one type, for the explanation path (called per step)."""
    if t.name in ("date", "datetime"):
        return lambda v: None if v is None or v.__class__ is Unknown else v.isoformat()
    if t.name in ("bool", "int", "string", "enum"):
        return lambda v: None if v.__class__ is Unknown else v
    return lambda v: to_json(v, t)


def words_converter(t: Type, labels: Mapping[str, str] | None = None) -> Callable[[Any], str]:
    """``to_words`` specialised for one type; an enum's (or a list of enum's) values read as
    their ``labels`` where the policy gives one.

    >>> words_converter(Type.enum(("fire", "water")), {"fire": "Fire Prevention"})("fire")
    'Fire Prevention'
    """
    if labels and (t.name == "enum" or (t.name == "list" and t.item and t.item.name == "enum")):
        return _labelled(t, tuple(labels.items()))
    return _words(t)


@cache
def _labelled(t: Type, labels: tuple[tuple[str, str], ...]) -> Callable[[Any], str]:
    words = dict(labels)
    if t.name == "enum":
        return lambda v: (
            "unknown" if v.__class__ is Unknown else "none" if v is None else words.get(v, v)
        )
    return lambda v: (
        "unknown"
        if v.__class__ is Unknown
        else ", ".join(words.get(x, x) for x in v)
        if v
        else "none"
    )


@cache
def _words(t: Type) -> Callable[[Any], str]:
    """``to_words`` specialised for one type."""
    if t.name == "date":
        return lambda v: (
            "unknown" if v.__class__ is Unknown else "none" if v is None else _date_words(v)
        )
    if t.name == "bool":
        return lambda v: "unknown" if v.__class__ is Unknown else "yes" if v else "no"
    return lambda v: to_words(v, t)
