"""The printed certificate and its email (issue 12): certificate + signed QR → PDF → a real
decoder → verify; what the PDF says as text; its determinism; and the .eml that carries it."""

from __future__ import annotations

import copy
import email
import email.policy
import io
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fpdf import FPDF
from pypdf import PdfReader

from engine.certificates import document, keys, payload, qr
from engine.certificates.document import certificate_pdf, decode_pdf
from engine.certificates.keys import CertificateError, TrustedKey
from engine.certificates.mail import certificate_email
from engine.certificates.payload import Claims, sign, verify
from tests.conftest import ROOT

BASE = "https://certificates.example.org/houston/verify/"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))  # fixed, never a real key
TRUST = (TrustedKey(keys.key_id(KEY.public_key()), KEY.public_key(), "houston",
                    date(2026, 1, 1), date(2030, 12, 31)),)  # fmt: skip
ADDRESS = "1200 Travis Street, Houston, TX 77002"
SENT_AT = datetime(2026, 12, 1, 9, 30, tzinfo=timezone(timedelta(hours=-6)))
STRESS = {
    "vietnamese": "Số 12 đường Nguyễn Huệ, Quận 1, Thành phố Hồ Chí Minh",
    "cjk": "王小明 (李氏建筑有限公司)",
    "arabic": "مرحبا بالعالم — شركة البناء",
    "emoji": "Café 🏢✅ rooftop",
}


def item(ident: str, label: str, text: str, *citations: str) -> dict[str, Any]:
    return {"id": ident, "label": label, "value": text, "text": text,
            "citations": list(citations or ["IBC 111.2"])}  # fmt: skip


def certificate(**changes: Any) -> dict[str, Any]:
    cert: dict[str, Any] = {
        "format": "ordinance-certificate/1",
        "id": "CO-7KQ2M-4XD9A",
        "title": "Certificate of Occupancy",
        "jurisdiction": {"id": "houston", "title": "City of Houston, Texas"},
        "case": "HOU-2024-0042",
        "issued_on": "2026-12-01",
        "revision": {"id": "cal-2024",
                     "title": "Certificate of occupancy fee schedule, calendar 2024",
                     "basis": {"by": "as_of", "date": "2026-12-01"}},
        "policy_digest": "3f" * 32,
        "key_id": keys.key_id(KEY.public_key()),
        "verify_url": BASE,
        "supersedes": None,
        "items": [
            item("permit_number", "The building permit number", "BP-2024-0042"),
            item("address", "The address of the structure", ADDRESS),
            item("design_occupant_load", "The design occupant load", "240"),
            item("recipients", "Who the certificate is issued to", "applicant@example.com",
                 "Houston CO Issued To"),
        ],
        "basis": [{"decision": "co.can_issue", "text": "The certificate can be issued: every "
                   "final approval is recorded.", "citations": ["CO Issuance Workflow"]}],
    }  # fmt: skip
    cert.update(changes)
    return cert


def signed_text(cert: dict[str, Any]) -> str:
    claims = Claims(
        certificate_id=cert["id"], jurisdiction="houston", permit="BP-2024-0042",
        address=ADDRESS, issued_on=date(2026, 12, 1),
        use="B (Business)", occupant_load=240, area=18500, revision="cal-2024",
        digest=payload.certificate_digest(cert),
    )  # fmt: skip
    return sign(claims, KEY, keys.key_id_bytes(KEY.public_key()))


def build(cert: dict[str, Any], text: str | None = None) -> bytes:
    return certificate_pdf(cert, qr.make_qr(BASE, text or signed_text(cert)))


