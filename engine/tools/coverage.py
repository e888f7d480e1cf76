"""``ordinance test --coverage``: which legal units the golden cases exercise.

In goes a compiled revision and the golden cases ``ordinance test`` ran under it; out comes, per
unit of law (section, condition, definition, fee item, amendment, procedure step), the outcomes
some case reached. Each case is decided again through the compiled functions of the run time
(``engine.run``), so nothing is parsed per case, and ordinary ``ordinance test`` pays nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsl.values import Unknown
from engine.api import Policy
from engine.diagnostics import OrdinanceError, Span
from engine.model import EffectiveSection, SectionDef
from engine.result import Result
from engine.run.decide import OutOfRange
from engine.run.evaluate import run_plan, run_procedures
from engine.run.facts import Case
from engine.run.fees import lines_key
from engine.run.program import CompiledPolicy, CompiledRule, Variant

# Each kind of unit, in the report's order, with the outcomes a case can give it: a condition
# counts twice (taken and not taken), as a branch does in code coverage, and so does a fee item.
KINDS: dict[str, tuple[str, ...]] = {
    "section": ("decided",),
    "condition": ("taken", "not taken"),
    "definition": ("won",),
    "fee item": ("charged", "not charged"),
    "amendment": ("exercised",),
    "step": ("reached",),
}
REACHED = ("ready", "done")  # a step a case got to: next to do, or done already


@dataclass(frozen=True)
class Unit:
    """One thing of the law a golden case can exercise: ``key`` is stable within its revision
    (it names the rule and definition, not a position in a list that a reorder changes)."""

    kind: str
    key: str
    citation: str | None
    where: str  # file:line of the rule, condition, item, amending section or step
    label: str  # what it is, for people: the condition as written, the rule id, …
    rules: tuple[tuple[str, str], ...] = ()  # a section's rules: (id, file:line)
    # The outcomes a case can give this unit, when fewer than its kind's: a fee item with no
    # `when:` and no quantity is charged whenever its schedule decides, never "not charged".
    only: tuple[str, ...] | None = None

    @property
    def outcomes(self) -> tuple[str, ...]:
        return self.only if self.only is not None else KINDS[self.kind]


@dataclass(frozen=True)
class Exercise:
    """What one golden case decided under one section: (rule id, value in words) pairs."""

    case: str
    file: str
    decided: tuple[tuple[str, str], ...]


@dataclass
class SuiteCoverage:
    """The units of one (jurisdiction, revision) and the outcomes its golden cases reached."""

    jurisdiction: str
    revision: str
    units: list[Unit]
    hits: dict[str, set[str]] = field(default_factory=dict)  # unit key → outcomes reached
    cases: int = 0
    exercises: dict[str, list[Exercise]] = field(default_factory=dict)  # citation → cases

    @property
    def name(self) -> str:
        return f"{self.jurisdiction}/{self.revision}"

    def counts(self, kind: str | None = None) -> tuple[int, int]:
        """(outcomes reached, outcomes there are), of one kind or of all."""
        units = [u for u in self.units if kind is None or u.kind == kind]
        total = sum(len(u.outcomes) for u in units)
        return sum(len(self.hits.get(u.key, set()) & set(u.outcomes)) for u in units), total

    def missed(self, kind: str) -> list[Unit]:
        """The units of ``kind`` no case exercised in any way, in file order."""
        return [u for u in self.units if u.kind == kind and not self.hits.get(u.key)]


def percent(reached: int, total: int) -> float:
    """Coverage as a percentage; a revision with nothing to exercise is fully covered."""
    return 100.0 if total == 0 else 100.0 * reached / total


def located(span: Span) -> str:
    """``file:line``, the file relative to the current folder when it is inside it (the
    report reads the same on every machine that checks the project out)."""
    path = Path(span.file)
    if path.is_absolute() and path.is_relative_to(Path.cwd()):
        path = path.relative_to(Path.cwd())
    return f"{path.as_posix()}:{span.line}"


# --- the units of a revision (from the policy alone, once per revision) ------------------------


def own_rules(cp: CompiledPolicy) -> Iterator[tuple[str, CompiledRule]]:
    """The rules the policy writes; a fee's companion ``<id>_lines`` repeats the fee's own
    definitions, and counting them twice would count the fee twice."""
    for rid, rule in cp.rules.items():
        if all(v.rule.id == rid for v in rule.variants):
            yield rid, rule


def build_units(cp: CompiledPolicy) -> list[Unit]:
    """Every unit of ``cp`` a golden case can exercise but its amendments
    (``amendment_units``)."""
    units = _section_units(cp)
    seen: set[str] = set()
    for rid, rule in own_rules(cp):
        for i, v in enumerate(rule.variants):
            here = located(v.rule.origin.span("id"))
            units.append(Unit("definition", f"{rid}#{i}", v.citation, here, rid))
            for j, w in enumerate(v.whens):
                key = condition_key(rid, i, v, j)
                if key not in seen:
                    seen.add(key)
                    cite = v.section.cited_as if j < len(v.section.when) else v.citation
                    units.append(Unit("condition", key, cite, located(w.span()),
                                      " ".join(w.text.split())))  # fmt: skip
            for item in _fee_items(rule, i):
                always = item.when is None and item.quantity is None
                units.append(Unit("fee item", f"{rid}#{i}/{item.id}", item.citation or v.citation,
                                  located(item.origin.span()), f"{rid}: {item.id}",
                                  only=("charged",) if always else None))  # fmt: skip
    for pid, proc in cp.procedures.items():
        for cs in proc.steps:
            where = located(cs.step.origin.span())
            units.append(Unit("step", f"{pid}/{cs.step.id}", cs.citation, where,
                              f"{pid}: {cs.step.title}"))  # fmt: skip
    return units


def condition_key(rid: str, i: int, v: Variant, j: int) -> str:
    """The key of condition ``j`` of definition ``i``: a section's own ``when:`` is one
    condition of the law however many rules it governs (``IBC 105.5/when0``); a rule's
    ``when:`` is its definition's (``permit.expires_on#1/when``)."""
    if j < len(v.section.when):
        return f"{v.section.citation}/when{j}"
    return f"{rid}#{i}/when"


