"""Pipeline stage 8a, explain: the explanation tree of a decision, each step with its citation.

Builds the typed nodes of ``engine.result``: a ``Step`` says which rule decided, under which
section, the sentence for staff, the facts it read and, under ``because``, the rules it read in
turn (and a fee's charged ``FeeLine``s); a step that does not apply lists its ``Unmet``
definitions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from dsl.typesys import MONEY
from dsl.values import Unknown
from engine.result import FeeLine, Node, Step, Unmet
from engine.run.evaluate import DETERMINED, NOT_APPLICABLE, UNDETERMINED
from engine.run.fees import lines_key
from engine.run.program import CompiledPolicy, CompiledRule, Variant, value_key
from engine.values import cents, known_json, known_words, to_json, to_words


def explain_decision(
    cp: CompiledPolicy, env: dict[str, Any], chosen: dict[str, int], rid: str
) -> list[Node]:
    """The ``because`` list of one decision: its step, and under it the steps of every rule it
    read (``CaseExplanation`` shares them across the decisions of a case)."""
    return CaseExplanation(cp, env, chosen).tree(rid)


class CaseExplanation:
    """The explanation of one case, built when a decision's ``because`` is first read: the
    evaluation keeps the environment and the chosen definitions here instead of building
    every tree (``engine.result.Decision.because``). One per case, and each rule is explained
    once per case, so the trees hold the same step wherever it recurs, whichever decision is
    read first."""

    __slots__ = ("chosen", "cp", "env", "memo")

    def __init__(self, cp: CompiledPolicy, env: dict[str, Any], chosen: dict[str, int]) -> None:
        self.cp, self.env, self.chosen = cp, env, chosen
        self.memo: dict[str, Step] = {}

    def tree(self, rid: str) -> list[Node]:
        return [self.step(rid)]

    def step(self, rid: str) -> Step:
        """The step of rule ``rid``: built once, then the same step wherever it is read."""
        node = self.memo.get(rid)
        if node is None:
            cp, env = self.cp, self.env
            pick = self.chosen[rid]
            rule = cp.rules[rid]
            node = (_not_applicable(cp, env, rule) if pick < 0
                    else self._decided(rule, pick, env[rid]))  # fmt: skip
            # Two threads reading one result may both build a step: the first one kept is
            # the one every tree holds (a step's children are always the kept ones).
            node = self.memo.setdefault(rid, node)
        return node

    def _decided(self, rule: CompiledRule, pick: int, value: Any) -> Step:
        cp, env = self.cp, self.env
        v = rule.variants[pick]
        facts, missing = _facts_read(cp, env, v.facts)
        unknown = value.__class__ is Unknown
        children: list[Node] = (
            _fee_lines(env, rule.id) if v.rule.fee is not None and not unknown else []
        )
        for dep in v.rules:
            children.append(self.step(dep))
        dates = cp.step_dates[rule.id][pick]
        if unknown:
            needs = sorted(value.needs)
            return Step(rule.id, v.citation, UNDETERMINED, rule.json(value),
                        _sentence(cp, env, rule, v, value, needs), facts, needs,
                        children or None, known_json(value, rule.type), missing, dates)  # fmt: skip
        return Step(rule.id, v.citation, DETERMINED, rule.json(value),
                    _sentence(cp, env, rule, v, value), facts, None, children or None, None,
                    missing, dates)  # fmt: skip


_NONE: frozenset[str] = frozenset()


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
    failed = [(i, v, _first_false(v, env)) for i, v in enumerate(rule.variants)]
    shown = [(i, v, k) for i, v, k in failed if k > 0] or failed
    conditions: list[Node] = [Unmet(v.citation, _unmet(v.whens[k].text)) for _, v, k in shown]
    facts, missing = _facts_read(cp, env, [f for _, v, _ in shown for f in v.facts])
    template = next((v.explain["not_applicable"] for v in rule.variants
                     if "not_applicable" in v.explain), None)  # fmt: skip
    text = (
        f"`{rule.id}` does not apply to this case."
        if template is None
        else _fill(cp, env, rule, template, None)
    )
    every = cp.step_dates[rule.id]
    dates = (
        every[shown[0][0]]
        if len(shown) == 1
        else frozenset().union(*(every[i] for i, _, _ in shown))
    )
    return Step(rule.id, None, NOT_APPLICABLE, None, text, facts, None, conditions, None,
                missing, dates)  # fmt: skip


def _facts_read(
    cp: CompiledPolicy, env: dict[str, Any], read: Iterable[str]
) -> tuple[dict[str, Any], frozenset[str]]:
    """The facts a step read, each in its JSON form or "unknown", and those the case does not
    give (``Step.absent``)."""
    convert = cp.fact_json
    facts: dict[str, Any] = {}
    absent: list[str] = []
    for f in read:
        x = env[f]
        if x.__class__ is Unknown:
            facts[f] = "unknown"
            absent.append(f)
        else:
            facts[f] = convert[f](x)
    return facts, frozenset(absent) if absent else _NONE


@lru_cache(maxsize=4096)
def _unmet(condition: str) -> str:
    """The reason a definition does not apply, from its condition's text (once a condition)."""
    return f"does not apply: `{' '.join(condition.split())}` does not hold"


