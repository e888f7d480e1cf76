"""The mutants of a policy for ``ordinance mutate``: one small change each to a rule as the
law's author might have got it wrong, found by walking the revision's declarations.

A mutant is made at the level the author writes, not in the compiled closures: the changed
expression is new text made from the checked syntax tree (an operator swapped at its span, a
literal written again one step off, a reference wrapped in ``not``), and the revision is then
layered and compiled again by the same stages as the real policy, so a mutant is a policy
the compiler accepts or it is not run. The one exception is ``reorder``, which swaps two
compiled definitions of a rule: which definition is tried first comes from precedence and
layering, which no single edit of a file can swap exactly.

Kinds of change (the names a ``mutation: {ignore: [...]}`` annotation uses):

- ``boundary``: ``<`` ↔ ``<=``, ``>`` ↔ ``>=`` (an off-by-one on a deadline or a threshold);
- ``shift``: a length of time one unit longer or shorter (``180 days`` → ``181 days``,
  ``1 business day`` → ``2 business days``);
- ``threshold``: a number or amount compared in a condition moved by its smallest step
  (``3`` → ``4``, ``$100,000`` → ``$100,000.01``), and a fee line's ``over``/``up_to``;
- ``drop-when``: a ``when:`` left out, so the definition, fee line or step always applies;
- ``negate``: a true/false fact read as its opposite;
- ``connective``: ``and`` ↔ ``or``;
- ``reorder``: two definitions of one rule tried in the other order;
- ``remove-amendment``: an amending section left out, so the parent's text and rules stand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from dsl import nodes as n
from dsl.errors import DslErrors
from dsl.parse import parse_expression
from dsl.printer import unparse
from dsl.values import Duration
from engine.diagnostics import Span
from engine.model import (
    Expr,
    FeeItem,
    ProcedureDef,
    RevisionContent,
    RuleDef,
    SectionDef,
    Silence,
    StepDef,
)
from engine.run.program import CompiledPolicy, CompiledRule, Variant

OPERATORS = ("boundary", "shift", "threshold", "drop-when", "negate", "connective", "reorder",
             "remove-amendment")  # fmt: skip
_BOUNDARY = {"<": "<=", "<=": "<", ">": ">=", ">=": ">"}
_CONNECTIVE = {"and": "or", "or": "and"}
_COMPARE = {"<", "<=", ">", ">=", "==", "!="}


def located(span: Span) -> str:
    """``file:line:col``, the way editors and CI logs link to a place."""
    return f"{span.file}:{span.line}:{span.col}"


@dataclass(frozen=True)
class Mutant:
    """One change. ``layer``/``revision`` name the files it is in; ``content`` is that
    revision's declarations with the change made (None for ``reorder``, which names the
    rule and the two definitions instead)."""

    operator: str
    layer: str
    revision: str
    citation: str
    span: Span | None
    before: str  # the changed part as written (one line)
    after: str  # and as mutated
    silenced: Silence | None
    content: RevisionContent | None = None
    swap: tuple[str, RuleDef, RuleDef] | None = None  # rule id, the two definitions

    @property
    def where(self) -> str:
        return located(self.span) if self.span is not None else f"{self.layer}/{self.revision}"

    @property
    def key(self) -> tuple[str, ...]:
        """A stable order (and identity) for sampling and reports."""
        s = self.span
        pos = (s.file, f"{s.line:06d}", f"{s.col:06d}") if s is not None else ("", "", "")
        return (self.layer, self.revision, *pos, self.operator, self.before, self.after)


@dataclass(frozen=True)
class _Holder:
    """An expression in a revision's declarations, with how to put a changed one back."""

    expr: Expr
    citation: str
    silences: tuple[Silence | None, ...]
    put: Callable[[Expr | None], RevisionContent]
    droppable: bool  # a `when:` (None puts it back left out)


def _setting(obj: Any, key: str, put: Callable[[Any], RevisionContent]
             ) -> Callable[[Expr | None], RevisionContent]:  # fmt: skip
    """How to put ``obj`` back with its expression ``key`` changed (None: left out)."""

    def set_expr(e: Expr | None) -> RevisionContent:
        return put(replace(obj, **{key: e}))

    return set_expr


def _silence(silences: tuple[Silence | None, ...], operator: str) -> Silence | None:
    return next((s for s in silences if s is not None and s.covers(operator)), None)


def _cite(sec: SectionDef, rule: RuleDef) -> str:
    return f"{sec.citation}.{rule.subsection}" if rule.subsection else sec.citation


