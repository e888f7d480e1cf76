"""The signed QR payload, in the manner of the EU Digital COVID Certificate: claims → canonical
CBOR → COSE_Sign1 (EdDSA, ``kid`` in the protected header) → zlib → base45 → ``OC1:`` prefix.

``sign`` makes the text; ``verify`` reads any text back into a ``Verification`` with one
result per check and never raises on what a scanner gives it.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import date
from typing import Any, Literal
from urllib.parse import unquote

import base45
import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm, ContentType
from pycose.keys.curves import Ed25519
from pycose.keys.okp import OKPKey
from pycose.messages.sign1message import Sign1Message

from engine.certificates.keys import TrustedKey, b64url, from_b64url, raw_public

PREFIX = "OC1:"  # "occupancy certificate, payload version 1"
# A QR code holds at most 4,296 alphanumeric characters; nothing longer is a payload, and the
# decompressed claims of a real certificate are a few hundred bytes (a zip bomb stops here).
MAX_TEXT = 4296
MAX_CLAIMS_BYTES = 16 * 1024
Status = Literal["valid", "invalid", "skipped"]


@dataclass(frozen=True)
class Claims:
    """What the QR code states; ``digest`` is the SHA-256 of the canonical certificate JSON."""

    certificate_id: str
    jurisdiction: str
    permit: str
    address: str
    issued_on: date
    use: str
    occupant_load: int
    area: int | None  # square feet, whole; None when the jurisdiction's certificate states none
    revision: str
    digest: bytes


# Each claim's CBOR key (small integers: one byte each) and type: one table, read both ways.
# 1 is CWT's `iss` (the issuing jurisdiction); the others are private-use negative keys.
CLAIM_KEYS: dict[str, tuple[int, type]] = {
    "jurisdiction": (1, str), "certificate_id": (-1, str), "permit": (-2, str),
    "address": (-3, str), "issued_on": (-4, str), "use": (-5, str),
    "occupant_load": (-6, int), "area": (-7, int), "revision": (-8, str), "digest": (-9, bytes),
}  # fmt: skip
# Not every jurisdiction's certificate states its square footage (IBC 111.2 does not list it).
OPTIONAL_CLAIMS = frozenset({"area"})


def certificate_digest(certificate: Mapping[str, Any]) -> bytes:
    """SHA-256 of the canonical JSON of a certificate (sorted keys, no spaces, UTF-8).

    >>> certificate_digest({"b": 1, "a": "é"}).hex()[:16]
    'aa58fba8483623be'
    """
    text = json.dumps(certificate, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).digest()


def encode_claims(claims: Claims) -> bytes:
    """Canonical CBOR (RFC 8949 core deterministic encoding): the same claims, the same bytes."""
    values = {f.name: getattr(claims, f.name) for f in fields(claims)}
    values["issued_on"] = claims.issued_on.isoformat()
    return cbor2.dumps(
        {CLAIM_KEYS[n][0]: v for n, v in values.items() if v is not None}, canonical=True
    )


def decode_claims(raw: bytes) -> Claims:
    """The claims of a payload.

    Raises:
        ValueError: not a CBOR map of every claim with its type.
    """
    data = cbor2.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("the signed content is not a claim set")
    values: dict[str, Any] = {}
    for name, (key, kind) in CLAIM_KEYS.items():
        value = data.get(key)
        if value is None and name in OPTIONAL_CLAIMS:
            values[name] = None
            continue
        if type(value) is not kind:
            raise ValueError(f"the claim `{name}` is missing or not {kind.__name__}")
        values[name] = value
    values["issued_on"] = date.fromisoformat(values["issued_on"])
    return Claims(**values)


def sign(claims: Claims, key: Ed25519PrivateKey, kid: bytes) -> str:
    """The QR payload text for ``claims``, signed by ``key`` (whose COSE key id is ``kid``).

    Deterministic: Ed25519 signatures are, CBOR is canonical and zlib's output is fixed for a
    given input and level.
    """
    message = sign_message(encode_claims(claims), key, kid)
    packed: bytes = base45.b45encode(zlib.compress(message, 9))
    return PREFIX + packed.decode("ascii")


def sign_message(content: bytes, key: Ed25519PrivateKey, kid: bytes,
                 content_type: str | None = None) -> bytes:  # fmt: skip
    """A COSE_Sign1 message over ``content``: EdDSA, ``kid`` (and a content type, when given)
    in the protected header, so that neither can be changed without breaking the signature.

    The one signer of this package: the QR payload and the signed status list share it.
    """
    private = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())  # fmt: skip
    header: dict[Any, Any] = {Algorithm: EdDSA, KID: kid}
    if content_type is not None:
        header[ContentType] = content_type
    message = Sign1Message(phdr=header, payload=content)
    message.key = OKPKey(crv=Ed25519, d=private, x=raw_public(key.public_key()))
    encoded: bytes = message.encode()
    return encoded


def message_kid(message: Sign1Message) -> bytes:
    """The key id of an EdDSA message's protected header.

    Raises:
        ValueError: another algorithm or none, or no key id.
    """
    kid = message.phdr.get(KID)
    if message.phdr.get(Algorithm) is not EdDSA:
        raise ValueError("it is not signed with EdDSA (the protected header names another "
                         "algorithm or none)")  # fmt: skip
    if not isinstance(kid, bytes) or not kid:
        raise ValueError("its protected header names no key id (`kid`)")
    return kid


def trusted_key(trust: tuple[TrustedKey, ...], kid: bytes) -> TrustedKey | None:
    """The trust list's key with this COSE key id, if any."""
    return next((k for k in trust if from_b64url(k.kid) == kid), None)


