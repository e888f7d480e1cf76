"""``ordinance mutate``: mutation testing of the policy, not of the engine.

Each mutant (``engine.tools.mutants``) is one small change to a rule. The revisions whose
layers hold it are layered and compiled again with the change, and the golden cases decided
under those revisions run against it, compared with their ``expect:`` blocks the way
``ordinance test`` compares them. A mutant that makes some case fail is *killed*: the tests
would notice that mistake. One that every case still passes *survives*: the law could be
encoded that way and no test would say so, so the report names it by section and citation with
the one-line change, for the author to add the golden case it shows is missing, or to silence
with a reason (``mutation: {ignore: [...], reason: ...}`` next to the rule).

Time-boxed: the mutants are shuffled by a seed and run until the budget is spent, so CI can
run a sample every time and the same seed runs the same sample.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from dsl import nodes as n
from dsl.compile import conjoin
from dsl.parse import parse_expression
from engine.api import Policy
from engine.compile.compiler import compile_policy
from engine.compile.layer import apply_layers
from engine.compile.load import read_case
from engine.diagnostics import Collector, OrdinanceError
from engine.model import JurisdictionDef, RevisionContent, Silence
from engine.run.decide import build_decide, find_dispatch
from engine.run.facts import Case
from engine.run.program import CompiledPolicy, CompiledRule
from engine.tools.expect import (
    check_expectations,
    evaluate_pinned,
    expect_problems,
    find_case_files,
    misfiled,
    pinned_revision,
)
from engine.tools.mutants import OPERATORS, Mutant, reorder_mutants, source_mutants

Key = tuple[str, str]  # (jurisdiction, revision) of a compiled policy
KILLED, SURVIVED, SILENCED, INVALID, NO_EFFECT, NOT_RUN = (
    "killed", "survived", "silenced", "not_compiled", "no_effect", "not_run")  # fmt: skip
STATUSES = (KILLED, SURVIVED, SILENCED, INVALID, NO_EFFECT, NOT_RUN)


@dataclass(frozen=True)
class Golden:
    """A golden case that passes on the policy as it is, and the revision that decides it."""

    path: Path
    case: Case
    pinned: str | None
    key: Key


@dataclass
class Outcome:
    mutant: Mutant
    status: str
    by: str | None = None  # the case that noticed (killed), or why it did not compile


@dataclass
class Report:
    outcomes: list[Outcome]
    cases: int  # golden cases used
    left_out: list[str]  # golden cases not used, each with why (they fail as the policy is)
    unused: list[Silence]  # annotations that silenced no mutant
    seed: int
    budget: float
    elapsed: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for s in STATUSES:
            self.counts[s] = sum(o.status == s for o in self.outcomes)

    @property
    def score(self) -> float | None:
        """Killed of the mutants that ran and compiled, in percent (None when none did)."""
        ran = self.counts[KILLED] + self.counts[SURVIVED]
        return None if not ran else 100.0 * self.counts[KILLED] / ran


def golden_cases(policy: Policy, paths: Iterable[Path]) -> tuple[list[Golden], list[str]]:
    """The golden cases under ``paths`` that pass on ``policy`` as it is. A case that fails
    already cannot tell a mutant apart; it is left out and said (``ordinance test`` says why)."""
    cases, left_out = [], []
    missing = [p for p in paths if not p.exists()]
    left_out += [f"{p}: no such file or folder" for p in missing]
    for path in find_case_files([p for p in paths if p.exists()]):
        try:
            case = read_case(path)
            if not case.expect:
                continue
            problems = expect_problems(case) or misfiled(policy, case, path)
            if problems:
                left_out.append(f"{path}: {problems[0].message} ({problems[0].code})")
                continue
            pinned = pinned_revision(policy, case, path)
            result = evaluate_pinned(policy, case, pinned, explain=False)
        except OrdinanceError:
            left_out.append(f"{path}: it cannot be decided (run `ordinance test`)")
            continue
        if check_expectations(policy, case, result):
            left_out.append(f"{path}: it fails already (run `ordinance test`)")
            continue
        cases.append(Golden(path, case, pinned, (result.jurisdiction, result.revision)))
    return cases, left_out


def enumerate_mutants(policy: Policy, layers: Iterable[str] | None = None,
                      sections: Iterable[str] = ()) -> list[Mutant]:  # fmt: skip
    """Every mutant of the given layers (default: each jurisdiction of the policy folder, not
    the installed layers it builds on), optionally only of sections cited with these
    prefixes, in a stable order."""
    chosen = frozenset(layers if layers is not None else policy.jurisdictions)
    bool_facts = frozenset(f for cp in policy.compiled.values() for f, d in cp.facts.items()
                           if d.type.name == "bool")  # fmt: skip
    found: dict[tuple[str, ...], Mutant] = {}
    for jid in sorted(chosen):
        jur = policy.jurisdictions.get(jid) or policy.layers.get(jid)
        if jur is None:
            continue
        for rev in jur.revisions:
            if rev.id in jur.content and _keys_holding(policy, jid, rev.id):
                for m in source_mutants(jid, rev.id, jur.content[rev.id], bool_facts):
                    found.setdefault(m.key, m)
    for key in sorted(policy.compiled):
        for m in reorder_mutants(policy.compiled[key], chosen):
            found.setdefault(m.key, m)
    prefixes = tuple(sections)
    return [m for k, m in sorted(found.items())
            if not prefixes or any(_cited(m.citation, p) for p in prefixes)]  # fmt: skip


def _cited(citation: str, prefix: str) -> bool:
    """Whether a mutant cited ``citation`` (the sections that use a ruleset, joined by commas)
    is in the section ``prefix`` or one of its subsections."""
    return any(c == prefix or c.startswith((prefix + ".", prefix + " "))
               for c in citation.split(", "))  # fmt: skip


def _keys_holding(policy: Policy, layer: str, revision: str) -> list[Key]:
    """The compiled revisions whose layers include ``layer`` at ``revision``."""
    return [k for k, cp in sorted(policy.compiled.items())
            if any(j.id == layer and r.id == revision for j, r in cp.layered.chain)]  # fmt: skip


def mutated(policy: Policy, m: Mutant, parse: Callable[[str], n.Node] = parse_expression
            ) -> dict[Key, CompiledPolicy] | str:  # fmt: skip
    """The compiled revisions the mutant changes, recompiled with it; or, when the changed
    policy does not compile, the first error (such a mutant is not a policy anyone could
    adopt, so it is not counted)."""
    if m.swap is not None:
        return _reordered(policy, *m.swap)
    assert m.content is not None
    out: dict[Key, CompiledPolicy] = {}
    for key in _keys_holding(policy, m.layer, m.revision):
        chain = [(_with_content(j, r.id, m.content) if j.id == m.layer else j, r)
                 for j, r in policy.compiled[key].layered.chain]  # fmt: skip
        problems = Collector()
        cp = compile_policy(apply_layers(chain, problems), problems, parse)
        if cp is None or problems.errors:
            first = problems.errors[0] if problems.errors else None
            return f"{first.code}: {first.message}" if first else "it does not compile"
        out[key] = cp
    return out


def _with_content(jur: JurisdictionDef, revision: str, content: RevisionContent
                  ) -> JurisdictionDef:  # fmt: skip
    return replace(jur, content={**jur.content, revision: content})


def _reordered(policy: Policy, rid: str, first: object, second: object
               ) -> dict[Key, CompiledPolicy]:  # fmt: skip
    """Each compiled revision where the two definitions of ``rid`` are tried one after the
    other, with them tried the other way round (a fee's lines with it)."""
    out = {}
    for key, cp in sorted(policy.compiled.items()):
        rule = cp.rules.get(rid)
        if rule is None:
            continue
        at = next((i for i in range(len(rule.variants) - 1) if rule.variants[i].rule is first
                   and rule.variants[i + 1].rule is second), None)  # fmt: skip
        if at is None:
            continue
        rules = dict(cp.rules)
        for name in (rid, rid + "_lines"):
            if name in rules:
                rules[name] = _swapped(rules[name], at)
        out[key] = replace(cp, rules=rules, plan=tuple((r, c.decide) for r, c in rules.items()),
                           _plans={}, _batch_plans={}, checked_requests={})  # fmt: skip
    return out


def _swapped(rule: CompiledRule, i: int) -> CompiledRule:
    vs = list(rule.variants)
    vs[i], vs[i + 1] = vs[i + 1], vs[i]
    parts = [v.when_parts for v in vs]
    dispatch = find_dispatch(parts)
    decide = build_decide(parts, [v.value_fn for v in vs], conjoin, dispatch)
    return replace(rule, variants=tuple(vs), decide=decide, dispatch=dispatch)


def _decides_alike(a: CompiledPolicy, b: CompiledPolicy) -> bool:
    """Whether two compilations hold the same definitions of every rule, in the same order and
    cited alike, the same procedure steps and every section in the same status: then no case
    can be decided differently. This
    is what removing an amendment that only rewords a section does (no test could notice it,
    so it is not a mutant)."""

    def shape(cp: CompiledPolicy) -> tuple[object, ...]:
        rules = [(rid, [(id(v.rule), v.citation, tuple(id(w) for w in v.whens))
                        for v in r.variants]) for rid, r in cp.rules.items()]  # fmt: skip
        steps = [(pid, id(p.procedure), [(id(s.step), s.citation) for s in p.steps])
                 for pid, p in cp.procedures.items()]  # fmt: skip
        return tuple(rules), tuple(steps)

    # `in_force("IPMC 604")` reads a section's status, which a repeal or deletion sets; it
    # holds any section the policy does not know to be in force (as the run time does), so a
    # section a mutant removes along with its amendment is in force on both sides.
    def status(cp: CompiledPolicy, citation: str) -> str:
        sec = cp.layered.sections.get(citation)
        return "in_force" if sec is None else sec.status

    every = a.layered.sections.keys() | b.layered.sections.keys()
    return shape(a) == shape(b) and all(status(a, c) == status(b, c) for c in every)


def noticed(policy: Policy, changed: dict[Key, CompiledPolicy], cases: list[Golden]) -> str | None:
    """The first golden case that fails on the changed policy, with the first difference."""
    if not changed:
        return None
    trial = Policy(policy.root, policy.jurisdictions, {**policy.compiled, **changed},
                   layers=policy.layers)  # fmt: skip
    for g in cases:
        if g.key not in changed:
            continue
        name = g.case.id or str(g.path)
        try:
            result = evaluate_pinned(trial, g.case, g.pinned, explain=False)
        except OrdinanceError as exc:
            return f"{name}: {exc.diagnostics[0].message}"
        except Exception as exc:  # a mutant may make the engine fail on a case; `ordinance
            # test` would fail then too, so the mutant is noticed.
            return f"{name}: {type(exc).__name__}"
        mismatches = check_expectations(trial, g.case, result)
        if mismatches:
            return f"{name}: {mismatches[0]}"
    return None


def run(policy: Policy, mutants: list[Mutant], cases: list[Golden], *, budget: float,
        seed: int, left_out: list[str] | None = None, every: list[Mutant] | None = None,
        clock: Callable[[], float] = time.monotonic) -> Report:  # fmt: skip
    """Run ``mutants`` in an order shuffled by ``seed`` until ``budget`` seconds are spent
    (``clock`` is read once at the start and once before each mutant is started). ``every``
    is all the mutants of the layers when ``mutants`` is a selection of them (``--sections``):
    an annotation is unused only if it silences none of those."""
    order = list(mutants)
    random.Random(seed).shuffle(order)
    start = clock()
    outcomes = []
    # Each mutant changes one expression: every other one parses as it did for the last mutant
    # (parsing is most of a compile; a tree is immutable, and a failed parse is not kept).
    parse = cache(parse_expression)
    for m in order:
        if m.silenced is not None:
            outcomes.append(Outcome(m, SILENCED, m.silenced.reason))
        elif clock() - start >= budget:
            outcomes.append(Outcome(m, NOT_RUN))
        else:
            changed = mutated(policy, m, parse)
            if isinstance(changed, str):
                outcomes.append(Outcome(m, INVALID, changed))
            elif all(_decides_alike(policy.compiled[k], cp) for k, cp in changed.items()):
                outcomes.append(Outcome(m, NO_EFFECT, "every rule keeps its definitions and "
                                        "citations, every section its status (the change "
                                        "is to the text alone)"))  # fmt: skip
            else:
                by = noticed(policy, changed, cases)
                outcomes.append(Outcome(m, KILLED if by else SURVIVED, by))
    outcomes.sort(key=lambda o: o.mutant.key)
    used = {id(m.silenced) for m in every or mutants if m.silenced is not None}
    unused = [
        s for s in _silences(policy, {m.layer for m in every or mutants}) if id(s) not in used
    ]
    report = Report(outcomes, len(cases), left_out or [], unused, seed, budget)
    report.elapsed = clock() - start
    return report


def _silences(policy: Policy, layers: set[str]) -> Iterator[Silence]:
    """Every ``mutation:`` annotation in the given layers' revisions."""
    for jid in sorted(layers):
        jur = policy.jurisdictions.get(jid) or policy.layers.get(jid)
        for content in jur.content.values() if jur else ():
            notes = [s.mutation for s in content.sections]
            notes += [r.mutation for s in content.sections for r in s.rules]
            notes += [r.mutation for rs in content.rulesets.values() for r in rs]
            notes += [p.mutation for p in content.procedures]
            notes += [s.mutation for p in content.procedures for s in p.steps]
            yield from (n for n in notes if n is not None)


__all__ = ["OPERATORS", "Golden", "Outcome", "Report", "enumerate_mutants", "golden_cases",
           "mutated", "noticed", "run"]  # fmt: skip