# Rebuilding a revision's content with one declaration replaced (None: removed). The content
# is copied at each level changed and shared everywhere else: a mutant costs a few objects.


def _with(content: RevisionContent, **changed: Any) -> RevisionContent:
    return dataclasses.replace(content, **changed)


def _put_section(content: RevisionContent, i: int
                 ) -> Callable[[SectionDef | None], RevisionContent]:  # fmt: skip
    def put(sec: SectionDef | None) -> RevisionContent:
        rest = content.sections[:i] + content.sections[i + 1 :]
        return _with(content, sections=rest if sec is None else [*rest[:i], sec, *rest[i:]])

    return put


def _put_in_section(sec: SectionDef, k: int, put: Callable[[SectionDef], RevisionContent]
                    ) -> Callable[[RuleDef], RevisionContent]:  # fmt: skip
    return lambda r: put(replace(sec, rules=(*sec.rules[:k], r, *sec.rules[k + 1 :])))


def _put_in_ruleset(content: RevisionContent, name: str, k: int
                    ) -> Callable[[RuleDef], RevisionContent]:  # fmt: skip
    rules = content.rulesets[name]
    return lambda r: _with(content, rulesets={**content.rulesets,
                                             name: (*rules[:k], r, *rules[k + 1 :])})  # fmt: skip


def _put_procedure(content: RevisionContent, i: int) -> Callable[[ProcedureDef], RevisionContent]:
    procs = content.procedures
    return lambda p: _with(content, procedures=[*procs[:i], p, *procs[i + 1 :]])


_Put = Callable[[RuleDef], RevisionContent]


def _rules(content: RevisionContent
           ) -> Iterator[tuple[RuleDef, str, tuple[Silence | None, ...], _Put]]:  # fmt: skip
    """Every rule of the revision (in sections, then in rulesets), with its citation, the
    annotations over it and how to put it back changed."""
    for i, sec in enumerate(content.sections):
        put_sec = _put_section(content, i)
        for k, rule in enumerate(sec.rules):
            yield (rule, _cite(sec, rule), (rule.mutation, sec.mutation),
                   _put_in_section(sec, k, put_sec))  # fmt: skip
    for name, rules in sorted(content.rulesets.items()):
        # A ruleset's rules are the law of the sections that use it (KCC 14.01.030.D and
        # .040.D both `use:` the permit rules): cited by those sections, silenced by them too.
        users = [sec for sec in content.sections if name in sec.use]
        for k, rule in enumerate(rules):
            cite = ", ".join(_cite(sec, rule) for sec in users) or f"ruleset `{name}`"
            silences = (rule.mutation, *(sec.mutation for sec in users))
            yield rule, cite, silences, _put_in_ruleset(content, name, k)


def _holders(content: RevisionContent) -> Iterator[_Holder]:
    """Every expression of the revision, with its citation and the annotations over it."""
    for i, sec in enumerate(content.sections):
        put_sec = _put_section(content, i)
        if sec.when is not None:
            yield _Holder(sec.when, sec.citation, (sec.mutation,),
                          _setting(sec, "when", put_sec), True)  # fmt: skip
    for rule, cite, silences, put in _rules(content):
        yield from _rule_holders(rule, cite, silences, put)
    for i, proc in enumerate(content.procedures):
        put_proc = _put_procedure(content, i)
        cite = proc.citation or proc.id
        if proc.when is not None:
            yield _Holder(proc.when, cite, (proc.mutation,),
                          _setting(proc, "when", put_proc), True)  # fmt: skip
        for j, step in enumerate(proc.steps):
            yield from _step_holders(proc, j, step, put_proc)


def _step_holders(proc: ProcedureDef, j: int, step: StepDef,
                  put_proc: Callable[[ProcedureDef], RevisionContent]
                  ) -> Iterator[_Holder]:  # fmt: skip
    def put(s: StepDef) -> RevisionContent:
        return put_proc(replace(proc, steps=(*proc.steps[:j], s, *proc.steps[j + 1 :])))

    silences = (step.mutation, proc.mutation)
    cite = step.citation or proc.citation or f"{proc.id}/{step.id}"
    for key in ("when", "done", "deadline"):
        e = getattr(step, key)
        if e is not None:
            yield _Holder(e, cite, silences, _setting(step, key, put), key == "when")


