"""The signed status list (sign → file → load, and every way its bytes can be wrong) and the full
verification of a certificate: signature, issuer, status (registry or status list) and content.

Registries run on SQLite, and on PostgreSQL when ORDINANCE_TEST_POSTGRES_URL is set (the `url`
fixture of tests/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.certificates import status
from engine.certificates.keys import CertificateError, TrustedKey, key_id, key_id_bytes
from engine.certificates.payload import (
    Claims,
    Verification,
    certificate_digest,
    sign,
    sign_message,
)
from engine.certificates.registry import Certificate, Registry, RegistryError, canonical_json
from engine.certificates.status import load_status_list, sign_status_list
from engine.certificates.verify import verification_json, verification_text, verify_certificate

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CHECKED_ON = date(2026, 12, 2)
# Fixed keys, never real ones: Houston's, Kent's, and one no trust list holds.
SEEDS = {"houston": bytes(range(32)), "kent": bytes(range(1, 33)), "nobody": bytes(range(2, 34))}


def private(name: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(SEEDS[name])


def kid(name: str) -> bytes:
    return key_id_bytes(private(name).public_key())


def trusted(
    name: str, start: date = date(2026, 1, 1), end: date = date(2030, 12, 31)
) -> TrustedKey:
    public = private(name).public_key()
    return TrustedKey(key_id(public), public, name, start, end)


TRUST = (trusted("houston"), trusted("kent"))


def body(cert_id: str = "CO-2026-000123", **changes: Any) -> dict[str, Any]:
    """A canonical certificate, as the issue command writes it to `<id>.json`."""
    return {"id": cert_id, "jurisdiction": "houston", "permit": "BP-2026-004512",
            "address": "1200 Travis Street, Houston, TX 77002", "issued_on": "2026-12-01",
            "use": "B (Business)", "occupant_load": 240, "area": 18500, **changes}  # fmt: skip


def record(cert_id: str = "CO-2026-000123", **changes: Any) -> Certificate:
    b = body(cert_id, **changes)
    return Certificate(cert_id, "houston", b["permit"], f"case-{cert_id}", NOW,
                       key_id(private("houston").public_key()), canonical_json(b), "2026-07",
                       "sha256:policy")  # fmt: skip


def scanned(cert_id: str = "CO-2026-000123", key: str = "houston", **changes: Any) -> str:
    """The QR payload of `body(cert_id, **changes)`, signed by `key`."""
    b = body(cert_id, **changes)
    claims = Claims(cert_id, b["jurisdiction"], b["permit"], b["address"], date(2026, 12, 1),
                    b["use"], b["occupant_load"], b["area"], "2026-07",
                    certificate_digest(b))  # fmt: skip
    return sign(claims, private(key), kid(key))


def later(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)


@pytest.fixture
def registry(url: str) -> Iterator[Registry]:
    with Registry.open(url) as reg:
        reg.issue(record(), who="clerk", now=NOW)
        yield reg


def signed_list(reg: Registry, at: datetime = NOW, key: str = "houston",
                jurisdiction: str = "houston") -> bytes:  # fmt: skip
    return sign_status_list(reg.status_list(at), jurisdiction, private(key), kid(key))


def refusal(source: Path | str | bytes, *words: str, trust: tuple[TrustedKey, ...] = TRUST,
            on_date: date = CHECKED_ON) -> None:  # fmt: skip
    with pytest.raises(CertificateError) as info:
        load_status_list(source, trust, on_date)
    [d] = info.value.diagnostics
    assert d.code == "certificate/bad-status-list"
    assert d.message.startswith("the status list ") and d.help
    assert all(w in d.message for w in words), d.message


# --- the signed status list -------------------------------------------------------------------


def test_sign_then_load_gives_the_registrys_statuses(registry: Registry, tmp_path: Path) -> None:
    registry.issue(record("CO-2", permit="BP-2"), who="clerk", now=later(1))
    registry.revoke("CO-2", "official", "issued in error", now=later(2))
    (tmp_path / "status.cose").write_bytes(signed_list(registry, later(60)))
    loaded = load_status_list(tmp_path / "status.cose", TRUST, CHECKED_ON)
    assert (loaded.jurisdiction, loaded.as_of, loaded.kid) == (
        "houston", "2026-12-01T10:00:00Z", TRUST[0].kid,
    )  # fmt: skip
    assert loaded.entries == {i: registry.status(i) for i in ("CO-2026-000123", "CO-2")}
    assert loaded.age_days(CHECKED_ON) == 1
    assert load_status_list(str(tmp_path / "status.cose"), TRUST, CHECKED_ON) == loaded


def test_the_same_list_and_key_give_the_same_bytes(registry: Registry) -> None:
    assert signed_list(registry) == signed_list(registry)
    assert signed_list(registry) != signed_list(registry, later(1))
    assert b'"jurisdiction":"houston"' in signed_list(registry)  # the JSON is readable in the file


def test_every_changed_byte_is_refused(registry: Registry) -> None:
    good = signed_list(registry)
    for i in range(len(good)):
        changed = good[:i] + bytes([good[i] ^ 0x01]) + good[i + 1 :]
        with pytest.raises(CertificateError) as info:
            load_status_list(changed, TRUST, CHECKED_ON)
        assert info.value.diagnostics[0].code == "certificate/bad-status-list", i


def test_a_list_signed_by_another_key_under_houstons_kid(registry: Registry) -> None:
    forged = sign_status_list(registry.status_list(NOW), "houston", private("nobody"),
                              kid("houston"))  # fmt: skip
    refusal(forged, "signature does not match")


def test_a_list_signed_by_an_unknown_key(registry: Registry) -> None:
    refusal(signed_list(registry, key="nobody"), "not in the trust list")
    refusal(signed_list(registry), "not in the trust list", trust=())


def test_a_list_signed_by_another_jurisdictions_key(registry: Registry) -> None:
    refusal(signed_list(registry, key="kent"), "`houston`'s list", "of `kent`")


def test_a_list_made_outside_the_keys_validity_or_after_the_day(registry: Registry) -> None:
    short = (trusted("houston", end=date(2026, 11, 30)),)
    refusal(signed_list(registry), "made on 2026-12-01, outside the validity", trust=short)
    refusal(signed_list(registry), "after the day of checking", on_date=date(2026, 11, 30))


def test_what_is_not_a_status_list(registry: Registry) -> None:
    refusal(b"", "not a signed message")
    refusal(registry.status_list_json(NOW).encode(), "not a signed message")  # unsigned
    refusal(scanned().encode(), "not a signed message")  # the QR text
    qr_cose = sign_message(b'{"format":"x"}', private("houston"), kid("houston"))
    refusal(qr_cose, "not a status list", "content type")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\xff", "not JSON text"),
        (b"[1]", "not a status list of the format"),
        (b'{"format": "ordinance-status-list/1"}', "not canonical JSON"),
        (b'{"certificates":{},"format":"ordinance-status-list/1"}', "other fields than"),
        (b'{"certificates":{},"format":"ordinance-status-list/1","generated_at":"2026-12-01",'
         b'"jurisdiction":"houston"}', "`generated_at` is not a UTC time"),
        (b'{"certificates":{"a":{"since":"2026-12-01T09:00:00Z","status":"lost"}},'
         b'"format":"ordinance-status-list/1","generated_at":"2026-12-01T09:00:00Z",'
         b'"jurisdiction":"houston"}', "the status `lost`"),
        (b'{"certificates":{"a":{"since":"2026-12-01T09:00:00Z","status":"superseded"}},'
         b'"format":"ordinance-status-list/1","generated_at":"2026-12-01T09:00:00Z",'
         b'"jurisdiction":"houston"}', "successor if and only if"),
    ],
)  # fmt: skip
def test_signed_content_that_is_not_a_status_list(content: bytes, words: str) -> None:
    signed = sign_message(content, private("houston"), kid("houston"),
                                 status.STATUS_CONTENT_TYPE)  # fmt: skip
    refusal(signed, words)


def test_a_list_is_checked_before_it_is_signed(registry: Registry) -> None:
    with pytest.raises(CertificateError, match="`houston`'s, not `kent`'s"):
        sign_status_list({**registry.status_list(NOW), "jurisdiction": "houston"}, "kent",
                         private("kent"), kid("kent"))  # fmt: skip
    with pytest.raises(CertificateError, match="cannot be signed"):
        sign_status_list({"format": "other"}, "houston", private("houston"), kid("houston"))


def test_a_list_too_large_or_unreadable(monkeypatch, registry: Registry, tmp_path: Path) -> None:
    good = signed_list(registry)
    (tmp_path / "status.cose").write_bytes(good)
    monkeypatch.setattr(status, "MAX_BYTES", len(good) - 1)
    refusal(good, "larger than")
    refusal(tmp_path / "status.cose", "cannot be read", "larger than")
    refusal(tmp_path / "absent.cose", "cannot be read")
    refusal(tmp_path, "cannot be read")
    with pytest.raises(CertificateError) as info:
        load_status_list(tmp_path / "absent.cose", TRUST, CHECKED_ON)
    span = info.value.diagnostics[0].span
    assert span is not None and span.file.endswith("absent.cose")


@pytest.fixture(scope="module")
def good_list(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    with Registry.open(str(tmp_path_factory.mktemp("r") / "r.db")) as reg:
        reg.issue(record(), who="clerk", now=NOW)
        return signed_list(reg)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_bytes_make_a_traceback(good_list: bytes, data: st.DataObject) -> None:
    raw = data.draw(st.one_of(
        st.binary(max_size=600),
        st.lists(st.tuples(st.integers(0, len(good_list) - 1), st.integers(0, 255)),
                 min_size=1, max_size=4).map(lambda edits: _edited(good_list, edits)),
        st.integers(0, len(good_list)).map(lambda n: good_list[:n]),
    ))  # fmt: skip
    try:
        load_status_list(raw, TRUST, CHECKED_ON)
    except CertificateError as exc:
        assert exc.diagnostics[0].code == "certificate/bad-status-list"


def _edited(raw: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(raw)
    for at, value in edits:
        out[at] = value
    return bytes(out)


# --- the full verification --------------------------------------------------------------------

Source = Callable[[Registry, datetime], dict[str, Any]]


def live(reg: Registry, _at: datetime) -> dict[str, Any]:
    return {"registry": reg}


def offline(reg: Registry, at: datetime) -> dict[str, Any]:
    return {"status_list": load_status_list(signed_list(reg, at), TRUST, CHECKED_ON)}


SOURCES = pytest.mark.parametrize("source", [live, offline], ids=["registry", "status-list"])


def checks(v: Verification) -> dict[str, str]:
    return {c.name: c.status for c in v.checks}


def status_of(v: Verification, *words: str) -> str:
    reason = v.check("status").reason
    assert all(w in reason for w in words), reason
    return v.check("status").status


@SOURCES
def test_a_valid_certificate_passes_every_check(registry: Registry, source: Source) -> None:
    v = verify_certificate(scanned(), TRUST, CHECKED_ON, certificate=json.dumps(body()),
                           **source(registry, later(60)))  # fmt: skip
    assert v.valid, v
    assert checks(v) == dict.fromkeys(("signature", "issuer", "status", "content"), "valid")
    assert status_of(v, "valid since 2026-12-01T09:00:00Z") == "valid"


def test_the_registry_alone_checks_the_content_too(registry: Registry) -> None:
    v = verify_certificate(scanned(), TRUST, CHECKED_ON, registry=registry)
    assert v.valid and v.check("content").reason.startswith("the registry's record of")


def test_a_record_of_another_key_is_not_this_code(url: str) -> None:
    """The registry recorded the certificate as signed by one key; a code with the same content
    signed by another trusted key of the city is not the certificate the registry holds."""
    other = replace(record(), key_id="another-key")
    with Registry.open(url) as reg:
        reg.issue(other, who="clerk", now=NOW)
        v = verify_certificate(scanned(), TRUST, CHECKED_ON, registry=reg)
    assert not v.valid and v.check("content").status == "invalid"
    assert "signed with the key `another-key`" in v.check("content").reason


def test_the_status_list_says_how_old_it_is(registry: Registry) -> None:
    v = verify_certificate(scanned(), TRUST, date(2026, 12, 4), **offline(registry, later(60)))
    assert status_of(v, "(status list as of 2026-12-01T10:00:00Z, 3 days old)") == "valid"
    v = verify_certificate(scanned(), TRUST, date(2026, 12, 2), **offline(registry, later(60)))
    assert status_of(v, ", 1 day old)") == "valid"
    v = verify_certificate(scanned(), TRUST, date(2026, 12, 1), **offline(registry, later(60)))
    assert status_of(v, "made on the day of checking") == "valid"


@SOURCES
def test_a_revoked_certificate(registry: Registry, source: Source) -> None:
    registry.revoke("CO-2026-000123", "official", "issued in error", now=later(5))
    v = verify_certificate(scanned(), TRUST, CHECKED_ON, **source(registry, later(60)))
    assert not v.valid
    assert status_of(v, "revoked on 2026-12-01T09:05:00Z under IBC 111.4") == "invalid"
    if source is live:  # the registry knows why; a status list says only the state and since
        assert v.check("status").reason.endswith("under IBC 111.4: issued in error")


@SOURCES
def test_a_suspended_then_reinstated_certificate(registry: Registry, source: Source) -> None:
    registry.suspend("CO-2026-000123", "official", "violation", now=later(5))
    v = verify_certificate(scanned(), TRUST, CHECKED_ON, **source(registry, later(6)))
    assert status_of(v, "suspended on 2026-12-01T09:05:00Z under IBC 111.4") == "invalid"
    assert not v.valid
    if source is live:
        assert v.check("status").reason.endswith(": violation")
    registry.reinstate("CO-2026-000123", "official", "corrected", now=later(7))
    v = verify_certificate(scanned(), TRUST, CHECKED_ON, **source(registry, later(8)))
    assert status_of(v, "valid since 2026-12-01T09:07:00Z") == "valid" and v.valid


@SOURCES
def test_a_superseded_certificate_names_its_successor(registry: Registry, source: Source) -> None:
    registry.issue(record("CO-2", occupant_load=300), who="clerk", now=later(5), supersede=True)
    v = verify_certificate(scanned(), TRUST, CHECKED_ON, **source(registry, later(60)))
    assert status_of(v, "superseded by `CO-2` on 2026-12-01T09:05:00Z") == "invalid"
    assert not v.valid
    successor = verify_certificate(scanned("CO-2", occupant_load=300), TRUST, CHECKED_ON,
                                   **source(registry, later(60)))  # fmt: skip
    assert successor.valid, successor


@SOURCES
def test_a_genuine_signature_on_an_unregistered_certificate(registry: Registry,
                                                            source: Source) -> None:  # fmt: skip
    v = verify_certificate(scanned("CO-404"), TRUST, CHECKED_ON, **source(registry, NOW))
    assert v.check("signature").status == "valid" and not v.valid
    assert status_of(v, "holds no certificate `CO-404`") == "invalid"


def test_a_status_list_of_another_jurisdiction(registry: Registry) -> None:
    other = load_status_list(signed_list(registry, key="kent", jurisdiction="kent"), TRUST,
                             CHECKED_ON)  # fmt: skip
    v = verify_certificate(scanned(), TRUST, CHECKED_ON, status_list=other)
    assert status_of(v, "`kent`'s", "names `houston`") == "invalid"


def test_without_registry_or_list_status_is_skipped() -> None:
    v = verify_certificate(scanned(), TRUST, CHECKED_ON)
    assert checks(v) == {"signature": "valid", "issuer": "valid", "status": "skipped",
                         "content": "skipped"}  # fmt: skip
    assert v.valid  # what ran is valid
    assert v.check("status").reason == "no registry or status list given"


@pytest.mark.parametrize(
    ("given", "status_", "words"),
    [
        (json.dumps(body()), "valid", "is the signed `CO-2026-000123`"),
        (body(), "valid", "SHA-256 of its canonical JSON"),
        (canonical_json(body()), "valid", "canonical JSON"),
        (canonical_json(body()).replace("Travis", "Travls"), "invalid", "was changed"),
        (json.dumps(body(occupant_load=241)), "invalid", "differs from the signed"),
        (json.dumps(body("CO-2")), "invalid", "of `CO-2`, not of the signed `CO-2026-000123`"),
        ("{not json", "invalid", "not JSON"),
        ("[1, 2]", "invalid", "not a JSON object"),
        ({"id": "CO-2026-000123", "x": {1, 2}}, "invalid", "JSON cannot write"),
    ],
)  # fmt: skip
def test_the_content_check(given: Any, status_: str, words: str) -> None:
    v = verify_certificate(scanned(), TRUST, CHECKED_ON, certificate=given)
    assert v.check("content").status == status_
    assert words in v.check("content").reason, v.check("content").reason
    assert v.valid is (status_ == "valid")


def test_a_registry_record_other_than_the_signed_one(registry: Registry) -> None:
    v = verify_certificate(scanned(occupant_load=999), TRUST, CHECKED_ON, registry=registry)
    assert v.check("content").status == "invalid" and not v.valid
    assert "is not the certificate that was signed" in v.check("content").reason
    v = verify_certificate(scanned("CO-404"), TRUST, CHECKED_ON, registry=registry)
    assert v.check("content").status == "skipped"


@pytest.mark.parametrize("text", ["", "garbage", "OC1:", "OC1:00", "https://x/verify/OC1:%%"])
def test_unsigned_or_garbage_input(registry: Registry, text: str) -> None:
    v = verify_certificate(text, TRUST, CHECKED_ON, registry=registry, certificate=body())
    assert not v.valid
    assert (checks(v)["status"], checks(v)["content"]) == ("skipped", "skipped")
    assert "signature is not valid" in v.check("status").reason


def test_an_untrusted_or_forged_signature_skips_status_and_content(registry: Registry) -> None:
    for text in (scanned(key="nobody"), scanned(jurisdiction="kent")):
        v = verify_certificate(text, TRUST, CHECKED_ON, registry=registry, certificate=body())
        assert not v.valid
    forged = verify_certificate(scanned(key="nobody"), TRUST, CHECKED_ON, registry=registry)
    assert checks(forged)["status"] == "skipped"
    wrong_issuer = verify_certificate(scanned(jurisdiction="kent"), TRUST, CHECKED_ON,
                                      registry=registry)  # fmt: skip
    assert checks(wrong_issuer)["issuer"] == "invalid" and not wrong_issuer.valid


def test_an_unreachable_registry_is_the_callers_diagnostic(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    reg = Registry.open(str(path))
    reg.engine.dispose()
    path.unlink()  # the next connection finds no registry there
    with pytest.raises(RegistryError) as info:
        verify_certificate(scanned(), TRUST, CHECKED_ON, registry=reg)
    [d] = info.value.diagnostics
    assert d.code == "certificate/registry-unavailable" and d.span is not None
    reg.close()


def test_the_json_and_text_renderings(registry: Registry) -> None:
    v = verify_certificate(scanned(), TRUST, CHECKED_ON, registry=registry, certificate=body())
    data = verification_json(v)
    assert json.loads(json.dumps(data)) == data
    assert list(data) == ["valid", "certificate", "checks", "claims"]
    assert (data["valid"], data["certificate"]) == (True, "CO-2026-000123")
    assert [c["name"] for c in data["checks"]] == ["signature", "issuer", "status", "content"]
    assert data["claims"]["issued_on"] == "2026-12-01"
    assert data["claims"]["digest"] == certificate_digest(body()).hex()
    lines = verification_text(v).splitlines()
    assert len(lines) == 4
    assert lines[0] == f"signature  valid    signed by the key `{TRUST[0].kid}`"
    assert lines[2] == "status     valid    valid since 2026-12-01T09:00:00Z"
    bad = verification_json(verify_certificate("garbage", TRUST, CHECKED_ON))
    assert (bad["valid"], bad["certificate"], bad["claims"]) == (False, None, None)


def test_valid_means_a_valid_signature_and_every_check_that_ran_valid(registry: Registry) -> None:
    registry.issue(record("CO-2", permit="BP-2"), who="clerk", now=later(1))
    registry.suspend("CO-2", "official", "violation", now=later(2))
    texts = [scanned(), scanned("CO-2", permit="BP-2"), scanned("CO-404"), scanned(key="nobody"),
             "garbage"]  # fmt: skip
    files: list[Any] = [None, body(), body("CO-2", permit="BP-2"), "{}"]
    for text in texts:
        for given_file in files:
            for source in ({}, live(registry, NOW), offline(registry, later(60))):
                v = verify_certificate(text, TRUST, CHECKED_ON, certificate=given_file, **source)
                ran = [c.status for c in v.checks if c.status != "skipped"]
                signed = v.check("signature").status == "valid"
                assert v.valid is (signed and all(s == "valid" for s in ran)), v
                assert [c.name for c in v.checks] == ["signature", "issuer", "status", "content"]
