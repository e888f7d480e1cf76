"""Pipeline stage 3, layer: apply ``extends`` and amendments, keeping provenance.

A child jurisdiction's section may substitute, add, repeal or delete a parent section
(``amends:``). The result is the effective law of one (jurisdiction, revision): every section
with its effective text, its status, what happened to it and by which section, and the rules
that now hang on it, so a citation reads "IBC 105.5 as amended by KCC 14.01.030.D".
"""

from __future__ import annotations

from engine.diagnostics import Collector
from engine.model import (
    Amendment,
    EffectiveSection,
    Expr,
    JurisdictionDef,
    LayeredPolicy,
    Provenance,
    RevisionContent,
    RevisionInfo,
    RuleDef,
    SectionDef,
)

_STATUS = {"substitute": "in_force", "add": "in_force", "repeal": "repealed", "delete": "deleted"}


def apply_layers(
    chain: list[tuple[JurisdictionDef, RevisionInfo]], out: Collector
) -> LayeredPolicy:
    """Layer the revisions of ``chain`` (root first, the jurisdiction asked for last)."""
    leaf, rev = chain[-1]
    policy = LayeredPolicy(leaf, rev, chain)
    rulesets: dict[str, tuple[RuleDef, ...]] = {}
    for jur, r in chain:
        content = jur.content.get(r.id, RevisionContent())
        rulesets.update(content.rulesets)
        _merge_facts(policy, content, out)
        for sec in content.sections:
            _apply_section(policy, sec, r, _resolve_rules(sec, rulesets, out), out)
        for proc in content.procedures:
            policy.procedures[proc.id] = proc
    return policy


def _merge_facts(policy: LayeredPolicy, content: RevisionContent, out: Collector) -> None:
    for fid, fact in content.facts.items():
        old = policy.facts.get(fid)
        if old is not None and old.type != fact.type and old.jurisdiction != fact.jurisdiction:
            out.add(
                "policy/fact-type-changed",
                f"`{fid}` is declared as {fact.type} here but "
                f"as {old.type} in `{old.jurisdiction}`",
                fact.origin.span(),
                related=((old.origin.span(), "parent declaration"),),
                help="a layer may not change the type of a fact it inherits",
            )
            continue
        policy.facts[fid] = fact


def _resolve_rules(
    sec: SectionDef, rulesets: dict[str, tuple[RuleDef, ...]], out: Collector
) -> list[RuleDef]:
    rules = list(sec.rules)
    for i, name in enumerate(sec.use):
        if name not in rulesets:
            from dsl.errors import did_you_mean

            guess = did_you_mean(name, rulesets)
            out.add(
                "policy/unknown-ruleset",
                f"unknown ruleset `{name}`",
                sec.origin.doc.span((*sec.origin.path, "use", i)),
                help=f"did you mean `{guess}`?"
                if guess
                else "define it under `rulesets:` in a policy file of this revision",
            )
            continue
        rules.extend(rulesets[name])
    _check_rule_ids(rules, out)
    return rules


def _check_rule_ids(rules: list[RuleDef], out: Collector) -> None:
    """Within one section, a rule defined again after a definition that has no `when:` of its
    own, or the same `when:`, can never decide anything: the earlier one is tried first and
    applies whenever the later would."""
    seen: dict[str, list[RuleDef]] = {}
    for rule in rules:
        for earlier in seen.get(rule.id, []):
            if earlier.when is None or _words(earlier.when.text) == _words(rule.when):
                out.add("policy/duplicate-rule", f"this definition of `{rule.id}` can never "
                        "apply: an earlier one in this section always applies first",
                        rule.origin.span("id"),
                        related=((earlier.origin.span("id"), "defined first here"),),
                        help="remove one, or give the earlier one a `when:`")  # fmt: skip
                break
        seen.setdefault(rule.id, []).append(rule)


def _words(expr: Expr | str | None) -> str | None:
    text = expr.text if isinstance(expr, Expr) else expr
    return None if text is None else " ".join(text.split())