def _rule_holders(rule: RuleDef, cite: str, silences: tuple[Silence | None, ...],
                  put: Callable[[RuleDef], RevisionContent]) -> Iterator[_Holder]:  # fmt: skip
    if rule.when is not None:
        yield _Holder(rule.when, cite, silences, _setting(rule, "when", put), True)
    if rule.value is not None:
        yield _Holder(rule.value, cite, silences, _setting(rule, "value", put), False)
    if rule.fee is None:
        return
    fee = rule.fee
    for m, item in enumerate(fee.items):

        def put_item(it: FeeItem, m: int = m) -> RevisionContent:
            items = (*fee.items[:m], it, *fee.items[m + 1 :])
            return put(replace(rule, fee=replace(fee, items=items)))

        item_cite = item.citation or cite
        for key in ("when", "amount", "unit_amount", "quantity"):
            e = getattr(item, key)
            if e is not None:
                yield _Holder(e, item_cite, silences, _setting(item, key, put_item),
                              key == "when")  # fmt: skip


# The changes inside one expression.


def _walk(node: n.Node, parent: n.Node | None = None) -> Iterator[tuple[n.Node, n.Node | None]]:
    yield node, parent
    for child in n.children(node):
        yield from _walk(child, node)


def _expr_changes(text: str, bool_facts: frozenset[str]
                  ) -> Iterator[tuple[str, tuple[int, int], str, str, str]]:  # fmt: skip
    """(operator, the span changed, the change shown before and after, the span's new text)
    for each change in ``text``. The new text is bracketed where it goes back, so precedence
    cannot regroup it."""
    try:
        root = parse_expression(text)
    except DslErrors:
        return
    for node, parent in _walk(root):
        if isinstance(node, n.Binary) and node.op in _BOUNDARY:
            yield "boundary", node.span, *_swap_op(text, node, _BOUNDARY[node.op])
        elif isinstance(node, n.Binary) and node.op in _CONNECTIVE:
            yield "connective", node.span, *_swap_op(text, node, _CONNECTIVE[node.op])
        elif isinstance(node, n.Literal) and isinstance(node.value, Duration):
            d = node.value
            for amount in (d.amount + 1, d.amount - 1):
                if amount >= 0:
                    moved = str(Duration(amount, d.unit))
                    yield "shift", node.span, _src(text, node), moved, moved
        elif (isinstance(node, n.Literal) and isinstance(parent, n.Binary)
              and parent.op in _COMPARE):  # fmt: skip
            for moved in _steps(node, _src(text, node)):
                yield "threshold", node.span, _src(text, node), moved, moved
        elif isinstance(node, n.Ref) and node.path in bool_facts:
            yield "negate", node.span, node.path, f"not {node.path}", f"not {node.path}"


def _src(text: str, node: n.Node) -> str:
    return " ".join(text[node.span[0] : node.span[1]].split())


def _swap_op(text: str, node: n.Binary, op: str) -> tuple[str, str, str]:
    """The operator with the operands next to it, before and after, and the node's new text.
    In a chain ``a and b and c`` only the operand left of this ``and`` is shown, after an
    ellipsis, so the change reads on one line however long the chain."""
    left, more = node.left, ""
    if isinstance(left, n.Binary) and left.op == node.op:
        left, more = left.right, "… "
    shown = replace(node, left=left)
    before = more + _short(unparse(shown, text))
    return (
        before,
        more + _short(unparse(replace(shown, op=op), text)),
        unparse(replace(node, op=op), text),
    )