def signature_holds(message: Sign1Message, key: TrustedKey) -> bool:
    """Whether ``message``'s signature holds under ``key``; never raises."""
    message.key = OKPKey(crv=Ed25519, x=raw_public(key.public_key))
    try:
        return bool(message.verify_signature())
    except Exception:  # pycose raises its own and cryptography's errors for a bad signature
        return False


@dataclass(frozen=True)
class Check:
    """One check's outcome, with its reason in words."""

    name: str  # "signature", "issuer", and in engine.certificates.verify "status", "content"
    status: Status
    reason: str


@dataclass(frozen=True)
class Verification:
    """Every check of one payload; ``claims`` when the signed content could be read."""

    checks: tuple[Check, ...]
    claims: Claims | None = None
    kid: str | None = None

    @property
    def valid(self) -> bool:
        """Valid only when the signature is valid and every check that ran is valid."""
        ran = [c for c in self.checks if c.status != "skipped"]
        signed = any(c.name == "signature" and c.status == "valid" for c in self.checks)
        return signed and all(c.status == "valid" for c in ran)

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)


def payload_of(text: str) -> str:
    """The payload in a scanned text: the text itself, or the last path segment of a
    verification URL (where it is percent-encoded, see ``engine.certificates.qr``).

    >>> payload_of("https://co.example.gov/v/OC1:6BF%20X")
    'OC1:6BF X'
    """
    text = text.strip()
    if text.startswith(PREFIX) or "/" not in text:
        return text
    return unquote(text.rsplit("/", 1)[1])


def verify(text: str, trust: tuple[TrustedKey, ...], on_date: date) -> Verification:
    """Check a scanned text against a trust list on ``on_date`` (the day of checking)."""
    try:
        message = _open(payload_of(text))
        kid = message_kid(message)
    except ValueError as exc:
        return _unreadable(str(exc))
    kid_text = b64url(kid)
    key = trusted_key(trust, kid)
    if key is None:
        skipped = Check("signature", "skipped", f"no trusted key `{kid_text}` to check it with")
        return Verification((skipped, Check("issuer", "invalid", f"the key `{kid_text}` is not "
                                            "in the trust list")), kid=kid_text)  # fmt: skip
    return _checked(message, key, kid_text, on_date)