def _section_units(cp: CompiledPolicy) -> list[Unit]:
    """A unit per section that defines a rule; a section of text alone decides nothing, so it
    is not counted."""
    rules: dict[str, dict[str, str]] = {}
    for rid, rule in own_rules(cp):
        for v in rule.variants:
            rules.setdefault(v.section.citation, {}).setdefault(
                rid, located(v.rule.origin.span("id"))
            )
    out = []
    for cite, found in rules.items():
        sec = cp.layered.sections[cite]
        where = (
            located(sec.defined_by.origin.span()) if sec.defined_by else next(iter(found.values()))
        )
        out.append(Unit("section", cite, sec.cited_as, where, sec.title,
                        tuple(sorted(found.items()))))  # fmt: skip
    return out


def _fee_items(rule: CompiledRule, i: int) -> list[Any]:
    """The items of definition ``i``'s fee schedule, once each (an id names one line)."""
    fee = rule.variants[i].rule.fee
    return list({it.id: it for it in fee.items}.values()) if fee else []


# What shows an amendment exercised: a definition of the amending section won (by the
# section's identity), or one of the rules a repeal left to the other sections was determined.
Trigger = tuple[str, Any]


def amendment_units(cp: CompiledPolicy) -> list[tuple[Unit, Trigger]]:
    """A unit per amendment in effect whose effect a decision can show, with what shows it.

    A substitution or an addition is exercised when a definition it brings decides something
    in a golden case. A repeal or a deletion is exercised when a golden case has determined a
    decision that the repealed section (or a subsection it took with it) defined in the layer
    below: the case is decided by the law that remains, which is what the repeal changed. An
    amendment of text alone, or a repeal of a section that defined nothing this revision still
    decides, changes no decision and is not counted.
    """
    out: list[tuple[Unit, Trigger]] = []
    for sec in cp.layered.sections.values():
        amending = _amending(sec)
        if amending is None:
            continue
        action = sec.provenance[-1].action
        trigger: Trigger = ("section", amending) if action in ("substitute", "add") else (
            "rules", repealed_rules(cp, sec))  # fmt: skip
        if not (_brings_rules(cp, amending) if trigger[0] == "section" else trigger[1]):
            continue
        unit = Unit("amendment", f"{amending.citation} {action} {sec.citation}", sec.cited_as,
                    located(amending.origin.span()),
                    f"{amending.citation} {action}s {sec.citation}")  # fmt: skip
        out.append((unit, trigger))
    return out


