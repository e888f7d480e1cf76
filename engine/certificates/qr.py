"""The QR symbol: a verification URL (``<base>/<payload>``) → a QR code of error correction Q
within version 20 → a PNG printable 35 mm wide at 300 dpi; and a real decoder for the way back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import segno
from segno.consts import MODE_ALPHANUMERIC, MODE_BYTE

from engine.certificates.keys import CertificateError
from engine.diagnostics import Diagnostic

MAX_VERSION = 20  # beyond this the modules get too small for a phone at 35 mm
PRINT_MM, PRINT_DPI = 35, 300
# base45 writes space, `%` and `/`, which a URL path cannot carry as they are. Percent-escaped,
# they stay in the QR alphanumeric alphabet (`%20`, `%25`, `%2F`), so the payload segment is
# still 5.5 bits a character; the rest of base45's alphabet is safe in a path.
PATH_SAFE = "$*+-.:"


def verification_url(base: str, payload: str) -> str:
    """The URL a phone opens: the jurisdiction's verification base, then the payload.

    >>> verification_url("https://co.example.gov/v/", "OC1:A B/C")
    'https://co.example.gov/v/OC1:A%20B%2FC'
    """
    return f"{base.rstrip('/')}/{quote(payload, safe=PATH_SAFE)}"


def make_qr(base: str, payload: str) -> segno.QRCode:
    """The QR code of the verification URL, error correction Q.

    The base is one segment (byte mode: it may hold lower case) and the escaped payload another
    (alphanumeric mode), which is what keeps a realistic certificate near version 13.

    Raises:
        CertificateError: ``certificate/qr-too-large`` when it needs a version past 20.
    """
    head = f"{base.rstrip('/')}/"
    tail = verification_url(base, payload)[len(head) :]
    try:
        segments: Any = [(head, MODE_BYTE), (tail, MODE_ALPHANUMERIC)]  # typed as one str
        code = segno.make(segments, error="q", boost_error=False, micro=False)
    except segno.DataOverflowError:
        code = None
    if code is None or int(code.version) > MAX_VERSION:
        raise _too_large(len(head) + len(tail))
    return code


def _too_large(length: int) -> CertificateError:
    return CertificateError([Diagnostic(
        "certificate/qr-too-large",
        f"the verification URL ({length} characters) needs a QR code past version {MAX_VERSION}",
        help="shorten the address, the use or the base URL the certificate states",
    )])  # fmt: skip


def module_scale(code: segno.QRCode) -> int:
    """Pixels per module so the symbol with its quiet zone is at least 35 mm at 300 dpi."""
    width_px = -(-PRINT_MM * PRINT_DPI * 10 // 254)  # 35 mm at 300 dpi, rounded up: 414 px
    modules = int(code.symbol_size(scale=1, border=4)[0])
    return -(-width_px // modules)


def qr_png(text: str, path: Path | str, base: str) -> segno.QRCode:
    """Write the QR code of ``text`` (a payload) under ``base`` as a PNG at least 35 mm wide at
    300 dpi; returns the code (its ``version`` is what was printed)."""
    code = make_qr(base, text)
    code.save(str(path), kind="png", scale=module_scale(code), border=4, dpi=PRINT_DPI)
    return code


def decode_image(image: Any) -> str | None:
    """The text of the first valid QR code in a PIL image, read by zxing-cpp; None if none.

    Shared by ``decode_png`` and the PDF reader (``document.decode_pdf``), which renders pages.
    """
    import zxingcpp  # loaded only to read a code back

    qr_only = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    found = zxingcpp.read_barcodes(image.convert("L"), formats=qr_only)
    return str(found[0].text) if found and found[0].valid else None


def _too_many_pixels(exc: Exception) -> str:
    """Pillow's "Image size (N pixels) exceeds limit of M pixels", without its alarm."""
    return f"the image is too large to be a scan: {str(exc).split(', could')[0].lower()}"


def decode_png(path: Path | str) -> str:
    """The text of the one QR code in an image, read by a real decoder (zxing-cpp).

    Raises:
        CertificateError: ``certificate/no-qr`` when the image holds no readable QR code.
    """
    import warnings

    from PIL import Image

    try:
        # Pillow only warns between its limit and twice it; here that is a refusal too, so a
        # small file that decodes to gigabytes never gets to allocate them.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                text = decode_image(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        text, why = None, _too_many_pixels(exc)
    except OSError as exc:
        text, why = None, str(exc)
    else:
        why = "no QR code was found in it"
    if text is None:
        no_qr = Diagnostic("certificate/no-qr", f"cannot read `{path}`: {why}",
                           help="give the PNG of the certificate's QR code")  # fmt: skip
        raise CertificateError([no_qr])
    return text
