"""The generated code (``dsl.pygen``, ``engine.run.generated``, ``engine.run.readers``) gives
exactly what the closures give: on every DSL fixture and every way its unknowns could turn
out, on every golden case, on random cases drawn from each policy's declarations, and on
malformed cases, where the generated reader must decline and leave the error to ``FactReader``.

The closures are the reference: these tests call them directly (``run_plan``, ``run_values``,
``FactReader.read``), never through the paths that now prefer generated code.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dsl.compile import compile_expression
from dsl.nodes import iter_refs
from dsl.parse import parse_expression
from dsl.pygen import compile_generated
from dsl.typecheck import check_expression
from dsl.values import Unknown
from engine import load_policy
from engine.diagnostics import CaseError, Collector
from engine.run import cases as one
from engine.run import generated, readers
from engine.run.decide import OutOfRange, run_plan, run_values
from engine.run.evaluate import start_env
from engine.run.facts import case_from_dict
from engine.run.program import CompiledPolicy
from engine.run.quick import quick_values
from tests.test_batch import _random_cases
from tests.test_dsl import CASES, Context, Scope, _completions, _env

GOLDEN = Path(__file__).parent / "golden"
POLICY = load_policy()
EXPIRY = frozenset({"permit.expires_on", "permit.expiration_reason", "permit.expired",
                    "permit.extension_eligible"})  # fmt: skip


def same(v: Any) -> Any:
    """A value by its exact type; an unknown by what it needs and what is known of it."""
    if isinstance(v, Unknown):
        return "unknown", sorted(v.needs), repr(v.known)
    return type(v), v


def _reference(data: dict[str, Any], only: frozenset[str] | None) -> Any:
    """``values`` on the closures alone, or the CaseError's messages."""
    try:
        prepared = one.prepare(POLICY.timeline, copy.deepcopy(data))
        cp, case, facts, day = prepared[:4]
        env, plan = start_env(cp, facts, day, only)
        try:
            run_values(plan, env)
        except OutOfRange as exc:
            raise one.placed(cp, case, exc) from None
    except CaseError as exc:
        return "error", str(exc)
    wanted = only if only is not None else cp.public
    return {rid: same(env[rid]) for rid in wanted}


def _generated(data: dict[str, Any], only: frozenset[str] | None) -> Any:
    try:
        got = POLICY.values(copy.deepcopy(data), only)
    except CaseError as exc:
        return "error", str(exc)
    return {rid: same(v) for rid, v in got.items()}


# --- Expressions --------------------------------------------------------------------------------

VALUE_CASES = [c for c in CASES if "error" not in c]


@pytest.mark.parametrize("case", VALUE_CASES, ids=[c["expr"] or "<empty>" for c in VALUE_CASES])
def test_every_fixture_both_ways(case: dict[str, Any]) -> None:
    """Each fixture's value, and its value in every world its unknowns could turn out to be."""
    node = parse_expression(case["expr"])
    _, types = check_expression(node, Scope())
    closure = compile_expression(node, types, Context())
    code = compile_generated(node, types, Context())
    env = _env(case.get("env", {}))
    reads = sorted({r.path for r in iter_refs(node)} - {"as_of"})
    for world in [env, *(_completions(env, reads) or [])][:200]:
        assert same(code(dict(world))) == same(closure(dict(world))), case["expr"]


# --- Whole policies --------------------------------------------------------------------------


def _golden() -> list[dict[str, Any]]:
    out = []
    for path in sorted(GOLDEN.rglob("*.yaml")):
        data = yaml.safe_load(path.read_text("utf-8"))
        data.pop("expect", None)
        data.pop("description", None)
        out.append(data)
    return out


GOLDEN_CASES = _golden()


def _plans_agree(cp: CompiledPolicy, facts: dict[str, Any], day: dt.date,
                 only: frozenset[str] | None) -> None:  # fmt: skip
    """Plan mode: every rule's value in the environment and its deciding definition."""
    env, plan = start_env(cp, facts, day, only)
    want_env = dict(env)
    want_chosen = run_plan(plan, want_env)
    fast = generated.generate(cp, only, "plan").fn
    chosen = fast(env)
    assert chosen == want_chosen
    assert {k: same(v) for k, v in env.items()} == {k: same(v) for k, v in want_env.items()}


def test_golden_cases_both_ways() -> None:
    """Every golden case, all decisions and the permit ones, in values and plan mode; dates as
    the YAML gives them (``datetime.date``) and as JSON gives them (text)."""
    assert len(GOLDEN_CASES) > 250
    for data in GOLDEN_CASES:
        texts = yaml.safe_load(yaml.safe_dump(data).replace("!!timestamp", ""))
        as_text = _dates_as_text(texts)
        for only in (None, EXPIRY):
            for case in (data, as_text):
                try:
                    want = _reference(case, only)
                except CaseError:
                    continue
                assert _generated(case, only) == want, case.get("case")
        if "revision" in data:
            continue
        prepared = one.prepare(POLICY.timeline, copy.deepcopy(data))
        _plans_agree(prepared.cp, prepared.facts, prepared.day, None)


