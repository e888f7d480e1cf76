"""Review of the generated code: random expressions over the DSL grammar decided both ways
(``compile_generated`` and ``compile_expression``) on random environments (unknown, null,
edge dates, partly known lists), compared by exact type and value, exceptions included."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pytest

from dsl.compile import compile_expression
from dsl.errors import DslErrors
from dsl.parse import parse_expression
from dsl.pygen import compile_generated
from dsl.typecheck import check_expression
from dsl.values import Unknown
from tests.test_dsl import Context, Scope

ODD: list[Any] = []  # filled below, after the helper classes


def same(v: Any) -> Any:
    if isinstance(v, Unknown):
        return "unknown", sorted(v.needs), repr(v.known)
    return type(v), repr(v)


def outcome(fn: Any, env: dict[str, Any]) -> Any:
    try:
        return same(fn(dict(env)))
    except Exception as exc:  # both sides must fail alike
        return "raised", type(exc).__name__


ATOMS = {
    "date": ["d1", "d2", "as_of", "2024-02-29", "1900-01-01", "2199-12-31", "null"],
    "int": ["n", "m", "0", "1", "-3", "99999999999999999999", "count(xs)", "d2 - d1"],
    "num": ["x", "1.0", "1.00", "2.50", "n / m", "x * 2"],
    "money": ["cost", "$1.00", "$0.10", "cost * 3", "cost / 3"],
    "bool": ["ok", "nope", "u", "true", "false", "null"],
    "str": ["s", '"a"', '"IBC"', "code"],
    "dur": ["1 day", "30 days", "1 month", "1 year", "2 weeks", "3 business days",
            "days(n)", "months(n)", "business_days(n)", "-5 days"],
}  # fmt: skip


def gen(rng: random.Random, kind: str, depth: int) -> str:
    if depth <= 0 or rng.random() < 0.3:
        return rng.choice(ATOMS[kind])
    g = lambda k: gen(rng, k, depth - 1)  # noqa: E731
    r = rng.random()
    if kind == "bool":
        k = rng.choice(["date", "int", "num", "money", "str"])
        return rng.choice(
            [
                lambda: f"({g('bool')} and {g('bool')})",
                lambda: f"({g('bool')} or {g('bool')})",
                lambda: f"(not {g('bool')})",
                lambda: f"({g(k)} {rng.choice(['==', '!=', '<', '<=', '>', '>='])} {g(k)})",
                lambda: f"({g(k)} is {rng.choice(['set', 'null', 'not null', 'missing'])})",
                lambda: f"(n in [{g('int')}, {g('int')}])",
                lambda: f'(code {rng.choice(["in", "not in"])} ["IBC", "IRC"])',
                lambda: f"({g('int')} in xs)",
                lambda: f"(if {g('bool')} then {g('bool')} else {g('bool')})",
                lambda: f"{rng.choice(['any', 'all'])}({g('bool')}, {g('bool')})",
                lambda: f"is_business_day({g('date')})",
                lambda: f"{rng.choice(['any', 'all'])}([{g('bool')}, {g('bool')} if {g('bool')}])",
                lambda: (
                    f"({g('int')} {rng.choice(['in', 'not in'])} [{g('int')} if {g('bool')}, m])"
                ),
                lambda: f"([{g('int')}, n] {rng.choice(['==', '!='])} xs)",
                lambda: (
                    f"(count([{g('int')} if {g('bool')}, n]) {rng.choice(['==', '>', '<='])} 1)"
                ),
            ]
        )()
    if r < 0.25:
        return f"(if {g('bool')} then {g(kind)} else {g(kind)})"
    if kind == "date":
        return rng.choice(
            [
                lambda: f"({g('date')} {rng.choice(['+', '-'])} {g('dur')})",
                lambda: f"{rng.choice(['earliest', 'latest'])}({g('date')}, {g('date')})",
                lambda: f"earliest({g('date')}, {g('date')}, {g('date')})",
                lambda: "latest(ds)",
                lambda: (
                    f"{rng.choice(['earliest', 'latest'])}"
                    f"([{g('date')}, {g('date')} if {g('bool')}])"
                ),
                lambda: f"next_business_day({g('date')})",
                lambda: f"roll_forward({g('date')})",
            ]
        )()
    if kind in ("int", "num", "money"):
        base = {"int": "int", "num": "num", "money": "money"}[kind]
        return rng.choice(
            [
                lambda: f"({g(base)} {rng.choice(['+', '-', '*'])} {g('int')})",
                lambda: f"(-{g(base)})",
                lambda: f"{rng.choice(['min', 'max'])}({g(base)}, {g(base)})",
                lambda: f"{rng.choice(['min', 'max'])}({g(base)}, {g(base)}, {g(base)})",
                lambda: f"sum({g(base)}, {g(base)})",
                lambda: f"sum([{g(base)}, {g(base)} if {g('bool')}])",
                lambda: f"{rng.choice(['min', 'max'])}([{g(base)} if {g('bool')}, {g(base)}])",
                lambda: f"count([{g(base)} if {g('bool')}, {g(base)}])",
                lambda: f"({g(base)} / {g('int')})",
            ]
        )()
    if kind == "str":
        return f"({g('str')} + {g('str')})"
    return rng.choice(ATOMS[kind])


VALUES: dict[str, list[Any]] = {
    "d1": [dt.date(2024, 2, 29), dt.date(1900, 1, 1), dt.date(2199, 12, 31), dt.date(2025, 11, 26)],
    "d2": [dt.date(2024, 3, 1), dt.date(1900, 1, 2), dt.date(2024, 1, 31)],
    "n": [0, 1, -1, 2, 10**15, True],
    "m": [0, 3, -2],
    "x": [Decimal("1.0"), Decimal("1.00"), Decimal("-0"), Decimal("2.5")],
    "cost": [Decimal("0.00"), Decimal("12.34")],
    "ok": [True, False],
    "nope": [True, False],
    "s": ["a", "IBC", ""],
    "code": ["IBC", "IRC", "IEBC"],
    "xs": [[], [1, 2], [0]],
    "ds": [[], [dt.date(2024, 1, 1), dt.date(2024, 5, 5)]],
}  # fmt: skip


def random_env(rng: random.Random) -> dict[str, Any]:
    from tests.test_dsl import NAMES

    env: dict[str, Any] = {k: Unknown(frozenset({k})) for k in NAMES}
    env["as_of"] = dt.date(2025, 6, 30)
    for k, vs in VALUES.items():
        r = rng.random()
        if r < 0.6:
            env[k] = rng.choice(vs)
        elif r < 0.8:
            env[k] = None
    return env


def test_random_expressions_both_ways() -> None:
    rng = random.Random(2026)
    checked = 0
    for _ in range(3000):
        kind = rng.choice(list(ATOMS))
        src = gen(rng, kind, 3)
        try:
            node = parse_expression(src)
            _, types = check_expression(node, Scope())
        except DslErrors:
            continue
        closure = compile_expression(node, types, Context())
        code = compile_generated(node, types, Context())
        checked += 1
        for _ in range(6):
            env = random_env(rng)
            assert outcome(code, env) == outcome(closure, env), (src, env)
    assert checked > 500


# --- The quick way and the whole way ---------------------------------------------------------

KENT_CASE: dict[str, Any] = {
    "jurisdiction": "kent",
    "as_of": "2025-06-30",
    "facts": {"permit": {"code": "IBC", "issued_on": " 2024-04-15 "},
              "work": {"commenced_on": None}},
}  # fmt: skip


def test_decisions_given_as_an_iterator_survive_the_quick_way_declining() -> None:
    """``Policy.values(case, decisions)`` with ``decisions`` a one-shot iterable (a generator,
    ``iter(list)``): the documented type is ``Iterable[str]``.

    ``quick_values`` (engine/run/quick.py, ``_entry`` → ``checked(cp, decisions)``) consumes
    the iterator with ``frozenset(decisions)``; when the generated reader then declines the
    case (here a date with spaces around it, which ``FactReader`` strips and accepts), or the
    generated function raises, ``Policy.values`` (engine/api.py:136-139) hands the *same,
    now exhausted* iterator to the whole way, which decides no decision at all and returns
    ``{}``. With a list the answer is ``{'permit.expires_on': date(2025, 4, 15)}``; with a
    generator it is ``{}``. The quick way must turn ``decisions`` into a tuple (or frozenset)
    once and pass that on, or the caller must."""
    import copy

    from engine import load_policy

    policy = load_policy()
    want = policy.values(copy.deepcopy(KENT_CASE), ["permit.expires_on"])
    assert want == {"permit.expires_on": dt.date(2025, 4, 15)}
    got = policy.values(copy.deepcopy(KENT_CASE), (d for d in ["permit.expires_on"]))
    assert got == want


class _Str(str):
    pass


class _Date(dt.date):
    pass


ODD.extend([
    _Str("IBC"), _Date(2024, 4, 15), True, False, 1, 0, 1.5, float("nan"), float("inf"),
    Decimal("1.0"), Decimal("NaN"), 10**15, 10**15 - 1, -(10**15) + 1, 2**70, -1,
    "1900-01-01", "2199-12-31", "2200-01-01", "2024-02-29", "2023-02-29", "2024-W15-1",
    "20240415", dt.date(1900, 1, 1), dt.date(2199, 12, 31), dt.datetime(2024, 1, 1), None,
    [], [None], {}, "", "IBC", "12", "$1,000.00", "2024-01-01T00:00:00", [1, 2],
    ["2024-01-01"], [True], "\u2028", "IB'C\"",
])  # fmt: skip


def _leaves(d: dict[str, Any], pre: tuple[str, ...] = ()) -> Any:
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _leaves(v, (*pre, k))
        yield (*pre, k)


def test_odd_fact_values_both_ways() -> None:
    """Random cases of every bundled jurisdiction with one fact (or group) replaced by an odd
    value: ``Policy.values`` (quick way) gives the closures' values or the same error, and a
    case ``quick_prepare`` takes is what ``prepare`` makes of it."""
    import copy

    from engine.diagnostics import CaseError
    from engine.run import cases as one
    from engine.run import generated
    from engine.run.decide import OutOfRange
    from engine.run.evaluate import start_env
    from engine.run.quick import quick_prepare
    from tests.test_batch import _random_cases
    from tests.test_generated import POLICY, _generated, _plans_agree, _reference

    rng = random.Random(5)
    for cp in POLICY.compiled.values():
        for data in _random_cases(cp, 25, seed=7, keep=0.8):
            paths = list(_leaves(data["facts"]))
            for _ in range(3):
                d = copy.deepcopy(data)
                path = rng.choice(paths)
                node = d["facts"]
                for k in path[:-1]:
                    node = node[k]
                node[path[-1]] = copy.deepcopy(rng.choice(ODD))
                only = frozenset(rng.sample(list(cp.public), 3))
                for want in (None, only):
                    assert _generated(d, want) == _reference(d, want), (path, node[path[-1]])
                quick = quick_prepare(POLICY.timeline, copy.deepcopy(d))
                try:
                    whole = one.prepare(POLICY.timeline, copy.deepcopy(d))
                except CaseError:
                    assert quick is None, (path, node[path[-1]])
                    continue
                if quick is not None:
                    assert (quick.cp, quick.day, quick.basis) == (whole.cp, whole.day, whole.basis)
                    assert [(k, same(v)) for k, v in quick.facts.items()] == [
                        (k, same(v)) for k, v in whole.facts.items()]  # fmt: skip
                    assert not whole.warnings
                try:
                    _plans_agree(whole.cp, whole.facts, whole.day, None)
                except OutOfRange:  # the closures refuse: the generated code must fail too
                    env, _ = start_env(whole.cp, whole.facts, whole.day, None)
                    with pytest.raises((ArithmeticError, ValueError)):
                        generated.generate(whole.cp, None, "plan").fn(env)


TOP = [("case", 5), ("case", True), ("case", None), ("case", 10**1000), ("case", 10**999),
       ("case", _Str("x")), ("case", "a\nb"), ("case", 1.5), ("as_of", dt.date(2025, 6, 30)),
       ("as_of", _Date(2025, 6, 30)), ("as_of", " 2025-06-30"), ("as_of", "2025-W27-1"),
       ("as_of", "20250630"), ("as_of", "1900-01-01"), ("as_of", "2199-12-31"),
       ("as_of", "2200-01-01"), ("as_of", dt.datetime(2025, 6, 30)), ("as_of", None),
       ("as_of", 20250630), ("as_of", "2019-01-01"), ("jurisdiction", _Str("kent")),
       ("jurisdiction", "Kent"), ("facts", None), ("facts", []), ("facts", {}),
       ("revision", "ord-4463"), ("expect", {}), ("description", "x")]  # fmt: skip


def test_case_keys_quick_way_or_whole_way() -> None:
    """Odd top-level keys: the quick way gives what the whole way gives, or declines; a case
    it prepares is the whole way's (id, dates, basis, facts in order, by type)."""
    import copy

    from engine.diagnostics import CaseError
    from engine.run import cases as one
    from engine.run.quick import quick_prepare, quick_values
    from tests.test_generated import KENT, POLICY

    base = {"case": "K", "jurisdiction": "kent", "as_of": "2025-06-30", "facts": KENT}
    for key, value in TOP:
        data = copy.deepcopy(base)
        data[key] = value
        try:
            whole = one.prepare(POLICY.timeline, copy.deepcopy(data))
        except CaseError:
            whole = None
        for only in (None, ["permit.expired"], ("permit.expired",)):
            quick = quick_values(POLICY.timeline, copy.deepcopy(data), only)
            if quick is None:
                continue
            assert whole is not None, (key, value)
            want = one.values(whole, only)
            assert [(k, same(v)) for k, v in quick.items()] == [
                (k, same(v)) for k, v in want.items()], (key, value)  # fmt: skip
        prepared = quick_prepare(POLICY.timeline, copy.deepcopy(data))
        if prepared is None:
            continue
        assert whole is not None, (key, value)
        q, w = prepared, whole
        assert (q.cp, same(q.day), q.basis) == (w.cp, same(w.day), w.basis)
        assert (same(q.case.id), q.case.jurisdiction, same(q.case.as_of), q.case.revision,
                q.case.facts) == (same(w.case.id), w.case.jurisdiction, same(w.case.as_of),
                                  w.case.revision, w.case.facts)  # fmt: skip
        assert list(q.facts.items()) == list(w.facts.items())


