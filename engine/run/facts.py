"""Facts: check a case (a dict from an embedding program, or a file ``engine.compile.load``
read) and convert its facts against the declarations of the policy it names.

A fact that is absent is unknown; ``null`` is allowed only for facts declared ``nullable`` (an
event that has not happened). Every problem is located in the case file when there is one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Any

from dsl.errors import did_you_mean
from dsl.typesys import Type
from engine.diagnostics import CaseError, Collector, Diagnostic, Span
from engine.source import Document


@dataclass
class Case:
    """One case: who, where, when, and the facts as given."""

    id: str | None
    jurisdiction: str
    as_of: dt.date | None
    revision: str | None
    facts: dict[str, Any]
    expect: dict[str, Any] | None = None
    doc: Document | None = None

    def span(self, *path: str | int) -> Span | None:
        return self.doc.span(path) if self.doc else None


CASE_KEYS = ("case", "jurisdiction", "as_of", "revision", "description", "facts", "expect")
# Dates a building case can carry; outside this range date arithmetic (three years after
# 9999-12-31) has no answer, so such a date is refused where it is written.
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2199, 12, 31)
# Numbers a case can carry: fifteen digits before the point hold any area, count or valuation
# of a building, and keep a product of two such numbers within Decimal's 28-digit precision
# when it is rounded to the cent (1e999999999 would overflow the first operation on it).
DIGITS = 15
LIMIT = 10**DIGITS
_TOO_BIG = "a case's numbers have at most 15 digits before the decimal point"
# What each top-level key may hold: ``engine/schemas/case.schema.json`` written as predicates
# (tests/test_security.py proves the two agree). ``as_of`` is checked as a date: text, or
# for an embedding program a ``datetime.date``.
# A whole-number case id must be writable as text: Python writes no whole number of more than
# 4,300 digits (``sys.get_int_max_str_digits``), so an id of more than 1,000 is refused.
_ID = 10**1000
KEY_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "case": (
        lambda v: v.__class__ is str or (v.__class__ is int and -_ID < v < _ID),
        "text or a whole number",
    ),
    "jurisdiction": (lambda v: v.__class__ is str, "text (a jurisdiction id)"),
    "as_of": (lambda v: True, "a date"),  # any wrong value is a bad date, checked below
    "revision": (lambda v: v.__class__ is str, "text (a revision id)"),
    "description": (lambda v: v.__class__ is str, "text"),
    "facts": (lambda v: isinstance(v, dict), "a mapping (`key: value` lines)"),
    "expect": (lambda v: isinstance(v, dict), "a mapping (`key: value` lines)"),
}


PLAIN_KEYS = frozenset({"case", "jurisdiction", "as_of", "facts"})
_ABSENT: Any = object()


def case_from_dict(data: dict[str, Any], doc: Document | None = None) -> Case:
    """Build a Case from a mapping shaped like a case file (DESIGN.md §4).

    The checks are those of ``engine/schemas/case.schema.json``, done by hand so that an
    embedding program's dicts and case files get the same errors without the schema's cost.

    Raises:
        CaseError: a missing or mistyped key, an unknown key, or a malformed ``as_of``.
    """
    if not isinstance(data, dict):
        raise CaseError([Diagnostic("case/not-a-mapping", "a case must be a mapping",
                                    doc.span(()) if doc else None)])  # fmt: skip
    case_id, as_of = data.get("case"), data.get("as_of", _ABSENT)
    day = None if as_of is _ABSENT else as_of_date(as_of)
    if not (  # the common shape, checked in one expression; anything else in full below
        data.get("jurisdiction").__class__ is str
        and data.get("facts").__class__ is dict
        and data.keys() <= PLAIN_KEYS
        and (as_of is _ABSENT or day is not None)
        and ("case" not in data or KEY_TYPES["case"][0](case_id))
    ):
        problems = case_problems(data, doc)
        if problems:
            raise CaseError(problems)
    return Case(None if case_id is None else str(case_id), data["jurisdiction"], day,
                data.get("revision"), data["facts"], data.get("expect"), doc)  # fmt: skip


def as_of_date(v: Any) -> dt.date | None:
    """A case's ``as_of`` as a date, or None when it is not a date in the range a case may
    give (``case_from_dict`` and bulk evaluation read it alike)."""
    day = _to_date(v)
    return day if day is not None and EARLIEST <= day <= LATEST else None


def case_problems(data: dict[str, Any], doc: Document | None) -> list[Diagnostic]:
    """Every way ``data`` differs from a case's shape; empty when it is a case."""
    out = Collector()
    where = (lambda *p: doc.span(p)) if doc else (lambda *p: None)
    for key, value in data.items():
        rule = KEY_TYPES.get(key) if key.__class__ is str else None
        if rule is None:
            guess = did_you_mean(_text(key), CASE_KEYS)
            out.add("schema/unknown-key", f"unknown key `{_text(key)}`",
                    doc.span((str(key),), key=True) if doc else None,
                    help=f"did you mean `{guess}`?" if guess else
                    "a case has " + ", ".join(f"`{k}`" for k in CASE_KEYS))  # fmt: skip
        elif not rule[0](value):
            out.add("schema/type", f"`{key}` must be {rule[1]}, found `{shown(value)}`",
                    where(key))  # fmt: skip
        elif key == "as_of" and as_of_date(value) is None:
            out.add("case/bad-value", f"`as_of` must be a date (YYYY-MM-DD) between {EARLIEST} "
                    f"and {LATEST}, found `{shown(value)}`", where("as_of"))  # fmt: skip
    for key in ("jurisdiction", "facts"):
        if key not in data:
            out.add("schema/missing-key", f"missing key `{key}`", where(),
                    help=f"add `{key}:`")  # fmt: skip
    return out.items


