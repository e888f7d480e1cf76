"""Fee schedules: a rule whose value is the total of itemized, cited fee lines.

A fee item is a flat ``amount`` or a ``unit_amount`` times a ``quantity`` (counting only the
units ``over`` a threshold and at most ``up_to`` in all), charged when its ``when:`` holds.
Money is ``Decimal``; each line is rounded to the cent by the schedule's rounding rule and the
total is the sum of the lines. The lines of one case are kept in the environment under
``#<rule id>`` for the explanation and for the companion decision ``<rule id>_lines``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal
from itertools import pairwise
from typing import Any

from dsl import nodes as n
from dsl.compile import Fn
from dsl.recipe import recorded
from dsl.values import Unknown
from engine.diagnostics import Collector
from engine.model import FeeItem, FeeSpec
from engine.values import cents

U = Unknown
CENT = Decimal("0.01")
ROUNDING = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN,
            "up": ROUND_UP}  # fmt: skip
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Line:
    """One charged line of a fee: what, how many, at what unit amount, for how much, under what
    citation."""

    id: str
    title: str
    quantity: Any
    unit_amount: Decimal
    amount: Decimal
    citation: str
    unit: str | None


@dataclass(frozen=True)
class CompiledItem:
    item: FeeItem
    when: Fn | None
    amount: Fn  # the flat amount or the unit amount
    quantity: Fn | None
    citation: str


def lines_key(rid: str) -> str:
    """Where a fee rule leaves its lines in the environment."""
    return "#" + rid


@recorded  # saved in the cache as this call, not as the closure (dsl.recipe)
def build_total(rid: str, items: list[CompiledItem], rounding: str) -> Fn:
    """The closure computing a fee's total; it leaves the charged lines in the environment."""
    mode = ROUNDING[rounding]
    key = lines_key(rid)

    def total(env: dict[str, Any]) -> Any:
        lines: list[Line] = []
        unknown: Any = None
        for ci in items:
            w = True if ci.when is None else ci.when(env)
            if w is False or w is None:
                continue
            unit = ci.amount(env)
            qty = 1 if ci.quantity is None else ci.quantity(env)
            if w.__class__ is U or unit.__class__ is U or qty.__class__ is U:
                for part in (w, unit, qty):
                    if part.__class__ is U:
                        unknown = part if unknown is None else unknown.merge(part)
                continue
            counted = _counted(qty, ci.item)
            if unit is None or counted <= 0:
                continue
            amount = cents(Decimal(unit) * counted, mode)
            if amount > 0:
                lines.append(Line(ci.item.id, ci.item.title, counted, Decimal(unit), amount,
                                  ci.citation, ci.item.unit))  # fmt: skip
        if unknown is not None:
            return unknown
        env[key] = lines
        return sum((line.amount for line in lines), ZERO)

    return total


def _counted(qty: Any, item: FeeItem) -> Any:
    """The units charged: those beyond ``over``, at most ``up_to`` in all (null counts as 0)."""
    if qty is None:
        return 0
    counted = qty - item.over
    if item.up_to is not None:
        counted = min(counted, item.up_to - item.over)
    return max(counted, 0)


@recorded
def lines_value(rid: str) -> Fn:
    """The companion decision's value: the ids of the lines the fee charged."""
    key = lines_key(rid)

    def lines(env: dict[str, Any]) -> Any:
        total = env[rid]
        if total is None or total.__class__ is U:
            return total
        return [line.id for line in env.get(key, ())]

    return lines


# --- checks ------------------------------------------------------------------------------------


def check_fee(spec: FeeSpec, whens: list[n.Node], item_whens: dict[str, n.Node],
              out: Collector) -> None:  # fmt: skip
    """Warnings a code administrator wants before a schedule is used: no effective date, tiers
    that leave gaps or overlap, items no case can reach."""
    if spec.effective_on is None:
        out.add("policy/fee-no-effective-date", "this fee schedule has no `effective_on:` date",
                spec.origin.span(), severity="warning",
                help="add the date the schedule took effect, and say where it comes from "
                "under `source:`")  # fmt: skip
    _check_ids(spec, out)
    _check_tiers(spec, out)
    outer = _constraints(whens)
    for item in spec.items:
        node = item_whens.get(item.id)
        if node is None:
            continue
        if _constraints([*whens, node]) is None and outer is not None:
            out.add("policy/fee-unreachable-item", f"the fee item `{item.id}` can never be "
                    "charged: its `when:` contradicts the conditions it sits under",
                    item.origin.span("when"), severity="warning",
                    help="check the values it compares against")  # fmt: skip