def _hostile_policy(root: Any) -> None:
    """A copy of ``generic`` whose code enum value, the tests of it and a citation hold
    quotes, a line separator, a newline, a ``#`` and a bracket."""
    import re
    import shutil
    from pathlib import Path

    import engine

    src = Path(engine.__file__).resolve().parent.parent / "policy" / "generic"
    shutil.copytree(src, root / "generic")
    for p in (root / "generic" / "icc-2021").glob("*.yaml"):
        t = p.read_text("utf-8")
        t = t.replace("values: [IBC, IRC", 'values: ["IB\'C\\"\\u2028\\n)#", IRC')
        t = t.replace('      IBC: "International Building Code"\n', "")

        def quoted(m: Any) -> str:
            key, expr = m.group(0).split(": ", 1)
            expr = expr.replace('"IBC"', '"IB\'C\\"\u2028\\n)#"')
            text = (expr.replace("\\", "\\\\").replace('"', '\\"')
                    .replace("\u2028", "\\u2028").replace("\n", "\\n"))  # fmt: skip
            return f'{key}: "{text}"'

        t = re.sub(r'^ *(when|value): .*"IBC".*$', quoted, t, flags=re.M)
        t = t.replace("- citation: IBC 105.3.2\n",
                      '- citation: "IBC 105.3.2\\u2028\\nk0 = 1\\r#\'\\""\n')  # fmt: skip
        p.write_text(t, "utf-8")


