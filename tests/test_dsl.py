"""Expression-language fixtures (tests/fixtures/dsl_cases.yaml): every operator and function,
three-valued logic, null events, and the located errors of each stage."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dsl.compile import compile_expression
from dsl.errors import DslErrors
from dsl.nodes import iter_refs
from dsl.parse import parse_expression
from dsl.typecheck import check_expression
from dsl.typesys import BOOL, DATE, DATETIME, DECIMAL, INT, MONEY, SCALARS, STRING, TIME, Type
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
    if "typed" in case:
        assert str(t) == case["typed"]
    value = compile_expression(node, types, Context())(_env(case.get("env", {})))
    _check_known_fits(value, t)
    if "unknown" in case:
        assert isinstance(value, Unknown)
        assert sorted(value.needs) == sorted(case["unknown"])
        assert _known(value) == {k: case[k] for k in ("known", "range") if k in case}
        return
    declared = Type(case["type"]) if "type" in case else t
    assert to_json(value, declared) == case["value"]


def _check_known_fits(value: Any, t: Type) -> None:
    """What is known of an unknown is a list's members or a count's range, and only ever on a
    list or a whole number: an operation that propagates an unknown of another type keeps
    nothing of what was known of its operand."""
    from dsl.values import Bounds, PartialList

    known = value.known if isinstance(value, Unknown) else None
    if isinstance(known, PartialList):
        assert t.name == "list"
    elif known is not None:
        assert isinstance(known, Bounds) and t == INT


def _known(u: Unknown) -> dict[str, Any]:
    """What an unknown fixture result keeps of what is known, as a fixture writes it."""
    from dsl.values import Bounds, PartialList

    k = u.known
    if isinstance(k, PartialList):
        return {"known": {"members": to_json(k.members()), "undecided": to_json(k.undecided())}}
    if isinstance(k, Bounds):
        return {"range": [k.lo, k.hi]}
    return {}


def test_every_function_has_a_fixture() -> None:
    from dsl.builtins import BUILTINS

    used = " ".join(c["expr"] for c in CASES)
    missing = [f for f in BUILTINS if f + "(" not in used]
    assert not missing, f"functions without a fixture: {missing}"


# Every operator of the grammar, and how a fixture's expression shows it. Those that take
# operands of every type have no error fixture: anything may be null or set (`is missing` is
# refused on what is not a reference, which its fixture shows).
OPERATORS = {
    **{op: re.escape(f" {op} ") for op in ("+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">=",
                                           "and", "or", "not in")},
    **{op: rf" {op}\b" for op in ("is set", "is missing", "is null", "is not null")},
    "in": r"(?<!not) in ",
    "not": r"(?<!is )(^|\(|\s)not (?!in )",
    "neg": r"(^|\(|\s)-(?=[A-Za-z(0-9])",
    "if": r"^if ",
}  # fmt: skip
TAKES_EVERY_TYPE = {"is set", "is null", "is not null"}


def _uses(op: str, expr: str) -> bool:
    return re.search(OPERATORS[op], expr) is not None


@pytest.mark.parametrize("op", OPERATORS)
def test_every_operator_has_a_typed_fixture_and_an_error_fixture(op: str) -> None:
    """A case that pins the operator's result type on good operands, and one that pins its
    located diagnostic on bad ones: a wrong typing rule fails one of them."""
    typed = [c for c in CASES if "typed" in c and _uses(op, c["expr"])]
    assert typed, f"no value case with `typed:` uses {op!r}"
    if op not in TAKES_EVERY_TYPE:
        errors = [c for c in CASES if c.get("error") == "dsl/type-mismatch" and "at" in c
                  and _uses(op, c["expr"])]  # fmt: skip
        assert errors, f"no located dsl/type-mismatch case uses {op!r}"


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


# The words and punctuation of the grammar that are not operators.
NOT_OPERATORS = {"then", "else", "is", "set", "missing", "null", "true", "false",
                 "(", ")", "[", "]", ",", "."}  # fmt: skip


def _grammar_operators() -> list[str]:
    """Every operator of dsl/grammar.lark as an infix, prefix or postfix form with the
    placeholders `A` and `B`: its operator terminals and its keyword rules."""
    from dsl.parse import _GRAMMAR

    grammar = _GRAMMAR.read_text("utf-8")
    tokens = {name: re.findall(r'"([^"]+)"', re.search(rf"^{name}: (.*)$", grammar, re.M)[1])
              for name in ("COMPARE", "ADDOP", "MULOP")}  # fmt: skip
    rules = re.sub(r"//[^\n]*", "", grammar.split("\nCOMPARE:")[0])  # before the terminals
    words = set(re.findall(r'"([^"]+)"', rules))
    forms = {"or": "A or B", "and": "A and B", "not": "not A", "in": "A in B", "-": "-A",
             "if": "if A then B else B"}  # fmt: skip
    assert words - NOT_OPERATORS == set(forms), "a new grammar word: add its form here"
    tests = [f"A is {k}" for k in ("set", "missing", "null", "not null")] + ["A not in B"]
    return [f"A {op} B" for ts in tokens.values() for op in ts] + [*forms.values(), *tests]


OPERAND_VALUES: dict[str, Any] = {
    "bool": True, "int": 3, "decimal": "1.5", "money": "2.50", "date": "2024-01-31",
    "datetime": "2024-03-09T17:00:00-08:00", "time": "17:00", "duration": None,
    "string": "IBC", "enum": "IRC", "ints": [1, 2], "dates": ["2024-01-01"], "nulls": None,
}  # fmt: skip
OPERAND_TYPES = {**{s: Type(s) for s in OPERAND_VALUES if s in SCALARS},
                 "enum": Type.enum(("IBC", "IRC")), "ints": Type.list_of(INT),
                 "dates": Type.list_of(DATE), "nulls": Type("null")}  # fmt: skip


class OperandScope:
    """`a_<type>` and `b_<type>` for every type an operand may have."""

    def lookup(self, path: str) -> Type | None:
        return OPERAND_TYPES.get(path[2:]) if path[:2] in ("a_", "b_") else None

    def names(self) -> list[str]:
        return [f"{s}_{t}" for s in "ab" for t in OPERAND_TYPES]


def _operand_env() -> dict[str, Any]:
    from dsl.values import Duration

    env: dict[str, Any] = {}
    for name, t in OPERAND_TYPES.items():
        raw = OPERAND_VALUES[name]
        value = None if raw is None else coercer(t, CALENDAR.time_zone)(raw, None)
        env[f"a_{name}"] = env[f"b_{name}"] = value
    env["a_duration"] = env["b_duration"] = Duration(2, "days")
    return env


def test_every_grammar_operator_types_every_operand_or_says_where_not() -> None:
    """Each operator of the grammar, on operands of every pair of types: the checker gives a
    type and both compilers compute the same value (also with an operand null), or the checker
    gives a located diagnostic; never a KeyError or a traceback (as `%` once had)."""
    env, ctx, problems = _operand_env(), Context(), []
    for form in _grammar_operators():
        for a in OPERAND_TYPES:
            for b in OPERAND_TYPES:
                src = form.replace("A", f"a_{a}").replace("B", f"b_{b}")
                try:
                    problems += _try_operator(src, env, ctx)
                except Exception as exc:  # the point: nothing may escape
                    problems.append(f"{src}: {exc!r}")
    assert not problems, "\n".join(problems)


def _try_operator(src: str, env: dict[str, Any], ctx: Context) -> list[str]:
    from dsl.columns import compile_vector

    node = parse_expression(src)
    try:
        _, types = check_expression(node, OperandScope())
    except DslErrors as exc:
        e = exc.errors[0]
        ok = e.code == "dsl/type-mismatch" and 0 <= e.start < e.end <= len(src)
        return [] if ok else [f"{src}: {e.code} at {e.start}-{e.end}"]
    scalar, column = compile_expression(node, types, ctx), compile_vector(node, types, ctx)
    rows = [env, *({**env, k: None} for k in {r.path for r in iter_refs(node)})]
    want = [scalar(r) for r in rows]
    got = column({k: [r[k] for r in rows] for k in env}, range(len(rows)))
    return [] if got == want else [f"{src}: columns give {got}, closures {want}"]


def test_a_new_function_is_one_entry_of_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """A function added as one entry of BUILTINS is checked, compiled by both compilers and
    lifted over null and unknown with no other change (here a strict one of three arguments,
    an arity no bundled function has)."""
    from dsl.builtins import BUILTINS, Builtin
    from dsl.columns import compile_vector

    entry = Builtin("add3", "add3(n, n, n)", "the total of three numbers",
                    lambda args: INT if len(args) == 3 else "takes three numbers",
                    lambda ctx, a, b, c: a + b + c, strict=True)  # fmt: skip
    monkeypatch.setitem(BUILTINS, "add3", entry)
    node = parse_expression("add3(n, m, 1)")
    t, types = check_expression(node, Scope())
    assert t == INT
    scalar, column = compile_expression(node, types, Context()), compile_vector(node, types, None)
    known, null = _env({"n": 1, "m": 2}), _env({"n": None, "m": 2})
    assert [scalar(known), scalar(null)] == [4, None]
    assert column({"n": [1, None], "m": [2, 2]}, range(2)) == [4, None]
    unknown = scalar(_env({"m": 2}))
    assert isinstance(unknown, Unknown) and unknown.needs == {"n"}


# A small set of values for each type a fixture's names have, for trying every way an unknown
# could turn out.
COMPLETIONS: dict[str, list[Any]] = {
    "bool": [True, False, None],
    "int": [0, 1, 2, None],
    "string": ["a", "b", "c", None],
    "date": [dt.date(2024, 1, 1), dt.date(2024, 2, 1), None],
    "list of int": [[], [1], [1, 2], None],
}


def _completions(env: dict[str, Any], reads: list[str]) -> list[dict[str, Any]] | None:
    """Every environment that gives the unknown names of ``env`` among ``reads`` a value of
    their type (None when a type has no completions here, or there are too many)."""
    import itertools

    unknown = [k for k in reads if isinstance(env[k], Unknown)]
    domains = [COMPLETIONS.get(str(NAMES[k])) for k in unknown]
    if any(d is None for d in domains) or len(list(itertools.product(*domains))) > 5000:  # type: ignore[arg-type]
        return None
    return [{**env, **dict(zip(unknown, vs, strict=True))}
            for vs in itertools.product(*domains)]  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.parametrize("case", VALUE_CASES, ids=[c["expr"] or "<empty>" for c in VALUE_CASES])
def test_a_decided_value_holds_whatever_the_unknowns_turn_out(case: dict[str, Any]) -> None:
    """Soundness of the three-valued semantics: when an expression that reads unknown names is
    decided, every way those names could be known (null included) gives that same value; and
    an unknown result needs only names that are unknown."""
    if " is missing" in case["expr"]:
        pytest.skip("`is missing` is about the absence itself")
    node = parse_expression(case["expr"])
    _, types = check_expression(node, Scope())
    fn = compile_expression(node, types, Context())
    env = _env(case.get("env", {}))
    reads = sorted({r.path for r in iter_refs(node)} - {"as_of"})
    value = fn(env)
    if isinstance(value, Unknown):
        assert value.needs <= {k for k in reads if isinstance(env[k], Unknown)}
        return
    worlds = _completions(env, reads)
    if worlds is None or len(worlds) == 1:
        pytest.skip("no unknown names, or none that can be tried here")
    for world in worlds:
        got = fn(world)
        assert (type(got), got) == (type(value), value), {k: world[k] for k in reads}