def _amending(sec: EffectiveSection) -> SectionDef | None:
    """The section whose amendment made ``sec`` what it is, when ``sec`` is its target (the
    subsections a repeal takes with it carry the repeal but are not its target)."""
    by = sec.defined_by
    if not sec.provenance or by is None or sec.provenance[-1].by != by.citation:
        return None
    return by if any(a.target == sec.citation for a in by.amends) else None


def _brings_rules(cp: CompiledPolicy, amending: SectionDef) -> bool:
    return any(v.section.defined_by is amending for _, r in own_rules(cp) for v in r.variants)


def repealed_rules(cp: CompiledPolicy, sec: EffectiveSection) -> frozenset[str]:
    """The rules that the repealed or deleted section (or a subsection it took with it) defined
    in the layers below, and that this revision still decides by its other sections."""
    contents = [j.content[r.id] for j, r in cp.layered.chain
                if j.id != sec.jurisdiction and r.id in j.content]  # fmt: skip
    rulesets = {name: rules for c in contents for name, rules in c.rulesets.items()}
    found: set[str] = set()
    for s in (s for c in contents for s in c.sections):
        if s.citation == sec.citation or s.citation.startswith(sec.citation + "."):
            found |= {r.id for r in s.rules}
            found |= {r.id for name in s.use for r in rulesets.get(name, ())}
    return frozenset(found & cp.rules.keys())


# --- what one case exercises -------------------------------------------------------------------