def test_hostile_policy_text_stays_data(tmp_path: Any) -> None:
    """Policy text with quotes, U+2028, newlines and ``#`` in an enum value, the conditions
    testing it and a citation: the generated modules are ASCII, hold no string literal outside
    comments, and decide like the closures (cases giving that value included)."""
    import copy

    from engine import load_policy
    from engine.run import generated, readers
    from tests import test_generated as tg
    from tests.test_batch import _random_cases

    _hostile_policy(tmp_path)
    policy = load_policy(tmp_path)
    cp = policy.compiled[("generic", "icc-2021")]
    evil = cp.facts["permit.code"].type.values[0]
    assert "\u2028" in evil and "\n" in evil and "'" in evil and '"' in evil
    assert any("\u2028" in v.citation for r in cp.rules.values() for v in r.variants)
    sources = [generated.generate(cp, None, mode).source for mode in ("values", "plan")]
    for source in [*sources, readers.reader_source(cp)[0]]:
        assert source.isascii()
        compile(source, "<hostile>", "exec")
        for line in source.splitlines():
            code = line.strip()
            if not code.startswith("#"):
                assert "'" not in code and '"' not in code, line
    cases = _random_cases(cp, 30, seed=3, keep=0.9)
    cases.append({"jurisdiction": "generic", "as_of": "2025-01-01", "facts": {
        "permit": {"code": evil, "issued_on": "2024-01-01"},
        "application": {"filed_on": "2023-06-01"}}})  # fmt: skip
    saved = tg.POLICY
    tg.POLICY = policy
    try:
        for data in cases:
            assert tg._generated(copy.deepcopy(data), None) == tg._reference(data, None)
    finally:
        tg.POLICY = saved
    assert sum(c["facts"].get("permit", {}).get("code") == evil for c in cases) >= 2


