"""Bearer tokens for the service's certificate writes: who may issue, suspend, revoke, reinstate
and regenerate, and the name the registry records for each change.

Only a token's SHA-256 is ever stored (``tokens.json`` or ``ORDINANCE_TOKENS``:
``{"tokens": [{"name": "clerk-1", "sha256": "<hex>"}]}``), so a copied configuration file lets no
one write. Reads and verification need no token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.requests import Request

from engine.diagnostics import Diagnostic, OrdinanceError
from engine.service.bodies import BodyError
from engine.service.state import Service

ENV = "ORDINANCE_TOKENS"
_HEX = frozenset("0123456789abcdef")


class TokenError(OrdinanceError):
    """A token file (or ``ORDINANCE_TOKENS``) that cannot be read, or a name already taken."""


class Unauthorized(BodyError):
    """A write without a token (401, with ``WWW-Authenticate``) or with a wrong one (403)."""


def hash_token(token: str) -> str:
    """The SHA-256 hex of a token: what the configuration stores instead of the token.

    >>> hash_token("s3cret")[:16]
    '1ec1c26b50d5d3c5'
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def load_tokens(
    path: Path | None = None, environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """Every configured token's hash and the name it writes under, from ``path`` and from
    ``ORDINANCE_TOKENS`` (both when both are given).

    Raises:
        TokenError: ``service/bad-tokens`` for a file or variable that is not the shape above.
    """
    found: dict[str, str] = {}
    if path is not None:
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _bad(str(path), f"cannot be read: {exc}") from None
        found.update(_parse(text, str(path)))
    if environ.get(ENV):
        found.update(_parse(environ[ENV], ENV))
    return found


def _parse(text: str, where: str) -> dict[str, str]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise _bad(where, "is not JSON") from None
    entries = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise _bad(where, "is not an object with a list `tokens`")
    out = {}
    for i, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if not (isinstance(name, str) and name.strip() and isinstance(digest, str)
                and len(digest) == 64 and set(digest) <= _HEX):  # fmt: skip
            raise _bad(where, f"entry {i + 1} is not `{{\"name\": …, \"sha256\": <64 lowercase "
                       "hex digits>}`")  # fmt: skip
        out[digest] = name.strip()
    return out


def _bad(where: str, why: str) -> TokenError:
    return TokenError([Diagnostic(
        "service/bad-tokens", f"the bearer tokens in `{where}` {why}",
        help='write `{"tokens": [{"name": "clerk-1", "sha256": "<hex>"}]}`; '
        "`ordinance token new --name NAME` adds one")])  # fmt: skip


def new_token(path: Path, name: str) -> str:
    """A fresh random token for ``name``, its hash appended to the file at ``path`` (made, mode
    0600, when missing). The token itself is returned once and stored nowhere.

    Raises:
        TokenError: the file cannot be read, or a token of that name is already there.
    """
    name = name.strip()
    existing: list[Any] = []
    if path.exists():
        load_tokens(path, environ={})  # refuses a malformed file before anything is written
        existing = json.loads(path.read_text("utf-8"))["tokens"]
    if not name or any(e["name"] == name for e in existing):
        raise TokenError([Diagnostic(
            "service/token-name-taken", f"`{path}` already has a token named `{name}`"
            if name else "a token needs a name", help="choose another name, or remove the "
            "old entry from the file to replace it")])  # fmt: skip
    token = secrets.token_urlsafe(32)
    existing.append({"name": name, "sha256": hash_token(token)})
    text = json.dumps({"tokens": existing}, indent=2) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return token


def writer(service: Service, request: Request) -> str:
    """The name of the bearer of the request's token, which the registry records as who.

    Every configured hash is compared, in constant time, so the time taken says nothing of which
    one (or how much of one) matched.

    Raises:
        Unauthorized: 401 without a bearer token, 403 with one that is not configured.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(401, [Diagnostic(
            "service/unauthorized", "this request changes certificates and needs a bearer token",
            help="send `Authorization: Bearer <token>`; an operator makes one with "
            "`ordinance token new --name NAME`")])  # fmt: skip
    given = hash_token(token.strip())
    found = None
    for digest, name in service.writers.items():
        if hmac.compare_digest(given, digest):
            found = name
    if found is None:
        raise Unauthorized(403, [Diagnostic(
            "service/forbidden", "the bearer token is not one this service accepts",
            help="check the token, or ask the operator for one")])  # fmt: skip
    return found
