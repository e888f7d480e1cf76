"""Checks a jurisdiction's ``certificate:`` settings against its compiled rules.

In: the layered policy (its chain of jurisdictions) and the compiled rules. Out: located
diagnostics when a decision the settings name does not exist or is not true/false, or the
sender is not one email address.
"""

from __future__ import annotations

from dsl.errors import did_you_mean
from engine.addresses import HELP, parse_address, shown
from engine.diagnostics import Collector
from engine.model import LayeredPolicy, Origin, effective_certificate
from engine.run.program import CompiledPolicy


def check_certificate(layered: LayeredPolicy, cp: CompiledPolicy, out: Collector) -> None:
    """Every decision named under ``certificate:`` (requires, new_certificate_when) must be a
    true/false rule of this revision: issuing reads them, so a typo would refuse every issue."""
    config = effective_certificate(layered.chain)
    named: list[tuple[str, Origin, int | None]] = []
    if config.requires is not None:
        named += [(rid, config.origins["requires"], i) for i, rid in enumerate(config.requires)]
    if config.new_certificate_when is not None:
        named.append((config.new_certificate_when, config.origins["new_certificate_when"], None))
    if config.sender is not None and parse_address(config.sender) is None:
        origin = config.origins["sender"]
        out.add("policy/bad-certificate-sender",
                f"`certificate: sender` `{shown(config.sender)}` is not one email address",
                origin.doc.span(origin.path), help=HELP)  # fmt: skip
    for rid, origin, index in named:
        span = origin.doc.span(origin.path if index is None else (*origin.path, index))
        rule = cp.rules.get(rid)
        if rule is None:
            guess = did_you_mean(rid, cp.rules)
            out.add("policy/unknown-certificate-decision",
                    f"`certificate:` names `{rid}`, which no rule of "
                    f"{layered.jurisdiction.id}/{layered.revision.id} decides", span,
                    help=f"did you mean `{guess}`?" if guess
                    else "name a true/false rule")  # fmt: skip
        elif rule.type.name != "bool":
            out.add("policy/unknown-certificate-decision",
                    f"`certificate:` names `{rid}`, which is a {rule.type.name}, not true/false",
                    span, help="name a true/false rule (`type: bool`)")  # fmt: skip
