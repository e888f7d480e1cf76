"""The compiled program of one (jurisdiction, revision): what the run time evaluates.

``engine.compile`` builds a ``CompiledPolicy`` once; everything here is closures, plain data and
tables computed at compile time, so evaluating a case imports no YAML, JSON Schema, Lark or
networkx code (``tests/test_architecture.py`` holds that line).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from dsl import nodes as n
from dsl.compile import Fn, typed_nodes
from dsl.typecheck import Types
from dsl.typesys import DATE, Type
from dsl.values import Unknown
from engine.diagnostics import Diagnostic
from engine.model import (
    EffectiveSection,
    Expr,
    FactDecl,
    LayeredPolicy,
    ProcedureDef,
    RuleDef,
    StepDef,
)
from engine.run.calendar import Calendar
from engine.run.decide import Decide, Dispatch, Plan
from engine.run.facts import FactReader
from engine.values import json_converter, words_converter

if TYPE_CHECKING:  # the graph is built at compile time; only its type is named here
    import networkx as nx

    # the column path is loaded by the first bulk evaluation (``batch_plan``), not by a case
    from engine.run.batch import BatchRule, FactKind

BUILTINS: dict[str, Type] = {"as_of": DATE}

# An explanation template per outcome (``true``, an enum value, ``determined``,
# ``not_applicable``, ``undetermined``): its literal texts, each with the reference after it.
Template = Mapping[str, tuple[tuple[str, str | None], ...]]


def value_key(value: str) -> str:
    """The key of an enum value's template, apart from the outcomes' keys: an enum may have a
    value spelt like an outcome (``none``, ``determined``), whose sentence is the value's only."""
    return "=" + value


def without(obj: object, names: tuple[str, ...]) -> dict[str, Any]:
    """``obj``'s attributes less ``names`` and its cached properties, which the copy computes
    again on first use (a pickle of this process's memo would be stale or unpicklable)."""
    cached = {k for k, v in vars(type(obj)).items() if isinstance(v, cached_property)}
    return {k: v for k, v in vars(obj).items() if k not in names and k not in cached}


@dataclass
class Variant:
    """One section's definition of a rule, chosen when its conditions hold."""

    rule: RuleDef
    section: EffectiveSection
    citation: str
    whens: list[Expr]
    when_parts: list[tuple[n.Node, Fn]]  # each condition, parsed and compiled
    when_fn: Fn | None
    value_fn: Fn
    facts: tuple[str, ...]  # facts read by the conditions and the value, in order
    rules: tuple[str, ...]  # rules read likewise
    explain: Template
    # The value's syntax tree and the types of every node (for the column compiler of bulk
    # evaluation); None for a fee schedule, which bulk evaluation decides case by case.
    value_node: n.Node | None = None
    types: Types = field(default_factory=dict)

    def __getstate__(self) -> dict[str, Any]:
        """``types`` as (node, type) pairs of this variant's trees: its ``id`` keys would name
        other objects after a pickle (``engine.cache``)."""
        roots = [node for node, _ in self.when_parts]
        roots += [self.value_node] if self.value_node is not None else []
        typed = [pair for root in roots for pair in typed_nodes(root, self.types)]
        return {**self.__dict__, "types": typed}

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["types"] = {id(node): t for node, t in state["types"]}
        self.__dict__.update(state)


@dataclass
class CompiledRule:
    id: str
    type: Type
    internal: bool
    description: str
    variants: tuple[Variant, ...]
    decide: Decide
    dispatch: Dispatch | None  # definitions told apart by one fact's value, found at compile time
    labels: Mapping[str, str] = field(default_factory=dict)  # enum value → words for staff
    # The value's JSON form and words, specialised for the type once (explanations call them
    # for every step of every case).
    json: Callable[[Any], Any] = field(init=False)
    words: Callable[[Any], str] = field(init=False)

    def __post_init__(self) -> None:
        self.json = json_converter(self.type)
        self.words = words_converter(self.type, self.labels)

    def __getstate__(self) -> dict[str, Any]:
        return without(self, ("json", "words"))

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__post_init__()