def pdf_text(data: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def words(text: str) -> str:
    return " ".join(text.split())


def stressed() -> dict[str, Any]:
    extra = [item(f"local_{i}", f"Local item {i}: {name}", text, "Local 1.2")
             for i, (name, text) in enumerate(STRESS.items())]  # fmt: skip
    extra += [item(f"filler_{i}", f"Condition {i} of the permit", "Keep the exits clear. " * 3)
              for i in range(12)]  # fmt: skip
    special = ("The fire alarm system shall be tested every quarter and logged. " * 40)[:2000]
    extra.append(item("special", "Special stipulations and conditions", special))
    cert = certificate()
    cert["items"] = cert["items"] + extra
    return cert


# --- the round trip ---------------------------------------------------------------------------


def test_pdf_decode_verify_round_trip(tmp_path: Path) -> None:
    cert = certificate()
    text = signed_text(cert)
    (tmp_path / "co.pdf").write_bytes(build(cert, text))
    scanned = decode_pdf(tmp_path / "co.pdf")
    assert scanned == qr.verification_url(BASE, text)
    v = verify(scanned, TRUST, date(2026, 12, 2))
    assert v.valid, v
    assert v.claims is not None and v.claims.digest == payload.certificate_digest(cert)


def test_one_changed_character_in_the_printed_payload_does_not_verify(tmp_path: Path) -> None:
    text = signed_text(certificate())
    at = len(text) // 2
    changed = text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]
    (tmp_path / "co.pdf").write_bytes(build(certificate(), changed))
    assert not verify(decode_pdf(tmp_path / "co.pdf"), TRUST, date(2026, 12, 2)).valid


# --- what it says -----------------------------------------------------------------------------


def test_the_pdf_states_the_id_every_item_its_citations_and_what_it_supersedes() -> None:
    cert = certificate(supersedes="CO-2QX7M-88KDA")
    pages, text = pdf_text(build(cert))
    assert pages == 1
    flat = words(text)
    expected = [
        "Certificate of Occupancy",
        "City of Houston, Texas",
        "CO-7KQ2M-4XD9A",
        "December 1, 2026",
        "HOU-2024-0042",
        "Supersedes certificate CO-2QX7M-88KDA",
        "The certificate can be issued",
        "cal-2024",
        "3f" * 32,
        "Scan to verify",
    ]
    for entry in cert["items"]:
        expected += [entry["label"], entry["text"], *entry["citations"]]
    missing = [e for e in expected if e not in flat]
    assert not missing, flat


def test_no_supersedes_line_when_it_replaces_nothing() -> None:
    assert "Supersedes" not in pdf_text(build(certificate()))[1]


def qr_placements(data: bytes) -> list[tuple[int, float, float]]:
    """(page, width mm, height mm) of every image drawn, from the PDF's own page objects."""
    pdf = pdfium.PdfDocument(data)
    found = []
    for index in range(len(pdf)):
        for obj in pdf[index].get_objects(filter=[pdfium.raw.FPDF_PAGEOBJ_IMAGE]):
            left, bottom, right, top = obj.get_bounds()
            found.append((index + 1, (right - left) / 72 * 25.4, (top - bottom) / 72 * 25.4))
    pdf.close()
    return found


def test_the_qr_code_is_printed_on_page_one_at_least_35_mm_wide() -> None:
    cert = stressed()
    code = qr.make_qr(BASE, signed_text(cert))
    data = certificate_pdf(cert, code)
    ((page, width, height),) = qr_placements(data)
    assert page == 1
    assert width == pytest.approx(height) and width >= 35
    assert width == pytest.approx(document.qr_width_mm(code), abs=0.01)  # 300 dpi, not resampled


HAS_DEJAVU = (document.FONT_DIR / document.FONT_FILES[""]).is_file()


@pytest.mark.skipif(not HAS_DEJAVU, reason="DejaVu Sans is not installed (fonts-dejavu-core)")
def test_unicode_stress_still_prints_within_two_pages_and_scans(tmp_path: Path) -> None:
    cert = stressed()
    data = build(cert)
    pages, text = pdf_text(data)
    assert pages == 2
    assert STRESS["vietnamese"] in words(text)
    assert "Keep the exits clear." in text and "logged." in text
    assert "\ufffd" in text  # CJK and emoji DejaVu lacks print as the replacement character
    (tmp_path / "co.pdf").write_bytes(data)
    assert verify(decode_pdf(tmp_path / "co.pdf"), TRUST, date(2026, 12, 2)).valid


