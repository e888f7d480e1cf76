"""Fuzzing the expression language: whatever a policy author writes gets a working rule or a
located diagnostic, never a traceback or a hang.

Expressions are generated from the grammar, typed (an expression of a requested type, built from
every operator, every built-in function, conditionals, comparisons, conditional lists and the
facts of tests/test_dsl.py) and untyped (any operator over operands of any type), and as raw
text (random strings, and mutations of the expressions of the bundled policy). The contract:

- an expression that type-checks compiles, and evaluates in the scalar closures and in the column
  closures to the same value, or fails in both with the documented out-of-range error (which the
  run path reports as ``case/out-of-range``); its value can be written out (``to_json``);
- an expression that does not type-check, or that nests too deeply, gets located diagnostics of
  documented codes, spans within the expression.

Budgets come from the hypothesis profiles of tests/fuzz/conftest.py (``ORDINANCE_FUZZ=nightly``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from dsl.builtins import BUILTINS
from dsl.columns import compile_vector
from dsl.compile import compile_expression
from dsl.errors import DslErrors
from dsl.nodes import Node, iter_refs
from dsl.parse import MAX_DEPTH, parse_expression
from dsl.typecheck import Types, check_expression
from dsl.typesys import Type
from dsl.values import Unknown
from engine.run.decide import OutOfRange, out_of_range
from engine.values import to_json
from tests.test_dsl import NAMES, Context, Scope, _env

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = set(
    re.findall(r"^## (dsl/\S+)$", (ROOT / "docs" / "diagnostics.md").read_text("utf-8"), re.M)
)
CTX = Context()

# ---------------------------------------------------------------------------------------------
# Typed expressions: ``expr(t, depth)`` draws the text of an expression of type ``t``.

REFS: dict[str, list[str]] = {
    "date": ["d1", "d2", "d3_", "as_of"],
    "datetime": ["dt1"],
    "int": ["n", "m"],
    "decimal": ["x"],
    "money": ["cost"],
    "bool": ["ok", "nope", "u"],
    "enum": ["code"],
    "string": ["s"],
    "list_int": ["xs"],
    "list_date": ["ds"],
    "time": ["t"],
}
TYPES = ("int", "decimal", "money", "bool", "date", "datetime", "time", "duration", "string",
         "enum", "list_int", "list_date", "list_bool", "list_money", "null")  # fmt: skip
ORDERED = ("int", "decimal", "money", "date", "datetime", "time")
UNITS = ("day", "days", "calendar days", "week", "weeks", "month", "months", "year", "years",
         "business day", "business days")  # fmt: skip
Draw = Callable[[st.SearchStrategy[Any]], Any]

_digits = st.one_of(st.integers(0, 400), st.integers(0, 10**18 - 1))
_dates = st.one_of(
    st.dates(dt.date(1900, 1, 1), dt.date(2199, 12, 31)),
    st.sampled_from([dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2100, 12, 31)]),
)


def _literal(draw: Draw, t: str) -> str:
    if t == "int":
        return str(draw(_digits))
    if t == "decimal":
        return f"{draw(st.integers(0, 10**9))}.{draw(st.integers(0, 10**8))}"
    if t == "money":
        dollars = draw(st.integers(0, 10**15))
        text = f"{dollars:,}" if draw(st.booleans()) else str(dollars)
        return "$" + text + (f".{draw(st.integers(0, 99)):02d}" if draw(st.booleans()) else "")
    if t == "bool":
        return draw(st.sampled_from(["true", "false"]))
    if t == "date":
        return draw(_dates).isoformat()
    if t == "time":
        return f"{draw(st.integers(0, 23))}:{draw(st.integers(0, 59)):02d}"
    if t == "duration":
        unit = draw(st.sampled_from(UNITS))
        return f"{draw(st.one_of(st.integers(0, 800), st.integers(0, 2_700_000)))} {unit}"
    if t == "string":
        return json.dumps(draw(st.text(st.characters(codec="ascii", exclude_categories=["Cc"]),
                                       max_size=8)))  # fmt: skip
    if t == "enum":
        return "code"
    if t == "null":
        return "null"
    if t == "datetime":  # no literal: the nearest is a moment made of two
        return f"at({_literal(draw, 'date')}, {_literal(draw, 'time')})"
    # A typed list has an item: `[]` is a list of null (its min is null, its sum the int 0),
    # which the untyped and raw generators give.
    item = t.removeprefix("list_")
    return "[" + ", ".join(_literal(draw, item) for _ in range(draw(st.integers(1, 3)))) + "]"


def _leaf(draw: Draw, t: str) -> str:
    refs = REFS.get(t, [])
    if refs and draw(st.booleans()):
        return draw(st.sampled_from(refs))
    return _literal(draw, t)


def _list(draw: Draw, item: str, depth: int) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        e = _expr(draw, item, depth)
        if draw(st.booleans()):
            e += " if " + _expr(draw, "bool", depth)
        parts.append(e)
    return "[" + ", ".join(parts) + "]"


def _args(draw: Draw, t: str, list_t: str | None, depth: int) -> str:
    """One to three arguments of type ``t`` or lists of them (``list_t``)."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        if list_t and draw(st.booleans()):
            out.append(_expr(draw, list_t, depth))
        else:
            out.append(_expr(draw, t, depth))
    return ", ".join(out)


