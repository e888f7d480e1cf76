"""Issuing a certificate: the policy's draft, signed, recorded in the registry, and written out.

In: a loaded ``Policy``, a case, the signing key's file, the output folder, an open
``Registry``. Out: ``DIR/<id>.json`` (the canonical certificate), ``DIR/<id>.pdf`` (the printable
certificate with its QR code), ``DIR/<id>.png`` (the QR code alone), ``DIR/<id>.eml`` (the email to
the recipients with the PDF attached, when the policy names recipients), and an ``Issued``.

The order matters: the registry records the certificate before any file is written, so a file
on disk always names a certificate the registry knows; writing again from the registry's
canonical text gives the same bytes (Ed25519 and the PDF are deterministic), which is what makes
issuing twice harmless.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from engine.addresses import shown as plain
from engine.api import Policy
from engine.certificates import document, mail
from engine.certificates.draft import Draft, claims_of, draft, settings
from engine.certificates.keys import (
    CertificateError,
    check_signing_key,
    key_id,
    key_id_bytes,
    load_private_key,
)
from engine.certificates.payload import sign
from engine.certificates.qr import PRINT_DPI, make_qr, module_scale
from engine.certificates.registry import (
    CERTIFICATES,
    Certificate,
    Record,
    Registry,
    RegistryError,
    SupersedeRequired,
    canonical_json,
    format_time,
)
from engine.diagnostics import Diagnostic, Span
from engine.run.facts import Case


@dataclass(frozen=True)
class Issued:
    """What an issue did: the record, the files written, and whether it was new."""

    record: Record
    certificate: dict[str, Any]
    files: dict[str, Path]  # kind (json, pdf, png, eml) → path
    payload: str
    qr_version: int
    new: bool  # False when the same certificate was already issued (nothing recorded)
    recipients: tuple[str, ...]


def issue(
    policy: Policy,
    case: Case,
    *,
    key_path: Path,
    out_dir: Path,
    registry: Registry,
    who: str,
    now: dt.datetime,
    issued_on: dt.date | None = None,
    regenerate: str | None = None,
    why: str | None = None,
    trust_path: Path | None = None,
) -> Issued:
    """Issue (or, with ``regenerate``, correct) the certificate of ``case``.

    A permit whose certificate is in force gets a new one only when the policy's
    ``new_certificate_when`` decision is true for the case (it then supersedes the old one);
    ``regenerate`` names the certificate a corrected one replaces, whatever the policy says of
    changes, since correcting an error is not a change of the building.

    The key must be the case's jurisdiction's and valid on the issue date, by the trust list
    ``trust_path`` (else the ``keys.json`` beside the key): what a verifier would reject is
    never signed.

    Raises:
        CertificateError: the policy does not allow it, the key cannot be read, or the registry
            refuses (``RegistryError`` is a subclass of ``OrdinanceError`` and passes through).
    """
    private = load_private_key(key_path)
    kid = key_id(private.public_key())
    cp, _ = settings(policy, case)
    if issued_on is None:
        issued_on = now.astimezone(ZoneInfo(cp.layered.jurisdiction.time_zone)).date()
    check_signing_key(kid, cp.layered.jurisdiction.id, issued_on, key_path, trust_path)
    first = draft(policy, case, issued_on=issued_on, key_id=kid)
    _check_values(first, case)  # before the registry is asked about them
    current = registry.current(first.claims.jurisdiction, first.permit)
    if regenerate is not None:
        chosen, kind = _regenerating(policy, case, registry, regenerate, first, issued_on, kid), \
            "regenerate"  # fmt: skip
    elif current is not None:
        again = _same(policy, case, current, issued_on, kid)
        if again is not None:
            return _written(current, private, out_dir, again, now, new=False)
        _refuse_suspended(registry, current.id, "replaced by a new certificate")
        chosen, kind = _superseding(policy, case, current, first, issued_on, kid), "supersede"
    else:
        known = _known(registry, first.id)
        if known is not None and known.case_id == (case.id or "") and known.key_id == kid:
            return _written(known, private, out_dir, first, now, new=False)
        chosen, kind = first, "issue"
    entry = _entry(chosen, case, kid, now)
    made = artefacts(chosen.certificate, private, chosen.config.sender, now)  # refuses first
    prepare_out(out_dir)  # before anything is recorded too: a record always gets its files
    if kind == "regenerate":
        record = registry.regenerate(entry, who=who, now=now, why=why or "corrected certificate")
    else:
        record = registry.issue(entry, who=who, now=now, supersede=kind == "supersede",
                                why=why or WHY[kind])  # fmt: skip
    # A concurrent issue of the same certificate won: the registry hands back its record.
    new = record.issued_at == format_time(now)
    return _written(record, private, out_dir, chosen, now, new=new, made=made)


WHY = {"issue": "the policy allows the certificate", "supersede": "a new certificate is required"}


def _known(registry: Registry, certificate_id: str) -> Record | None:
    """The registry's record of an id, if it holds one (a revoked one, say)."""
    try:
        return registry.get(certificate_id)
    except RegistryError as exc:
        if exc.diagnostics and exc.diagnostics[0].code == "certificate/unknown":
            return None
        raise