def test_without_dejavu_the_page_falls_back_to_helvetica(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(document, "FONT_DIR", tmp_path)  # no font files there
    data = build(stressed())
    pages, text = pdf_text(data)
    assert pages <= 2
    assert "CO-7KQ2M-4XD9A" in text and "Caf" in text
    assert "S? 12 ???ng Nguy?n" in words(text)  # outside Latin-1: '?'
    (tmp_path / "co.pdf").write_bytes(data)
    assert decode_pdf(tmp_path / "co.pdf").startswith(BASE + "OC1:")


# --- determinism ------------------------------------------------------------------------------


def test_the_same_certificate_and_code_give_the_same_bytes() -> None:
    cert = certificate()
    assert build(cert) == build(copy.deepcopy(cert))
    meta = PdfReader(io.BytesIO(build(cert))).metadata
    assert meta is not None
    assert meta["/CreationDate"].startswith("D:20261201000000")
    assert meta["/Producer"] == "ordinance"
    assert meta["/Title"] == "Certificate of Occupancy CO-7KQ2M-4XD9A"


BUILD_IN_CHILD = """
import json, sys
from engine.certificates import document, qr
cert, text = json.loads(sys.argv[1]), sys.argv[2]
sys.stdout.buffer.write(document.certificate_pdf(cert, qr.make_qr(cert["verify_url"], text)))
"""


def test_another_process_in_another_time_zone_gives_the_same_bytes() -> None:
    cert = certificate(supersedes="CO-2QX7M-88KDA")
    text = signed_text(cert)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "Pacific/Kiritimati", "LC_ALL": "C"}
    command = [sys.executable, "-c", BUILD_IN_CHILD, json.dumps(cert), text]
    child = subprocess.run(command, capture_output=True, env=env, cwd=ROOT, timeout=60, check=True)
    assert child.stdout == build(cert, text)


# --- what cannot be read ----------------------------------------------------------------------


def blank_pdf(pages: int = 1, size: tuple[float, float] = (215.9, 279.4)) -> bytes:
    pdf = FPDF(unit="mm", format=size)
    pdf.set_font("helvetica", size=12)
    for _ in range(pages):
        pdf.add_page()
        pdf.cell(0, 10, "No code on this page")
    return bytes(pdf.output())


@pytest.mark.parametrize(
    ("name", "content", "code", "words_"),
    [
        ("not.pdf", b"this is not a PDF at all", "certificate/bad-pdf", "cannot read"),
        ("empty.pdf", b"", "certificate/bad-pdf", "cannot read"),
        ("blank.pdf", blank_pdf(), "certificate/no-qr", "no QR code"),
        ("long.pdf", blank_pdf(pages=11), "certificate/bad-pdf", "11 pages"),
        ("poster.pdf", blank_pdf(size=(1000, 1000)), "certificate/bad-pdf", "larger than"),
    ],
)
def test_a_file_without_a_readable_code_is_a_diagnostic(tmp_path, name, content, code,
                                                        words_) -> None:  # fmt: skip
    (tmp_path / name).write_bytes(content)
    with pytest.raises(CertificateError) as exc:
        decode_pdf(tmp_path / name)
    (d,) = exc.value.diagnostics
    assert (d.code, d.help is not None) == (code, True)
    assert name in d.message and words_ in d.message