def _compound(draw: Draw, t: str, d: int) -> str:
    def e(u: str) -> str:
        return "(" + _expr(draw, u, d) + ")"

    shapes: dict[str, list[Callable[[], str]]] = {
        "int": [
            lambda: f"{e('int')} {draw(st.sampled_from('+-*'))} {e('int')}",
            lambda: f"-{e('int')}",
            lambda: f"{e('date')} - {e('date')}",
            lambda: f"count({e(draw(st.sampled_from(['list_int', 'list_date', 'list_bool'])))})",
            lambda: f"sum({_args(draw, 'int', 'list_int', d)})",
            lambda: f"{draw(st.sampled_from(['min', 'max']))}({_args(draw, 'int', 'list_int', d)})",
        ],
        "decimal": [
            lambda: f"{e('int')} / {e('int')}",
            lambda: (
                f"{e('decimal')} {draw(st.sampled_from('+-*/'))} "
                f"{e(draw(st.sampled_from(['int', 'decimal'])))}"
            ),
            lambda: f"{e('int')} {draw(st.sampled_from('+-*'))} {e('decimal')}",
            lambda: f"{e('money')} / {e('money')}",
            lambda: f"-{e('decimal')}",
            lambda: f"{draw(st.sampled_from(['min', 'max', 'sum']))}({e('decimal')}, {e('int')})",
        ],
        "money": [
            lambda: f"{e('money')} {draw(st.sampled_from('+-'))} {e('money')}",
            lambda: (
                f"{e('money')} {draw(st.sampled_from('*/'))} "
                f"{e(draw(st.sampled_from(['int', 'decimal'])))}"
            ),
            lambda: f"{e(draw(st.sampled_from(['int', 'decimal'])))} * {e('money')}",
            lambda: f"-{e('money')}",
            lambda: (
                f"{draw(st.sampled_from(['min', 'max', 'sum']))}"
                f"({_args(draw, 'money', 'list_money', d)})"
            ),
        ],
        "bool": [
            lambda: f"not {e('bool')}",
            lambda: f"{e('bool')} {draw(st.sampled_from(['and', 'or']))} {e('bool')}",
            lambda: self_compare(draw, d),
            lambda: f"{e('int')} {draw(st.sampled_from(['in', 'not in']))} {e('list_int')}",
            lambda: f"{e('date')} in {e('list_date')}",
            lambda: f'code {draw(st.sampled_from(["in", "not in"]))} ["IBC", "IRC"]',
            lambda: (
                f"code {draw(st.sampled_from(['==', '!=']))} "
                f"{draw(st.sampled_from(['IBC', 'IRC', 'IEBC']))!r}".replace("'", '"')
            ),
            lambda: (
                f"{e(draw(st.sampled_from(TYPES)))} is "
                f"{draw(st.sampled_from(['set', 'null', 'not null']))}"
            ),
            lambda: f"{draw(st.sampled_from(sorted(NAMES)))} is missing",
            lambda: (
                f"{draw(st.sampled_from(['any', 'all']))}({_args(draw, 'bool', 'list_bool', d)})"
            ),
            lambda: f"is_business_day({e('date')})",
            lambda: f"in_force({e('string')})",
        ],
        "date": [
            lambda: f"{e('date')} {draw(st.sampled_from('+-'))} {e('duration')}",
            lambda: f"{e('duration')} + {e('date')}",
            lambda: (
                f"{draw(st.sampled_from(['earliest', 'latest']))}"
                f"({_args(draw, 'date', 'list_date', d)})"
            ),
            lambda: f"{draw(st.sampled_from(['next_business_day', 'roll_forward']))}({e('date')})",
        ],
        "datetime": [
            lambda: f"at({e('date')}, {e('time')})",
            lambda: f"{e('datetime')} {draw(st.sampled_from('+-'))} {e('duration')}",
            lambda: (
                f"{draw(st.sampled_from(['earliest', 'latest']))}"
                f"({_args(draw, 'datetime', None, d)})"
            ),
        ],
        "duration": [
            lambda: (
                f"{draw(st.sampled_from(['days', 'business_days', 'months', 'years']))}({e('int')})"
            ),
            lambda: f"{e('int')} * {e('duration')}",
            lambda: f"{e('duration')} * {e('int')}",
        ],
        "string": [lambda: f"{e('string')} + {e('string')}"],
        "list_int": [lambda: _list(draw, "int", d)],
        "list_date": [lambda: _list(draw, "date", d)],
        "list_bool": [lambda: _list(draw, "bool", d)],
        "list_money": [lambda: _list(draw, "money", d)],
    }
    options = [*shapes.get(t, []), lambda: f"if {e('bool')} then {e(t)} else {e(t)}"]
    return draw(st.sampled_from(options))()


