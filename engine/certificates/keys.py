"""Signing keys: a new Ed25519 key (its private PEM, mode 0600) and the public trust list
``keys.json`` that verifiers read; ``load_trust`` reads that list back into typed keys.

Keys come from ``cryptography``; nothing here hand-rolls a primitive.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engine.diagnostics import Diagnostic, OrdinanceError, Span
from engine.source import Document

ALGORITHM = "EdDSA"
TRUST_FILE = "keys.json"
TRUST_CODE = "certificate/bad-trust-list"
# What each trust-list entry holds, and its type; `load_trust` checks every entry against it.
ENTRY_FIELDS = ("algorithm", "jurisdiction", "kid", "public_key", "valid_from", "valid_until")


class CertificateError(OrdinanceError):
    """A key or trust list cannot be made or read."""


@dataclass(frozen=True)
class TrustedKey:
    """One public key a verifier trusts, for one jurisdiction and a span of issue dates."""

    kid: str
    public_key: Ed25519PublicKey
    jurisdiction: str
    valid_from: date
    valid_until: date
    algorithm: str = ALGORITHM

    def to_json(self) -> dict[str, str]:
        return {"algorithm": self.algorithm, "jurisdiction": self.jurisdiction, "kid": self.kid,
                "public_key": b64url(raw_public(self.public_key)),
                "valid_from": self.valid_from.isoformat(),
                "valid_until": self.valid_until.isoformat()}  # fmt: skip


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JOSE and COSE write key material.

    >>> b64url(b"\\xff\\xfe")
    '__4'
    """
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_bytes(key: Ed25519PublicKey) -> bytes:
    """The first 8 bytes of the SHA-256 of the raw public key (the COSE ``kid``)."""
    return hashlib.sha256(raw_public(key)).digest()[:8]


def key_id(key: Ed25519PublicKey) -> str:
    """The key id as the trust list writes it: base64url of ``key_id_bytes``."""
    return b64url(key_id_bytes(key))


def new_key(jurisdiction: str, out_dir: Path | str, valid_from: date,
            valid_until: date) -> TrustedKey:  # fmt: skip
    """Make a key: ``out_dir/<kid>.pem`` (private, mode 0600, never overwritten) and its public
    half added to ``out_dir/keys.json``.

    Raises:
        CertificateError: the dates are reversed, the key file exists, or the trust list there
            is malformed.
    """
    out = Path(out_dir)
    if valid_until < valid_from:
        raise _error("certificate/bad-key-dates",
                     f"`valid_until` {valid_until} is before `valid_from` {valid_from}",
                     None, "give a validity that ends on or after the day it starts")  # fmt: skip
    trust_path = out / TRUST_FILE
    existing = load_trust(trust_path) if trust_path.exists() else ()
    private = Ed25519PrivateKey.generate()
    entry = TrustedKey(key_id(private.public_key()), private.public_key(), jurisdiction,
                       valid_from, valid_until)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    _write_private(private, out / f"{entry.kid}.pem")
    write_trust(trust_path, (*[k for k in existing if k.kid != entry.kid], entry))
    return entry


def _write_private(key: Ed25519PrivateKey, path: Path) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())  # fmt: skip
    # O_EXCL: never replace a key (a lost key is a certificate nobody can reissue under it);
    # the mode is set at creation, so the key is never readable by others, not even briefly.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o600)  # fmt: skip
    except FileExistsError:
        raise _error("certificate/key-exists", f"`{path}` already exists", None,
                     "keep the existing key, or choose another folder") from None  # fmt: skip
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def load_private_key(path: Path | str) -> Ed25519PrivateKey:
    """Read a private key PEM written by ``new_key``.

    Raises:
        CertificateError: the file is unreadable or not an Ed25519 private key.
    """
    at, help = _at(path), "give the .pem file that `keys new` wrote"
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise _error("certificate/bad-key", f"cannot read the key `{path}`: "
                     f"{exc.strerror or exc}", at, help) from None  # fmt: skip
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):  # cryptography's words name its FAQ, not the user's file
        raise _error("certificate/bad-key", f"`{path}` is not a private key in PEM without a "
                     "password", at, help) from None  # fmt: skip
    if not isinstance(key, Ed25519PrivateKey):
        raise _error("certificate/bad-key", f"`{path}` is not an Ed25519 key", at, help)
    return key


def trust_beside(key_path: Path | str) -> Path:
    """The trust list ``keys new`` wrote beside a key: where its jurisdiction and validity are."""
    return Path(key_path).parent / TRUST_FILE


def check_signing_key(kid: str, jurisdiction: str, on: date, key_path: Path | str,
                      trust_path: Path | str | None = None) -> None:  # fmt: skip
    """Refuse to sign what no verifier would accept: the key must be in the trust list
    ``trust_path`` (else the ``keys.json`` beside the key), be ``jurisdiction``'s, and be valid
    on ``on`` (the issue date, or the status list's date).

    Raises:
        CertificateError: ``certificate/wrong-key``, located at the key file; a trust list that
            cannot be read is its own diagnostic (``load/*``, ``certificate/bad-trust-list``).
    """
    path = Path(trust_path) if trust_path is not None else trust_beside(key_path)
    trust = load_trust(path) if trust_path is not None or path.is_file() else ()
    key = next((k for k in trust if k.kid == kid), None)
    if key is None:
        where = (f"is not in the trust list `{path}`" if path.is_file() else
                 f"has no trust list: there is no `{path}`")  # fmt: skip
        problem = (f"the key `{kid}` {where}; its jurisdiction and validity are unknown, and no "
                   "verifier would trust what it signs")  # fmt: skip
    elif key.jurisdiction != jurisdiction:
        problem = (f"the key `{kid}` signs for `{key.jurisdiction}`, not for `{jurisdiction}`: "
                   f"verifiers would reject what it signs")  # fmt: skip
    elif not key.valid_from <= on <= key.valid_until:
        problem = (f"the key `{kid}` is valid for {key.valid_from} to {key.valid_until}, not "
                   f"on {on}: verifiers would reject what it signs")  # fmt: skip
    else:
        return
    raise _error("certificate/wrong-key", problem, _at(key_path),
                 f"sign with a key of `{jurisdiction}` valid on {on} (`ordinance keys new`), "
                 "and keep its `keys.json` beside it or give it with `--trust`")  # fmt: skip