@dataclass
class Tracker:
    """The coverage of one revision as cases are added to it; the units and what shows each
    amendment are found once, from the policy."""

    cp: CompiledPolicy
    suite: SuiteCoverage
    by_section: dict[int, list[str]]  # id of an amending SectionDef → its amendments' keys
    by_rule: dict[str, list[str]]  # rule a repeal left to the others → the repeals' keys

    @classmethod
    def for_revision(cls, cp: CompiledPolicy) -> Tracker:
        units = build_units(cp)
        by_section: dict[int, list[str]] = {}
        by_rule: dict[str, list[str]] = {}
        for unit, (kind, what) in amendment_units(cp):
            units.append(unit)
            if kind == "section":
                by_section.setdefault(id(what), []).append(unit.key)
            for rid in what if kind == "rules" else ():
                by_rule.setdefault(rid, []).append(unit.key)
        order = list(KINDS)
        units.sort(key=lambda u: (order.index(u.kind), _file_line(u.where), u.key))
        return cls(cp, SuiteCoverage(cp.jurisdiction, cp.revision, units), by_section, by_rule)

    def add(self, case: Case, file: str, env: dict[str, Any], chosen: dict[str, int]) -> None:
        """Record what ``case`` (decided into ``env``, ``chosen``) exercised."""
        self.suite.cases += 1
        decided: dict[str, list[tuple[str, str]]] = {}
        for rid, rule in own_rules(self.cp):
            self._conditions(rid, rule, env)
            pick = chosen.get(rid, -1)
            if pick < 0 or env[rid].__class__ is Unknown:
                continue
            v = rule.variants[pick]
            self._hit(f"{rid}#{pick}", "won")
            self._hit(v.section.citation, "decided")
            decided.setdefault(v.section.citation, []).append((rid, rule.words(env[rid])))
            for key in [*self.by_section.get(id(v.section.defined_by), ()),
                        *self.by_rule.get(rid, ())]:  # fmt: skip
                self._hit(key, "exercised")
            self._fees(rid, rule, pick, env)
        for pid, proc in run_procedures(self.cp, env).items():
            for step in proc.steps:
                if step.status in REACHED:
                    self._hit(f"{pid}/{step.id}", "reached")
        name = str(case.id) if case.id is not None else Path(file).name
        for cite, pairs in decided.items():
            self.suite.exercises.setdefault(cite, []).append(Exercise(name, file, tuple(pairs)))

    def _hit(self, key: str, outcome: str) -> None:
        self.suite.hits.setdefault(key, set()).add(outcome)

    def _conditions(self, rid: str, rule: CompiledRule, env: dict[str, Any]) -> None:
        """Each condition the case gets to, evaluated in its environment (every rule it may
        read is decided there already): true is taken, false or null (a rule that did not
        apply) not taken, unknown neither. A case gets to a condition when those before it in
        its definition hold, as `and` reads them: a rule's `when:` under a section `when:`
        that is false says nothing of the rule. Every definition is looked at, tried first or
        not, so that the last of a chain of codes (`permit.code == "IMC"`) is seen not taken
        by a case under another code, which is what a test of that definition asks."""
        for i, v in enumerate(rule.variants):
            for j, (_, fn) in enumerate(v.when_parts):
                try:
                    w = fn(env)
                except (ArithmeticError, ValueError):  # past the calendar: neither way
                    break
                if w is True:
                    self._hit(condition_key(rid, i, v, j), "taken")
                    continue
                if w is False or w is None:
                    self._hit(condition_key(rid, i, v, j), "not taken")
                break

    def _fees(self, rid: str, rule: CompiledRule, pick: int, env: dict[str, Any]) -> None:
        """The items of the winning fee schedule, charged or not. Its lines are computed again
        on a copy of the environment: another definition tried on the way may have left its
        own lines there."""
        items = _fee_items(rule, pick)
        if not items:
            return
        scratch = dict(env)
        rule.variants[pick].value_fn(scratch)
        charged = {line.id for line in scratch.get(lines_key(rid), ())}
        for item in items:
            outcome = "charged" if item.id in charged else "not charged"
            self._hit(f"{rid}#{pick}/{item.id}", outcome)


def _file_line(where: str) -> tuple[str, int]:
    file, _, line = where.rpartition(":")
    return file, int(line) if line.isdigit() else 0


def measure(policy: Policy, case: Case, file: str, result: Result,
            trackers: dict[tuple[str, str], Tracker]) -> None:  # fmt: skip
    """Add ``case`` to the coverage of the revision that decided it (``result``, from
    ``ordinance test``): its facts are checked and decided again, through the compiled plan,
    with the choice of each definition kept. A case the policy refuses exercises nothing."""
    try:
        prepared = policy.prepare(case, revision=result.revision)
        env, chosen = run_plan(prepared.cp, prepared.facts, prepared.day)
    except (OrdinanceError, OutOfRange):
        return
    key = (prepared.cp.jurisdiction, prepared.cp.revision)
    if key not in trackers:
        trackers[key] = Tracker.for_revision(prepared.cp)
    trackers[key].add(case, file, env, chosen)


class Measure:
    """The coverage of an ``ordinance test`` run, case by case (``observe`` is the
    ``run_case`` observer)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.trackers: dict[tuple[str, str], Tracker] = {}

    def observe(self, case: Case, result: Result) -> None:
        measure(self.policy, case, case.doc.file if case.doc else "", result, self.trackers)

    def suites(self, every: bool) -> list[SuiteCoverage]:
        """The revisions measured, sorted; with ``every``, each compiled revision, also those
        no golden case is about (at 0%, which is what a CI threshold should see)."""
        for key, cp in self.policy.compiled.items() if every else ():
            if key not in self.trackers:
                self.trackers[key] = Tracker.for_revision(cp)
        return [self.trackers[k].suite for k in sorted(self.trackers)]
