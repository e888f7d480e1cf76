"""The signed QR payload of a certificate of occupancy (issue 12): keys and the trust list,
sign → QR PNG → a real decoder → verify, and every way a scanned text can be wrong."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import zlib
from dataclasses import replace
from datetime import date
from pathlib import Path

import base45
import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from engine.certificates import keys, payload, qr
from engine.certificates.keys import CertificateError, TrustedKey
from engine.certificates.payload import Claims, Verification, sign, verify
from engine.diagnostics import LoadError, OrdinanceError

BASE = "https://permits.example.gov/co/verify"
CHECKED_ON = date(2026, 12, 2)
SEED = bytes(range(32))  # a fixed key for the golden and deterministic tests, never a real one


def realistic_claims(**changes: object) -> Claims:
    claims = Claims(
        certificate_id="CO-2026-000123",
        jurisdiction="houston",
        permit="BP-2026-004512",
        address="1200 Travis Street, Suite 400, Houston, TX 77002",
        issued_on=date(2026, 12, 1),
        use="B (Business), A-2 (Assembly: restaurant)",
        occupant_load=240,
        area=18500,
        revision="2026-07",
        digest=payload.certificate_digest({"certificate": "CO-2026-000123"}),
    )
    return replace(claims, **changes)  # type: ignore[arg-type]


def fixed_key(monkeypatch: pytest.MonkeyPatch, seed: bytes = SEED) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    monkeypatch.setattr(keys.Ed25519PrivateKey, "generate", staticmethod(lambda: key))
    return key


Issuer = tuple[Ed25519PrivateKey, bytes, tuple[TrustedKey, ...]]


@pytest.fixture
def issuer(tmp_path: Path) -> Issuer:
    """A Houston key valid for 2026–2030, its COSE kid and the trust list read back."""
    entry = keys.new_key("houston", tmp_path, date(2026, 1, 1), date(2030, 12, 31))
    private = keys.load_private_key(tmp_path / f"{entry.kid}.pem")
    return private, keys.key_id_bytes(private.public_key()), keys.load_trust(tmp_path / "keys.json")


def signed(issuer: Issuer, **changes: object) -> str:
    private, kid, _ = issuer
    return sign(realistic_claims(**changes), private, kid)


def assert_invalid(v: Verification, check: str, *words: str) -> None:
    assert not v.valid
    reason = v.check(check).reason
    assert v.check(check).status == "invalid", v
    assert all(w in reason for w in words), reason


# --- the round trip ---------------------------------------------------------------------------


def test_sign_qr_png_decode_verify_round_trip(issuer, tmp_path: Path) -> None:
    text = signed(issuer)
    code = qr.qr_png(text, tmp_path / "co.png", BASE)
    scanned = qr.decode_png(tmp_path / "co.png")
    assert scanned == qr.verification_url(BASE, text)
    assert scanned.startswith(BASE + "/OC1:")
    v = verify(scanned, issuer[2], CHECKED_ON)
    assert v.valid, v
    assert [(c.name, c.status) for c in v.checks] == [("signature", "valid"), ("issuer", "valid")]
    assert v.claims == realistic_claims()
    assert v.check("issuer").reason.endswith("was valid on the issue date 2026-12-01")
    assert int(code.version) <= qr.MAX_VERSION


def test_the_bare_payload_verifies_too(issuer) -> None:
    assert verify(signed(issuer), issuer[2], CHECKED_ON).valid


def test_a_realistic_certificate_fits_version_20_and_prints_35_mm_wide(issuer, tmp_path) -> None:
    text = signed(issuer)
    assert len(text) < 450
    code = qr.qr_png(text, tmp_path / "co.png", BASE)
    assert 10 <= int(code.version) <= 20
    with Image.open(tmp_path / "co.png") as image:
        width, height = image.size
        dpi = image.info.get("dpi", (0, 0))
    assert width == height >= 414  # 35 mm at 300 dpi
    assert round(dpi[0]) == 300
    assert width / 300 * 25.4 >= 35


def test_an_oversized_claim_set_is_a_located_error(issuer) -> None:
    unique = " ".join(hashlib.sha256(str(i).encode()).hexdigest()[:12] for i in range(60))
    text = signed(issuer, address=unique)  # 780 characters that zlib cannot shrink
    with pytest.raises(CertificateError) as exc:
        qr.make_qr(BASE, text)
    (d,) = exc.value.diagnostics
    assert d.code == "certificate/qr-too-large"
    assert "past version 20" in d.message


def test_a_picture_without_a_code_is_a_diagnostic(tmp_path: Path) -> None:
    Image.new("L", (200, 200), 255).save(tmp_path / "blank.png")
    (tmp_path / "not.png").write_text("no image here")
    for name in ("blank.png", "not.png", "missing.png"):
        with pytest.raises(CertificateError) as exc:
            qr.decode_png(tmp_path / name)
        assert exc.value.diagnostics[0].code == "certificate/no-qr"


def test_the_url_escapes_what_a_path_cannot_hold() -> None:
    url = qr.verification_url(BASE + "/", "OC1:A B%C/D$*+-.:")
    assert url == BASE + "/OC1:A%20B%25C%2FD$*+-.:"
    assert payload.payload_of(url) == "OC1:A B%C/D$*+-.:"


# --- determinism ------------------------------------------------------------------------------


def test_the_same_claims_and_key_give_the_same_bytes(monkeypatch, tmp_path: Path) -> None:
    key = fixed_key(monkeypatch)
    kid = keys.key_id_bytes(key.public_key())
    first = sign(realistic_claims(), key, kid)
    entry = keys.new_key("houston", tmp_path, date(2026, 1, 1), date(2030, 12, 31))
    again = sign(realistic_claims(), keys.load_private_key(tmp_path / f"{entry.kid}.pem"), kid)
    assert first == again
    assert sign(realistic_claims(occupant_load=241), key, kid) != first


def test_claims_are_canonical_cbor_with_integer_keys() -> None:
    raw = payload.encode_claims(realistic_claims())
    data = cbor2.loads(raw)
    assert sorted(data) == sorted(k for k, _ in payload.CLAIM_KEYS.values())
    assert cbor2.dumps(data, canonical=True) == raw
    assert payload.decode_claims(raw) == realistic_claims()


# --- every way a scanned text can be wrong ----------------------------------------------------


def test_wrong_prefix(issuer) -> None:
    text = "HC1:" + signed(issuer)[4:]
    assert_invalid(verify(text, issuer[2], CHECKED_ON), "signature", "`OC1:`")


def test_not_base45(issuer) -> None:
    assert_invalid(verify("OC1:abc!~", issuer[2], CHECKED_ON), "signature", "base45")


def test_truncated(issuer) -> None:
    text = signed(issuer)
    for cut in (3, 10, 60, len(text) // 2):
        v = verify(text[:-cut], issuer[2], CHECKED_ON)
        assert not v.valid
        assert v.check("signature").status == "invalid"


def test_every_changed_character_is_refused(issuer) -> None:
    text = signed(issuer)
    for i in range(len(payload.PREFIX), len(text), 3):
        other = "0" if text[i] != "0" else "1"
        v = verify(text[:i] + other + text[i + 1 :], issuer[2], CHECKED_ON)
        assert not v.valid, i
        assert all(c.reason for c in v.checks)


def test_a_changed_claim_under_the_old_signature(issuer) -> None:
    """The signature, not the compression, is what catches a forged content."""
    raw = zlib.decompress(base45.b45decode(signed(issuer)[4:]))
    tag = cbor2.loads(raw)
    tag.value[2] = payload.encode_claims(realistic_claims(occupant_load=999))
    forged = "OC1:" + base45.b45encode(zlib.compress(cbor2.dumps(tag))).decode()
    assert_invalid(verify(forged, issuer[2], CHECKED_ON), "signature", "does not match")


def _pack(message: object) -> str:
    return "OC1:" + base45.b45encode(zlib.compress(cbor2.dumps(message))).decode()


def test_unsigned_claims_are_invalid(issuer) -> None:
    plain = base45.b45encode(zlib.compress(payload.encode_claims(realistic_claims()))).decode()
    v = verify("OC1:" + plain, issuer[2], CHECKED_ON)
    assert_invalid(v, "signature", "not a signed message")
    assert v.check("issuer").status == "skipped"


def test_an_empty_signature_is_invalid(issuer) -> None:
    phdr = cbor2.dumps({1: -8, 4: issuer[1]})
    text = _pack(cbor2.CBORTag(18, [phdr, {}, payload.encode_claims(realistic_claims()), b""]))
    assert not verify(text, issuer[2], CHECKED_ON).valid


def test_another_algorithm_or_no_kid_is_invalid(issuer) -> None:
    body = payload.encode_claims(realistic_claims())
    es256 = _pack(cbor2.CBORTag(18, [cbor2.dumps({1: -7, 4: issuer[1]}), {}, body, b"x" * 64]))
    assert_invalid(verify(es256, issuer[2], CHECKED_ON), "signature", "EdDSA")
    no_kid = _pack(cbor2.CBORTag(18, [cbor2.dumps({1: -8}), {}, body, b"x" * 64]))
    assert_invalid(verify(no_kid, issuer[2], CHECKED_ON), "signature", "no key id")


def test_signed_by_another_key_under_this_kid(issuer) -> None:
    other = Ed25519PrivateKey.generate()
    text = sign(realistic_claims(), other, issuer[1])
    assert_invalid(verify(text, issuer[2], CHECKED_ON), "signature", "does not match")
    assert verify(text, issuer[2], CHECKED_ON).check("issuer").status == "skipped"


def test_an_unknown_key_id(issuer) -> None:
    other = Ed25519PrivateKey.generate()
    text = sign(realistic_claims(), other, keys.key_id_bytes(other.public_key()))
    v = verify(text, issuer[2], CHECKED_ON)
    assert_invalid(v, "issuer", "not in the trust list")
    assert v.check("signature").status == "skipped"
    assert not verify(text, (), CHECKED_ON).valid


def test_an_issue_date_outside_the_keys_validity(issuer) -> None:
    for day in (date(2025, 12, 31), date(2031, 1, 1)):
        v = verify(signed(issuer, issued_on=day), issuer[2], date(2032, 1, 1))
        assert v.check("signature").status == "valid"
        assert_invalid(v, "issuer", f"issued on {day}", "outside the key's validity")


def test_an_issue_date_after_the_day_of_checking(issuer) -> None:
    v = verify(signed(issuer, issued_on=date(2027, 3, 1)), issuer[2], CHECKED_ON)
    assert_invalid(v, "issuer", "after the day of checking")


def test_a_key_of_another_jurisdiction(issuer) -> None:
    v = verify(signed(issuer, jurisdiction="kent"), issuer[2], CHECKED_ON)
    assert_invalid(v, "issuer", "`houston`'s", "`kent`")


def test_signed_content_that_is_not_a_claim_set(issuer) -> None:
    private, kid, trust = issuer
    from pycose.algorithms import EdDSA
    from pycose.headers import KID, Algorithm
    from pycose.keys.curves import Ed25519
    from pycose.keys.okp import OKPKey
    from pycose.messages.sign1message import Sign1Message

    msg = Sign1Message(phdr={Algorithm: EdDSA, KID: kid}, payload=cbor2.dumps({1: "houston"}))
    raw = private.private_bytes_raw()
    msg.key = OKPKey(crv=Ed25519, d=raw, x=private.public_key().public_bytes_raw())
    text = "OC1:" + base45.b45encode(zlib.compress(msg.encode())).decode()
    v = verify(text, trust, CHECKED_ON)
    assert v.check("signature").status == "valid"
    assert_invalid(v, "issuer", "cannot be read", "`certificate_id`")


def test_a_compression_bomb_is_refused(issuer) -> None:
    bomb = "OC1:" + base45.b45encode(zlib.compress(b"\0" * 1_000_000, 9)).decode()
    assert_invalid(verify(bomb, issuer[2], CHECKED_ON), "signature", "larger than")


@pytest.mark.parametrize("text", ["", "OC1:", "OC1:00", "https://x/", "/", "OC1:" + "A" * 5000,
                                  "https://x/OC1%3A%ZZ", "\x00\u202e", "OC1:%%%%"])  # fmt: skip
def test_garbage_is_invalid_never_an_exception(issuer, text: str) -> None:
    v = verify(text, issuer[2], CHECKED_ON)
    assert not v.valid and v.checks[0].reason


# --- keys and the trust list ------------------------------------------------------------------


def test_the_private_key_is_mode_0600(issuer, tmp_path: Path) -> None:
    (pem,) = tmp_path.glob("*.pem")
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert pem.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_a_key_is_never_overwritten(monkeypatch, tmp_path: Path) -> None:
    fixed_key(monkeypatch)
    entry = keys.new_key("houston", tmp_path, date(2026, 1, 1), date(2030, 12, 31))
    before = (tmp_path / f"{entry.kid}.pem").read_bytes(), (tmp_path / "keys.json").read_text()
    with pytest.raises(CertificateError) as exc:
        keys.new_key("houston", tmp_path, date(2027, 1, 1), date(2031, 12, 31))
    assert exc.value.diagnostics[0].code == "certificate/key-exists"
    after = (tmp_path / f"{entry.kid}.pem").read_bytes(), (tmp_path / "keys.json").read_text()
    assert after == before


def test_reversed_dates_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CertificateError) as exc:
        keys.new_key("houston", tmp_path, date(2030, 1, 1), date(2026, 1, 1))
    assert exc.value.diagnostics[0].code == "certificate/bad-key-dates"
    assert not list(tmp_path.iterdir())


GOLDEN_TRUST = """\
{
  "keys": [
    {
      "algorithm": "EdDSA",
      "jurisdiction": "houston",
      "kid": "Vkdap1RjR0w",
      "public_key": "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg",
      "valid_from": "2026-01-01",
      "valid_until": "2030-12-31"
    }
  ]
}
"""


def test_the_trust_list_golden_shape(monkeypatch, tmp_path: Path) -> None:
    key = fixed_key(monkeypatch)
    entry = keys.new_key("houston", tmp_path, date(2026, 1, 1), date(2030, 12, 31))
    public = key.public_key().public_bytes_raw()
    kid = base64.urlsafe_b64encode(hashlib.sha256(public).digest()[:8])
    assert entry.kid == kid.decode().rstrip("=") == "Vkdap1RjR0w"
    assert keys.b64url(public) == "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
    assert (tmp_path / "keys.json").read_text() == GOLDEN_TRUST
    assert keys.load_trust(tmp_path / "keys.json") == (entry,)


def test_a_second_key_joins_the_trust_list(issuer, tmp_path: Path) -> None:
    second = keys.new_key("kent", tmp_path, date(2026, 1, 1), date(2027, 12, 31))
    trust = keys.load_trust(tmp_path / "keys.json")
    assert {k.kid for k in trust} == {issuer[2][0].kid, second.kid}
    data = json.loads((tmp_path / "keys.json").read_text())
    assert [k["kid"] for k in data["keys"]] == sorted(k.kid for k in trust)


def _broken(tmp_path: Path, monkeypatch, change) -> Path:  # type: ignore[no-untyped-def]
    fixed_key(monkeypatch)
    keys.new_key("houston", tmp_path, date(2026, 1, 1), date(2030, 12, 31))
    path = tmp_path / "keys.json"
    data = json.loads(path.read_text())
    change(data["keys"][0])
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    return path


BROKEN_ENTRIES = {
    "missing public key": (lambda e: e.pop("public_key"), 3, "`public_key` is missing"),
    "bad date": (lambda e: e.update(valid_until="2030-13-01"), 9, "not a date"),
    "reversed dates": (lambda e: e.update(valid_from="2031-01-01"), 9, "before `valid_from`"),
    "wrong kid": (lambda e: e.update(kid="AAAAAAAAAAA"), 6, "is not the one of its public key"),
    "bad public key": (lambda e: e.update(public_key="!!"), 7, "not a base64url Ed25519"),
    "another algorithm": (lambda e: e.update(algorithm="ES256"), 4, "`ES256` is not `EdDSA`"),
    "unknown field": (lambda e: e.update(comment="x"), 5, "unknown field `comment`"),
    "a number": (lambda e: e.update(jurisdiction=7), 5, "`jurisdiction` is missing or not text"),
}


@pytest.mark.parametrize("name", sorted(BROKEN_ENTRIES))
def test_a_malformed_trust_list_is_a_located_diagnostic(name, monkeypatch, tmp_path) -> None:
    change, line, words = BROKEN_ENTRIES[name]
    path = _broken(tmp_path, monkeypatch, change)
    with pytest.raises(CertificateError) as exc:
        keys.load_trust(path)
    (d,) = exc.value.diagnostics
    assert (d.code, d.span.line if d.span else None) == ("certificate/bad-trust-list", line)
    assert words in d.message
    assert d.span and d.span.file.endswith("keys.json")


def test_a_trust_list_that_is_not_one(tmp_path: Path) -> None:
    for text, code in [('{"keys": 3}', "certificate/bad-trust-list"),
                       ("[1, 2]", "certificate/bad-trust-list"),
                       ('{"keys": [1]}', "certificate/bad-trust-list"),
                       ('{"keys": [', "load/yaml-syntax"),
                       ("", "load/empty")]:  # fmt: skip
        (tmp_path / "keys.json").write_text(text)
        with pytest.raises(OrdinanceError) as exc:
            keys.load_trust(tmp_path / "keys.json")
        assert exc.value.diagnostics[0].code == code, text
        assert exc.value.diagnostics[0].span is not None
    with pytest.raises(LoadError):
        keys.load_trust(tmp_path / "absent.json")


def test_a_kid_listed_twice(issuer, tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    data = json.loads(path.read_text())
    data["keys"].append(data["keys"][0])
    path.write_text(json.dumps(data, indent=2))
    with pytest.raises(CertificateError) as exc:
        keys.load_trust(path)
    assert "listed twice" in exc.value.diagnostics[0].message


def test_the_sizes_docs_certificates_md_states(monkeypatch) -> None:
    key = fixed_key(monkeypatch)
    text = sign(realistic_claims(), key, keys.key_id_bytes(key.public_key()))
    code = qr.make_qr(BASE, text)
    assert (len(payload.encode_claims(realistic_claims())), len(text)) == (199, 423)
    assert (len(qr.verification_url(BASE, text)), int(code.version)) == (501, 17)
    assert code.symbol_size(scale=qr.module_scale(code), border=4) == (465, 465)