def _dates_as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _dates_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_as_text(v) for v in value]
    return value.isoformat() if isinstance(value, dt.date) else value


@pytest.mark.parametrize("cp", list(POLICY.compiled.values()), ids=lambda cp: cp.jurisdiction)
@pytest.mark.parametrize("keep", [1.0, 0.7, 0.3])
def test_random_cases_both_ways(cp: CompiledPolicy, keep: float) -> None:
    cases = _random_cases(cp, 120, seed=int(keep * 1000) + 3, keep=keep)
    for data in cases:
        only_sets: list[frozenset[str] | None] = [None]
        if cp.jurisdiction == "kent":
            only_sets.append(EXPIRY)
        for only in only_sets:
            assert _generated(data, only) == _reference(data, only), data["case"]
        try:
            prepared = one.prepare(POLICY.timeline, copy.deepcopy(data))
        except CaseError:
            continue
        _plans_agree(prepared.cp, prepared.facts, prepared.day, None)


# --- The reader ----------------------------------------------------------------------------

_Weird = type("Weird", (str,), {})
KENT = {
    "permit": {"code": "IBC", "issued_on": "2024-04-15", "extensions_granted": 0,
               "only_final_remaining": False},
    "work": {"commenced_on": "2024-05-01", "last_inspection_on": None},
    "building": {"single_family": True},
}  # fmt: skip
VARIANTS: list[tuple[str, Any]] = [
    ("permit.code", "ibc"), ("permit.code", ["IBC"]), ("permit.code", None),
    ("permit.issued_on", dt.date(2024, 4, 15)), ("permit.issued_on", dt.datetime(2024, 4, 15)),
    ("permit.issued_on", " 2024-04-15 "), ("permit.issued_on", "2024-02-30"),
    ("permit.issued_on", "1899-12-31"), ("permit.issued_on", 20240415),
    ("permit.extensions_granted", True), ("permit.extensions_granted", 1.0),
    ("permit.extensions_granted", 10**20), ("building.single_family", 1),
    ("work.commenced_on", None), ("tco.valid_days", "90"), ("appeal.fee_paid", "yes"),
    ("building.occupant_load", "12"), ("building.occupant_load", 12.5),
    ("permit.valuation", "$1,200.50"), ("nonsense.fact", 1), ("work", None), ("work", "x"),
]  # fmt: skip


def _with(path: str, value: Any) -> dict[str, Any]:
    facts = copy.deepcopy(KENT)
    group, _, leaf = path.partition(".")
    if leaf:
        facts.setdefault(group, {})[leaf] = value
    else:
        facts[group] = value
    return facts


@pytest.mark.parametrize(("path", "value"), VARIANTS, ids=[f"{p}={v!r}" for p, v in VARIANTS])
def test_reader_takes_or_declines(path: str, value: Any) -> None:
    """The generated reader gives FactReader's facts, or declines where FactReader converts
    or complains."""
    _reader_agrees(_with(path, value))


@pytest.mark.parametrize("facts", [
    {"permit.code": "IBC"}, {_Weird("permit"): {"code": "IBC"}},
    {"permit": {_Weird("code"): "IBC"}}, {1: {"code": "IBC"}}, {"permit": {"code": {"v": 1}}},
    {"permit": {"number": "B-1", "code_edition": "2021"}}, {"space": {"multi_tenant": True}},
])  # fmt: skip
def test_reader_declines_odd_keys(facts: dict[Any, Any]) -> None:
    _reader_agrees(facts)


def _reader_agrees(facts: dict[Any, Any]) -> None:
    cp = POLICY.compiled[("kent", "ord-4463")]
    data = {"case": "K", "jurisdiction": "kent", "as_of": "2025-06-30", "facts": facts}
    out = Collector()
    foreign = POLICY.timeline.foreign_facts(cp)
    want = cp.reader.read(case_from_dict(copy.deepcopy(data)), out, foreign)
    env: dict[str, Any] = {}
    took = readers.reader(cp)(copy.deepcopy(facts), env)
    if took:
        assert not out.items, "the generated reader took a case FactReader reports on"
        assert {k: same(v) for k, v in env.items()} == {k: same(v) for k, v in want.items()}
    for only in (None, EXPIRY):
        assert _generated(data, only) == _reference(data, only)


