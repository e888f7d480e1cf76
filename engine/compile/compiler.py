"""Pipeline stages check, graph and compile: type-check every expression of a layered policy,
build and check the dependency graph, and compile the rules into closures in evaluation order.

The output, ``engine.run.program.CompiledPolicy``, is all the evaluator needs: no YAML, Lark or
networkx object is touched when a case is evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

import networkx as nx

from dsl import nodes as n
from dsl.compile import Fn, compile_expression, conjoin
from dsl.errors import DslErrors, did_you_mean
from dsl.parse import parse_expression
from dsl.typecheck import Types, check_expression
from dsl.typesys import MONEY, Type, article
from dsl.values import Unknown
from engine.compile import graph as gr
from engine.compile.certificate import check_certificate
from engine.diagnostics import Collector, Diagnostic, Span
from engine.model import (
    EffectiveSection,
    Expr,
    LayeredPolicy,
    Origin,
    ProcedureDef,
    RuleDef,
)
from engine.run.calendar import Calendar
from engine.run.decide import build_decide, find_dispatch
from engine.run.fees import CompiledItem, build_total, check_fee, lines_value
from engine.run.program import (
    BUILTINS,
    CompiledPolicy,
    CompiledProcedure,
    CompiledRule,
    CompiledStep,
    Template,
    Variant,
    value_key,
)
from engine.source import Path_

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_.]*)\}")


class _Scope:
    def __init__(self, types: dict[str, Type]) -> None:
        self.types = types

    def lookup(self, path: str) -> Type | None:
        return self.types.get(path)

    def names(self) -> Iterable[str]:
        return self.types


def compile_policy(
    layered: LayeredPolicy, out: Collector, parse: Callable[[str], n.Node] = parse_expression
) -> CompiledPolicy | None:
    """Type-check, graph-check and compile ``layered``; diagnostics go to ``out``. ``parse``
    may be a memo of ``parse_expression`` where one process compiles many near-identical
    policies (``ordinance mutate``: parsing is most of a compile)."""
    jur = layered.jurisdiction
    calendar = Calendar(jur.time_zone, jur.business_days, jur.holidays)
    tz_problem = calendar.check_time_zone()
    if tz_problem:
        out.add(
            "policy/time-zone",
            tz_problem,
            jur.origin.doc.span(("time_zone",)),
            help="use an IANA name such as `America/Los_Angeles`",
        )
        return None
    holidays = ("calendar", "holidays")
    library_problem = calendar.check_library()
    if library_problem:
        out.add("policy/holiday-library", f"the holiday library cannot give these holidays: "
                f"{library_problem}", jur.origin.doc.span((*holidays, "library")),
                help="use an ISO country code the `holidays` package knows (`US`) and its "
                "subdivision (`WA`), or list the days under `add:`")  # fmt: skip
        return None
    names = jur.holidays.names if jur.holidays and jur.holidays.names else ()
    for i in calendar.check_names():
        guess = _holiday_guess(calendar, names[i])
        out.add("policy/unknown-holiday", f"the holiday library has no holiday named "
                f"`{names[i]}`", jur.origin.doc.span((*holidays, "names", i)),
                severity="warning", help=f"did you mean `{guess}`?" if guess
                else "add the day under `add:` with its citation")  # fmt: skip
    vesting = jur.vesting
    if vesting and (
        vesting[0] not in layered.facts or layered.facts[vesting[0]].type.name != "date"
    ):
        out.add("policy/unknown-vesting-fact", f"the vesting fact `{vesting[0]}` is not a "
                "declared date fact", jur.origin.doc.span(("vesting", "fact")),
                help="declare it under `facts:` with `type: date`, or fix the id")  # fmt: skip
    cp = CompiledPolicy(layered, calendar, layered.facts, {}, {}, nx.DiGraph())
    defs = _collect_rules(layered, out)
    scope = _Scope(
        {
            **BUILTINS,
            **{f: d.type for f, d in layered.facts.items()},
            **{rid: vs[0][0].type for rid, vs in defs.items()},
            **{rid + "_lines": _lines_type(vs) for rid, vs in defs.items() if _has_fee(vs)},
        }
    )
    for fid, fact in layered.facts.items():
        _check_labels(fid, fact.type, fact.labels, fact.origin, out)
    for rid, vs in defs.items():
        for r, _ in vs:
            _check_labels(rid, r.type, r.labels, r.origin, out)
    c = _Compiling(cp, scope, out, parse)
    rules = {rid: c.rule(rid, vs) for rid, vs in defs.items()}
    for rid, vs in defs.items():
        if _has_fee(vs) and rid in rules:
            titles = {it.id: it.title for r, _ in reversed(vs) if r.fee for it in r.fee.items}
            rules[rid + "_lines"] = _lines_rule(rules[rid], _lines_type(vs), titles)
            c.edges.append((gr.node_id(gr.RULE, rid), gr.node_id(gr.RULE, rid + "_lines"), None))
    procedures = {pid: _procedure(c, p) for pid, p in layered.procedures.items()}
    if out.errors:
        return None
    steps = [f"{pid}/{s.step.id}" for pid, p in procedures.items() for s in p.steps]
    cp.graph = gr.build_graph(list(layered.facts), list(rules), c.edges, steps)
    cycles = gr.check_cycles(cp.graph)
    if cycles:
        out.items.extend(cycles)
        return None
    cp.rules = {rid: rules[rid] for rid in gr.evaluation_order(cp.graph)}
    cp.needs = gr.needs(cp.graph)
    cp.procedures = procedures
    cp.plan = tuple((rid, r.decide) for rid, r in cp.rules.items())
    cp.missing = {f: Unknown(frozenset({f})) for f in layered.facts}
    check_certificate(layered, cp, out)
    if out.errors:
        return None
    cp.warnings = _warnings(cp, c.used_facts)
    out.items.extend(cp.warnings)
    return cp


def _has_fee(defs: list[tuple[RuleDef, EffectiveSection]]) -> bool:
    return any(r.fee is not None for r, _ in defs)


def _lines_type(defs: list[tuple[RuleDef, EffectiveSection]]) -> Type:
    ids = [it.id for r, _ in defs if r.fee for it in r.fee.items]
    return Type.list_of(Type.enum(tuple(dict.fromkeys(ids))))


def _lines_rule(fee: CompiledRule, t: Type, titles: dict[str, str]) -> CompiledRule:
    """The companion decision of a fee, ``<id>_lines``: the ids of the lines it charged, decided
    by the same definitions (same conditions, same citations), each line read by its title."""
    value = lines_value(fee.id)
    variants = tuple(replace(v, value_fn=value, facts=(), rules=(fee.id,), explain={},
                             value_node=None) for v in fee.variants)  # fmt: skip
    decide = build_decide([v.when_parts for v in variants], [value] * len(variants), conjoin,
                          fee.dispatch)  # fmt: skip
    what = fee.description[:1].lower() + fee.description[1:]
    description = f"The lines charged for {what}" if what else "The fee lines charged"
    return CompiledRule(fee.id + "_lines", t, fee.internal, description, variants, decide,
                        fee.dispatch, titles)  # fmt: skip


def _holiday_guess(calendar: Calendar, name: str) -> str | None:
    import holidays as holidays_lib

    spec = calendar.spec
    assert spec is not None and spec.country
    lib = holidays_lib.country_holidays(spec.country, subdiv=spec.subdivision, years=2024)
    return did_you_mean(name, {n.removesuffix(" (observed)") for n in lib.values()})


def _collect_rules(
    layered: LayeredPolicy, out: Collector
) -> dict[str, list[tuple[RuleDef, EffectiveSection]]]:
    """Every rule id → its definitions in the order they are tried: highest ``precedence``
    first, then the amending layer before the layer it amends (local provisions govern, as
    KCC 14.01.020 puts it), then section order."""
    depth = {jur.id: i for i, (jur, _) in enumerate(layered.chain)}
    found: list[tuple[int, int, int, RuleDef, EffectiveSection]] = []
    for pos, sec in enumerate(layered.sections.values()):
        for rule in sec.rules:
            found.append((-rule.precedence, -depth.get(sec.jurisdiction, 0), pos, rule, sec))
    found.sort(key=lambda f: f[:3])
    defs: dict[str, list[tuple[RuleDef, EffectiveSection]]] = {}
    for *_, rule, sec in found:
        first = defs.setdefault(rule.id, [])
        if first and first[0][0].type != rule.type:
            out.add(
                "policy/rule-type-conflict",
                f"`{rule.id}` is {article(rule.type)} here but "
                f"{article(first[0][0].type)} in `{first[0][1].citation}`",
                rule.origin.span("type"),
                related=((first[0][0].origin.span("type"), "declared here"),),
            )
        first.append((rule, sec))
    for rid in defs:
        if rid in layered.facts:
            rule = defs[rid][0][0]
            out.add(
                "policy/rule-shadows-fact",
                f"`{rid}` is both a fact and a rule",
                rule.origin.span("id"),
                help="rename the rule",
            )
    return defs


class _Compiling:
    def __init__(self, cp: CompiledPolicy, scope: _Scope, out: Collector,
                 parse: Callable[[str], n.Node]) -> None:  # fmt: skip
        self.cp = cp
        self.parse = parse
        self.scope = scope
        self.out = out
        self.edges: list[tuple[str, str, Span | None]] = []
        self.used_facts: set[str] = set()
        # The type of every expression node compiled (ids stay valid: the variants keep them).
        self.types: Types = {}

    def expr(self, e: Expr, user: str) -> tuple[Fn, Type, n.Node] | None:
        """Parse, type-check and compile one expression; record its references as edges."""
        try:
            node = self.parse(e.text)
            t, types = check_expression(node, self.scope)
            self.types.update(types)
        except DslErrors as exc:
            for err in exc.errors:
                self.out.add(err.code, err.message, e.span(err.start, err.end), help=err.help)
            return None
        for ref in n.iter_refs(node):
            if ref.path in BUILTINS:
                continue
            kind = gr.FACT if ref.path in self.cp.layered.facts else gr.RULE
            if kind == gr.FACT:
                self.used_facts.add(ref.path)
            self.edges.append((gr.node_id(kind, ref.path), user, e.span(*ref.span)))
        return compile_expression(node, types, self.cp), t, node

    def rule(self, rid: str, defs: list[tuple[RuleDef, EffectiveSection]]) -> CompiledRule:
        user = gr.node_id(gr.RULE, rid)
        variants = []
        for i, (rule, sec) in enumerate(defs):
            v = self.variant(rid, user, rule, sec)
            if v is None:
                continue
            # A layer that overrides its parent's definitions unconditionally means to (local
            # law governs); only a dead definition within one layer is worth a warning.
            if (
                v.when_fn is None
                and i < len(defs) - 1
                and defs[i + 1][1].jurisdiction == sec.jurisdiction
            ):
                later = defs[i + 1][0]
                self.out.add(
                    "graph/unreachable-rule",
                    f"this definition of `{rid}` can never "
                    f"apply: the one in `{v.citation}` has no `when:` and always wins",
                    later.origin.span("id"),
                    severity="warning",
                    related=((rule.origin.span("id"), "always applies"),),
                    help="give the earlier definition a `when:` condition",
                )
            variants.append(v)
        first = defs[0][0]
        parts = [v.when_parts for v in variants]
        dispatch = find_dispatch(parts)
        decide = build_decide(parts, [v.value_fn for v in variants], conjoin, dispatch)
        internal = all(r.internal for r, _ in defs)
        # The definitions tried first name the values first (a later layer's labels win).
        labels = {k: w for r, _ in reversed(defs) for k, w in r.labels.items()}
        return CompiledRule(rid, first.type, internal, first.description, tuple(variants), decide,
                            dispatch, labels)  # fmt: skip

    def variant(self, rid: str, user: str, rule: RuleDef, sec: EffectiveSection) -> Variant | None:
        whens = [*sec.when, *([rule.when] if rule.when else [])]
        compiled_whens = [self.expr(w, user) for w in whens]
        if any(w is None for w in compiled_whens):
            return None
        when_nodes = [cw[2] for cw in compiled_whens if cw is not None]
        if rule.fee is not None:
            fee = self.fee(rid, user, rule, sec.cite(rule.subsection), when_nodes)
            if fee is None:
                return None
            value: tuple[Fn, Type, n.Node] | None = fee
        else:
            assert rule.value is not None
            value = self.expr(rule.value, user)
        if value is None:
            return None
        for w, cw in zip(whens, compiled_whens, strict=True):
            assert cw is not None
            if cw[1].name not in ("bool", "any"):
                self.out.add(
                    "dsl/type-mismatch",
                    f"a `when:` condition must be true or false, found a {cw[1]}",
                    w.span(),
                )
        fn, t, node = value
        if rule.fee is None:
            self._check_declared(rule, t, node)
        nodes = [*when_nodes, node]
        refs = [r.path for nd in nodes for r in n.iter_refs(nd)]
        facts = tuple(dict.fromkeys(r for r in refs if r in self.cp.layered.facts))
        rules = tuple(
            dict.fromkeys(r for r in refs if r not in self.cp.layered.facts and r not in BUILTINS)
        )
        parts = [(cw[2], cw[0]) for cw in compiled_whens if cw is not None]
        return Variant(
            rule,
            sec,
            sec.cite(rule.subsection),
            whens,
            parts,
            conjoin([f for _, f in parts]),
            fn,
            facts,
            rules,
            _templates(rule, self.scope, self.out),
            node if rule.fee is None else None,
            self.types,
        )

    def fee(
        self, rid: str, user: str, rule: RuleDef, citation: str, when_nodes: list[n.Node]
    ) -> tuple[Fn, Type, n.Node] | None:
        """Compile a fee schedule: each item's condition, amount and quantity."""
        spec = rule.fee
        assert spec is not None
        if rule.type.name != "money":
            self.out.add("dsl/type-mismatch", f"`{rid}` has a `fee:` schedule, so its type is "
                         "money", rule.origin.span("type"), help="write `type: money`")  # fmt: skip
        items, refs, whens = [], [], {}
        for it in spec.items:
            parts = {k: self._typed(e, user, want) for k, e, want in (
                ("when", it.when, "bool"), ("amount", it.amount or it.unit_amount, "money"),
                ("quantity", it.quantity, "number"))}  # fmt: skip
            if any(p is None for k, p in parts.items() if getattr(it, k, None) or k == "amount"):
                continue
            when, amount, quantity = parts["when"], parts["amount"], parts["quantity"]
            assert amount is not None
            refs += [p[1] for p in parts.values() if p is not None]
            if when is not None:
                whens[it.id] = when[1]
            items.append(CompiledItem(it, when[0] if when else None, amount[0],
                                      quantity[0] if quantity else None,
                                      it.citation or citation))  # fmt: skip
        if len(items) < len(spec.items):
            return None
        check_fee(spec, when_nodes, whens, self.out)
        # The refs of all items stand for the schedule's value in the graph and explanation.
        node = n.ListExpr((0, 0), tuple(n.Item((0, 0), r, None) for r in refs))
        return build_total(rid, items, spec.rounding), MONEY, node

    def _typed(self, e: Expr | None, user: str, want: str) -> tuple[Fn, n.Node] | None:
        """Compile ``e`` and check it gives ``want`` (bool, money or number)."""
        if e is None:
            return None
        found = self.expr(e, user)
        if found is None:
            return None
        fn, t, node = found
        ok = t.name in ("any", "null") or (t.is_numeric if want == "number" else t.name == want)
        if not ok:
            self.out.add("dsl/type-mismatch", f"a fee item's value here must be "
                         f"{'a number' if want == 'number' else article(Type(want))}, found "
                         f"{article(t)}", e.span())  # fmt: skip
            return None
        return fn, node

    def _check_declared(self, rule: RuleDef, t: Type, node: n.Node) -> None:
        assert rule.value is not None
        if not rule.type.accepts(t):
            self.out.add(
                "dsl/type-mismatch",
                f"`{rule.id}` is declared as {article(rule.type)} but its value is {article(t)}",
                rule.value.span(),
                help=f"change `type:` to `{t.name}` or fix the expression",
            )
            return
        values = rule.type.values or (rule.type.item.values if rule.type.item else ())
        if not values:
            return
        for lit in _result_literals(node):
            if lit.value not in values:
                guess = did_you_mean(lit.value, values)
                self.out.add(
                    "dsl/unknown-value",
                    f'"{lit.value}" is not one of the values declared for `{rule.id}`',
                    rule.value.span(*lit.span),
                    help=f'did you mean "{guess}"?'
                    if guess
                    else "declared values: " + ", ".join(values),
                )