def _short(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _steps(lit: n.Literal, text: str) -> list[str]:
    """A compared literal one smallest step either way, in the language's own spelling."""
    v = lit.value
    if lit.kind == "int" and isinstance(v, int) and not isinstance(v, bool):
        return [str(v + 1), *([str(v - 1)] if v > 0 else [])]
    if lit.kind == "money" and isinstance(v, Decimal):
        cent, spec = Decimal("0.01"), ",.2f" if "," in text else ".2f"  # as the author writes
        return [f"${v + cent:{spec}}", *([f"${v - cent:{spec}}"] if v >= cent else [])]
    if lit.kind == "decimal" and isinstance(v, Decimal):
        step = Decimal(1).scaleb(v.as_tuple().exponent)  # type: ignore[arg-type]
        return [str(v + step), *([str(v - step)] if v >= step else [])]
    return []


def _mutated_text(text: str, span: tuple[int, int], after: str) -> str:
    return f"{text[: span[0]]}({after}){text[span[1] :]}"


def source_mutants(layer: str, revision: str, content: RevisionContent,
                   bool_facts: frozenset[str]) -> Iterator[Mutant]:  # fmt: skip
    """Every change to the expressions, conditions, fee lines and amendments of one revision."""
    for h in _holders(content):
        e = h.expr
        for op, span, before, after, text in _expr_changes(e.text, bool_facts):
            new = Expr(_mutated_text(e.text, span, text), e.doc, e.path)
            yield Mutant(op, layer, revision, h.citation, e.span(*span), before, after,
                         _silence(h.silences, op), h.put(new))  # fmt: skip
        if h.droppable:
            yield Mutant("drop-when", layer, revision, h.citation, e.span(),
                         _short(f"when: {' '.join(e.text.split())}"), "(no condition)",
                         _silence(h.silences, "drop-when"), h.put(None))  # fmt: skip
    yield from _fee_bounds(layer, revision, content)
    for i, sec in enumerate(content.sections):
        if sec.amends:
            targets = ", ".join(a.target for a in sec.amends)
            yield Mutant("remove-amendment", layer, revision, sec.citation,
                         sec.origin.span("citation"), f"{sec.citation} amends {targets}",
                         f"{sec.citation} left out", _silence((sec.mutation,), "remove-amendment"),
                         _put_section(content, i)(None))  # fmt: skip


def _fee_bounds(layer: str, revision: str, content: RevisionContent) -> Iterator[Mutant]:
    """A fee line's ``over`` (units not counted) and ``up_to`` (the cap) one unit off."""
    for rule, cite, silences, put in _rules(content):
        fee = rule.fee
        for m, item in enumerate(fee.items if fee is not None else ()):
            assert fee is not None
            bounds = [("over", item.over)] if item.quantity is not None else []
            bounds += [("up_to", item.up_to)] if item.up_to is not None else []
            for key, value, moved in ((k, v, v + d) for k, v in bounds if v is not None
                                      for d in (1, -1)):  # fmt: skip
                if moved < (1 if key == "up_to" else 0):
                    continue
                new = replace(item, over=moved) if key == "over" else replace(item, up_to=moved)
                items = (*fee.items[:m], new, *fee.items[m + 1 :])
                yield Mutant("threshold", layer, revision, item.citation or cite,
                             item.origin.span(key), f"{key}: {value}", f"{key}: {moved}",
                             _silence(silences, "threshold"),
                             put(replace(rule, fee=replace(fee, items=items))))  # fmt: skip


def reorder_mutants(cp: CompiledPolicy, layers: frozenset[str]) -> Iterator[Mutant]:
    """Two definitions of a rule, next to each other in the order they are tried, swapped;
    attributed to the layer of the one that is tried first. Definitions that a dispatch on
    one fact tells apart (``permit.code == "IBC"`` and ``== "IRC"``) never both apply: their
    order cannot matter, so that swap is not a mutant."""
    for rid, rule in cp.rules.items():
        if rid.endswith("_lines") and rid[: -len("_lines")] in cp.rules:
            continue  # a fee's lines follow the fee's own order (reordered with it)
        vs = rule.variants
        for i in range(len(vs) - 1):
            a, b = vs[i], vs[i + 1]
            if a.section.defined_by is None or a.section.jurisdiction not in layers:
                continue
            if _exclusive(rule, i):
                continue
            sec = a.section.defined_by
            first, then = _definition(a.citation, a.rule), _definition(b.citation, b.rule)
            layer = a.section.jurisdiction
            # Cited as the section that defines it is (the amending one, as its other mutants
            # are), not as the result cites it ("IBC 105.5 as amended by ..."), so that
            # --sections and the report's headings find it with them.
            yield Mutant("reorder", layer, _revision_of(cp, layer), _cite(sec, a.rule),
                         a.rule.origin.span("id"), f"`{rid}`: {first}, then {then}",
                         f"{then}, then {first}",
                         _silence(_over(a) + _over(b), "reorder"),
                         swap=(rid, a.rule, b.rule))  # fmt: skip


def _over(v: Variant) -> tuple[Silence | None, ...]:
    """The annotations over a compiled definition: its rule's and its section's."""
    sec = v.section.defined_by
    return (v.rule.mutation, sec.mutation if sec is not None else None)


def _definition(citation: str, rule: RuleDef) -> str:
    """A definition named so that two in one section are told apart: citation and line."""
    span = rule.origin.span("id")
    return f"{citation} (line {span.line} of {Path(span.file).name})"


def _revision_of(cp: CompiledPolicy, layer: str) -> str:
    return next(r.id for j, r in cp.layered.chain if j.id == layer)


def _exclusive(rule: CompiledRule, i: int) -> bool:
    d = rule.dispatch
    if d is None or not (d.keyed[i] and d.keyed[i + 1]):
        return False
    return not any(i in c and i + 1 in c for c in d.table.values())
