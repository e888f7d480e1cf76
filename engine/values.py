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
from dsl.values import Bounds, Duration, PartialList, Unknown

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
    """Dates recur across cases and explanation steps; format each once. The names are the
    text's own, not the machine's locale (``%A`` and ``%B`` would follow it, and cost ten
    times as much)."""
    return f"{_DAYS[value.weekday()]}, {_MONTHS[value.month]} {value.day}, {value.year}"


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("", "January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip


def to_words(value: Any, t: Type | None = None) -> str:
    """A value as staff read it: ``March 5, 2024``, ``$1,000.00``, ``yes``; what is known of
    an unknown list or count (``a so far, undecided: b``, ``between 1 and 2``)."""
    if value.__class__ is Unknown:
        return "unknown" if known_json(value, t) is None else _partial_words(value, t)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        # Not cached: equal moments in different zones hash alike but read differently.
        return (
            f"{_MONTHS[value.month]} {value.day}, {value.year} at {value.hour % 12 or 12}:"
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

    def name(x: Any) -> str:
        return words.get(x, x) if x.__class__ is str else to_words(x, t.item)

    def listed(v: Any) -> str:
        if v.__class__ is Unknown:  # a partly known list reads what is known, labelled
            return "unknown" if known_json(v, t) is None else _partial_words(v, t, name)
        return ", ".join(map(name, v)) if v else "none"

    return listed


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


def known_json(value: Any, t: Type | None) -> dict[str, Any] | None:
    """What is known of an unknown value, in JSON (the ``known`` of an undetermined step):
    a list's ``members`` surely in it and the ``undecided`` values that may be; a count's
    ``at_least`` and ``at_most``. None when nothing is known of it (no item of the list is
    decided: saying that every item may be in it says nothing)."""
    k = value.known if value.__class__ is Unknown else None
    if k.__class__ is PartialList and k.decided_any():
        item = t.item if t is not None and t.name == "list" else None
        return {
            "members": to_json(k.members(), t),
            "undecided": [to_json(v, item) for v in k.undecided()],
        }
    if k.__class__ is Bounds:
        return {"at_least": k.lo, "at_most": k.hi}
    return None


def known_words(value: Any, t: Type, words: Callable[[Any], str] | None = None) -> str:
    """What ``known_json`` gives, in words, as the end of an undetermined step's sentence (""
    when nothing is known): ``; known so far: Planning Services; undecided: Fire Prevention``.
    ``words`` is the rule's words converter (its labels); without it, members read as ids."""
    if known_json(value, t) is None:
        return ""
    k = value.known
    if k.__class__ is Bounds:
        return f"; known so far: between {k.lo} and {k.hi}"
    # Each member worded alone (a one-item list reads as its item, labelled), never by cutting
    # the sentence ``_partial_words`` makes: a label may hold its words (" so far,").
    item = t.item if t.name == "list" else None
    word = (lambda v: words([v])) if words is not None else (lambda v: to_words(v, item))
    members = ", ".join(map(word, k.members())) or "none"
    undecided = ", ".join(map(word, k.undecided()))
    return f"; known so far: {members}" + (f"; undecided: {undecided}" if undecided else "")


def _partial_words(value: Unknown, t: Type | None, name: Callable[[Any], str] | None = None) -> str:
    """What is known of a list or count in words; ``name`` words one member (a label)."""
    k = value.known
    if k.__class__ is Bounds:
        return f"between {k.lo} and {k.hi}"
    assert isinstance(k, PartialList)
    item = t.item if t is not None and t.name == "list" else None
    word = name or (lambda v: to_words(v, item))
    members = ", ".join(map(word, k.members())) or "none"
    undecided = ", ".join(map(word, k.undecided()))
    return f"{members} so far" + (f", undecided: {undecided}" if undecided else "")