def _ladder(rungs: int, name: str = "n") -> str:
    return " ".join(f"if {name} == {i} then {i} else" for i in range(rungs)) + " -1"


def test_a_long_else_if_ladder_compiles_as_generated_code() -> None:
    """An ``if … then … else if …`` ladder the parser accepts (98 rungs is within its 100
    levels, ``dsl/parse.py`` ``check_depth``) decides on the closures, but
    ``compile_generated`` raises ``IndentationError: too many levels of indentation``: the
    emitter writes each ``else`` branch one block deeper (``Emitter._if``, dsl/pygen.py, and
    likewise ``connective``'s ``else:`` for a right-nested ``or``/``and``), and CPython's
    tokenizer stops at 100 levels. A right-nested ``ok or (ok or (…))`` and an ``if`` nested in
    the ``then`` branch fail the same way. The generated code must stay within the
    indentation limit (e.g. write a branch's statements as their own function, or fall back
    to the closure past some depth)."""
    for src in [_ladder(98), "(ok or " * 98 + "nope" + ")" * 98]:
        node = parse_expression(src)
        _, types = check_expression(node, Scope())
        env = random_env(random.Random(1))
        env.update(n=97, ok=False, nope=True)
        want = outcome(compile_expression(node, types, Context()), env)
        try:
            code = compile_generated(node, types, Context())
        except SyntaxError as exc:
            raise AssertionError(f"generated code does not compile: {exc!r}") from None
        assert outcome(code, env) == want