def _check_ids(spec: FeeSpec, out: Collector) -> None:
    """An item id names one charged line (``co.fee_lines`` lists it): two items with one id
    would read as one line charged twice."""
    first: dict[str, FeeItem] = {}
    for item in spec.items:
        if item.id in first:
            out.add("policy/duplicate-fee-item", f"the fee item `{item.id}` is listed twice in "
                    "this schedule", item.origin.span("id"),
                    related=((first[item.id].origin.span("id"), "first listed here"),),
                    help="give each item its own id, or remove the repeated one")  # fmt: skip
        first.setdefault(item.id, item)


def _check_tiers(spec: FeeSpec, out: Collector) -> None:
    """Per-unit items counting the same quantity under the same condition are tiers: each must
    start where the previous one ends."""
    groups: dict[tuple[str, str], list[FeeItem]] = {}
    for item in spec.items:
        if item.quantity is not None:
            key = (" ".join(item.quantity.text.split()),
                   " ".join(item.when.text.split()) if item.when else "")  # fmt: skip
            groups.setdefault(key, []).append(item)
    for tiers in groups.values():
        tiers.sort(key=lambda t: t.over)
        for before, after in pairwise(tiers):
            end = before.up_to
            if end is None or after.over < end:
                out.add("policy/fee-threshold-overlap", f"the tiers `{before.id}` and "
                        f"`{after.id}` both count units {after.over + 1} and up",
                        after.origin.span("over"), severity="warning",
                        related=((before.origin.span(), "the earlier tier"),),
                        help=f"give `{before.id}` `up_to: {after.over}`")  # fmt: skip
            elif after.over > end:
                out.add("policy/fee-threshold-gap", f"no tier counts units {end + 1} to "
                        f"{after.over}, between `{before.id}` and `{after.id}`",
                        after.origin.span("over"), severity="warning",
                        related=((before.origin.span(), "the earlier tier"),),
                        help=f"start `{after.id}` at `over: {end}`")  # fmt: skip


def _constraints(nodes: list[n.Node]) -> dict[str, frozenset[str]] | None:
    """The enum values each fact may take for all ``nodes`` (a conjunction) to hold; None when
    they contradict each other. Only ``fact == "v"``, ``fact in [...]``, ``fact != "v"`` and
    ``and`` are understood; anything else constrains nothing."""
    allowed: dict[str, frozenset[str]] = {}
    banned: dict[str, set[str]] = {}
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, n.Binary) and node.op == "and":
            stack += [node.left, node.right]
            continue
        if isinstance(node, n.Literal) and node.value is False:
            return None
        found = _equality(node)
        if found is None:
            continue
        fact, values, negated = found
        if negated:
            banned.setdefault(fact, set()).update(values)
        else:
            allowed[fact] = allowed.get(fact, values) & values
    for fact, values in allowed.items():
        if not values - banned.get(fact, set()):
            return None
    return allowed


def _equality(node: n.Node) -> tuple[str, frozenset[str], bool] | None:
    if not isinstance(node, n.Binary) or not isinstance(node.left, n.Ref):
        return None
    right = node.right
    if node.op in ("==", "!=") and isinstance(right, n.Literal) and isinstance(right.value, str):
        return node.left.path, frozenset({right.value}), node.op == "!="
    if node.op in ("in", "not_in") and isinstance(right, n.ListExpr):
        items = right.items
        if all(isinstance(i.expr, n.Literal) and i.cond is None for i in items):
            values = frozenset(str(i.expr.value) for i in items)  # type: ignore[attr-defined]
            return node.left.path, values, node.op == "not_in"
    return None