def _at(path: Path | str) -> Span:
    return Span(str(path), 1, 1, 1, 1)


def write_trust(path: Path, keys: tuple[TrustedKey, ...]) -> None:
    """Write the trust list, emitted (never pasted) with sorted keys, entries in kid order."""
    body = {"keys": [k.to_json() for k in sorted(keys, key=lambda k: k.kid)]}
    # Written beside and renamed over: a verifier never reads half a list.
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", "utf-8")
    os.replace(partial, path)


def load_trust(path: Path | str) -> tuple[TrustedKey, ...]:
    """Read a trust list; every problem in its shape is a located ``certificate/bad-trust-list``.

    Raises:
        LoadError: the file cannot be read or is not JSON (``load/*``).
        CertificateError: an entry lacks a field, has one of the wrong kind, or repeats a kid.
    """
    from engine.compile.load import load_document  # the safe, bounded loader with positions

    doc = load_document(path)
    problems: list[Diagnostic] = []
    keys = _read_trust(doc, problems)
    if problems:
        raise CertificateError(problems)
    return keys


def _read_trust(doc: Document, problems: list[Diagnostic]) -> tuple[TrustedKey, ...]:
    data = doc.data
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        problems.append(_bad(doc, (), "a trust list is an object with a `keys` list"))
        return ()
    found: dict[str, TrustedKey] = {}
    for i, raw in enumerate(data["keys"]):
        key = _read_entry(doc, ("keys", i), raw, problems)
        if key is not None and key.kid in found:
            problems.append(_bad(doc, ("keys", i, "kid"), f"key id `{key.kid}` is listed twice"))
        elif key is not None:
            found[key.kid] = key
    return tuple(found.values())


def _read_entry(doc: Document, at: tuple[str | int, ...], raw: Any,
                problems: list[Diagnostic]) -> TrustedKey | None:  # fmt: skip
    if not isinstance(raw, Mapping):
        problems.append(_bad(doc, at, "a trust-list entry is an object"))
        return None
    before = len(problems)
    for name in sorted(set(raw) - set(ENTRY_FIELDS)):
        problems.append(_bad(doc, (*at, name), f"unknown field `{name}`", key=True))
    for name in ENTRY_FIELDS:
        if not isinstance(raw.get(name), str):
            problems.append(_bad(doc, (*at, name) if name in raw else at,
                                 f"`{name}` is missing or not text"))  # fmt: skip
    if len(problems) > before:
        return None
    return _build_entry(doc, at, raw, problems)


def _build_entry(doc: Document, at: tuple[str | int, ...], raw: Mapping[str, str],
                 problems: list[Diagnostic]) -> TrustedKey | None:  # fmt: skip
    if raw["algorithm"] != ALGORITHM:
        problems.append(_bad(doc, (*at, "algorithm"), f"algorithm `{raw['algorithm']}` is not "
                             f"`{ALGORITHM}`"))  # fmt: skip
    dates = {n: _date(doc, (*at, n), raw[n], problems) for n in ("valid_from", "valid_until")}
    public = _public(doc, (*at, "public_key"), raw["public_key"], problems)
    if public is not None and key_id(public) != raw["kid"]:
        problems.append(_bad(doc, (*at, "kid"), f"key id `{raw['kid']}` is not the one of its "
                             f"public key (`{key_id(public)}`)"))  # fmt: skip
    start, end = dates["valid_from"], dates["valid_until"]
    if start and end and end < start:
        problems.append(_bad(doc, (*at, "valid_until"), "`valid_until` is before `valid_from`"))
    if public is None or start is None or end is None or problems:
        return None
    return TrustedKey(raw["kid"], public, raw["jurisdiction"], start, end)


def _date(doc: Document, at: tuple[str | int, ...], text: str,
          problems: list[Diagnostic]) -> date | None:  # fmt: skip
    try:
        return date.fromisoformat(text) if len(text) == 10 else date.fromisoformat("x")
    except ValueError:
        problems.append(_bad(doc, at, f"`{text}` is not a date (YYYY-MM-DD)"))
        return None


def _public(doc: Document, at: tuple[str | int, ...], text: str,
            problems: list[Diagnostic]) -> Ed25519PublicKey | None:  # fmt: skip
    try:
        raw = from_b64url(text)
        if len(raw) != 32:
            raise ValueError
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        problems.append(_bad(doc, at, "`public_key` is not a base64url Ed25519 public key"))
        return None


def _bad(doc: Document, at: tuple[str | int, ...], message: str, key: bool = False) -> Diagnostic:
    return Diagnostic(TRUST_CODE, message, doc.span(at, key=key),
                      help="write the trust list with `ordinance keys new`, or fix the entry",
                      )  # fmt: skip


def _error(code: str, message: str, span: Span | None, help: str) -> CertificateError:
    return CertificateError([Diagnostic(code, message, span, help=help)])
