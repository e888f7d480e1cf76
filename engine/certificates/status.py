"""The signed status list: the registry's status list (``Registry.status_list``) as a static file
an inspector's device copies and checks offline with the trust list alone.

In: a status list, the jurisdiction, a signing key. Out: the file's bytes; and back, from any
bytes, a verified ``StatusList`` or a ``certificate/bad-status-list`` diagnostic.

The file is the raw COSE_Sign1 message (``status.cose``), not a JSON envelope around one. Its
content is the canonical JSON of the list with its ``jurisdiction``; its protected header holds
EdDSA, the ``kid`` and the content type ``STATUS_CONTENT_TYPE``. Why raw COSE:

- everything a verifier relies on is inside the signature; an envelope would also carry unsigned
  copies (a ``kid``, the JSON text) that a careless reader could believe instead;
- it is read by the same parser, header check and signature check as the QR payload
  (``engine.certificates.payload``), with nothing of its own to get wrong;
- the content type keeps the two signed things apart: a certificate payload is never taken for a
  status list, nor the reverse, though one key signs both.

The content is UTF-8 JSON text, readable in the file as it stands.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, get_args

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pycose.headers import ContentType

from engine.certificates.keys import CertificateError, TrustedKey, b64url
from engine.certificates.payload import (
    message_kid,
    parse_message,
    sign_message,
    signature_holds,
    trusted_key,
)
from engine.certificates.registry import State, Status, canonical_json
from engine.diagnostics import Diagnostic, Span
from engine.source import read_bounded

CODE = "certificate/bad-status-list"
FORMAT = "ordinance-status-list/1"
STATUS_CONTENT_TYPE = "application/ordinance-status-list+json"
# A large city issues some ten thousand certificates a year, each about 80 bytes of the list:
# a century of them is under 100 MB. Past this bound it is not a status list (and it is never
# read whole into memory first).
MAX_BYTES = 128 * 1024 * 1024
STATES: tuple[str, ...] = get_args(State)
ENTRY_KEYS = {"status", "since", "superseded_by"}


@dataclass(frozen=True)
class StatusList:
    """A verified status list: whose it is, when it was made, by which key, and its entries."""

    jurisdiction: str
    generated_at: datetime
    kid: str
    entries: Mapping[str, Status]

    @property
    def as_of(self) -> str:
        """When the list was made, as the registry writes times (``2026-12-01T09:00:00Z``)."""
        return self.generated_at.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def age_days(self, on_date: date) -> int:
        """Whole days from the list's (UTC) date to the day of checking."""
        return (on_date - self.generated_at.astimezone(UTC).date()).days


def sign_status_list(status_list: Mapping[str, Any], jurisdiction: str,
                     key: Ed25519PrivateKey, kid: bytes) -> bytes:  # fmt: skip
    """The signed status list file: a COSE_Sign1 over the canonical JSON of ``status_list``
    with ``jurisdiction`` added.

    Deterministic: the same list and key give the same bytes (canonical JSON, Ed25519). The list
    is read back by the loader's own checks before it is signed, so a list that could not be
    loaded is never published.

    Raises:
        CertificateError: the list is not one ``Registry.status_list`` makes, or names another
            jurisdiction (``certificate/bad-status-list``).
    """
    body = {**status_list, "jurisdiction": status_list.get("jurisdiction", jurisdiction)}
    if body["jurisdiction"] != jurisdiction:
        raise _error(None, f"the list is `{body['jurisdiction']}`'s, not `{jurisdiction}`'s",
                     "sign a jurisdiction's list with that jurisdiction's key")  # fmt: skip
    content = canonical_json(body).encode("utf-8")
    try:
        _read_content(content)
    except ValueError as exc:
        raise _error(None, f"the list cannot be signed: {exc}",
                     "sign the list `Registry.status_list` returns") from None  # fmt: skip
    return sign_message(content, key, kid, STATUS_CONTENT_TYPE)


def load_status_list(source: Path | str | bytes, trust: tuple[TrustedKey, ...],
                     on_date: date) -> StatusList:  # fmt: skip
    """Read and verify a signed status list (a path, or the file's bytes).

    The list is accepted when its signature holds under a trusted key of the list's jurisdiction
    that was valid on the list's date, and that date is not after ``on_date``. Never a traceback,
    whatever the bytes.

    Raises:
        CertificateError: ``certificate/bad-status-list``, saying what is wrong.
    """
    span = _span(source)
    raw = _read(source, span)
    try:
        return _verified(raw, trust, on_date)
    except ValueError as exc:
        raise _error(span, f"the status list is refused: {exc}", _help(exc)) from None


class _Untrusted(ValueError):
    """The list is intact, but the trust list does not vouch for its key on its date."""


def _help(exc: ValueError) -> str:
    if isinstance(exc, _Untrusted):
        return "get the jurisdiction's current trust list (`keys.json`) and status list again"
    return "copy the status list (`status.cose`) from the jurisdiction again; never edit it"