def test_a_number_past_the_calendar_is_placed_as_before() -> None:
    data = {"jurisdiction": "kent", "as_of": "2025-06-30", "facts": {
        "tco": {"issued_on": "2025-01-01", "valid_days": 10**14}}}  # fmt: skip
    assert _generated(data, None) == _reference(data, None)
    assert _generated(data, None)[0] == "error"


# --- The code itself ----------------------------------------------------------------------------


def test_generated_source_is_deterministic_and_quotes_no_policy_text() -> None:
    """The same policy gives the same text; outside comments the code holds no string literal
    (every policy value is a constant by name), and a comment is one line of ``ascii``."""
    for cp in POLICY.compiled.values():
        sources = [
            generated.generate(cp, None, "values").source,
            generated.generate(cp, None, "plan").source,
            readers.reader_source(cp)[0],
        ]
        again = [
            generated.generate(cp, None, "values").source,
            generated.generate(cp, None, "plan").source,
            readers.reader_source(cp)[0],
        ]
        assert sources == again
        for line in (line for source in sources for line in source.splitlines()):
            code = line.strip()
            if code.startswith("#"):
                assert re.fullmatch(r"# '[\x20-\x7e]*'", code), line
            else:
                assert "'" not in code and '"' not in code, line


def test_many_decision_sets_stop_generating() -> None:
    """Past ``KEEP`` sets a revision runs new ones on the closures: memory stays bounded."""
    cp = POLICY.compiled[("generic", "icc-2021")]
    saved = dict(cp._fast)
    try:
        cp._fast.update({(frozenset({str(i)}), "values"): len for i in range(generated.KEEP)})
        assert generated.cached(cp, frozenset({"co.required"}), "values") is None
        case = {"jurisdiction": "generic", "as_of": "2024-01-02", "facts": {}}
        got = POLICY.values(case, ["co.required"])
        assert {k: same(v) for k, v in got.items()} == _reference(case, frozenset({"co.required"}))
    finally:
        cp._fast.clear()
        cp._fast.update(saved)


def test_random_mixture_of_decision_sets() -> None:
    """Subsets of decisions, chosen at random, agree too (each has its own generated plan)."""
    rng = random.Random(16)
    cp = POLICY.compiled[("kent", "ord-4463")]
    cases = _random_cases(cp, 40, seed=99, keep=0.8)
    for data in cases:
        only = frozenset(rng.sample(list(cp.public), rng.randrange(1, 6)))
        assert _generated(data, only) == _reference(data, only)


def test_well_formed_cases_take_the_generated_way() -> None:
    """Every golden and random case is of the common shape: were the generated reader to
    decline them, the tests above would compare the closures with themselves."""
    for data in GOLDEN_CASES:
        assert quick_values(POLICY.timeline, copy.deepcopy(data), None) is not None
    for cp in POLICY.compiled.values():
        for data in _random_cases(cp, 30, seed=5, keep=0.7):
            assert quick_values(POLICY.timeline, data, None) is not None


def test_compile_emit_python_prints_what_runs() -> None:
    """``ordinance compile --emit python`` prints the module the run time compiles: the text
    compiles, names each constant it uses, is the same run to run, and refuses an unknown
    decision with its did-you-mean."""
    from click.testing import CliRunner

    from engine.tools.cli import main

    runner = CliRunner()
    args = ["compile", "--emit", "python", "-j", "kent", "--decisions", "permit.expired"]
    first, second = runner.invoke(main, args), runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert first.output == second.output
    cp = POLICY.compiled[("kent", "ord-4463")]
    made = generated.generate(cp, frozenset({"permit.expired"}), "values")
    assert first.output.endswith(made.source)
    assert f"#   k{len(made.consts) - 1} = 'permit.expired'" in first.output
    compile(first.output, "<emitted>", "exec")
    reader = runner.invoke(main, ["compile", "--emit", "python", "-j", "kent", "--part", "reader"])
    assert reader.exit_code == 0 and "def read(facts, env):" in reader.output
    wrong = runner.invoke(main, [*args[:-1], "permit.expird"])
    assert wrong.exit_code == 1
    assert "case/unknown-decision" in wrong.output and "permit.expired" in wrong.output


def test_a_copy_of_a_revision_runs_its_own_rules() -> None:
    """A revision copied with other rules (``ordinance mutate`` swaps definitions so) gets its
    own generated code, never its original's."""
    import dataclasses

    cp = POLICY.compiled[("kent", "ord-4463")]
    generated.cached(cp, EXPIRY, "values")
    assert cp._fast
    assert dataclasses.replace(cp)._fast == {}


