"""Pipeline stage 7, evaluate: case facts + compiled policy → decisions.

The hot loop runs the compiled plan in dependency order. For each rule the first definition
whose conditions hold gives the value; an unknown condition makes the rule undetermined; when no
definition applies the rule is not applicable (and reads as null to the rules after it).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from dsl.typesys import Type
from dsl.values import Unknown
from engine.compiler import CompiledPolicy, CompiledRule
from engine.decide import Plan
from engine.decide import run_plan as decide_plan
from engine.values import json_converter, to_json

DETERMINED, UNDETERMINED, NOT_APPLICABLE = "determined", "undetermined", "not_applicable"
RESULT_VERSION = "1"


@dataclass
class Decision:
    """The value of one rule for one case, with why."""

    id: str
    value: Any
    status: str
    citations: list[str]
    needs: list[str]
    type: Type
    because: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": json_converter(self.type)(self.value),
            "status": self.status,
            "citations": self.citations,
            "because": self.because or [],
            "needs": self.needs,
        }


@dataclass
class StepResult:
    id: str
    title: str
    status: str  # done | ready | waiting | undetermined | not_applicable
    citation: str | None
    deadline: Any = None
    needs: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "citation": self.citation,
            "deadline": to_json(self.deadline),
            "requires": self.requires,
            "needs": self.needs,
        }


@dataclass
class ProcedureResult:
    id: str
    title: str
    citation: str | None
    steps: list[StepResult]

    @property
    def next_steps(self) -> list[str]:
        return [s.id for s in self.steps if s.status == "ready"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "citation": self.citation,
            "steps": [s.to_dict() for s in self.steps],
            "next_steps": self.next_steps,
        }


@dataclass
class Result:
    """Everything decided for one case (DESIGN.md §4)."""

    case: str | None
    jurisdiction: str
    revision: str
    revision_basis: tuple[str, dt.date | None]  # what chose the revision, and its date
    as_of: dt.date
    decisions: dict[str, Decision]
    procedures: dict[str, ProcedureResult]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": RESULT_VERSION,
            "case": self.case,
            "jurisdiction": self.jurisdiction,
            "revision": self.revision,
            "revision_basis": {
                "by": self.revision_basis[0],
                "date": d.isoformat() if (d := self.revision_basis[1]) else None,
            },
            "as_of": self.as_of.isoformat(),
            "decisions": {k: d.to_dict() for k, d in sorted(self.decisions.items())},
            "procedures": {k: p.to_dict() for k, p in sorted(self.procedures.items())},
        }

    def to_json(self) -> str:
        """One line of JSON; the same policy and case always give the same bytes."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def run_plan(
    cp: CompiledPolicy, facts: dict[str, Any], as_of: dt.date, only: frozenset[str] | None = None
) -> tuple[dict[str, Any], dict[str, int]]:
    """Evaluate the rules (all, or those ``only`` needs). Returns the environment (fact and rule
    values) and, per rule, the index of the definition that decided it (-1: none applied)."""
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
) -> dict[str, Decision]:
    """A Decision for every public rule (or those in ``only``), without explanations."""
    out = {}
    for rid, rule in cp.rules.items():
        if rule.internal or (only is not None and rid not in only):
            continue
        value, pick = env[rid], chosen[rid]
        status = status_of(value, pick)
        if pick >= 0:
            cites = _citations(rule, pick, env, status)
        else:
            cites = list(dict.fromkeys(v.citation for v in rule.variants))
        needs = sorted(value.needs) if status == UNDETERMINED else []
        out[rid] = Decision(
            rid, None if status != DETERMINED else value, status, cites, needs, rule.type
        )
    return out


def _citations(rule: CompiledRule, pick: int, env: dict[str, Any], status: str) -> list[str]:
    """The deciding definition's citation; when its own condition is unknown and the rule was
    decided because every definition that may apply agrees, all of those are cited."""
    chosen = rule.variants[pick]
    if status != DETERMINED or chosen.when_fn is None:
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
