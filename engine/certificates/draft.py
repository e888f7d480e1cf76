"""What a certificate of occupancy says, as the policy decides it for one case.

In: a loaded ``Policy``, a case, the issue date, the signing key's id, the certificate it
supersedes. Out: a ``Draft`` (the canonical certificate, the claims its QR code signs, the
recipients), or a ``CertificateError`` listing every reason the policy gives not to issue.

The policy says everything here, nothing is hard-coded about a jurisdiction:
- the certificate's items are the rules named ``certificate.<item>``: IBC 111.2's items in the
  order the code lists them (the enum of the fact ``certificate.contents``), then each
  jurisdiction's own (recipients, where it is posted, where it is issued), each with its
  value, its words for staff and its citations;
- whether it may issue is the jurisdiction's ``certificate: requires`` (true/false decisions,
  ``co.can_issue``, or a city's own inspection readiness) and IBC 111.2's
  ``co.certificate_missing_items``, decided on the items the draft can state;
- whether a new certificate may replace one in force is ``certificate: new_certificate_when``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engine.api import Policy
from engine.certificates.keys import CertificateError
from engine.certificates.payload import Claims, certificate_digest
from engine.certificates.registry import canonical_json
from engine.diagnostics import Diagnostic, Span
from engine.model import CertificateConfig, effective_certificate
from engine.result import Decision, Result
from engine.run.facts import Case
from engine.run.program import CompiledPolicy

FORMAT = "ordinance-certificate/1"
ITEM = "certificate."  # the rules whose values the certificate states
CONTENTS = "certificate.contents"  # the fact listing the IBC 111.2 items a draft states
MISSING = "co.certificate_missing_items"  # IBC 111.2: what the draft does not state
# The items the QR code signs, by their ids among the certificate's items.
CLAIMED = {"permit": "permit_number", "address": "address", "use": "use_and_occupancy",
           "occupant_load": "design_occupant_load", "area": "area_sqft"}  # fmt: skip


@dataclass(frozen=True)
class Draft:
    """A certificate the policy allows: its canonical form, the claims to sign, who gets it."""

    certificate: dict[str, Any]
    claims: Claims
    config: CertificateConfig
    recipients: tuple[str, ...]
    result: Result  # the case's decisions the draft rests on (explained)

    @property
    def id(self) -> str:
        return str(self.certificate["id"])

    @property
    def permit(self) -> str:
        return self.claims.permit


def settings(policy: Policy, case: Case) -> tuple[CompiledPolicy, CertificateConfig]:
    """The compiled revision a case is decided under and its certificate settings."""
    cp = policy.prepare(case)[0]
    return cp, effective_certificate(cp.layered.chain)


def draft(
    policy: Policy, case: Case, *, issued_on: dt.date, key_id: str, supersedes: str | None = None
) -> Draft:
    """The certificate the policy issues for ``case``, or every reason it does not.

    Raises:
        CertificateError: ``certificate/not-issuable``, one diagnostic per reason, each with the
            decision's words and citations, or the facts it still needs.
    """
    cp, config = settings(policy, case)
    first = policy.evaluate(case)
    items = _items(cp, first)
    case = _stating(cp, case, items)
    result = policy.evaluate(case)
    problems = _refusals(cp, config, case, result, items)
    if problems:
        raise CertificateError(problems)
    if config.verify_url is None:
        raise CertificateError([_not_issuable(
            case, "the policy names no verification address (`certificate: verify_url`)",
            "set `certificate: verify_url` in the jurisdiction's jurisdiction.yaml")])  # fmt: skip
    jur = policy.jurisdictions[result.jurisdiction]
    revision = next(r for r in jur.revisions if r.id == result.revision)
    stated = [_item(cp, rid, d) for rid, d in items if d.status == "determined"]
    certificate: dict[str, Any] = {
        "format": FORMAT,
        "title": "Certificate of Occupancy",
        "jurisdiction": {"id": jur.id, "title": jur.title},
        "case": case.id,
        "issued_on": issued_on.isoformat(),
        "revision": {
            "id": revision.id,
            "title": revision.title,
            "basis": {
                "by": result.revision_basis[0],
                "date": d.isoformat() if (d := result.revision_basis[1]) else None,
            },
        },
        "policy_digest": policy_digest(cp),
        "key_id": key_id,
        "verify_url": config.verify_url,
        "supersedes": supersedes,
        "items": stated,
        "basis": [_basis(result.decisions[rid]) for rid in _basis_ids(config, result, supersedes)],
    }
    certificate["id"] = certificate_id(certificate)
    values = {i["id"]: i for i in stated}
    recipients = values.get("recipients", {}).get("value") or []
    return Draft(certificate, claims_of(certificate), config, tuple(recipients), result)


def certificate_id(certificate: dict[str, Any]) -> str:
    """``CO-XXXXX-XXXXX``: ten base32 characters of the SHA-256 of the certificate without its
    id and issue date. The same case, content, key and predecessor give the same id whatever the
    day, which is what makes issuing twice idempotent."""
    content = {k: v for k, v in certificate.items() if k not in ("id", "issued_on")}
    digest = hashlib.sha256(canonical_json(content).encode("utf-8")).digest()
    text = base64.b32encode(digest).decode("ascii")[:10]
    return f"CO-{text[:5]}-{text[5:]}"


def claims_of(certificate: dict[str, Any]) -> Claims:
    """The claims the QR code signs, read from a canonical certificate."""
    items = {i["id"]: i for i in certificate["items"]}

    def value(name: str) -> Any:
        item = items.get(CLAIMED[name])
        return None if item is None else item["value"]

    return Claims(
        certificate_id=certificate["id"],
        jurisdiction=certificate["jurisdiction"]["id"],
        permit=str(value("permit")),
        address=str(value("address")),
        issued_on=dt.date.fromisoformat(certificate["issued_on"]),
        use=str(items[CLAIMED["use"]]["text"]),
        occupant_load=int(value("occupant_load")),
        area=None if value("area") is None else int(value("area")),
        revision=certificate["revision"]["id"],
        digest=certificate_digest(certificate),
    )


def policy_digest(cp: CompiledPolicy) -> str:
    """SHA-256 over every file of the layers a revision is made of (each jurisdiction.yaml and
    revision folder, root first, files in name order): the exact law a certificate was decided
    under, recorded with it so a later policy change cannot be mistaken for it."""
    h = hashlib.sha256()
    for jur, rev in cp.layered.chain:
        files = [jur.directory / "jurisdiction.yaml"]
        files += sorted(Path(f) for f in jur.content[rev.id].files)
        for f in files:
            data = f.read_bytes()
            h.update(f"{jur.id}/{f.name}:{len(data)}\n".encode())
            h.update(data)
    return h.hexdigest()


def _items(cp: CompiledPolicy, result: Result) -> list[tuple[str, Decision]]:
    """The certificate's item rules, IBC 111.2's first in the code's order, then the others in
    the order the policy declares them."""
    contents = cp.facts.get(CONTENTS)
    law = list(contents.type.item.values) if contents and contents.type.item else []
    declared = [
        r.id for sec in cp.layered.sections.values() for r in sec.rules if r.id.startswith(ITEM)
    ]
    order = {rid: i for i, rid in enumerate(dict.fromkeys(declared))}
    ids = [rid for rid in result.decisions if rid.startswith(ITEM)]

    def place(rid: str) -> tuple[int, int]:
        name = rid[len(ITEM) :]
        return (law.index(name) if name in law else len(law), order.get(rid, 0))

    ids.sort(key=place)
    return [(rid, result.decisions[rid]) for rid in ids]


def _stating(cp: CompiledPolicy, case: Case, items: list[tuple[str, Decision]]) -> Case:
    """The case with ``certificate.contents`` set to the IBC 111.2 items this draft can state
    (those whose value the policy determined), so IBC 111.2's rule decides what is missing.
    What a case itself gives for ``certificate.contents`` is replaced: the draft is what states
    them."""
    if CONTENTS not in cp.facts:
        return case
    stated = [rid[len(ITEM) :] for rid, d in items if d.status == "determined"]
    law = cp.facts[CONTENTS].type.item
    known = [s for s in stated if law is None or s in (law.values or ())]
    matter, name = CONTENTS.split(".")
    facts = dict(case.facts)
    facts[matter] = {**(facts.get(matter) or {}), name: known}
    return replace(case, facts=facts)


def _refusals(
    cp: CompiledPolicy,
    config: CertificateConfig,
    case: Case,
    result: Result,
    items: list[tuple[str, Decision]],
) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    for rid in config.requires or ():
        d = result.decisions[rid]
        if d.status == "determined" and d.value is True:
            continue
        problems.append(_refused(case, cp, rid, d))
    missing = result.decisions.get(MISSING)
    if missing is not None and (missing.status != "determined" or missing.value):
        problems.append(_refused(case, cp, MISSING, missing))
    for rid, d in items:
        if d.status == "undetermined":
            problems.append(_refused(case, cp, rid, d))
    return problems


def _refused(case: Case, cp: CompiledPolicy, rid: str, d: Decision) -> Diagnostic:
    rule = cp.rules[rid]
    what = f"{rule.description} (`{rid}`)" if rule.description else f"`{rid}`"
    said = _sentence(d)
    if d.status == "undetermined":
        message = f"{what} is not yet decided: the case does not give {_list(d.needs)}"
        help = "give these facts in the case, then issue again"
        span = case.span("facts")
    elif d.status == "not_applicable":
        message = f"{what} does not apply to this case" + (f": {said}" if said else "")
        help = "no certificate issues where the policy decides none is required"
        span = case.span("facts")
    else:
        message = f"{what}: {d.in_words()}" + (f". {said}" if said else "")
        help = "settle what it names, then issue again"
        span = case.span("facts")
    return _not_issuable(case, message, help, span, ", ".join(d.citations) or None)


def _not_issuable(
    case: Case, message: str, help: str, span: Span | None = None, citation: str | None = None
) -> Diagnostic:
    return Diagnostic("certificate/not-issuable", message, span or case.span("case"), help=help,
                      citation=citation)  # fmt: skip


def _sentence(d: Decision) -> str:
    step = d.because[0] if d.because else None
    return str(getattr(step, "text", "") or "")


def _list(names: list[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1] if len(quoted) > 1 else "".join(quoted)


def _item(cp: CompiledPolicy, rid: str, d: Decision) -> dict[str, Any]:
    return {
        "id": rid[len(ITEM) :],
        "label": cp.rules[rid].description or rid,
        "value": d.to_dict()["value"],
        "text": d.in_words(),
        "citations": list(d.citations),
    }


def _basis_ids(config: CertificateConfig, result: Result, supersedes: str | None) -> list[str]:
    """What the issue rests on: the jurisdiction's `requires`, IBC 111.2's missing items, and
    when it replaces a certificate in force, the decision that a new one is required."""
    ids = list(config.requires or ())
    if MISSING in result.decisions:
        ids.append(MISSING)
    if supersedes and config.new_certificate_when in result.decisions:
        ids.append(config.new_certificate_when)
    return ids


def _basis(d: Decision) -> dict[str, Any]:
    return {
        "decision": d.id,
        "value": d.to_dict()["value"],
        "text": _sentence(d),
        "citations": list(d.citations),
    }
