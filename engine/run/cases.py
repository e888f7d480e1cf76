"""One case, end to end: check the arguments, choose the revision, read the facts, run the plan,
and build the result (with its explanation) or the bare values.

``engine.api.Policy`` is a facade over these functions; they take the ``Timeline`` so that a
service or a bulk runner can call them without the facade.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, NamedTuple

from dsl.errors import did_you_mean
from dsl.typesys import Type
from engine.diagnostics import CaseError, Collector, Diagnostic
from engine.result import Result
from engine.run import generated, readers
from engine.run.decide import OutOfRange, run_values
from engine.run.evaluate import build_decisions, run_plan, run_procedures, start_env
from engine.run.explain import CaseExplanation
from engine.run.facts import EARLIEST, LATEST, Case, as_of_date, case_from_dict, shown
from engine.run.program import CompiledPolicy
from engine.run.timeline import Basis, Timeline


class Prepared(NamedTuple):
    """A case ready to run: the revision that decides it, the case, its facts by id, the
    evaluation date, how the revision was chosen, and the warnings about what it ignored."""

    cp: CompiledPolicy
    case: Case
    facts: dict[str, Any]
    day: dt.date
    basis: Basis
    warnings: tuple[Diagnostic, ...] = ()


def prepare(
    timeline: Timeline,
    case: Case | dict[str, Any],
    as_of: dt.date | None = None,
    revision: str | None = None,
) -> Prepared:
    """Choose the revision and check the facts of ``case``.

    Returns the compiled revision, the case, its facts by id, the evaluation date and how the
    revision was chosen. Raises ``CaseError`` with located diagnostics.
    """
    check_arguments(as_of, revision)
    if not isinstance(case, Case):
        case = case_from_dict(case)
    cp, day, basis = timeline.choose(case, as_of, revision)
    if case.doc is None:  # a program's dict: the generated reader, when it takes the facts
        facts: dict[str, Any] = {}  # (a file's numbers are read from their text, below)
        read = readers.reader(cp) if case.facts.__class__ is dict else None
        if read is not None and read(case.facts, facts):
            return Prepared(cp, case, facts, day, basis)
    out = Collector()
    facts = cp.reader.read(case, out, timeline.foreign_facts(cp))
    out.raise_if_errors(CaseError)
    return Prepared(cp, case, facts, day, basis, tuple(out.warnings))


def evaluate(prepared: Prepared, decisions: Iterable[str] | None, explain: bool) -> Result:
    """The result of a prepared case: every decision (or those asked for) and, when all are
    asked for, the procedures."""
    cp, case, facts, day, basis, warnings = prepared
    only = checked(cp, decisions)
    try:
        env, chosen = run_plan(cp, facts, day, only)
    except OutOfRange as exc:
        raise placed(cp, case, exc) from None
    # Unknowns come only from facts the case does not give: with all given, none arises.
    known = (cp.missing if only is None else cp.plan_for(only)[1]).keys() <= facts.keys()
    explainer = CaseExplanation(cp, env, chosen) if explain else None
    found = build_decisions(cp, env, chosen, only, explainer, known)
    procedures = run_procedures(cp, env) if only is None else {}
    return Result(case.id, cp.jurisdiction, cp.revision, basis, day, found, procedures, warnings)


def values(prepared: Prepared, decisions: Iterable[str] | None) -> dict[str, Any]:
    """The bare values of the decisions of a prepared case (see ``Policy.values``)."""
    cp, case, facts, day = prepared[:4]
    only = checked(cp, decisions)
    env, plan = start_env(cp, facts, day, only)
    fast = generated.peek(cp, only, "values")  # the whole way makes no code of its own
    if fast is not None:
        try:
            return fast(env)  # type: ignore[no-any-return]
        except (ArithmeticError, ValueError):  # the closures say which rule, and where
            env, plan = start_env(cp, facts, day, only)
    try:
        run_values(plan, env)
    except OutOfRange as exc:
        raise placed(cp, case, exc) from None
    if only is None:
        return {rid: env[rid] for rid in cp.public}
    return {rid: env[rid] for rid, _ in plan if rid in only}  # in evaluation order, as ever


def check_arguments(as_of: Any, revision: Any) -> None:
    """The keyword arguments of an evaluation are checked like the case keys they override,
    so a caller's mistake is a ``CaseError`` saying so, not a ``TypeError`` deep inside."""
    problems = []
    if as_of is not None and (as_of.__class__ is not dt.date or as_of_date(as_of) is None):
        problems.append(Diagnostic("case/bad-argument", "the `as_of` argument must be a "
                                   f"`datetime.date` between {EARLIEST} and {LATEST}, found "
                                   f"`{shown(as_of)}`"))  # fmt: skip
    if revision is not None and revision.__class__ is not str:
        problems.append(Diagnostic("case/bad-argument", "the `revision` argument must be text (a "
                                   f"revision id), found `{shown(revision)}`"))  # fmt: skip
    if problems:
        raise CaseError(problems)


def checked(cp: CompiledPolicy, decisions: Iterable[str] | None) -> frozenset[str] | None:
    """The requested decisions as a set, refusing ids the policy does not decide."""
    if decisions is None:
        return None
    if isinstance(decisions, tuple | frozenset) and decisions in cp.checked_requests:
        return cp.checked_requests[decisions]
    only = frozenset(decisions)
    unknown = sorted(only - cp.rules.keys())
    if unknown:
        raise CaseError([Diagnostic(
            "case/unknown-decision", f"`{cp.jurisdiction}` decides no `{rid}`",
            help=f"did you mean `{g}`?" if (g := did_you_mean(rid, cp.rules)) else None)
            for rid in unknown])  # fmt: skip
    if isinstance(decisions, tuple | frozenset):
        cp.checked_requests[decisions] = only
    return only


def placed(cp: CompiledPolicy, case: Case, exc: OutOfRange) -> CaseError:
    """``case/out-of-range``, placed at the numbers the case gives among the facts the
    decision reads, directly or through other rules."""
    numbers = [f for f in _facts_read(cp, exc.rid)
               if _is_number(cp.facts[f].type) and _given(case.facts, f)]  # fmt: skip
    names = ", ".join(f"`{f}`" for f in numbers)
    return CaseError([Diagnostic(
        "case/out-of-range", str(exc),
        case.span("facts", *numbers[0].split(".")) if numbers else None,
        help=f"check the numbers it reads: {names}" if numbers
        else "a number the case gives is too large")])  # fmt: skip


def _facts_read(cp: CompiledPolicy, rid: str | None) -> list[str]:
    """The facts a rule reads, directly or through the rules it reads, in order."""
    out: dict[str, None] = {}
    stack, seen = [rid], set()
    while stack:
        r = stack.pop()
        if r in seen or r not in cp.rules:
            continue
        seen.add(r)
        for v in cp.rules[r].variants:
            out.update(dict.fromkeys(v.facts))
            stack.extend(v.rules)
    return list(out)


def _is_number(t: Type) -> bool:
    return t.is_numeric or (t.item is not None and t.item.is_numeric)


def _given(facts: Any, fid: str) -> bool:
    for part in fid.split("."):
        if not isinstance(facts, dict) or part not in facts:
            return False
        facts = facts[part]
    return True