def test_a_truncated_or_missing_pdf_is_a_diagnostic(tmp_path: Path) -> None:
    data = build(certificate())
    (tmp_path / "cut.pdf").write_bytes(data[: len(data) // 3])
    for name in ("cut.pdf", "missing.pdf"):
        with pytest.raises(CertificateError) as exc:
            decode_pdf(tmp_path / name)
        assert exc.value.diagnostics[0].code in {"certificate/bad-pdf", "certificate/no-qr"}


# --- the email --------------------------------------------------------------------------------


def mail(cert: dict[str, Any] | None = None, **changes: Any) -> tuple[bytes, bytes]:
    cert = cert or certificate()
    pdf = build(cert)
    arguments: dict[str, Any] = {"sender": "Permits <permits@city.example.gov>",
                                 "recipients": ["applicant@example.com",
                                                "Nguyễn Văn A <nva@example.com>"],
                                 "sent_at": SENT_AT}  # fmt: skip
    return pdf, certificate_email(cert, pdf, **{**arguments, **changes})


def test_the_email_carries_the_pdf_and_says_what_it_is() -> None:
    cert = certificate(supersedes="CO-2QX7M-88KDA")
    pdf, raw = mail(cert)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["From"] == "Permits <permits@city.example.gov>"
    assert [a.addr_spec for a in message["To"].addresses] == ["applicant@example.com",
                                                              "nva@example.com"]  # fmt: skip
    assert message["To"].addresses[1].display_name == "Nguyễn Văn A"
    assert message["Subject"] == ("Certificate of Occupancy CO-7KQ2M-4XD9A — "
                                  "1200 Travis Street, Houston, TX 77002")  # fmt: skip
    assert message["Date"].datetime == SENT_AT
    assert message["Message-ID"] == "<CO-7KQ2M-4XD9A.20261201T153000Z@city.example.gov>"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    for expected in (
        "CO-7KQ2M-4XD9A",
        "supersedes certificate CO-2QX7M-88KDA",
        "The design occupant load: 240",
        "ordinance certificate verify CO-7KQ2M-4XD9A.pdf --trust keys.json",
    ):
        assert expected in text
    (attachment,) = message.iter_attachments()
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "CO-7KQ2M-4XD9A.pdf"
    assert attachment.get_content() == pdf


@pytest.mark.parametrize("address", [*STRESS.values(), ADDRESS + " " + "Ünit 4 " * 20])
def test_a_non_ascii_subject_reads_back_as_written(address: str) -> None:
    cert = certificate()
    cert["items"][1] = item("address", "The address of the structure", address)
    raw = mail(cert)[1]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == f"Certificate of Occupancy CO-7KQ2M-4XD9A — {address.strip()}"
    assert address.strip() in message.get_body().get_content()
    head = raw.split(b"\r\n\r\n", 1)[0]
    subject = head[head.index(b"Subject:") : head.index(b"\r\nDate:")]
    assert head.isascii() and max(map(len, subject.split(b"\r\n"))) <= 78


def test_the_same_inputs_give_the_same_email_bytes() -> None:
    assert mail()[1] == mail()[1]
    assert mail()[1] != mail(sent_at=SENT_AT + timedelta(days=1))[1]
    assert b"\r\n" in mail()[1]  # SMTP line ends


@pytest.mark.parametrize(
    "bad",
    ["applicant@example.com\r\nBcc: everyone@example.com", "a@example.com\nX: y",
     "a@example.com, b@example.com", "not an address", "x <a@example.com> y", "émile@exemple.fr"],
)  # fmt: skip
def test_a_recipient_that_is_not_one_address_is_refused(bad: str) -> None:
    with pytest.raises(CertificateError) as exc:
        mail(recipients=["applicant@example.com", bad])
    (d,) = exc.value.diagnostics
    assert d.code == "certificate/bad-recipient" and d.help
    assert "\n" not in d.message


def test_a_bad_sender_no_recipients_and_a_naive_time_are_refused() -> None:
    with pytest.raises(CertificateError) as exc:
        mail(sender="permits@city.example.gov\r\nBcc: x@example.com")
    assert exc.value.diagnostics[0].code == "certificate/bad-recipient"
    with pytest.raises(CertificateError) as exc:
        mail(recipients=[])
    assert exc.value.diagnostics[0].code == "certificate/no-recipients"
    with pytest.raises(ValueError, match="timezone-aware"):
        mail(sent_at=datetime(2026, 12, 1, 9, 30))