def _checked(message: Sign1Message, key: TrustedKey, kid: str, on_date: date) -> Verification:
    if not signature_holds(message, key):
        bad = Check("signature", "invalid", f"the signature does not match the content for the "
                    f"key `{kid}` (the payload was changed or signed by another key)")  # fmt: skip
        return Verification((bad, Check("issuer", "skipped", "the content is not authentic")),
                            kid=kid)  # fmt: skip
    good = Check("signature", "valid", f"signed by the key `{kid}`")
    try:
        claims = decode_claims(message.payload or b"")
    except (ValueError, cbor2.CBORError) as exc:
        return Verification((good, Check("issuer", "invalid", f"the signed claims cannot be "
                                          f"read: {exc}")), kid=kid)  # fmt: skip
    return Verification((good, _issuer(claims, key, on_date)), claims, kid)


def _issuer(claims: Claims, key: TrustedKey, on_date: date) -> Check:
    tests: list[tuple[Callable[[], bool], str]] = [
        (lambda: claims.jurisdiction == key.jurisdiction,
         f"the key `{key.kid}` is `{key.jurisdiction}`'s, but the certificate names "
         f"`{claims.jurisdiction}`"),
        (lambda: key.valid_from <= claims.issued_on <= key.valid_until,
         f"issued on {claims.issued_on}, outside the key's validity ({key.valid_from} to "
         f"{key.valid_until})"),
        (lambda: claims.issued_on <= on_date,
         f"issued on {claims.issued_on}, after the day of checking ({on_date})"),
    ]  # fmt: skip
    for holds, reason in tests:
        if not holds():
            return Check("issuer", "invalid", reason)
    return Check("issuer", "valid", f"the key `{key.kid}` of `{key.jurisdiction}` was valid on "
                 f"the issue date {claims.issued_on}")  # fmt: skip


def _unreadable(reason: str) -> Verification:
    return Verification((Check("signature", "invalid", reason),
                         Check("issuer", "skipped", "no signed content to check")))  # fmt: skip


def _open(text: str) -> Sign1Message:
    """Undo the prefix, base45 and zlib, and parse the COSE_Sign1 message.

    Raises:
        ValueError: with the reason in words, for whatever step fails.
    """
    if not text.strip():
        raise ValueError("nothing was scanned: the text is empty")
    if not text.startswith(PREFIX):
        raise ValueError(f"it does not start with `{PREFIX}`: not a certificate payload")
    if len(text) > MAX_TEXT:
        raise ValueError(f"it is longer than a QR code holds ({MAX_TEXT} characters)")
    try:
        packed = base45.b45decode(text[len(PREFIX) :])
    except (ValueError, KeyError, IndexError):
        raise ValueError("it is not base45 text (a character was changed or lost)") from None
    return parse_message(_inflate(packed))


def _inflate(packed: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(packed, MAX_CLAIMS_BYTES)
    except zlib.error:
        raise ValueError("it is not compressed data (truncated or changed)") from None
    if inflater.unconsumed_tail:
        raise ValueError(f"its content is larger than {MAX_CLAIMS_BYTES} bytes")
    if not inflater.eof:
        raise ValueError("its compressed data is truncated")
    return raw


def parse_message(raw: bytes) -> Sign1Message:
    """A COSE_Sign1 message with content, from its bytes.

    Raises:
        ValueError: not a COSE_Sign1 message, or one without content.
    """
    try:
        message = Sign1Message.decode(raw)
    except Exception:  # cbor2's and pycose's errors for anything that is not COSE_Sign1
        raise ValueError("it is not a signed message (COSE_Sign1): unsigned or damaged") from None
    if not isinstance(message.payload, bytes):
        raise ValueError("its signed message carries no content")
    return message
