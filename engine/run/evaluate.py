"""Pipeline stage 7, evaluate: case facts + compiled policy → decisions.

The hot loop runs the compiled plan in dependency order. For each rule the first definition
whose conditions hold gives the value; an unknown condition makes the rule undetermined; when no
definition applies the rule is not applicable (and reads as null to the rules after it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dsl.values import Unknown
from engine.result import Decision, Explainer, ProcedureResult, StepResult
from engine.run import generated
from engine.run.decide import Plan
from engine.run.decide import run_plan as decide_plan
from engine.run.program import CompiledPolicy, CompiledRule, Variant

DETERMINED, UNDETERMINED, NOT_APPLICABLE = "determined", "undetermined", "not_applicable"


def run_plan(
    cp: CompiledPolicy, facts: dict[str, Any], as_of: dt.date, only: frozenset[str] | None = None
) -> tuple[dict[str, Any], dict[str, int]]:
    """Evaluate the rules (all, or those ``only`` needs). Returns the environment (fact and rule
    values) and, per rule, the index of the definition that decided it (-1: none applied)."""
    env, plan = start_env(cp, facts, as_of, only)
    fast = generated.cached(cp, only, "plan")
    if fast is not None:
        try:
            return env, fast(env)
        except (ArithmeticError, ValueError):  # the closures say which rule, and where
            env, plan = start_env(cp, facts, as_of, only)
    return env, decide_plan(plan, env)


def start_env(
    cp: CompiledPolicy, facts: dict[str, Any], as_of: dt.date, only: frozenset[str] | None
) -> tuple[dict[str, Any], Plan]:
    """The environment before any rule runs (unknowns, then the case's facts), and the plan."""
    plan, missing = (cp.plan, cp.missing) if only is None else cp.plan_for(only)
    env: dict[str, Any] = dict(missing)
    env.update(facts)
    env["as_of"] = as_of
    return env, plan


def status_of(value: Any, pick: int) -> str:
    if pick < 0:
        return NOT_APPLICABLE
    return UNDETERMINED if value.__class__ is Unknown else DETERMINED


def build_decisions(
    cp: CompiledPolicy,
    env: dict[str, Any],
    chosen: dict[str, int],
    only: frozenset[str] | None = None,
    explainer: Explainer | None = None,
    known: bool = False,
) -> dict[str, Decision]:
    """A Decision for every public rule (or those in ``only``), explained by ``explainer``
    when one is given (the trees are built when read). ``known``: the case gives every fact
    the rules read, so nothing is unknown and no condition needs running again."""
    out = {}
    rules = cp.rules
    for rid in cp.public if only is None else (r for r in cp.public if r in only):
        rule = rules[rid]
        value, pick = env[rid], chosen[rid]
        if pick < 0:
            out[rid] = Decision(rid, None, NOT_APPLICABLE, list(_every_citation(rule)), [],
                                rule.type, rule.words, explainer, rule.json)  # fmt: skip
        elif value.__class__ is Unknown:
            cite = rule.variants[pick].citation
            out[rid] = Decision(rid, None, UNDETERMINED, [cite], sorted(value.needs), rule.type,
                                rule.words, explainer, rule.json)  # fmt: skip
        else:
            cites = [rule.variants[pick].citation] if known else _citations(rule, pick, env)
            out[rid] = Decision(rid, value, DETERMINED, cites, [],
                                rule.type, rule.words, explainer, rule.json)  # fmt: skip
    return out


def _every_citation(rule: CompiledRule) -> tuple[str, ...]:
    """The citations of a rule that does not apply: every definition's, once each."""
    return tuple(dict.fromkeys(v.citation for v in rule.variants))


def _citations(rule: CompiledRule, pick: int, env: dict[str, Any]) -> list[str]:
    """The deciding definition's citation; when its own condition is unknown and the rule was
    decided because every definition that may apply agrees, all of those are cited. The
    condition is run again only when something it may read is unknown: from known facts and
    rules, a condition is never unknown."""
    chosen = rule.variants[pick]
    if chosen.when_fn is None or not _reads_unknown(chosen, env):
        return [chosen.citation]
    if chosen.when_fn(env).__class__ is not Unknown:
        return [chosen.citation]
    possible = []
    for v in rule.variants[pick:]:
        w = True if v.when_fn is None else v.when_fn(env)
        if w is False or w is None:
            continue
        possible.append(v.citation)
        if w is True:
            break
    return list(dict.fromkeys(possible))


def _reads_unknown(v: Variant, env: dict[str, Any]) -> bool:
    for ref in v.facts:
        if env[ref].__class__ is Unknown:
            return True
    return any(env[ref].__class__ is Unknown for ref in v.rules)


def run_procedures(cp: CompiledPolicy, env: dict[str, Any]) -> dict[str, ProcedureResult]:
    """Each step's status and deadline; the ready steps are the procedure's next steps."""
    results = {}
    for pid, proc in cp.procedures.items():
        steps: list[StepResult] = []
        status_by_id: dict[str, str] = {}
        for cs in proc.steps:
            s = cs.step
            res = StepResult(s.id, s.title, "waiting", cs.citation, requires=list(s.requires))
            applies = True if cs.when_fn is None else cs.when_fn(env)
            done = False if cs.done_fn is None else cs.done_fn(env)
            if applies is False or applies is None:
                res.status = "not_applicable"
            elif isinstance(applies, Unknown) or isinstance(done, Unknown):
                res.status = "undetermined"
                u = applies if isinstance(applies, Unknown) else done
                res.needs = sorted(u.needs) if isinstance(u, Unknown) else []
            elif done:
                res.status = "done"
            elif all(status_by_id.get(r) in ("done", "not_applicable") for r in s.requires):
                res.status = "ready"
            if cs.deadline_fn is not None and res.status not in ("not_applicable", "done"):
                d = cs.deadline_fn(env)
                res.deadline = None if isinstance(d, Unknown) else d
            status_by_id[s.id] = res.status
            steps.append(res)
        results[pid] = ProcedureResult(pid, proc.procedure.title, proc.procedure.citation, steps)
    return results