def self_compare(draw: Draw, d: int) -> str:
    t = draw(st.sampled_from([*ORDERED, "bool", "string", "enum", "list_int", "null"]))
    ops = ["==", "!="] + (["<", "<=", ">", ">="] if t in ORDERED else [])
    return f"({_expr(draw, t, d)}) {draw(st.sampled_from(ops))} ({_expr(draw, t, d)})"


def _expr(draw: Draw, t: str, depth: int) -> str:
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        return _leaf(draw, t)
    return _compound(draw, t, depth - 1)


@st.composite
def typed(draw: Draw, t: str | None = None, depth: int = 4) -> tuple[str, str]:
    """(type, text) of an expression of type ``t`` (any type when None)."""
    t = t or draw(st.sampled_from(TYPES))
    return t, _expr(draw, t, draw(st.integers(0, depth)))


# ---------------------------------------------------------------------------------------------
# Untyped expressions: any operator of the grammar, any function, over operands of any type.

BINARY = ("+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">=", "and", "or", "in", "not in")


@st.composite
def untyped(draw: Draw, depth: int = 3) -> str:
    def operand() -> str:
        if depth > 0 and draw(st.booleans()):
            return "(" + draw(untyped(depth - 1)) + ")"
        return "(" + draw(typed(depth=2))[1] + ")"

    kind = draw(st.sampled_from(["binary", "unary", "test", "call", "if", "list"]))
    if kind == "binary":
        return f"{operand()} {draw(st.sampled_from(BINARY))} {operand()}"
    if kind == "unary":
        return f"{draw(st.sampled_from(['not ', '-']))}{operand()}"
    if kind == "test":
        return f"{operand()} is {draw(st.sampled_from(['set', 'missing', 'null', 'not null']))}"
    if kind == "call":
        name = draw(st.sampled_from([*BUILTINS, "dayz", "round"]))
        return f"{name}({', '.join(operand() for _ in range(draw(st.integers(0, 3))))})"
    if kind == "if":
        return f"if {operand()} then {operand()} else {operand()}"
    return "[" + ", ".join(operand() for _ in range(draw(st.integers(0, 3)))) + "]"


# ---------------------------------------------------------------------------------------------
# Fact values: each fact absent (unknown), null, or a value a case may give.

_FACT_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "date": st.dates(dt.date(1900, 1, 1), dt.date(2199, 12, 31)),
    "datetime": st.datetimes(
        dt.datetime(1900, 1, 2),
        dt.datetime(2199, 12, 30),
        timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-8))]),
    ).map(lambda v: v.isoformat()),
    # Numbers as large as a case may give (engine.run.facts.LIMIT: fewer than 16 digits before the
    # point); larger ones are refused where the case writes them (tests/test_security.py).
    "int": st.one_of(st.integers(-1000, 1000), st.integers(-(10**15) + 1, 10**15 - 1)),
    "decimal": st.one_of(
        st.decimals(-(10**9), 10**9, places=3).map(str),
        st.sampled_from(
            ["999999999999999.999", "-999999999999999", "1E-999999", "0.000", "123456789.123456789"]
        ),
    ),
    "money": st.decimals(-(10**12), 10**12, places=2).map(str),
    "bool": st.booleans(),
    "enum": st.sampled_from(["IBC", "IRC", "IEBC"]),
    "string": st.text(max_size=6),
    "time": st.times().map(lambda v: v.strftime("%H:%M")),
}
_ABSENT = object()


