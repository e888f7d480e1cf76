"""The printed certificate of occupancy: the canonical certificate and its QR code → a US Letter
PDF that a clerk prints and posts on the premises; and a real decoder that reads the QR code back
from such a PDF, for `ordinance certificate verify`.

In: the canonical certificate (a mapping parsed from JSON, ``ordinance-certificate/1``), the
``segno`` QR code of its signed payload. Out: PDF bytes, the same for the same input.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import segno
from fpdf import FPDF
from fpdf.fonts import TTFFont

from engine.certificates.keys import CertificateError
from engine.certificates.qr import PRINT_DPI, decode_image, module_scale
from engine.diagnostics import Diagnostic

# A TrueType font embeds every character it has as real, extractable text. Debian's
# fonts-dejavu-core puts DejaVu here; without it the page falls back to Helvetica (Latin-1).
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
PRODUCER = "ordinance"  # fixed, not fpdf2's version string: the bytes must not change with it
MM_PER_INCH = 25.4
MARGIN = 18.0  # mm; inside every office printer's unprintable border
# Type sizes (pt) at scale 1; a certificate whose items overflow two pages is set smaller.
SIZES = {"title": 26, "jurisdiction": 13, "heading": 10.5, "label": 8, "text": 10.5,
         "small": 7, "id": 15}  # fmt: skip
SCALES = (1.0, 0.88, 0.76, 0.66)
MAX_PAGES = 2
# decode_pdf renders what it is given: bound the pages and their size so a hostile PDF cannot
# make it allocate without limit (a Letter page at 300 dpi is 2550 x 3300 grey pixels, 8 MB).
MAX_DECODE_PAGES = 10
MAX_PAGE_INCHES = 17  # tabloid's long side; a certificate is Letter
# ... and bound what its compressed streams inflate to: a 500 KB page of drawing operators that
# inflates to 200 MB made the renderer take 4 GB. A certificate inflates to well under 1 MB, a
# scanned page to some tens of MB.
MAX_PDF_BYTES = 32 * 1024 * 1024
MAX_INFLATED_BYTES = 64 * 1024 * 1024
STREAM = re.compile(rb"stream\r?\n")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")  # fmt: skip
VERIFY_HINT = ("Scan to verify, or run", "`ordinance certificate verify`")  # two lines


def long_date(iso: str) -> str:
    """An ISO date as a US reader writes it, without the process locale (which ``%B`` reads).

    >>> long_date("2026-12-01")
    'December 1, 2026'
    """
    day = date.fromisoformat(iso)
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def certificate_pdf(certificate: Mapping[str, Any], qr: segno.QRCode) -> bytes:
    """The printable certificate: one US Letter page, two when the items overflow, the QR code
    on page 1 at least 35 mm wide.

    The bytes depend only on the arguments (and the font file): the creation date is the issue
    date at midnight UTC and fpdf2's file id is a hash of the content. When the items would take
    more than two pages the whole page is set in a smaller size, so a long certificate still
    fits; the smallest size is kept if nothing fits.
    """
    png, width = _qr_png(qr), qr_width_mm(qr)
    for scale in SCALES:
        pdf = _build(certificate, png, width, scale)
        try:
            if pdf.pages_count <= MAX_PAGES or scale == SCALES[-1]:
                return bytes(pdf.output())
        finally:
            _close_fonts(pdf)
    raise AssertionError("unreachable: the last scale always returns")


def _close_fonts(pdf: FPDF) -> None:
    """fpdf2 opens each TrueType file lazily and never closes it; a server issuing many
    certificates would run out of file handles."""
    for font in pdf.fonts.values():
        ttfont = getattr(font, "ttfont", None)
        if ttfont is not None:
            ttfont.close()


def qr_width_mm(qr: segno.QRCode) -> float:
    """The printed width of the QR code (quiet zone included): its pixels at 300 dpi."""
    return qr.symbol_size(scale=module_scale(qr), border=4)[0] / PRINT_DPI * MM_PER_INCH


def _qr_png(qr: segno.QRCode) -> io.BytesIO:
    out = io.BytesIO()
    qr.save(out, kind="png", scale=module_scale(qr), border=4, dpi=PRINT_DPI)
    out.seek(0)
    return out


class _Page(FPDF):
    """US Letter in millimetres, with the certificate id and page number at the foot of each
    page (a posted page that comes loose still says what it belongs to)."""

    def __init__(self, certificate: Mapping[str, Any], scale: float) -> None:
        super().__init__(orientation="portrait", unit="mm", format="letter")
        self.certificate, self.scale = certificate, scale
        self.family, self.glyphs = _add_fonts(self)
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=MARGIN + 4)

    def use(self, role: str, style: str = "", grey: int = 0) -> float:
        """Set the type of ``role``; returns its line height in mm."""
        size = max(SIZES[role] * self.scale, 6.0)  # 6 pt: the smallest a posted page can show
        self.set_font(self.family, style, size)
        self.set_text_color(grey)
        return size * 0.3528 * 1.3  # pt → mm, with 30 % leading

    def clean(self, text: object) -> str:
        """One line of what the fonts can draw. DejaVu has most scripts; a character it lacks
        (CJK, emoji) would vanish from the page without a trace, so it prints as U+FFFD, the
        replacement character, and the reader sees that something is missing. The Helvetica
        fallback gets Latin-1, with '?' for the rest."""
        value = " ".join(str(text).split()) if text is not None else ""
        if self.glyphs is None:
            return value.encode("latin-1", "replace").decode("latin-1")
        return "".join(c if ord(c) in self.glyphs else "\ufffd" for c in value)

    def write_block(self, role: str, text: object, *, style: str = "", grey: int = 0,
                    w: float = 0, align: str = "L") -> None:  # fmt: skip
        """A wrapped paragraph at the current position; the next one starts under it."""
        x = self.get_x()
        line = self.use(role, style, grey)
        self.multi_cell(w, line, self.clean(text), align=align, new_x="LEFT", new_y="NEXT")
        self.set_x(x)

    def footer(self) -> None:
        self.set_y(-MARGIN)
        self.use("small", grey=110)
        ident = self.clean(self.certificate.get("id", ""))
        self.cell(0, 4, f"Certificate {ident} · page {self.page_no()} of {{nb}}", align="C")

    def rule(self, grey: int = 0, width: float = 0.2) -> None:
        self.set_draw_color(grey)
        self.set_line_width(width)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())


def _add_fonts(pdf: FPDF) -> tuple[str, frozenset[int] | None]:
    """Embed DejaVu Sans when the system has it (family ``Body``, with the code points both its
    styles can draw), else use core Helvetica (no glyph set: Latin-1)."""
    if not all((FONT_DIR / name).is_file() for name in FONT_FILES.values()):
        return "helvetica", None
    for style, name in FONT_FILES.items():
        pdf.add_font("Body", style, str(FONT_DIR / name))
    regular, bold = pdf.fonts["body"], pdf.fonts["bodyB"]
    assert isinstance(regular, TTFFont) and isinstance(bold, TTFFont)
    return "Body", frozenset(regular.cmap).intersection(bold.cmap)


def _build(certificate: Mapping[str, Any], png: io.BytesIO, width: float, scale: float) -> _Page:
    pdf = _Page(certificate, scale)
    _set_metadata(pdf, certificate)
    pdf.add_page()
    _heading(pdf, certificate)
    _identity_and_qr(pdf, certificate, png, width)
    _items(pdf, certificate.get("items") or [])
    _basis(pdf, certificate.get("basis") or [])
    _small_print(pdf, certificate)
    return pdf


def _set_metadata(pdf: _Page, certificate: Mapping[str, Any]) -> None:
    issued = date.fromisoformat(str(certificate["issued_on"]))
    pdf.set_creation_date(datetime(issued.year, issued.month, issued.day, tzinfo=UTC))
    pdf.set_producer(PRODUCER)
    pdf.set_creator(PRODUCER)
    title = f"{certificate.get('title', 'Certificate of Occupancy')} {certificate.get('id', '')}"
    pdf.set_title(pdf.clean(title))
    pdf.set_subject(pdf.clean(_jurisdiction(certificate)))
    pdf.set_lang("en-US")


def _jurisdiction(certificate: Mapping[str, Any]) -> str:
    jurisdiction = certificate.get("jurisdiction") or {}
    return str(jurisdiction.get("title") or jurisdiction.get("id") or "")


def _heading(pdf: _Page, certificate: Mapping[str, Any]) -> None:
    pdf.write_block("jurisdiction", _jurisdiction(certificate), grey=60, align="C")
    pdf.ln(1)
    title = certificate.get("title") or "Certificate of Occupancy"
    pdf.write_block("title", title, style="B", align="C")
    pdf.ln(2)
    pdf.rule(width=0.6)
    pdf.ln(1)
    pdf.rule(width=0.2)
    pdf.ln(6)


def _identity_and_qr(pdf: _Page, certificate: Mapping[str, Any], png: io.BytesIO,
                     width: float) -> None:  # fmt: skip
    """The certificate's number, date, case and what it supersedes on the left; the QR code
    with how to verify it on the right, at its 300 dpi size (35 mm and more)."""
    top = pdf.get_y()
    left = pdf.epw - width - 10
    for label, value in _identity(certificate):
        pdf.write_block("label", label, grey=100, w=left)
        pdf.write_block("id" if label == "Certificate number" else "text", value,
                        style="B", w=left)  # fmt: skip
        pdf.ln(2.5)
    bottom_left = pdf.get_y()
    pdf.image(png, x=pdf.w - pdf.r_margin - width, y=top - 2, w=width, h=width,
              alt_text="QR code to verify this certificate")  # fmt: skip
    pdf.set_xy(pdf.w - pdf.r_margin - width, top - 2 + width)
    for line in VERIFY_HINT:
        pdf.write_block("small", line, grey=60, w=width, align="C")
    pdf.set_xy(pdf.l_margin, max(bottom_left, pdf.get_y()) + 3)


def _identity(certificate: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    yield "Certificate number", str(certificate.get("id", ""))
    yield "Issued on", long_date(str(certificate["issued_on"]))
    if certificate.get("case"):
        yield "Case", str(certificate["case"])
    if certificate.get("supersedes"):
        yield (
            "Replaces an earlier certificate",
            f"Supersedes certificate {certificate['supersedes']}",
        )


LABEL_WIDTH = 58.0  # mm: the longest IBC 111.2 label wraps to two lines at most


def _items(pdf: _Page, items: list[Mapping[str, Any]]) -> None:
    """Each item as a row: its label on the left; its text and citations on the right. A row
    that fits on one page is not split; a longer one flows on."""
    pdf.write_block("heading", "This certificate states", style="B")
    pdf.ln(1)
    pdf.rule(grey=120, width=0.3)
    for item in items:
        _row(pdf, str(item.get("label", "")), str(item.get("text", "")),
             _citations(item.get("citations")))  # fmt: skip
    pdf.ln(5)


def _row(pdf: _Page, label: str, text: str, citations: str) -> None:
    needed = _row_height(pdf, label, text, citations)
    if pdf.get_y() + needed > pdf.page_break_trigger and needed < pdf.eph:
        pdf.add_page()
    pdf.ln(2)
    top, page = pdf.get_y(), pdf.page
    pdf.write_block("label", label, style="B", grey=80, w=LABEL_WIDTH - 4)
    label_bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + LABEL_WIDTH, top)
    pdf.write_block("text", text)
    if citations:
        pdf.write_block("small", citations, grey=100)
    if pdf.page == page:
        pdf.set_y(max(label_bottom, pdf.get_y()))
    pdf.set_x(pdf.l_margin)
    pdf.ln(1.5)
    pdf.rule(grey=200)


def _row_height(pdf: _Page, label: str, text: str, citations: str) -> float:
    def height(role: str, value: str, w: float, style: str = "") -> float:
        if not value:
            return 0.0
        line = pdf.use(role, style)
        lines = pdf.multi_cell(w, line, pdf.clean(value), dry_run=True, output="LINES")
        assert isinstance(lines, list)
        return len(lines) * line

    right = pdf.epw - LABEL_WIDTH
    body = height("text", text, right) + height("small", citations, right)
    return max(height("label", label, LABEL_WIDTH - 4, "B"), body) + 3.5


def _citations(citations: Any) -> str:
    return "; ".join(str(c) for c in citations or [])


def _basis(pdf: _Page, basis: list[Mapping[str, Any]]) -> None:
    if not basis:
        return
    pdf.write_block("heading", "Issued on the basis of", style="B")
    pdf.ln(1)
    for decision in basis:
        pdf.write_block("text", decision.get("text", ""))
        cited = _citations(decision.get("citations"))
        pdf.write_block("small", f"{decision.get('decision', '')} · {cited}".strip(" ·"),
                        grey=100)  # fmt: skip
        pdf.ln(1.5)
    pdf.ln(3)


def _small_print(pdf: _Page, certificate: Mapping[str, Any]) -> None:
    """What a reviewer needs to reproduce the decision: the policy revision and how it was
    chosen, the digest of the policy and the key that signed the QR code."""
    revision = certificate.get("revision") or {}
    basis = revision.get("basis") or {}
    chosen = f", chosen by the case's {basis.get('by')} date {basis.get('date')}" if basis else ""
    lines = [
        f"Policy revision {revision.get('id', '')}: {revision.get('title', '')}{chosen}.",
        f"Policy digest (SHA-256) {certificate.get('policy_digest', '')}.",
        f"Signed with key {certificate.get('key_id', '')}; "
        f"verify at {certificate.get('verify_url', '')}",
    ]
    pdf.rule(grey=160)
    pdf.ln(1.5)
    for line in lines:
        pdf.write_block("small", line, grey=90)


def decode_pdf(path: Path | str) -> str:
    """The text of the first QR code on a PDF's pages, rendered at 300 dpi and read by a real
    decoder (zxing-cpp), as a phone would read the printed page.

    Raises:
        CertificateError: ``certificate/bad-pdf`` when the file cannot be opened as a PDF, has
            more than 10 pages or a page larger than 17 inches; ``certificate/no-qr`` when no
            page holds a readable QR code.
    """
    import pypdfium2 as pdfium  # type: ignore[import-untyped]  # loaded only to read a PDF back

    _check_inflated(path)
    try:
        document = pdfium.PdfDocument(Path(path))
    except (pdfium.PdfiumError, OSError) as exc:
        raise _bad_pdf(path, str(exc) or "it is not a PDF") from None
    try:
        return _decode_pages(document, path)
    finally:
        document.close()


def _check_inflated(path: Path | str) -> None:
    """Refuse a PDF larger than 32 MB, or whose compressed streams inflate past 64 MB (nested
    compression included), before the renderer inflates them without a bound.

    Raises:
        CertificateError: ``certificate/bad-pdf``.
    """
    try:
        if Path(path).stat().st_size > MAX_PDF_BYTES:
            raise _bad_pdf(path, f"it is larger than {MAX_PDF_BYTES // 2**20} MB")
        data = Path(path).read_bytes()
    except OSError as exc:
        raise _bad_pdf(path, exc.strerror or str(exc)) from None
    budget = MAX_INFLATED_BYTES
    for match in STREAM.finditer(data):
        end = data.find(b"endstream", match.end())
        budget -= _inflated_size(data[match.end() : end if end >= 0 else len(data)], budget)
        if budget < 0:
            raise _bad_pdf(path, f"its compressed content inflates past "
                           f"{MAX_INFLATED_BYTES // 2**20} MB")  # fmt: skip


def _inflated_size(raw: bytes, budget: int, depth: int = 0) -> int:
    """How much ``raw`` inflates to (zlib, nested up to three times), stopping past ``budget``;
    0 for what is not zlib data (an image in JPEG, say)."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(raw, budget + 1)
    except zlib.error:
        return 0
    if depth < 2 and out[:1] in (b"x", b"h", b"X"):  # a zlib header: compressed again
        return max(len(out), _inflated_size(out, budget, depth + 1))
    return len(out) + (1 if inflater.unconsumed_tail else 0)


def _decode_pages(document: Any, path: Path | str) -> str:
    if len(document) > MAX_DECODE_PAGES:
        raise _bad_pdf(path, f"it has {len(document)} pages, more than {MAX_DECODE_PAGES}")
    for index in range(len(document)):
        page = document[index]
        width, height = page.get_size()  # points, 1/72 inch
        if max(width, height) > MAX_PAGE_INCHES * 72:
            raise _bad_pdf(path, f"page {index + 1} is larger than {MAX_PAGE_INCHES} inches")
        image = page.render(scale=PRINT_DPI / 72, grayscale=True).to_pil()
        text = decode_image(image)
        if text is not None:
            return text
    raise CertificateError([Diagnostic(
        "certificate/no-qr", f"cannot read `{path}`: no QR code was found on its pages",
        help="give the PDF of the certificate as it was issued, or a sharper scan of it",
    )])  # fmt: skip


def _bad_pdf(path: Path | str, why: str) -> CertificateError:
    return CertificateError([Diagnostic(
        "certificate/bad-pdf", f"cannot read `{path}` as a certificate PDF: {why}",
        help="give the PDF file that `ordinance certificate issue` wrote",
    )])  # fmt: skip
