"""The full verification of a scanned certificate: the signature and issuer checks of
``engine.certificates.payload``, then its standing (``status``) and its file (``content``).

In: a scanned text, the trust list, the day of checking, and optionally the registry (live), a
verified status list (offline) and the certificate's JSON. Out: a ``Verification`` with one check
each, in that order, and its JSON and text renderings for the command line.

A registry that fails while it is asked is not a check outcome: its ``RegistryError`` (the
located ``certificate/registry-unavailable``) reaches the caller, so the command exits with the
diagnostic instead of printing a verification that looks complete but was never made.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import date
from typing import Any, TypeVar

from engine.certificates.keys import TrustedKey
from engine.certificates.payload import Check, Claims, Verification, certificate_digest, verify
from engine.certificates.registry import Registry, RegistryError, Status
from engine.certificates.status import StatusList

CheckInput = Mapping[str, Any] | str | None
T = TypeVar("T")


def verify_certificate(text: str, trust: tuple[TrustedKey, ...], on_date: date, *,
                       registry: Registry | None = None, status_list: StatusList | None = None,
                       certificate: CheckInput = None) -> Verification:  # fmt: skip
    """Check a scanned text: signature, issuer, status, content (see docs/certificates.md).

    ``status`` asks the registry when one is given, else the status list, else is skipped;
    ``content`` compares ``certificate`` (its JSON text or the parsed mapping) with the signed
    digest, else the registry's record, else is skipped. Both are skipped when the signature
    is not valid: nothing authentic to look up.

    Raises:
        RegistryError: the registry cannot be asked (``certificate/registry-unavailable``).
    """
    base = verify(text, trust, on_date)
    claims = base.claims if base.check("signature").status == "valid" else None
    if claims is None:
        why = ("the signed claims cannot be read" if base.check("signature").status == "valid"
               else "the signature is not valid: nothing authentic to look up")  # fmt: skip
        extra = (Check("status", "skipped", why), Check("content", "skipped", why))
    else:
        extra = (_status(claims, registry, status_list, on_date),
                 _content(claims, registry, certificate, base.kid))  # fmt: skip
    return Verification((*base.checks, *extra), base.claims, base.kid)


# --- status -----------------------------------------------------------------------------------


def _status(claims: Claims, registry: Registry | None, status_list: StatusList | None,
            on_date: date) -> Check:  # fmt: skip
    if registry is not None:
        return _registry_status(claims.certificate_id, registry)
    if status_list is None:
        return Check("status", "skipped", "no registry or status list given")
    freshness = f"status list as of {status_list.as_of}, {_days(status_list.age_days(on_date))}"
    if status_list.jurisdiction != claims.jurisdiction:
        return Check("status", "invalid", f"the status list is `{status_list.jurisdiction}`'s, "
                     f"but the certificate names `{claims.jurisdiction}`")  # fmt: skip
    entry = status_list.entries.get(claims.certificate_id)
    if entry is None:
        return Check("status", "invalid", f"the status list holds no certificate "
                     f"`{claims.certificate_id}` ({freshness})")  # fmt: skip
    return _standing(entry, None, f" ({freshness})")


def _registry_status(certificate_id: str, registry: Registry) -> Check:
    status = _held(registry.status, certificate_id)
    if status is None:
        return Check("status", "invalid", f"the registry holds no certificate `{certificate_id}` "
                     "(a genuine signature on an unregistered certificate)")  # fmt: skip
    why = registry.history(certificate_id)[-1].why if status.state != "valid" else None
    return _standing(status, why, "")


def _held(ask: Callable[[str], T], certificate_id: str) -> T | None:
    """What the registry answers, or None when it holds no such certificate; any other
    refusal (the registry is unreachable) is the caller's."""
    try:
        return ask(certificate_id)
    except RegistryError as exc:
        if [d.code for d in exc.diagnostics] != ["certificate/unknown"]:
            raise
        return None


def _standing(status: Status, why: str | None, tail: str) -> Check:
    """The check for a status; ``why`` is the registry's reason for the last change, if read."""
    state, since = status.state, status.since
    if state == "valid":
        return Check("status", "valid", f"valid since {since}{tail}")
    if state == "superseded":
        return Check("status", "invalid", f"superseded by `{status.superseded_by}` on {since}"
                     f"{tail}")  # fmt: skip
    # "revoked under IBC 111.4: issued in error" reads "revoked on … under IBC 111.4: …"
    prefix = f"{state} under IBC 111.4"
    reason = why[len(prefix) :] if why and why.startswith(prefix) else ""
    return Check("status", "invalid", f"{state} on {since} under IBC 111.4{reason}{tail}")