def _same(
    policy: Policy, case: Case, current: Record, issued_on: dt.date, kid: str
) -> Draft | None:
    """The draft again when the certificate in force is this case's, same content and key:
    issuing twice changes nothing."""
    if current.case_id != (case.id or "") or current.key_id != kid:
        return None
    stored = json.loads(current.canonical)
    again = draft(policy, case, issued_on=issued_on, key_id=kid, supersedes=stored["supersedes"])
    return again if again.id == current.id else None


def _superseding(
    policy: Policy, case: Case, current: Record, first: Draft, issued_on: dt.date, kid: str
) -> Draft:
    """The draft that replaces ``current``, when the policy says a new certificate is required."""
    rid = first.config.new_certificate_when
    decided = first.result.decisions.get(rid) if rid else None
    if decided is None or decided.status != "determined" or decided.value is not True:
        raise SupersedeRequired([_supersede_refused(first, current, rid, decided)],
                                current)  # fmt: skip
    return draft(policy, case, issued_on=issued_on, key_id=kid, supersedes=current.id)


def _supersede_refused(first: Draft, current: Record, rid: str | None, decided: Any) -> Diagnostic:
    head = (f"permit `{first.permit}` already has certificate `{current.id}` in force, with "
            f"other content")  # fmt: skip
    if rid is None:
        why = "; the policy names no change that requires a new certificate"
        help = "to correct an error in it, regenerate it: `ordinance certificate regenerate`"
        citation = None
    else:
        said = getattr((decided.because or [None])[0], "text", "") if decided else ""
        state = "not decided" if decided is None or decided.status != "determined" else "false"
        needs = f" (the case does not give {', '.join(decided.needs)})" if decided and \
            decided.needs else ""  # fmt: skip
        why = f"; `{rid}` is {state}{needs}" + (f": {said}" if said else "")
        help = ("a new certificate replaces the one in force only when the policy requires one; "
                "to correct an error, regenerate it")  # fmt: skip
        citation = ", ".join(decided.citations) if decided else None
    return Diagnostic("certificate/supersede-required", head + why, help=help, citation=citation)


def _refuse_suspended(registry: Registry, certificate_id: str, what: str) -> None:
    """A suspended certificate is neither corrected nor replaced: its successor would be valid,
    and the suspension (IBC 111.4) undone without anyone reinstating it."""
    state = registry.status(certificate_id)
    if state.state != "suspended":
        return
    raise CertificateError([Diagnostic(
        "certificate/state-refused",
        f"certificate `{certificate_id}` is suspended (since {state.since}): it cannot be "
        f"{what}, which would put a valid certificate in force without its suspension lifted",
        help="reinstate it first (`ordinance certificate reinstate`), or revoke it",
        citation="IBC 111.4")])  # fmt: skip


def _regenerating(
    policy: Policy,
    case: Case,
    registry: Registry,
    old_id: str,
    first: Draft,
    issued_on: dt.date,
    kid: str,
) -> Draft:
    old = registry.get(old_id)
    current = registry.current(old.jurisdiction, old.permit)
    if (old.jurisdiction, old.permit) != (first.claims.jurisdiction, first.permit):
        raise CertificateError([Diagnostic(
            "certificate/not-current",
            f"certificate `{old_id}` is for permit `{old.permit}` of `{old.jurisdiction}`, but the "
            f"case is for permit `{first.permit}` of `{first.claims.jurisdiction}`",
            help="give the case of the permit the certificate was issued for")])  # fmt: skip
    if current is None or current.id != old_id:
        state = registry.status(old_id)
        raise CertificateError([Diagnostic(
            "certificate/not-current",
            f"certificate `{old_id}` is {state.state}, not the permit's certificate in force"
            + (f" (that is `{current.id}`)" if current else ""),
            help="regenerate the certificate in force", citation="IBC 111.4")])  # fmt: skip
    _refuse_suspended(registry, old_id, "regenerated")
    return draft(policy, case, issued_on=issued_on, key_id=kid, supersedes=old_id)


def _entry(chosen: Draft, case: Case, kid: str, now: dt.datetime) -> Certificate:
    revision = chosen.certificate["revision"]["id"]
    return Certificate(
        id=chosen.id,
        jurisdiction=chosen.claims.jurisdiction,
        permit=chosen.permit,
        case_id=case.id or "",
        issued_at=now,
        key_id=kid,
        canonical=canonical_json(chosen.certificate),
        policy_revision=revision,
        policy_digest=chosen.certificate["policy_digest"],
    )