def _text(value: Any, limit: int = 80) -> str:
    """``str(value)`` cut to ``limit``, for a message: an embedding program's object may raise
    from ``__str__`` and a whole number may be too long to write, and neither may turn a case
    error into an internal one."""
    if isinstance(value, int) and not -_BIG < value < _BIG:
        return "a whole number of more than 80 digits"
    try:
        text = str(value)
    except Exception:  # any failure of a foreign __str__: unprintable
        return f"<{type(value).__name__}>"
    return text[:limit] if isinstance(text, str) else f"<{type(value).__name__}>"


def _convertible(value: Any) -> str:
    """``str(value)`` whole, to parse as a number or a time; empty (so refused as not one) when
    a foreign ``__str__`` fails or does not give text."""
    try:
        text = str(value)
    except Exception:  # any failure of a foreign __str__: not a value
        return ""
    return text if isinstance(text, str) else ""


def shown(value: Any, limit: int = 60) -> str:
    """A value as the case file would write it (JSON spelling), cut to ``limit`` characters.

    Only the first few levels and items are written: a value from an embedding program may be
    nested or long without bound, and a message about it must stay short and cheap."""
    text = json.dumps(_clip(value, 3), default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _as_given(value: Any) -> str:
    """Text as written (no quotes), any other value as ``shown`` writes it."""
    return value[:60] if isinstance(value, str) else shown(value)


_BIG = 10**80  # a whole number past this is described, not written, in a message


def _clip(value: Any, depth: int) -> Any:
    if isinstance(value, dict):
        items = list(islice(value.items(), 6))
        return {_text(k): _clip(v, depth - 1) for k, v in items} if depth else "{…}"
    if isinstance(value, list | tuple):
        return [_clip(v, depth - 1) for v in islice(value, 6)] if depth else "[…]"
    if isinstance(value, str):
        return value[:80]
    if value is None or value.__class__ in (bool, float):
        return value
    if value.__class__ is int and -_BIG < value < _BIG:
        return value
    return _text(value)


def _to_date(v: Any) -> dt.date | None:
    if isinstance(v, dt.datetime):
        return None
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v.strip())
        except ValueError:
            return None
    return None