def _fact(t: Type) -> st.SearchStrategy[Any]:
    if t.name == "list":
        assert t.item is not None
        value = st.lists(_FACT_VALUES[t.item.name], max_size=4)
    else:
        value = _FACT_VALUES[t.name]
    return st.one_of(st.just(_ABSENT), st.none(), value, value)


@st.composite
def envs(draw: Draw) -> list[dict[str, Any]]:
    """Two to four environments (cases): the rows of one batch."""
    out = []
    for _ in range(draw(st.integers(2, 4))):
        given = {k: draw(_fact(t)) for k, t in NAMES.items()}
        out.append(_env({k: v for k, v in given.items() if v is not _ABSENT}))
    return out


# ---------------------------------------------------------------------------------------------
# The contract.


def check_located(text: str, exc: DslErrors) -> None:
    """Every diagnostic has a documented code and a span within the expression."""
    assert exc.errors
    for err in exc.errors:
        assert err.code in DOCUMENTED, err
        assert 0 <= err.start <= err.end <= len(text), (err, len(text))
        assert err.message and not err.message.startswith("internal")


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    """("value", v) or ("out-of-range", message); any other exception fails the test."""
    try:
        return "value", fn()
    except (OverflowError, ValueError) as exc:
        wrapped = out_of_range("r", exc)
        assert isinstance(wrapped, OutOfRange), f"{type(exc).__name__}: {exc}"
        return "out-of-range", type(exc)