def _apply_section(
    policy: LayeredPolicy, sec: SectionDef, rev: RevisionInfo, rules: list[RuleDef], out: Collector
) -> None:
    when = [sec.when] if sec.when else []
    own = policy.sections.get(sec.citation)
    if own is not None and own.jurisdiction == sec.jurisdiction:
        out.add(
            "policy/duplicate-section",
            f"the section `{sec.citation}` is defined twice",
            sec.origin.span(),
            related=((own.defined_by.origin.span(), "first defined here"),)
            if own.defined_by
            else (),
        )
        return
    # The amending section itself is law of this layer and keeps its own text.
    attach_here = not sec.amends or len(sec.amends) > 1
    policy.sections[sec.citation] = EffectiveSection(
        sec.citation,
        sec.title,
        sec.text,
        "in_force",
        sec.kind,
        sec.jurisdiction,
        sec,
        rules=rules if attach_here else [],
        when=when if attach_here else [],
        amends=[a.target for a in sec.amends],
    )
    for amendment in sec.amends:
        target = policy.sections.get(amendment.target)
        if amendment.action != "add" and not _target_as_said(
            policy, sec.jurisdiction, amendment, target, out
        ):
            continue
        if amendment.action == "add" and target is not None and target.status == "in_force":
            out.add(
                "policy/amend-target-exists",
                f"`{amendment.target}` already exists in "
                f"`{target.jurisdiction}`; `add` creates a new section",
                amendment.origin.span("action"),
                help="use `action: substitute`",
            )
            continue
        prov = Provenance(amendment.action, sec.citation, sec.jurisdiction, rev.id)
        effective = EffectiveSection(
            amendment.target,
            amendment.title or (target.title if target else amendment.target),
            amendment.text if _STATUS[amendment.action] == "in_force" else None,
            _STATUS[amendment.action],
            sec.kind,
            sec.jurisdiction,
            sec,
            model_text=target.text if target else None,
            model_title=target.title if target else None,
            provenance=[*(target.provenance if target else []), prov],
            rules=[] if attach_here else rules,
            when=[] if attach_here else when,
        )
        policy.sections[amendment.target] = effective
        _apply_to_descendants(policy, amendment.target, prov)


def _target_as_said(policy: LayeredPolicy, layer: str, amendment: Amendment,
                    target: EffectiveSection | None, out: Collector) -> bool:  # fmt: skip
    """Whether the section an amendment changes is where the policy says it is: defined by a
    parent layer, or marked ``in_parent: false`` because no parent encodes its model text.
    A target that is silently missing is most often a mistyped citation, which would leave the
    real section unamended."""
    if (target is not None) == amendment.in_parent:
        return True
    from dsl.errors import did_you_mean

    layers = [j.id for j, _ in policy.chain]
    below = layers[: layers.index(layer)] if layer in layers else layers[:-1]
    parents = ", ".join(f"`{j}`" for j in below) or "no parent layer"
    if target is None:
        guess = did_you_mean(amendment.target, list(policy.sections))
        out.add("policy/amend-target-missing",
                f"`{amendment.target}` is not defined by {parents}, so there is nothing to "
                f"{amendment.action}", amendment.origin.span("section"),
                help=f"did you mean `{guess}`?" if guess else "if the parent does not encode "
                "the model text of this section, say so with `in_parent: false`")  # fmt: skip
    else:
        out.add("policy/amend-target-missing",
                f"`{amendment.target}` is defined by `{target.jurisdiction}`, but the amendment "
                "says `in_parent: false`", amendment.origin.span("in_parent"),
                help="remove `in_parent: false`")  # fmt: skip
    return False


def _apply_to_descendants(policy: LayeredPolicy, target: str, prov: Provenance) -> None:
    """A substituted section's new text replaces its subsections too; a repealed or deleted
    section takes its subsections with it."""
    for cite in [c for c in policy.sections if c.startswith(target + ".")]:
        if prov.action == "substitute":
            del policy.sections[cite]
        elif prov.action in ("repeal", "delete"):
            old = policy.sections[cite]
            old.model_text = old.model_text or old.text
            old.status, old.text, old.rules, old.when = _STATUS[prov.action], None, [], []
            old.provenance = [*old.provenance, prov]