def test_add_months_is_relativedelta() -> None:
    """``add_months`` computes what dateutil's ``relativedelta(months=…)`` gives, on dates of
    the whole calendar and moves of any size, the errors past its ends included."""
    from dateutil.relativedelta import relativedelta

    from dsl.semantics import add_months

    def outcome(f: Any, *args: Any) -> Any:
        try:
            return f(*args)
        except (ValueError, OverflowError) as exc:
            return type(exc).__name__, str(exc)

    rng = random.Random(12)
    add = add_months.__wrapped__  # type: ignore[attr-defined]
    for _ in range(200_000):
        day = dt.date.fromordinal(rng.randrange(1, dt.date.max.toordinal() + 1))
        months = rng.choice([rng.randrange(-30, 30), rng.randrange(-120_000, 120_000), 12, 36])
        assert outcome(add, day, months) == outcome(lambda d, m: d + relativedelta(months=m),
                                                    day, months), (day, months)  # fmt: skip


def test_prepare_reads_a_dict_as_fact_reader_does() -> None:
    """``prepare`` takes a program's dict through the generated reader: the same facts, in the
    same order, as ``FactReader`` gives, on every golden case and random case."""
    cases = [*GOLDEN_CASES, *(c for cp in POLICY.compiled.values()
                              for c in _random_cases(cp, 30, seed=8, keep=0.6))]  # fmt: skip
    for data in cases:
        prepared = one.prepare(POLICY.timeline, copy.deepcopy(data))
        case = case_from_dict(copy.deepcopy(data))
        out = Collector()
        want = prepared.cp.reader.read(case, out, POLICY.timeline.foreign_facts(prepared.cp))
        assert not out.items
        assert list(prepared.facts.items()) == list(want.items())


def test_cases_giving_every_fact_cite_as_when_conditions_run_again() -> None:
    """``build_decisions(known=True)`` (the case gives every fact the rules read) cites what
    running each chosen condition again cites."""
    from engine.run.evaluate import build_decisions
    from engine.run.evaluate import run_plan as plan_of

    for cp in POLICY.compiled.values():
        for data in _random_cases(cp, 60, seed=21, keep=1.0):
            prepared = one.prepare(POLICY.timeline, data)
            assert cp.missing.keys() <= prepared.facts.keys()
            env, chosen = plan_of(prepared.cp, prepared.facts, prepared.day)
            fast = build_decisions(prepared.cp, env, chosen, known=True)
            slow = build_decisions(prepared.cp, env, chosen)
            assert {k: d.citations for k, d in fast.items()} == {
                k: d.citations for k, d in slow.items()}  # fmt: skip


def test_quick_prepare_is_prepare() -> None:
    """The quick way to a prepared case gives what ``prepare`` gives (the revision, the case,
    its facts in order, the day and the basis), or declines; and a vesting date chooses."""
    from engine.run.quick import quick_prepare

    vested = {"case": "V", "jurisdiction": "kent", "as_of": "2025-06-30",
              "facts": {"application": {"complete_on": "2024-04-01"}}}  # fmt: skip
    randoms = [c for cp in POLICY.compiled.values() for c in _random_cases(cp, 30, 9, 0.6)]
    cases = [*GOLDEN_CASES, vested, *randoms]
    taken = 0
    for data in cases:
        quick = quick_prepare(POLICY.timeline, copy.deepcopy(data))
        if quick is None:
            continue
        taken += 1
        want = one.prepare(POLICY.timeline, copy.deepcopy(data))
        assert quick.cp is want.cp and quick.day == want.day and quick.basis == want.basis
        assert list(quick.facts.items()) == list(want.facts.items())
        assert (quick.case.id, quick.case.jurisdiction, quick.case.as_of, quick.case.facts) == (
            want.case.id, want.case.jurisdiction, want.case.as_of, want.case.facts)  # fmt: skip
        assert quick.warnings == want.warnings == ()
    assert taken == len(cases)
    assert quick_prepare(POLICY.timeline, vested).basis == (  # type: ignore[union-attr]
        "application.complete_on",
        dt.date(2024, 4, 1),
    )


def test_code_is_generated_the_second_time_it_is_asked_for() -> None:
    """One case decided in a process (a cold ``ordinance eval``) runs on the closures and
    compiles no code; the second request of the same decisions generates and keeps it."""
    from engine.run.quick import quick_values

    policy = load_policy()
    cp = policy.compiled[("kent", "ord-4463")]
    assert not any(callable(v) for v in cp._fast.values())
    data = {"jurisdiction": "kent", "as_of": "2025-01-10", "facts": {"permit": {"code": "IBC"}}}
    first = policy.values(data, ["permit.expires_on"])
    assert generated.peek(cp, frozenset({"permit.expires_on"}), "values") is None
    assert quick_values(policy.timeline, data, ("permit.expires_on",)) is not None
    assert generated.peek(cp, frozenset({"permit.expires_on"}), "values") is not None
    assert policy.values(data, ["permit.expires_on"]) == first