def _same(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
    if a[0] != b[0] or a[0] != "value":
        return a[0] == b[0]
    return type(a[1]) is type(b[1]) and a[1] == b[1]


def check_evaluates(node: Node, t: Type, types: Types, rows: list[dict[str, Any]]) -> None:
    """Both evaluators: same value or same out-of-range error, row by row and as a batch."""
    scalar = compile_expression(node, types, CTX)
    column = compile_vector(node, types, CTX)
    want = [outcome(lambda r=r: scalar(r)) for r in rows]  # type: ignore[misc]
    for kind, v in want:
        if kind == "value" and not isinstance(v, Unknown):
            outcome(lambda v=v: to_json(v, t))  # type: ignore[misc]
    reads = {r.path for r in iter_refs(node)}
    known = [i for i, r in enumerate(rows) if not any(isinstance(r[k], Unknown) for k in reads)]
    for i in known:
        cols = {k: [rows[i][k]] for k in NAMES}
        got = outcome(lambda cols=cols: column(cols, range(1))[0])  # type: ignore[misc]
        assert _same(got, want[i]), (got, want[i])
    if known and all(want[i][0] == "value" for i in known):
        cols = {k: [rows[i][k] for i in known] for k in NAMES}
        assert column(cols, range(len(known))) == [want[i][1] for i in known]


def check_contract(text: str, rows: list[dict[str, Any]]) -> Type | DslErrors:
    """The whole pipeline on ``text``: its type when it type-checks (and then evaluates), else
    the (located) diagnostics."""
    try:
        node = parse_expression(text)
        t, types = check_expression(node, Scope())
    except DslErrors as exc:
        check_located(text, exc)
        return exc
    check_evaluates(node, t, types, rows)
    return t


def _declared(name: str) -> Type:
    if name.startswith("list_"):
        return Type.list_of(_declared(name.removeprefix("list_")))
    return Type.enum(("IBC", "IRC", "IEBC")) if name == "enum" else Type(name)


@given(typed(), envs())
def test_a_typed_expression_checks_and_evaluates(expr: tuple[str, str], rows: Any) -> None:
    want, text = expr
    t = check_contract(text, rows)
    if isinstance(t, DslErrors):  # only a literal past its range may refuse a typed expression
        assert {e.code for e in t.errors} == {"dsl/out-of-range"}, f"refused: {text}\n{t}"
        return
    assert _declared(want).accepts(t) or t.name == "null", (want, t)


@given(untyped(), envs())
def test_any_expression_works_or_is_located(text: str, rows: Any) -> None:
    check_contract(text, rows)


# ---------------------------------------------------------------------------------------------
# Depth: up to the limit everything works; past it, a located dsl/too-deep.

# Wrappers of an int expression, each adding the levels given.
_WRAPS = [("-({})", 1), ("({}) + 1", 1), ("if ok then {} else 0", 1), ("max({}, 1)", 1),
          ("sum([{}])", 3), ("count([{}])", 3)]  # fmt: skip


@st.composite
def nested(draw: Draw, lo: int, hi: int) -> tuple[str, int]:
    levels, text = 1, draw(st.sampled_from(["n", "7"]))
    target = draw(st.integers(lo, hi))
    while levels < target:
        wrap, add = draw(st.sampled_from(_WRAPS))
        text, levels = wrap.format(text), levels + add
    return text, levels


@given(nested(1, MAX_DEPTH), envs())
def test_nesting_up_to_the_limit_works(expr: tuple[str, int], rows: Any) -> None:
    text, levels = expr
    if levels > MAX_DEPTH:
        return
    assert isinstance(check_contract(text, rows), Type), text


@given(nested(MAX_DEPTH + 1, 6 * MAX_DEPTH))
def test_nesting_past_the_limit_is_located(expr: tuple[str, int]) -> None:
    text, _ = expr
    try:
        parse_expression(text)
    except DslErrors as exc:
        check_located(text, exc)
        assert exc.errors[0].code == "dsl/too-deep"
        return
    raise AssertionError("parsed")


# ---------------------------------------------------------------------------------------------
# Raw text: random strings and mutations of the bundled policy's expressions.


def _policy_expressions() -> list[str]:
    out: list[str] = []

    def walk(o: Any) -> None:
        if isinstance(o, dict):
            for k, v in o.items():
                if k in ("value", "when", "done", "deadline") and isinstance(v, str):
                    out.append(v)
                else:
                    walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    for path in sorted((ROOT / "policy").rglob("*.yaml")):
        walk(yaml.safe_load(path.read_text("utf-8")))
    return sorted(set(out))


POLICY_EXPRESSIONS = _policy_expressions()
TOKENS = ["if", "then", "else", "and", "or", "not", "in", "is", "set", "missing", "null", "true",
          "false", "(", ")", "[", "]", ",", ".", "+", "-", "*", "/", "==", "!=", "<", "<=", ">",
          ">=", "=", "$1,000.5", "2024-02-29", "0000-00-00", "17:00", "99:99", "3 days",
          "1 business day", "4 business weeks", "999999999999999999999 years", "12.5", '"IBC"',
          '"', "'", "#", "\n", "d1", "n", "x", "cost", "code", "xs", "ds", "dt1", "ok", "u",
          "earliest", "sum", "at", "days", "%", "@", "é", "\x00"]  # fmt: skip


@st.composite
def mutated(draw: Draw) -> str:
    text = draw(st.sampled_from(POLICY_EXPRESSIONS))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 8)))
        how = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        if how == "delete":
            text = text[:i] + text[j:]
        elif how == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        else:
            tok = draw(st.sampled_from(TOKENS))
            text = text[:i] + f" {tok} " + (text[i:] if how == "insert" else text[j:])
    return text


RAW = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(TOKENS), max_size=12).map(" ".join),
    mutated(),
)


@given(RAW, envs())
def test_raw_text_gets_only_located_diagnostics(text: str, rows: Any) -> None:
    check_contract(text, rows)


def test_the_policy_expressions_are_fuzzed() -> None:
    assert len(POLICY_EXPRESSIONS) > 50


def test_decimal_results_are_exact() -> None:
    """The fuzz contract compares values with their types: a decimal stays a Decimal."""
    assert _same(("value", Decimal("1.0")), ("value", Decimal("1")))
    assert not _same(("value", 1), ("value", Decimal("1")))