@dataclass
class CompiledStep:
    step: StepDef
    citation: str | None
    when_fn: Fn | None
    done_fn: Fn | None
    deadline_fn: Fn | None


@dataclass
class CompiledProcedure:
    procedure: ProcedureDef
    steps: tuple[CompiledStep, ...]  # each step's when_fn includes the procedure's `when:`


@dataclass
class CompiledPolicy:
    """A (jurisdiction, revision) compiled once, evaluated many times."""

    layered: LayeredPolicy
    calendar: Calendar
    facts: dict[str, FactDecl]
    rules: dict[str, CompiledRule]  # in evaluation order
    procedures: dict[str, CompiledProcedure]
    # The dependency graph, for the tools that draw it (docs, `ordinance graph`); the run time
    # never walks it: what it needs from it is in ``needs``.
    graph: nx.DiGraph
    warnings: list[Diagnostic] = field(default_factory=list)
    # Per rule: the names of the rules and facts it reads, directly or not, and its own.
    needs: dict[str, frozenset[str]] = field(default_factory=dict)
    # The evaluation plan: (rule id, its decide function) in dependency order.
    plan: Plan = ()
    missing: dict[str, Unknown] = field(default_factory=dict)  # fact id → its Unknown
    # Per requested set of decisions: (the part of the plan they need, the unknowns of the facts
    # that part reads). Computed once per set.
    _plans: dict[frozenset[str], tuple[Plan, dict[str, Unknown]]] = field(default_factory=dict)
    checked_requests: dict[Any, frozenset[str]] = field(default_factory=dict)
    _batch_plans: dict[frozenset[str] | None, tuple[BatchRule, ...]] = field(default_factory=dict)
    # Per (requested decisions, mode): the generated function (``engine.run.generated``), made
    # on first use. Never stored: it is rebuilt from the rules in a millisecond. Not an init
    # argument, so a copy made with ``dataclasses.replace`` (a mutant's rules) starts empty
    # rather than running its original's code.
    _fast: dict[tuple[Any, str], Any] = field(default_factory=dict, init=False, repr=False)
    # Builds ``graph`` again from its nodes and edges in a program loaded from the cache; set
    # by ``engine.cache`` (the run time names no graph library; only the tools ask for it).
    graph_from_data: ClassVar[Callable[[Any], Any] | None] = None

    def __getstate__(self) -> dict[str, Any]:
        """What ``engine.cache`` saves: no memo of this process (plans per request, cached
        properties, generated code: rebuilt on use), the graph as its nodes and edges."""
        state = without(self, ("graph", "_fast", "_plans", "checked_requests", "_batch_plans"))
        state["_graph_data"] = (list(self.graph.nodes(data=True)),
                                list(self.graph.edges(data=True)))  # fmt: skip
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """The saved state, and each memo left out at its default (an empty table)."""
        self.__dict__.update(state)
        for f in fields(self):
            if f.name in self.__dict__ or f.name == "graph":
                continue
            if f.default_factory is not MISSING:
                self.__dict__[f.name] = f.default_factory()
            elif f.default is not MISSING:
                self.__dict__[f.name] = f.default

    def __getattr__(self, name: str) -> Any:
        """``graph`` of a program loaded from the cache, built on first use."""
        data = self.__dict__.get("_graph_data")
        if name != "graph" or data is None or CompiledPolicy.graph_from_data is None:
            raise AttributeError(name)
        self.graph = CompiledPolicy.graph_from_data(data)
        del self.__dict__["_graph_data"]
        return self.graph

    def plan_for(self, decisions: frozenset[str]) -> tuple[Plan, dict[str, Unknown]]:
        """The part of the plan that the given decisions need, and the facts it reads.

        What each rule reads, directly or not, was found in the graph at compile time
        (``needs``), so a new set of decisions costs a set union here, not a graph walk.
        """
        found = self._plans.get(decisions)
        if found is None:
            names: set[str] = set()
            for rid in decisions:
                names |= self.needs[rid]
            plan = tuple((rid, d) for rid, d in self.plan if rid in names)
            found = plan, {f: u for f, u in self.missing.items() if f in names}
            self._plans[decisions] = found
        return found

    def batch_plan(self, decisions: frozenset[str] | None) -> tuple[BatchRule, ...]:
        """The rules the decisions need (all when None), compiled for bulk evaluation once."""
        found = self._batch_plans.get(decisions)
        if found is None:
            from engine.run.batch import batch_rule

            plan = self.plan if decisions is None else self.plan_for(decisions)[0]
            found = tuple(batch_rule(self.rules[rid], self) for rid, _ in plan)
            self._batch_plans[decisions] = found
        return found

    @cached_property
    def batch_kinds(self) -> dict[str, FactKind]:
        """Per fact: its type name, converter, whether it may be null, and its unknown."""
        out: dict[str, FactKind] = {}
        stack = [self.reader.tree]
        while stack:
            for node in stack.pop().values():
                if node.__class__ is dict:
                    stack.append(node)
                else:
                    fid, convert, nullable, _ = node
                    kind = self.facts[fid].type.name
                    out[fid] = (kind, convert, nullable, self.missing[fid])
        return out

    @property
    def jurisdiction(self) -> str:
        return self.layered.jurisdiction.id

    @property
    def revision(self) -> str:
        return self.layered.revision.id

    @cached_property
    def fact_json(self) -> dict[str, Callable[[Any], Any]]:
        """Each fact's JSON converter, specialised for its type once."""
        return {f: json_converter(d.type) for f, d in self.facts.items()}

    @cached_property
    def step_dates(self) -> dict[str, tuple[frozenset[str], ...]]:
        """Per rule, per definition: the facts it reads that are declared as dates (each
        explanation step carries them, for the timeline; derived, so never stored)."""
        dates = {f for f, d in self.facts.items() if d.type.name == "date"}
        return {rid: tuple(frozenset(f for f in v.facts if f in dates) for v in r.variants)
                for rid, r in self.rules.items()}  # fmt: skip

    @cached_property
    def fill_plans(self) -> dict[int, Any]:
        """The explanation stage's plans of its templates, by the template's id, each kept with
        its template (an id is a template's only while the template is alive): filled as they
        are first used; derived, so never stored."""
        return {}

    @cached_property
    def words_of(self) -> dict[str, Callable[[Any], str]]:
        """The words converter of every fact, rule and built-in (for explanation templates)."""
        out = {f: words_converter(d.type, d.labels) for f, d in self.facts.items()}
        out.update({r: c.words for r, c in self.rules.items()})
        out.update({b: words_converter(t) for b, t in BUILTINS.items()})
        return out

    @cached_property
    def public(self) -> tuple[str, ...]:
        """The ids of the rules reported as decisions, in evaluation order."""
        return tuple(rid for rid, r in self.rules.items() if not r.internal)

    @cached_property
    def reader(self) -> FactReader:
        """Checks and converts a case's facts for this revision (built once)."""
        return FactReader(self.facts, self.calendar.time_zone)

    @cached_property
    def _statuses(self) -> dict[str, str]:
        return {" ".join(c.split()).upper(): sec.status for c, sec in self.layered.sections.items()}

    def in_force(self, citation: str) -> bool:
        """False when the section or one it belongs to is repealed or deleted (case and spacing
        of the citation do not matter)."""
        parts = " ".join(citation.split()).upper()
        while parts:
            if self._statuses.get(parts, "in_force") != "in_force":
                return False
            if "." not in parts:
                break
            parts = parts.rsplit(".", 1)[0]
        return True

    @property
    def time_zone(self) -> Any:
        return self.calendar.time_zone

    def is_business_day(self, day: Any) -> bool:
        return self.calendar.is_business_day(day)

    def add_business_days(self, day: Any, count: int) -> Any:
        return self.calendar.add_business_days(day, count)