class BadValue(Exception):
    def __init__(self, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.help = help


Coerce = Callable[[Any, str | None], Any]


def coercer(t: Type, tz: dt.tzinfo) -> Coerce:
    """A function turning a case value (and its raw YAML text) into the fact's Python value.

    The common inputs (an ISO date string, a bool, an int, an enum string) take a fast path; all
    else goes through the full conversion with its messages.
    """
    name = t.name
    if name == "list":
        assert t.item is not None
        item = coercer(t.item, tz)

        def to_list(v: Any, raw: str | None) -> Any:
            if not isinstance(v, list):
                raise BadValue(f"must be a list, found `{_as_given(v)}`", "write `[90, 30]`")
            return [item(x, None) for x in v]

        return to_list
    if name == "enum":
        allowed = frozenset(t.values)
        return lambda v, raw: v if v.__class__ is str and v in allowed else _enum(v, t.values)
    if name == "date":
        fromiso = dt.date.fromisoformat

        def to_date(v: Any, raw: str | None) -> Any:
            if v.__class__ is str and len(v) == 10:
                try:
                    d = fromiso(v)
                except ValueError:
                    pass
                else:
                    if EARLIEST <= d <= LATEST:
                        return d
            return _date(v, raw, tz)

        return to_date
    if name == "bool":
        return lambda v, raw: v if v is True or v is False else _bool(v, raw, tz)
    if name == "int":
        return lambda v, raw: v if v.__class__ is int and -LIMIT < v < LIMIT else _int(v, raw, tz)
    scalar = _SCALAR[name]
    return lambda v, raw: scalar(v, raw, tz)


def _enum(v: Any, values: tuple[str, ...]) -> str:
    if isinstance(v, str) and v in values:
        return v
    guess = did_you_mean(_as_given(v), values)
    raise BadValue(
        f"must be one of {', '.join(values)}; found `{_as_given(v)}`",
        f'did you mean "{guess}"?' if guess else None,
    )


def _date(v: Any, raw: str | None, tz: dt.tzinfo) -> dt.date:
    d = _to_date(v)
    if d is not None and not EARLIEST <= d <= LATEST:
        raise BadValue(f"must be a date between {EARLIEST} and {LATEST}, found `{_as_given(v)}`")
    if d is None:
        raise BadValue(
            f"must be a date (YYYY-MM-DD), found `{_as_given(v)}`",
            "check the month has that many days" if isinstance(v, str) and len(v) == 10 else None,
        )
    return d


def _datetime(v: Any, raw: str | None, tz: dt.tzinfo) -> dt.datetime:
    if isinstance(v, dt.datetime):
        value = v
    else:
        try:
            value = dt.datetime.fromisoformat(_convertible(v).strip())
        except ValueError:
            raise BadValue(
                f"must be a date and time (2024-03-05T16:30:00), found `{_as_given(v)}`",
                "without an offset the time is the jurisdiction's local time",
            ) from None
    if not EARLIEST <= value.date() <= LATEST:
        raise BadValue(f"must be between {EARLIEST} and {LATEST}, found `{_as_given(v)}`")
    return value if value.tzinfo else value.replace(tzinfo=tz)


def _bool(v: Any, raw: str | None, tz: dt.tzinfo) -> bool:
    if isinstance(v, bool):
        return v
    raise BadValue(f"must be true or false, found `{_as_given(v)}`")


def _int(v: Any, raw: str | None, tz: dt.tzinfo) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise BadValue(f"must be a whole number, found `{shown(v)}`")
    if not -LIMIT < v < LIMIT:
        raise BadValue(f"must be less than {LIMIT:,} in size, found `{shown(v)}`", _TOO_BIG)
    return v


def _decimal(v: Any, raw: str | None, tz: dt.tzinfo) -> Decimal:
    if isinstance(v, bool):
        raise BadValue(f"must be a number, found `{_as_given(v)}`")
    if raw is None and isinstance(v, int) and not -LIMIT < v < LIMIT:
        raise BadValue(f"must be less than {LIMIT:,} in size, found `{shown(v)}`", _TOO_BIG)
    text = raw if raw is not None else (_convertible(v) if not isinstance(v, float) else repr(v))
    try:
        d = Decimal(text.replace("$", "").replace(",", "").strip())
    except (InvalidOperation, AttributeError):
        raise BadValue(f"must be a number, found `{_as_given(v)}`") from None
    if not d.is_finite():
        raise BadValue(f"must be a finite number, found `{_as_given(v)}`")
    if d and d.adjusted() >= DIGITS:
        raise BadValue(f"must be less than {LIMIT:,} in size, found `{shown(text)[1:-1]}`",
                       _TOO_BIG)  # fmt: skip
    return d


def _time(v: Any, raw: str | None, tz: dt.tzinfo) -> dt.time:
    text = raw if raw is not None else _convertible(v)
    try:
        return dt.time.fromisoformat(text.strip())
    except ValueError:
        raise BadValue(f"must be a time of day (17:00), found `{_as_given(text)}`") from None


def _string(v: Any, raw: str | None, tz: dt.tzinfo) -> str:
    if isinstance(v, str):
        return v
    raise BadValue(f"must be text, found `{_as_given(v)}`", "quote it")


_SCALAR: dict[str, Callable[[Any, str | None, dt.tzinfo], Any]] = {
    "date": _date,
    "datetime": _datetime,
    "bool": _bool,
    "int": _int,
    "decimal": _decimal,
    "money": _decimal,
    "time": _time,
    "string": _string,
}


class FactReader:
    """Checks and converts the nested ``facts:`` of a case into a flat ``id → value`` map.

    Built once per compiled policy: the fact tree and each fact's converter are precomputed.
    """

    def __init__(self, facts: dict[str, Any], tz: dt.tzinfo) -> None:
        self.tree: dict[str, Any] = {}
        self.ids = list(facts)
        for fid, decl in facts.items():
            node = self.tree
            *parents, leaf = fid.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            # Numbers and times are read from the YAML text as written (no float rounding).
            wants_raw = decl.type.name in ("decimal", "money", "time")
            node[leaf] = (fid, coercer(decl.type, tz), decl.nullable, wants_raw)

    def read(
        self, case: Case, out: Collector, foreign: dict[str, tuple[str, ...]] | None = None
    ) -> dict[str, Any]:
        """The facts of ``case`` by id; every problem goes to ``out``. ``foreign`` names the
        facts other jurisdictions of the policy declare (``Timeline.foreign_facts``): those
        are warned about and ignored instead of refused."""
        values: dict[str, Any] = {}
        if case.facts.__class__ is not dict:
            out.add("schema/type", "`facts` must be a mapping", case.span("facts"))
            return values
        self._walk(case.facts, self.tree, ("facts",), _Read(case, values, out, foreign or {}))
        return values

    def _walk(
        self, given: dict[str, Any], tree: dict[str, Any], path: tuple[str, ...], r: _Read
    ) -> None:
        case, values, out = r.case, r.values, r.out
        for key, value in given.items():
            # Only plain text names a fact: a str subclass from an embedding program could
            # raise from the ``__eq__`` a lookup calls.
            node = tree.get(key) if key.__class__ is str else None
            if node is None and key.__class__ is str and "." in key:
                node = _dotted(tree, key)  # `permit.code: IRC` is `permit: {code: IRC}`
            if node.__class__ is tuple:
                fid, convert, nullable, wants_raw = node
                if fid in values:
                    out.add("case/duplicate-fact", f"`{fid}` is given twice", case.span(*path, key),
                            help="give each fact once, nested (`permit: {code: IBC}`) or "
                            "dotted (`permit.code: IBC`)")  # fmt: skip
                    continue
                if value is None:
                    if nullable:
                        values[fid] = None
                    else:
                        self._null(fid, (*path, key), case, out)
                    continue
                try:
                    values[fid] = convert(value, self._raw(case, path, key) if wants_raw else None)
                except BadValue as exc:
                    out.add(
                        "case/bad-value",
                        f"`{fid}` {exc.message}",
                        case.span(*path, key),
                        help=exc.help,
                    )
            elif node is None:
                self._unknown((*path, key), value, r)
            elif value.__class__ is dict:
                self._walk(value, node, (*path, key), r)
            else:
                out.add(
                    "case/bad-value",
                    f"`{'.'.join((*path[1:], key))}` must be a mapping of "
                    f"facts ({', '.join(sorted(node))})",
                    case.span(*path, key),
                )

    @staticmethod
    def _raw(case: Case, path: tuple[str, ...], key: str) -> str | None:
        return case.doc.raw.get((*path, key)) if case.doc else None

    def _null(self, fid: str, here: tuple[str, ...], case: Case, out: Collector) -> None:
        out.add(
            "case/null-not-allowed",
            f"`{fid}` cannot be null",
            case.span(*here),
            help="leave the fact out when it is unknown; only event dates take null",
        )

    def _unknown(self, here: tuple[Any, ...], value: Any, r: _Read) -> None:
        """A fact this revision does not declare: ignored with a warning when another
        jurisdiction of the policy declares it (each fact of a group of them), else refused."""
        case, out = r.case, r.out
        fid = ".".join(_text(p) for p in here[1:])
        owners = r.foreign.get(fid)
        if owners:
            return _foreign(fid, owners, here, r)
        if value.__class__ is dict and any(f.startswith(fid + ".") for f in r.foreign):
            for key, inner in value.items():
                self._unknown((*here, key), inner, r)
            return None
        guess = did_you_mean(fid, self.ids)
        out.add(
            "case/unknown-fact",
            f"unknown fact `{fid}`",
            case.doc.span(here, key=True) if case.doc else None,
            help=f"did you mean `{guess}`?"
            if guess
            else "`ordinance facts` lists the facts this policy reads",
        )


@dataclass(slots=True)
class _Read:
    """One reading of a case's facts: what the walk fills in and reports to (the reader itself
    is shared by every case, and by every thread of the service)."""

    case: Case
    values: dict[str, Any]
    out: Collector
    foreign: dict[str, tuple[str, ...]]


def _foreign(fid: str, owners: tuple[str, ...], here: tuple[Any, ...], r: _Read) -> None:
    names = ", ".join(f"`{j}`" for j in owners)
    r.out.add(
        "case/foreign-fact",
        f"`{fid}` is a fact of {names}, not of `{r.case.jurisdiction}`: it is ignored",
        r.case.doc.span(here, key=True) if r.case.doc else None,
        severity="warning",
        help=f"leave it out of `{r.case.jurisdiction}` cases, or check the case's `jurisdiction:`",
    )


def _dotted(tree: dict[str, Any], key: str) -> Any:
    """The fact (or group of facts) a dotted key names in the facts' tree, or None: a case may
    write `permit.code: IRC` for `permit: {code: IRC}`, as the fact's id is written."""
    node: Any = tree
    for part in key.split("."):
        if node.__class__ is not dict:
            return None
        node = node.get(part)
        if node is None:
            return None
    return node