def test_a_policy_with_a_long_ladder_is_decided(tmp_path: Any) -> None:
    """The same at the engine: a copy of ``generic`` with one more rule, a 96-rung ladder
    over ``application.filed_on``, passes ``load_policy`` (the checks) and decides on the
    closures, but ``Policy.values`` raises ``IndentationError`` from
    ``engine.run.generated.generate`` (a rule's value is emitted inside ``def decide`` →
    ``while True`` → ``if … is True``, so the limit comes a few rungs sooner than for an
    expression alone); ``Policy.evaluate`` (plan mode) likewise. The error is not one the
    callers catch (``ArithmeticError, ValueError``), so the case is lost."""
    import shutil
    from pathlib import Path

    import engine
    from engine import load_policy
    from engine.run import cases as one
    from engine.run.decide import run_values
    from engine.run.evaluate import start_env

    src = Path(engine.__file__).resolve().parent.parent / "policy" / "generic"
    shutil.copytree(src, tmp_path / "generic")
    p = tmp_path / "generic" / "icc-2021" / "ibc.yaml"
    ladder = " ".join(
        f"if application.filed_on == 2024-01-{i % 28 + 1:02d} then {i} else" for i in range(96)
    )
    rule = (
        "      - id: review.deep\n        type: int\n        description: A long ladder\n"
        f"        value: {ladder} -1\n"
    )
    head = "    rules:\n      - id: application.expires_on\n"
    text = p.read_text("utf-8")
    assert head in text
    p.write_text(text.replace(head, "    rules:\n" + rule + head[11:], 1), "utf-8")
    policy = load_policy(tmp_path)
    facts = {"permit": {"code": "IBC"}, "application": {"filed_on": "2024-01-05"}}
    case = {"jurisdiction": "generic", "as_of": "2025-01-01", "facts": facts}
    prepared = one.prepare(policy.timeline, dict(case))
    env, plan = start_env(prepared.cp, prepared.facts, prepared.day, frozenset({"review.deep"}))
    run_values(plan, env)
    assert env["review.deep"] == 4
    try:
        got = policy.values(dict(case), ["review.deep"])
    except SyntaxError as exc:
        raise AssertionError(f"Policy.values raised {exc!r}") from None
    assert got == {"review.deep": 4}


