"""Pipeline stage 8a, explain: the explanation tree of a decision, each step with its citation.

A node says which rule decided (``rule``), under which section (``citation``), the sentence for
staff (``text``), the facts it read and, under ``because``, the rules it read in turn.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dsl.typesys import MONEY
from dsl.values import Unknown
from engine.run.evaluate import NOT_APPLICABLE, UNDETERMINED, status_of
from engine.run.fees import lines_key
from engine.run.program import CompiledPolicy, CompiledRule, Variant
from engine.values import cents, to_json, to_words


def explain_decision(
    cp: CompiledPolicy,
    env: dict[str, Any],
    chosen: dict[str, int],
    rid: str,
    memo: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The ``because`` list of one decision: its step, and under it the steps of every rule it
    read. ``memo`` shares the steps built for one case across its decisions (each rule is
    explained once per case; the trees hold the same step wherever it recurs)."""
    return [_node(cp, env, chosen, rid, {} if memo is None else memo)]


def _node(
    cp: CompiledPolicy,
    env: dict[str, Any],
    chosen: dict[str, int],
    rid: str,
    memo: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    done = memo.get(rid)
    if done is not None:
        return done
    rule = cp.rules[rid]
    value, pick = env[rid], chosen[rid]
    status = status_of(value, pick)
    if status == NOT_APPLICABLE:
        memo[rid] = node = _not_applicable(cp, env, rule)
        return node
    v = rule.variants[pick]
    node = {
        "rule": rid,
        "citation": v.citation,
        "status": status,
        "value": rule.json(value),
        "text": _sentence(cp, env, rule, v, value),
    }
    if status == UNDETERMINED:
        node["needs"] = sorted(value.needs)
    convert = cp.fact_json
    node["facts"] = {
        f: "unknown" if (x := env[f]).__class__ is Unknown else convert[f](x) for f in v.facts
    }
    memo[rid] = node
    children = _fee_lines(env, rid) if v.rule.fee is not None and status == "determined" else []
    children += [_node(cp, env, chosen, dep, memo) for dep in v.rules]
    if children:
        node["because"] = children
    return node


def _fee_lines(env: dict[str, Any], rid: str) -> list[dict[str, Any]]:
    """One step per charged line: quantity, unit amount, amount and citation."""
    out: list[dict[str, Any]] = []
    for line in env.get(lines_key(rid), ()):
        amount, unit_amount = to_json(line.amount, MONEY), _exact(line.unit_amount)
        if line.quantity == 1 and line.unit is None:
            text = f"{line.title}: {to_words(line.amount, MONEY)}"
        else:
            unit = f" {line.unit}{'s' if line.quantity != 1 else ''}" if line.unit else ""
            text = (f"{line.title}: {line.quantity}{unit} × ${unit_amount}"
                    f" = {to_words(line.amount, MONEY)}")  # fmt: skip
        out.append({"line": line.id, "citation": line.citation, "text": text,
                    "quantity": to_json(line.quantity), "unit_amount": unit_amount,
                    "amount": amount})  # fmt: skip
    return out


def _exact(money: Any) -> str:
    """A unit amount as charged: cents, or every digit when it is finer than a cent."""
    d = Decimal(money)
    return f"{d:.2f}" if d == cents(d) else str(d.normalize())


def _not_applicable(cp: CompiledPolicy, env: dict[str, Any], rule: CompiledRule) -> dict[str, Any]:
    """Why no definition applies: for each, the first condition that does not hold. When some
    definitions were selected by their first condition (the permit's code) and failed a later
    one, only those are shown: the others were never candidates."""
    failed = [(v, _first_false(v, env)) for v in rule.variants]
    shown = [(v, k) for v, k in failed if k > 0] or failed
    conditions = [
        {"citation": v.citation,
         "text": f"does not apply: `{' '.join(v.whens[k].text.split())}` does not hold"}
        for v, k in shown
    ]  # fmt: skip
    facts = {
        f: to_json(env[f], cp.facts[f].type) if env[f].__class__ is not Unknown else "unknown"
        for v, _ in shown
        for f in v.facts
    }
    return {
        "rule": rule.id,
        "citation": None,
        "status": NOT_APPLICABLE,
        "value": None,
        "text": f"`{rule.id}` does not apply to this case",
        "facts": facts,
        "because": conditions,
    }


def _first_false(v: Variant, env: dict[str, Any]) -> int:
    """The index of the first condition of ``v`` that is false in ``env`` (0 if none is)."""
    for k, (_, fn) in enumerate(v.when_parts):
        if fn(env) is False:
            return k
    return 0


def _sentence(
    cp: CompiledPolicy, env: dict[str, Any], rule: CompiledRule, v: Variant, value: Any
) -> str:
    if value.__class__ is Unknown:
        return (
            f"{_label(rule)}: cannot be decided without "
            + ", ".join(f"`{n}`" for n in sorted(value.needs))
            + "."
        )
    if not v.explain:
        return f"{_label(rule)}: {to_words(value, rule.type)}."
    parts = []
    for text, ref in v.explain:
        parts.append(text)
        if ref == "value":
            parts.append(rule.words(value))
        elif ref is not None:
            parts.append(cp.words_of[ref](env.get(ref)))
    return "".join(parts)


def _label(rule: CompiledRule) -> str:
    return rule.description.rstrip(".") if rule.description else f"`{rule.id}`"