def _first_false(v: Variant, env: dict[str, Any]) -> int:
    """The index of the first condition of ``v`` that is false in ``env`` (0 if none is)."""
    for k, (_, fn) in enumerate(v.when_parts):
        if fn(env) is False:
            return k
    return 0


def _sentence(
    cp: CompiledPolicy,
    env: dict[str, Any],
    rule: CompiledRule,
    v: Variant,
    value: Any,
    needs: list[str] | None = None,
) -> str:
    """The sentence of the outcome: its own template (``true``/``false``, the enum value, ``none``
    for null or an empty list, ``undetermined``), else the definition's ``determined`` one, else
    a generated sentence. ``needs``: an unknown value's, sorted."""
    templates = v.explain
    if value.__class__ is Unknown:
        template = templates.get("undetermined")
        if template is None:
            return _undetermined(rule, value, sorted(value.needs) if needs is None else needs)
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


Template = tuple[tuple[str, str | None], ...]
# A template ready to fill: per literal text, whether it opens with a full stop, and the
# reference after it with its words (None: the rule's own value; no reference: no words).
FillPlan = tuple[tuple[str, bool, str | None, Callable[[Any], str] | None], ...]


def _fill(
    cp: CompiledPolicy, env: dict[str, Any], rule: CompiledRule, template: Template, value: Any
) -> str:
    kept = cp.fill_plans.get(id(template))
    if kept is None or kept[0] is not template:  # the id is this template's while it is kept
        kept = cp.fill_plans[id(template)] = (template, _plan(cp, rule, template))
    plan = kept[1]
    parts: list[str] = []
    for text, dotted, ref, words in plan:
        if dotted and parts and parts[-1].endswith(_ENDS):
            text = text[1:]  # a value that is a sentence already ends it: no "inspected.."
        parts.append(text)
        if words is not None:
            parts.append(words(value if ref is None else env.get(ref)))
    return "".join(parts)


def _plan(cp: CompiledPolicy, rule: CompiledRule, template: Template) -> FillPlan:
    """``template`` with its references' words looked up once (a compile stage run when the
    template is first used: explanations fill the same templates case after case)."""
    return tuple((text, text[:1] == ".", None if ref == "value" else ref,
                  None if ref is None else rule.words if ref == "value" else cp.words_of[ref])
                 for text, ref in template)  # fmt: skip


_ENDS = (".", "?", "!")


def _ended(text: str) -> str:
    """``text`` as a sentence: a full stop added unless the words given end with one (a
    permit's special conditions are written as sentences)."""
    return text if text.endswith(_ENDS) else text + "."


def _undetermined(rule: CompiledRule, value: Unknown, needs: list[str]) -> str:
    """The generated sentence of an undetermined step. A bool rule's description states what
    would hold ("The appeal was filed by the deadline"), so it is asked as a question rather
    than asserted: "Whether the appeal was filed by the deadline cannot be decided without …"."""
    listed = f"`{'`, `'.join(needs)}`" if needs else ""
    # what a partly known list holds
    known = "" if value.known is None else known_words(value, rule.type, rule.words)
    return f"{_opening(rule.id, rule.description, rule.type.name == 'bool')}{listed}{known}."


@lru_cache(maxsize=4096)
def _opening(rid: str, description: str, is_bool: bool) -> str:
    """The words of an undetermined step's sentence before the facts it needs (once a rule)."""
    if is_bool and description:
        return f"Whether {_lower(description.rstrip('.'))} cannot be decided without "
    label = description.rstrip(".") if description else f"`{rid}`"
    return f"{label}: cannot be decided without "


def _lower(text: str) -> str:
    """The first letter lowercased, unless the first word is an acronym (`IPMC`, `CO`)."""
    first = text.split(" ", 1)[0]
    return text if len(first) > 1 and first.isupper() else text[:1].lower() + text[1:]


def _label(rule: CompiledRule) -> str:
    return rule.description.rstrip(".") if rule.description else f"`{rule.id}`"