EDGES = ["d1 - 999999 days", "d1 + 999999 business days", "dt1 + 12 months", "dt1 + 1 day",
         "d1 + 0 business days", "d1 - 1 business day", "2024-02-29 + 1 year", "as_of + 1 week",
         "earliest(d1, null)", "d1 + days(-n)", "next_business_day(2100-12-31)",
         "roll_forward(1777-01-01)", "d1 + months(n * 10000)", "1900-01-01 - 1 day",
         "2199-12-31 + 1 month", "d1 - 2024-02-29", "x / 0", "cost / 3 * 3", "n / m"]  # fmt: skip


def test_edge_expressions_both_ways() -> None:
    """Calendar ends, leap days, business days past the calendar, overflow: the same value or
    the same exception, on every combination of the names they read."""
    from tests.test_dsl import _env

    given = {"d1": "2024-02-29", "n": 5, "m": 0, "x": "1.0", "cost": "100",
             "dt1": "2025-03-08T17:00:00-08:00", "as_of": "2025-01-01"}  # fmt: skip
    for src in EDGES:
        node = parse_expression(src)
        _, types = check_expression(node, Scope())
        closure = compile_expression(node, types, Context())
        code = compile_generated(node, types, Context())
        for world in (_env(given), _env({}), _env({k: None for k in given if k != "as_of"})):
            world["as_of"] = dt.date(2025, 1, 1)
            assert outcome(code, world) == outcome(closure, world), src


def test_decision_subsets_and_swapped_definitions_in_plan_mode() -> None:
    """Plan mode on random subsets of decisions, and on revisions whose definitions of a rule
    are tried the other way round (as ``ordinance mutate`` makes them): generated and
    closures agree on every value and every deciding definition."""
    from dataclasses import replace

    from engine.run import cases as one
    from engine.run import generated
    from engine.run.decide import OutOfRange, run_plan
    from engine.run.evaluate import start_env
    from engine.tools.mutate import _swapped
    from tests.test_batch import _random_cases
    from tests.test_generated import POLICY, _plans_agree

    rng = random.Random(3)
    for cp in POLICY.compiled.values():
        cases = [one.prepare(POLICY.timeline, c) for c in _random_cases(cp, 20, 11, 0.5)]
        for pr in cases:
            only = frozenset(rng.sample(list(cp.public), rng.randrange(1, 8)))
            with contextlib.suppress(OutOfRange):
                _plans_agree(pr.cp, pr.facts, pr.day, only)
        multi = [rid for rid, r in cp.rules.items() if len(r.variants) > 1]
        for rid in rng.sample(multi, min(6, len(multi))):
            rules = dict(cp.rules)
            for name in (rid, rid + "_lines"):
                if name in rules:
                    rules[name] = _swapped(rules[name], 0)
            plan = tuple((r, c.decide) for r, c in rules.items())
            m = replace(cp, rules=rules, plan=plan, _plans={}, _batch_plans={},
                        checked_requests={})  # fmt: skip
            fast = generated.generate(m, None, "plan").fn
            for pr in cases[:8]:
                env, _ = start_env(m, pr.facts, pr.day, None)
                ref = dict(env)
                try:
                    want = run_plan(plan, ref)
                except OutOfRange:
                    continue
                assert fast(env) == want, rid
                assert {k: same(v) for k, v in env.items()} == {k: same(v) for k, v in ref.items()}