def _result_literals(node: n.Node) -> list[n.Literal]:
    """The string literals an expression can evaluate to (or hold, for a list)."""
    if isinstance(node, n.Literal) and node.kind == "string":
        return [node]
    if isinstance(node, n.If):
        return _result_literals(node.then) + _result_literals(node.else_)
    if isinstance(node, n.ListExpr):
        return [lit for item in node.items for lit in _result_literals(item.expr)]
    return []


def _warnings(cp: CompiledPolicy, used: set[str]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    own = cp.layered.jurisdiction.id
    vesting = cp.layered.jurisdiction.vesting
    if vesting:
        used = used | {vesting[0]}  # read by revision selection, not by a rule
    for fid, fact in cp.facts.items():
        if fid not in used and fact.jurisdiction == own:
            out.append(
                Diagnostic(
                    "graph/unused-fact",
                    f"the fact `{fid}` is declared but no rule or step reads it",
                    fact.origin.span(),
                    "warning",
                    help="remove it, or write the rule that uses it",
                )
            )
    for rid, rule in cp.rules.items():
        if rule.internal and not any(True for _ in cp.graph.successors(gr.node_id(gr.RULE, rid))):
            first = rule.variants[0].rule if rule.variants else None
            out.append(
                Diagnostic(
                    "graph/unreachable-rule",
                    f"the internal rule `{rid}` is read by no decision or step",
                    first.origin.span("id") if first else None,
                    "warning",
                    help="remove `internal: true` to report it, or delete it",
                )
            )
    return out


# Outcomes every rule may explain apart (`none`: null or an empty list); a bool adds
# `true`/`false`, an enum its values.
_OUTCOMES = ("determined", "none", "not_applicable", "undetermined")


def _outcomes(t: Type) -> tuple[str, ...]:
    """The keys an ``explain:`` mapping may use for a rule of type ``t``."""
    own = ("true", "false") if t.name == "bool" else t.values if t.name == "enum" else ()
    return (*own, *_OUTCOMES)


def _templates(rule: RuleDef, scope: _Scope, out: Collector) -> Template:
    """Each outcome's ``explain:`` template compiled (``_template``). Compiled here, once per
    definition, so that explaining a case only looks a template up by its outcome; an outcome
    key the rule's type cannot take is reported where it is written."""
    if not rule.explain:
        return {}
    path = (*rule.origin.path, "explain")
    plain = isinstance(rule.origin.doc.data_at(path), str)
    keys = _outcomes(rule.type)
    compiled: dict[str, tuple[tuple[str, str | None], ...]] = {}
    for key, text in rule.explain.items():
        where = path if plain else (*path, key)
        if key not in keys:
            guess = did_you_mean(key, keys)
            out.add(
                "policy/unknown-outcome",
                f"`{key}` in `explain:` is not an outcome of `{rule.id}` ({rule.type})",
                rule.origin.doc.span(where, key=True),
                help=f"did you mean `{guess}`?"
                if guess
                else "use one of " + ", ".join(f"`{k}`" for k in keys),
            )
            continue
        own = rule.type.name == "enum" and key in rule.type.values
        compiled[value_key(key) if own else key] = _template(rule, text, where, scope, out)
    return compiled


def _template(
    rule: RuleDef, text: str, where: Path_, scope: _Scope, out: Collector
) -> tuple[tuple[str, str | None], ...]:
    """One template cut at its ``{placeholders}``: (literal text, the fact or rule named after
    it, or None), each name checked against the scope."""
    parts: list[tuple[str, str | None]] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        name = m.group(1)
        if name != "value" and scope.lookup(name) is None:
            guess = did_you_mean(name, scope.names())
            out.add(
                "policy/unknown-placeholder",
                f"`{{{name}}}` in `explain:` names no fact or rule",
                rule.origin.doc.expr_span(where, m.start(), m.end()),
                help=f"did you mean `{{{guess}}}`?"
                if guess
                else "use `{value}` or the id of a fact or rule",
            )
        parts.append((text[pos : m.start()], name))
        pos = m.end()
    parts.append((text[pos:], None))
    return tuple(parts)


def _check_labels(
    what: str, t: Type, labels: Mapping[str, str], origin: Origin, out: Collector
) -> None:
    """A label names a value of the enum (or list of enum) it belongs to."""
    values = t.item.values if t.name == "list" and t.item is not None else t.values
    for key in labels:
        if key in values:
            continue
        guess = did_you_mean(key, values)
        out.add(
            "policy/unknown-label",
            f"`{key}` in `labels:` is not a value of `{what}`"
            + (f" ({t})" if values else f": labels are for enums, and `{what}` is a {t}"),
            origin.doc.span((*origin.path, "labels", key), key=True),
            help=f"did you mean `{guess}`?" if guess else "label the values listed in `values:`",
        )


def _procedure(c: _Compiling, p: ProcedureDef) -> CompiledProcedure:
    """A procedure's steps: each condition, completion test and deadline compiled, and each
    `requires:` an edge of the graph (so a step that requires itself is a cycle)."""
    ids = [s.id for s in p.steps]
    steps = []
    for s in p.steps:
        user = gr.node_id(gr.STEP, f"{p.id}/{s.id}")
        for i, req in enumerate(s.requires):
            if req not in ids:
                guess = did_you_mean(req, ids)
                c.out.add(
                    "policy/unknown-step",
                    f"step `{s.id}` requires `{req}`, which is not a step of `{p.id}`",
                    s.origin.doc.span((*s.origin.path, "requires", i)),
                    help=f"did you mean `{guess}`?" if guess else None,
                )
                continue
            c.edges.append(
                (
                    gr.node_id(gr.STEP, f"{p.id}/{req}"),
                    user,
                    s.origin.doc.span((*s.origin.path, "requires", i)),
                )
            )
        fns = [None if e is None else c.expr(e, user) for e in (p.when, s.when, s.done, s.deadline)]
        steps.append(
            CompiledStep(
                s,
                s.citation or p.citation,
                conjoin([f[0] for f in fns[:2] if f is not None]),
                fns[2][0] if fns[2] else None,
                fns[3][0] if fns[3] else None,
            )
        )
    return CompiledProcedure(p, tuple(steps))
