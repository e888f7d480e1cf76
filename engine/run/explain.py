"""Pipeline stage 8a, explain: the explanation tree of a decision, each step with its citation.

Builds the typed nodes of ``engine.result``: a ``Step`` says which rule decided, under which
section, the sentence for staff, the facts it read and, under ``because``, the rules it read in
turn (and a fee's charged ``FeeLine``s); a step that does not apply lists its ``Unmet``
definitions.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dsl.typesys import MONEY
from dsl.values import Unknown
from engine.result import FeeLine, Node, Step, Unmet
from engine.run.evaluate import NOT_APPLICABLE, UNDETERMINED, status_of
from engine.run.fees import lines_key
from engine.run.program import CompiledPolicy, CompiledRule, Variant, value_key
from engine.values import cents, known_json, known_words, to_json, to_words


def explain_decision(
    cp: CompiledPolicy,
    env: dict[str, Any],
    chosen: dict[str, int],
    rid: str,
    memo: dict[str, Step] | None = None,
) -> list[Node]:
    """The ``because`` list of one decision: its step, and under it the steps of every rule it
    read. ``memo`` shares the steps built for one case across its decisions (each rule is
    explained once per case; the trees hold the same step wherever it recurs)."""
    return [_node(cp, env, chosen, rid, {} if memo is None else memo)]


def _node(
    cp: CompiledPolicy,
    env: dict[str, Any],
    chosen: dict[str, int],
    rid: str,
    memo: dict[str, Step],
) -> Step:
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
    convert = cp.fact_json
    facts = {f: "unknown" if (x := env[f]).__class__ is Unknown else convert[f](x) for f in v.facts}
    children: list[Node] = (
        _fee_lines(env, rid) if v.rule.fee is not None and status == "determined" else []
    )
    children += [_node(cp, env, chosen, dep, memo) for dep in v.rules]
    memo[rid] = node = Step(
        rid,
        v.citation,
        status,
        rule.json(value),
        _sentence(cp, env, rule, v, value),
        facts,
        sorted(value.needs) if status == UNDETERMINED else None,
        children or None,
        known_json(value, rule.type),
        frozenset(f for f in v.facts if env[f].__class__ is Unknown),
        frozenset(f for f in v.facts if cp.facts[f].type.name == "date"),
    )
    return node


def _fee_lines(env: dict[str, Any], rid: str) -> list[Node]:
    """One node per charged line: quantity, unit amount, amount and citation."""
    out: list[Node] = []
    for line in env.get(lines_key(rid), ()):
        amount, unit_amount = to_json(line.amount, MONEY), _exact(line.unit_amount)
        if line.quantity == 1 and line.unit is None:
            text = f"{line.title}: {to_words(line.amount, MONEY)}"
        else:
            unit = f" {line.unit}{'s' if line.quantity != 1 else ''}" if line.unit else ""
            text = (f"{line.title}: {line.quantity}{unit} × ${unit_amount}"
                    f" = {to_words(line.amount, MONEY)}")  # fmt: skip
        out.append(FeeLine(line.id, line.citation, text, to_json(line.quantity), unit_amount,
                           amount))  # fmt: skip
    return out


def _exact(money: Any) -> str:
    """A unit amount as charged: cents, or every digit when it is finer than a cent."""
    d = Decimal(money)
    return f"{d:.2f}" if d == cents(d) else str(d.normalize())


def _not_applicable(cp: CompiledPolicy, env: dict[str, Any], rule: CompiledRule) -> Step:
    """Why no definition applies: for each, the first condition that does not hold. When some
    definitions were selected by their first condition (the permit's code) and failed a later
    one, only those are shown: the others were never candidates."""
    failed = [(v, _first_false(v, env)) for v in rule.variants]
    shown = [(v, k) for v, k in failed if k > 0] or failed
    conditions: list[Node] = [
        Unmet(v.citation, f"does not apply: `{' '.join(v.whens[k].text.split())}` does not hold")
        for v, k in shown
    ]
    facts = {
        f: to_json(env[f], cp.facts[f].type) if env[f].__class__ is not Unknown else "unknown"
        for v, _ in shown
        for f in v.facts
    }
    template = next((v.explain["not_applicable"] for v in rule.variants
                     if "not_applicable" in v.explain), None)  # fmt: skip
    text = (
        f"`{rule.id}` does not apply to this case."
        if template is None
        else _fill(cp, env, rule, template, None)
    )
    absent = frozenset(f for f in facts if env[f].__class__ is Unknown)
    dates = frozenset(f for f in facts if cp.facts[f].type.name == "date")
    return Step(rule.id, None, NOT_APPLICABLE, None, text, facts, None, conditions, None, absent,
                dates)  # fmt: skip


def _first_false(v: Variant, env: dict[str, Any]) -> int:
    """The index of the first condition of ``v`` that is false in ``env`` (0 if none is)."""
    for k, (_, fn) in enumerate(v.when_parts):
        if fn(env) is False:
            return k
    return 0


def _sentence(
    cp: CompiledPolicy, env: dict[str, Any], rule: CompiledRule, v: Variant, value: Any
) -> str:
    """The sentence of the outcome: its own template (``true``/``false``, the enum value, ``none``
    for null or an empty list, ``undetermined``), else the definition's ``determined`` one, else
    a generated sentence."""
    templates = v.explain
    if value.__class__ is Unknown:
        template = templates.get("undetermined")
        if template is None:
            return _undetermined(rule, value)
        return _fill(cp, env, rule, template, value)
    template = None
    if value is None or (value.__class__ is list and not value):
        template = templates.get("none")
    elif value.__class__ is bool:
        template = templates.get("true" if value else "false")
    elif rule.type.name == "enum":
        template = templates.get(value_key(value))
    if template is None:
        template = templates.get("determined")
        if template is None:
            return _ended(f"{_label(rule)}: {rule.words(value)}")
    return _fill(cp, env, rule, template, value)


def _fill(
    cp: CompiledPolicy,
    env: dict[str, Any],
    rule: CompiledRule,
    template: tuple[tuple[str, str | None], ...],
    value: Any,
) -> str:
    parts: list[str] = []
    for text, ref in template:
        if text[:1] == "." and parts and parts[-1].endswith(_ENDS):
            text = text[1:]  # a value that is a sentence already ends it: no "inspected.."
        parts.append(text)
        if ref == "value":
            parts.append(rule.words(value))
        elif ref is not None:
            parts.append(cp.words_of[ref](env.get(ref)))
    return "".join(parts)


_ENDS = (".", "?", "!")


def _ended(text: str) -> str:
    """``text`` as a sentence: a full stop added unless the words given end with one (a
    permit's special conditions are written as sentences)."""
    return text if text.endswith(_ENDS) else text + "."


def _undetermined(rule: CompiledRule, value: Unknown) -> str:
    """The generated sentence of an undetermined step. A bool rule's description states what
    would hold ("The appeal was filed by the deadline"), so it is asked as a question rather
    than asserted: "Whether the appeal was filed by the deadline cannot be decided without …"."""
    needs = ", ".join(f"`{n}`" for n in sorted(value.needs))
    known = known_words(value, rule.type, rule.words)  # what a partly known list holds
    if rule.type.name == "bool" and rule.description:
        return (f"Whether {_lower(rule.description.rstrip('.'))} cannot be decided without "
                f"{needs}{known}.")  # fmt: skip
    return f"{_label(rule)}: cannot be decided without {needs}{known}."


def _lower(text: str) -> str:
    """The first letter lowercased, unless the first word is an acronym (`IPMC`, `CO`)."""
    first = text.split(" ", 1)[0]
    return text if len(first) > 1 and first.isupper() else text[:1].lower() + text[1:]


def _label(rule: CompiledRule) -> str:
    return rule.description.rstrip(".") if rule.description else f"`{rule.id}`"
