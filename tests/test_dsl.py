"""Expression-language fixtures (tests/fixtures/dsl_cases.yaml): every operator and function,
three-valued logic, null events, and the located errors of each stage."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from dsl.compile import compile_expression
from dsl.errors import DslErrors
from dsl.parse import parse_expression
from dsl.typecheck import check_expression
from dsl.typesys import BOOL, DATE, DATETIME, DECIMAL, INT, MONEY, STRING, TIME, Type
from dsl.values import Unknown
from engine.model import HolidaySpec
from engine.run.calendar import Calendar
from engine.run.facts import coercer
from engine.values import to_json

FIXTURES = Path(__file__).parent / "fixtures" / "dsl_cases.yaml"
NAMES: dict[str, Type] = {
    "d1": DATE, "d2": DATE, "d3_": DATE, "dt1": DATETIME, "n": INT, "m": INT, "x": DECIMAL,
    "cost": MONEY, "ok": BOOL, "nope": BOOL, "u": BOOL, "code": Type.enum(("IBC", "IRC", "IEBC")),
    "s": STRING, "xs": Type.list_of(INT), "ds": Type.list_of(DATE), "t": TIME, "as_of": DATE,
}  # fmt: skip
CALENDAR = Calendar("America/Los_Angeles", (0, 1, 2, 3, 4),
                    HolidaySpec(None, None, None, "US", "WA", None, (), ()))  # fmt: skip


class Scope:
    def lookup(self, path: str) -> Type | None:
        return NAMES.get(path)

    def names(self) -> list[str]:
        return list(NAMES)


class Context:
    time_zone = CALENDAR.time_zone

    def is_business_day(self, day: dt.date) -> bool:
        return CALENDAR.is_business_day(day)

    def add_business_days(self, day: dt.date, count: int) -> dt.date:
        return CALENDAR.add_business_days(day, count)

    def in_force(self, citation: str) -> bool:
        deleted = ("IPMC 308", "IPMC 604", "IPMC 605", "IPMC 606")
        return not any(citation == d or citation.startswith(d + ".") for d in deleted)


def _load() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = yaml.safe_load(FIXTURES.read_text("utf-8"))["cases"]
    return cases


def _env(given: dict[str, Any]) -> dict[str, Any]:
    env: dict[str, Any] = {k: Unknown(frozenset({k})) for k in NAMES}
    for name, raw in given.items():
        if raw is None:
            env[name] = None
            continue
        text = raw.isoformat() if isinstance(raw, dt.date) else raw
        if isinstance(raw, list):
            text = [v.isoformat() if isinstance(v, dt.date) else v for v in raw]
        env[name] = coercer(NAMES[name], CALENDAR.time_zone)(
            text, None if isinstance(text, list) else str(text)
        )
    return env


CASES = _load()


@pytest.mark.parametrize("case", CASES, ids=[c["expr"] or "<empty>" for c in CASES])
def test_expression(case: dict[str, Any]) -> None:
    src: str = case["expr"]
    if "error" in case:
        with pytest.raises(DslErrors) as info:
            node = parse_expression(src)
            check_expression(node, Scope())
        err = info.value.errors[0]
        assert err.code == case["error"]
        if "at" in case:
            assert src[err.start : err.end] == case["at"]
        if "help" in case:
            assert err.help == case["help"]
        return
    node = parse_expression(src)
    t, types = check_expression(node, Scope())
    value = compile_expression(node, types, Context())(_env(case.get("env", {})))
    if "unknown" in case:
        assert isinstance(value, Unknown)
        assert sorted(value.needs) == sorted(case["unknown"])
        return
    declared = Type(case["type"]) if "type" in case else t
    assert to_json(value, declared) == case["value"]


def test_every_function_has_a_fixture() -> None:
    from dsl.builtins import BUILTINS

    used = " ".join(c["expr"] for c in CASES)
    missing = [f for f in BUILTINS if f + "(" not in used]
    assert not missing, f"functions without a fixture: {missing}"


def test_every_operator_has_a_fixture() -> None:
    used = " ".join(c["expr"] for c in CASES)
    for op in [
        "+",
        "-",
        "*",
        "/",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        " and ",
        " or ",
        "not ",
        " in ",
        " not in ",
        "is set",
        "is missing",
        "is null",
        "is not null",
        "if ",
    ]:
        assert op in used, op


def _rows(case: dict[str, Any], node: Any) -> list[dict[str, Any]]:
    """The case's environment, and one more per name it reads with that name null: rows
    for the column compiler, which gets only rows whose inputs are known."""
    from dsl.nodes import iter_refs

    env = _env(case.get("env", {}))
    reads = {r.path for r in iter_refs(node)}
    rows = [env] + [{**env, name: None} for name in sorted(reads)]
    return [r for r in rows if not any(isinstance(r[k], Unknown) for k in reads)]


VALUE_CASES = [c for c in CASES if "error" not in c]


@pytest.mark.parametrize("case", VALUE_CASES, ids=[c["expr"] or "<empty>" for c in VALUE_CASES])
def test_columns_agree_with_scalar(case: dict[str, Any]) -> None:
    """The column compiler (bulk evaluation) gives, row for row, what the scalar closures give:
    on the fixture's values, with each input null in turn, on every row and on a subset."""
    from dsl.columns import compile_vector

    node = parse_expression(case["expr"])
    _, types = check_expression(node, Scope())
    rows = _rows(case, node)
    if not rows:
        pytest.skip("every row has an unknown input")
    scalar = compile_expression(node, types, Context())
    column = compile_vector(node, types, Context())
    cols = {k: [r[k] for r in rows] for k in [*NAMES]}
    want = [scalar(r) for r in rows]
    got = column(cols, range(len(rows)))
    assert [(type(v), v) for v in got] == [(type(v), v) for v in want]
    odd = list(range(len(rows)))[1::2]
    assert column(cols, odd) == [want[i] for i in odd]


def test_every_grammar_operator_has_a_typing_rule_and_an_implementation() -> None:
    """What the checker accepts, the compiler can do: each operator the grammar knows, on each
    pair of types the checker gives a result for, has an implementation (no KeyError at
    compile time, as `%` once had)."""
    import re

    from dsl.parse import _GRAMMAR
    from dsl.semantics import COMPARE, arithmetic
    from dsl.typecheck import arith_result
    from dsl.typesys import SCALARS

    grammar = _GRAMMAR.read_text("utf-8")
    ops = {name: re.findall(r'"([^"]+)"', re.search(rf"^{name}: (.*)$", grammar, re.M)[1])
           for name in ("COMPARE", "ADDOP", "MULOP")}  # fmt: skip
    assert set(ops["COMPARE"]) == set(COMPARE)
    types = [Type(s) for s in SCALARS]
    for op in ops["ADDOP"] + ops["MULOP"]:
        for a in types:
            for b in types:
                if arith_result(op, a, b) is not None:
                    assert callable(arithmetic(a.name, b.name, op, Context())), (op, a, b)