def _check_values(first: Draft, case: Case) -> None:
    """Each value with a registry column of its own fits it and is text PostgreSQL can store
    (no NUL, no control character): PostgreSQL refuses such a value at the query, SQLite keeps
    it, so both refuse it here, with the field named.

    Raises:
        CertificateError: ``certificate/bad-value``.
    """
    values = {"permit": ("the permit number", first.permit, "facts"),
              "case_id": ("the case id", case.id or "", "case")}  # fmt: skip
    for column, (shown, value, at) in values.items():
        limit = getattr(CERTIFICATES.c[column].type, "length", None) or len(value)
        control = next((c for c in value if ord(c) < 32 or ord(c) == 127), None)
        if len(value) <= limit and control is None:
            continue
        long = f"is {len(value):,} characters long; the registry keeps at most {limit}"
        why = long if control is None else f"holds the control character `{plain(control)}`"
        raise CertificateError([Diagnostic(
            "certificate/bad-value", f"{shown} {why}", case.span(at),
            help=f"correct {shown} in the case")])  # fmt: skip


def _written(
    record: Record,
    private: Any,
    out_dir: Path,
    chosen: Draft,
    now: dt.datetime,
    *,
    new: bool,
    made: Artefacts | None = None,
) -> Issued:
    """Write the files of the registry's canonical certificate (``made`` when they were made
    from that very text before it was recorded)."""
    if made is None or canonical_json(made.certificate) != record.canonical:
        made = artefacts(json.loads(record.canonical), private, chosen.config.sender, now)
    prepare_out(out_dir)
    files = {kind: out_dir / f"{record.id}.{kind}" for kind in made.files}
    for kind, data in made.files.items():
        try:
            _write(files[kind], data)
        except OSError as exc:
            raise _unwritable(files[kind], exc) from None
    return Issued(record, made.certificate, files, made.payload, made.qr_version, new,
                  made.recipients)  # fmt: skip


@dataclass(frozen=True)
class Artefacts:
    """A certificate's files as bytes, made before anything is recorded: a sender the mail
    cannot carry or a QR code too large refuses the issue instead of leaving a record
    without its files."""

    certificate: dict[str, Any]
    payload: str
    qr_version: int
    recipients: tuple[str, ...]
    files: dict[str, bytes]  # json, pdf, png, and eml when there are recipients and a sender


def artefacts(
    certificate: dict[str, Any], private: Any, sender: str | None, now: dt.datetime
) -> Artefacts:
    """Sign the canonical certificate and make its JSON, PDF, QR PNG and email."""
    claims = claims_of(certificate)
    payload = sign(claims, private, key_id_bytes(private.public_key()))
    code = make_qr(certificate["verify_url"], payload)
    recipients = tuple(next((i["value"] for i in certificate["items"]
                             if i["id"] == "recipients"), ()))  # fmt: skip
    if recipients and sender:
        mail.check_addresses(sender, list(recipients))  # refuses before the PDF is laid out
    pdf = document.certificate_pdf(certificate, code)
    pretty = json.dumps(certificate, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    png = io.BytesIO()
    code.save(png, kind="png", scale=module_scale(code), border=4, dpi=PRINT_DPI)
    files = {"json": pretty.encode("utf-8"), "pdf": pdf, "png": png.getvalue()}
    if recipients and sender:
        files["eml"] = mail.certificate_email(certificate, pdf, sender=sender,
                                              recipients=list(recipients), sent_at=now)  # fmt: skip
    return Artefacts(certificate, payload, int(code.version), recipients, files)


def prepare_out(out_dir: Path) -> None:
    """Make the output folder, or say why it cannot be written to.

    Raises:
        CertificateError: ``certificate/unwritable``.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(out_dir, exc) from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise _unwritable(out_dir, PermissionError("permission denied"))


def write_public(path: Path, data: bytes) -> None:
    """Write a published file (a status list) atomically, its folder made when missing.

    Raises:
        CertificateError: ``certificate/unwritable``.
    """
    prepare_out(path.parent)
    try:
        _write(path, data)
    except OSError as exc:
        raise _unwritable(path, exc) from None


def _unwritable(path: Path, exc: OSError) -> CertificateError:
    return CertificateError([Diagnostic(
        "certificate/unwritable", f"cannot write `{path}`: {exc.strerror or exc}",
        Span(str(path), 1, 1, 1, 1),
        help="give `--out` a folder you can write to (it is made when it does not exist)",
    )])  # fmt: skip


def _write(path: Path, data: bytes) -> None:
    """Write atomically: a reader never sees half a certificate."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a certificate is a public document
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