def _span(source: Path | str | bytes) -> Span | None:
    if isinstance(source, bytes):
        return None
    return Span(str(source), 1, 1, 1, 1)


def _read(source: Path | str | bytes, span: Span | None) -> bytes:
    if isinstance(source, bytes):
        if len(source) > MAX_BYTES:
            raise _error(span, f"the status list is larger than {MAX_BYTES} bytes",
                         "give the `status.cose` file the jurisdiction publishes")  # fmt: skip
        return source
    try:
        return read_bounded(source, MAX_BYTES)
    except OSError as exc:
        raise _error(span, f"the status list `{source}` cannot be read: {exc}",
                     "give the path of the `status.cose` file the jurisdiction publishes",
                     ) from None  # fmt: skip


def _verified(raw: bytes, trust: tuple[TrustedKey, ...], on_date: date) -> StatusList:
    """The checks in order: the message, its header, the key, the signature, the content.

    Raises:
        ValueError: the first check that fails, in words.
    """
    message = parse_message(raw)
    kid = message_kid(message)
    if message.phdr.get(ContentType) != STATUS_CONTENT_TYPE:
        raise ValueError(f"it is a signed message but not a status list (its content type is "
                         f"not `{STATUS_CONTENT_TYPE}`)")  # fmt: skip
    key = trusted_key(trust, kid)
    if key is None:
        raise _Untrusted(f"it is signed by the key `{b64url(kid)}`, which is not in the trust list")
    if not signature_holds(message, key):
        raise ValueError(f"its signature does not match its content for the key `{key.kid}` "
                         "(the file was changed, or signed by another key)")  # fmt: skip
    jurisdiction, generated_at, entries = _read_content(message.payload or b"")
    _check_issuer(key, jurisdiction, generated_at, on_date)
    return StatusList(jurisdiction, generated_at, key.kid, entries)


def _check_issuer(key: TrustedKey, jurisdiction: str, generated_at: datetime,
                  on_date: date) -> None:  # fmt: skip
    made = generated_at.astimezone(UTC).date()
    if key.jurisdiction != jurisdiction:
        raise _Untrusted(f"it is `{jurisdiction}`'s list, signed by the key `{key.kid}` of "
                         f"`{key.jurisdiction}`")  # fmt: skip
    if not key.valid_from <= made <= key.valid_until:
        raise _Untrusted(f"it was made on {made}, outside the validity of the key `{key.kid}` "
                         f"({key.valid_from} to {key.valid_until})")  # fmt: skip
    if made > on_date:
        raise _Untrusted(f"it was made on {made}, after the day of checking ({on_date})")


def _read_content(content: bytes) -> tuple[str, datetime, dict[str, Status]]:
    """The signed JSON: canonical, of the format, with a jurisdiction, a time and entries.

    Raises:
        ValueError: what is wrong, in words.
    """
    try:
        data = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError("its signed content is not JSON text") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"its signed content is not a status list of the format `{FORMAT}`")
    if canonical_json(data).encode("utf-8") != content:
        raise ValueError("its signed content is not canonical JSON (sorted keys, no spaces)")
    if set(data) != {"format", "generated_at", "jurisdiction", "certificates"}:
        raise ValueError("it holds other fields than `format`, `generated_at`, `jurisdiction` "
                         "and `certificates`")  # fmt: skip
    if not isinstance(data["jurisdiction"], str) or not data["jurisdiction"]:
        raise ValueError("its `jurisdiction` is not a name")
    if not isinstance(data["certificates"], dict):
        raise ValueError("its `certificates` is not an object")
    generated_at = _time(data["generated_at"], "`generated_at`")
    entries = {i: _entry(i, e) for i, e in data["certificates"].items()}
    return data["jurisdiction"], generated_at, entries


def _entry(certificate_id: str, raw: Any) -> Status:
    where = f"the entry `{certificate_id}`"
    if not isinstance(raw, dict) or not {"status", "since"} <= set(raw) <= ENTRY_KEYS:
        raise ValueError(f"{where} is not an object of `status`, `since` and `superseded_by`")
    state, successor = raw["status"], raw.get("superseded_by")
    if state not in STATES:
        raise ValueError(f"{where} has the status `{state}`, not one of {', '.join(STATES)}")
    if (state == "superseded") != isinstance(successor, str):
        raise ValueError(f"{where} names a successor if and only if it is superseded")
    _time(raw["since"], f"{where}'s `since`")
    return Status(certificate_id, state, raw["since"], successor)


def _time(value: Any, what: str) -> datetime:
    """A UTC time as the registry writes it (``2026-12-01T09:00:00Z``)."""
    try:
        if not isinstance(value, str) or not value.endswith("Z"):
            raise ValueError
        naive = datetime.fromisoformat(value[:-1])
        if naive.tzinfo is not None:
            raise ValueError
        return naive.replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{what} is not a UTC time (`2026-12-01T09:00:00Z`)") from None


def _error(span: Span | None, message: str, help: str) -> CertificateError:
    return CertificateError([Diagnostic(CODE, message, span, help=help)])
