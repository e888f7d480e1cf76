"""The email that carries a certificate of occupancy to whom it is issued: the canonical
certificate and its PDF → an RFC 5322 message (.eml), the same bytes for the same input.

In: the canonical certificate, the PDF bytes of ``document.certificate_pdf``, the sender, the
recipients and the time of sending. Out: the message in SMTP form (CRLF line ends), ready for a
mail server or to be kept as a record of what was sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

from engine.addresses import HELP, parse_address, shown
from engine.certificates.document import long_date
from engine.certificates.keys import CertificateError
from engine.diagnostics import Diagnostic


def certificate_email(certificate: Mapping[str, Any], pdf: bytes, *, sender: str,
                      recipients: list[str], sent_at: datetime) -> bytes:  # fmt: skip
    """The message: a plain-text body saying what the certificate states and how to verify it,
    with the PDF attached as ``<id>.pdf``.

    Nothing random goes in: the Message-ID is made of the certificate id, the time of sending
    and the sender's domain (a resend at another time is another message, which mail clients
    would otherwise drop as a duplicate), and the MIME boundary is a hash of the content.

    Raises:
        CertificateError: ``certificate/no-recipients`` for an empty list,
            ``certificate/bad-recipient`` for a sender or recipient that is not one plain
            address (a line break in it would let it write headers of its own).
        ValueError: ``sent_at`` has no time zone (a Date header must state its offset).
    """
    if sent_at.tzinfo is None or sent_at.utcoffset() is None:
        raise ValueError("sent_at must be timezone-aware")
    from_, to = check_addresses(sender, recipients)
    ident = str(certificate["id"])
    body = email_text(certificate)
    message = EmailMessage(policy=SMTP)
    message["From"] = from_
    message["To"] = to
    _set_subject(message, _subject(certificate))
    message["Date"] = format_datetime(sent_at)
    stamp = sent_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    message["Message-ID"] = f"<{ident}.{stamp}@{from_.domain}>"
    message.set_content(body)
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"{ident}.pdf")
    digest = hashlib.sha256(body.encode("utf-8") + b"\0" + pdf).hexdigest()[:32]
    # "=_" never occurs in base64 or quoted-printable, and a 7-bit body cannot hold the hash of
    # itself: the boundary cannot occur in a part.
    message.set_boundary(f"=_ordinance_{digest}")
    return message.as_bytes(policy=SMTP)


def check_addresses(sender: str, recipients: list[str]) -> tuple[Address, list[Address]]:
    """The sender and the recipients as addresses, checked before anything is made of them.

    Raises:
        CertificateError: ``certificate/no-recipients`` or ``certificate/bad-recipient``.
    """
    if not recipients:
        raise CertificateError([Diagnostic(
            "certificate/no-recipients", "the certificate has no one to be emailed to",
            help="give at least one recipient address (the certificate's `recipients` item)",
        )])  # fmt: skip
    return _address(sender, "sender"), [_address(r, "recipient") for r in recipients]


def _address(text: str, role: str) -> Address:
    address = parse_address(text)
    if address is None:
        raise CertificateError([Diagnostic(
            "certificate/bad-recipient", f"the {role} `{shown(text)}` is not one email address",
            help=HELP)])  # fmt: skip
    return address


def _item_text(certificate: Mapping[str, Any], item_id: str) -> str | None:
    for item in certificate.get("items") or []:
        if item.get("id") == item_id:
            return " ".join(str(item.get("text", "")).split())
    return None


def _subject(certificate: Mapping[str, Any]) -> str:
    title = certificate.get("title") or "Certificate of Occupancy"
    address = _item_text(certificate, "address")
    subject = f"{title} {certificate['id']}" + (f" — {address}" if address else "")
    return " ".join(subject.split())  # a header value holds no line break


def _set_subject(message: EmailMessage, subject: str) -> None:
    """Set a subject so it reads back as written.

    The policy's folder (Python 3.11) can fold a non-ASCII subject at a space between two
    encoded words, and RFC 2047 decoders drop the space there ("phố Hồ" reads "phốHồ"; a
    kin of python/cpython#144156). ``email.header.Header`` keeps each space inside an encoded
    word; ``set_raw`` stores its lines (78 characters at most) so the policy does not refold
    them. An ASCII subject is folded by the policy, at its spaces, which is lossless.
    """
    if subject.isascii():
        message["Subject"] = subject
    else:
        message.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode())


def email_text(certificate: Mapping[str, Any]) -> str:
    """The body for the person it is issued to: what the attachment is, what it states and how
    anyone can check it is genuine."""
    ident = certificate["id"]
    jurisdiction = (certificate.get("jurisdiction") or {}).get("title", "")
    lines = [
        str(jurisdiction),
        "",
        f"{certificate.get('title') or 'Certificate of Occupancy'} {ident}, issued on "
        f"{long_date(str(certificate['issued_on']))}"
        + (f" (case {certificate['case']})." if certificate.get("case") else "."),
        "",
        f"The certificate is attached as {ident}.pdf. Keep it with the building's records, and "
        "print it where it must be posted on the premises.",
    ]
    if certificate.get("supersedes"):
        lines += ["", f"It supersedes certificate {certificate['supersedes']}, which is no "
                  "longer in effect."]  # fmt: skip
    lines += ["", "What it states:", ""]
    for item in certificate.get("items") or []:
        cited = "; ".join(str(c) for c in item.get("citations") or [])
        lines.append(f"- {item.get('label', '')}: {' '.join(str(item.get('text', '')).split())}"
                     + (f" ({cited})" if cited else ""))  # fmt: skip
    lines += [
        "", "How to check it is genuine:",
        "- scan the QR code on the certificate with a phone camera, or",
        f"- run `ordinance certificate verify {ident}.pdf --trust keys.json` with the "
        "jurisdiction's published trust list (keys.json).",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"