def _days(n: int) -> str:
    """How old a status list is on the day of checking, in words."""
    if n == 0:
        return "made on the day of checking"
    count = f"{abs(n)} day{'s' * (abs(n) != 1)}"
    return f"{count} old" if n > 0 else f"made {count} after the day of checking"


# --- content ----------------------------------------------------------------------------------


def _content(
    claims: Claims, registry: Registry | None, certificate: CheckInput, kid: str | None
) -> Check:
    if certificate is not None:
        return _file_content(claims, certificate)
    if registry is None:
        return Check("content", "skipped", "no certificate file or registry given")
    record = _held(registry.get, claims.certificate_id)
    if record is None:
        return Check("content", "skipped", "the registry holds no record to compare with")
    if record.digest != claims.digest.hex():
        return Check("content", "invalid", f"the registry's record of `{record.id}` has the "
                     f"digest `{record.digest[:16]}…`, not the signed `{claims.digest.hex()[:16]}…`"
                     " (the record is not the certificate that was signed)")  # fmt: skip
    if (record.jurisdiction, record.key_id) != (claims.jurisdiction, kid):
        return Check("content", "invalid", f"the registry recorded `{record.id}` as "
                     f"`{record.jurisdiction}`'s, signed with the key `{record.key_id}`, but this "
                     f"code is `{claims.jurisdiction}`'s, signed with `{kid}`")  # fmt: skip
    return Check("content", "valid", f"the registry's record of `{record.id}` is the signed "
                 "certificate (SHA-256 of its canonical JSON)")  # fmt: skip


def _file_content(claims: Claims, certificate: Mapping[str, Any] | str) -> Check:
    try:
        parsed, digest = _digested(certificate)
    except ValueError as exc:
        return Check("content", "invalid", str(exc))
    signed = claims.digest.hex()
    if parsed.get("id") != claims.certificate_id:
        return Check("content", "invalid", f"the certificate file is of `{parsed.get('id')}`, "
                     f"not of the signed `{claims.certificate_id}`")  # fmt: skip
    if digest != signed:
        return Check("content", "invalid", f"the certificate file was changed: its digest "
                     f"`{digest[:16]}…` differs from the signed `{signed[:16]}…`")  # fmt: skip
    return Check("content", "valid", f"the certificate file is the signed "
                 f"`{claims.certificate_id}` (SHA-256 of its canonical JSON)")  # fmt: skip


def _digested(certificate: Mapping[str, Any] | str) -> tuple[Mapping[str, Any], str]:
    """The certificate as a mapping, and the hex SHA-256 of its canonical JSON.

    Raises:
        ValueError: it is not JSON, not an object, or holds what JSON cannot write.
    """
    if isinstance(certificate, str):
        try:
            certificate = json.loads(certificate)
        except (ValueError, RecursionError):
            raise ValueError("the certificate file is not JSON") from None
    if not isinstance(certificate, Mapping):
        raise ValueError("the certificate file is not a JSON object")
    try:
        return certificate, certificate_digest(certificate).hex()
    except (TypeError, ValueError, RecursionError):
        raise ValueError("the certificate holds values JSON cannot write") from None


# --- rendering --------------------------------------------------------------------------------


def verification_json(v: Verification) -> dict[str, Any]:
    """The stable JSON of a verification: validity, certificate id, every check, the claims.

    >>> verification_json(Verification((Check("signature", "invalid", "not signed"),)))
    {'valid': False, 'certificate': None, 'checks': [{'name': 'signature', 'status': 'invalid', 'reason': 'not signed'}], 'claims': None}
    """  # noqa: E501
    return {
        "valid": v.valid,
        "certificate": v.claims.certificate_id if v.claims else None,
        "checks": [{"name": c.name, "status": c.status, "reason": c.reason} for c in v.checks],
        "claims": _claims_json(v.claims) if v.claims else None,
    }


def _claims_json(claims: Claims) -> dict[str, Any]:
    out = {f.name: getattr(claims, f.name) for f in fields(claims)}
    out["issued_on"] = claims.issued_on.isoformat()
    out["digest"] = claims.digest.hex()
    return out


def verification_text(v: Verification) -> str:
    """One line per check: its name, its status and its reason, in columns.

    >>> print(verification_text(Verification((Check("signature", "valid", "signed by `k`"),))))
    signature  valid    signed by `k`
    """
    return "\n".join(f"{c.name:<11}{c.status:<9}{c.reason}" for c in v.checks)
