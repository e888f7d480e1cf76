"""One plain email address, checked the same way where a policy names a sender (at compile
time) and where an email is written (``mail``): imports nothing heavier than the standard
library, so checking a policy does not load the PDF or crypto libraries."""

from __future__ import annotations

from email.errors import HeaderParseError
from email.headerregistry import Address
from email.utils import parseaddr

HELP = ("give each address alone, like `applicant@example.com`, without line breaks; an "
        "address with non-ASCII characters needs its ASCII (punycode) form")  # fmt: skip


def parse_address(text: str) -> Address | None:
    """One plain address (``a@b.example`` or ``Name <a@b.example>``), ASCII in its address
    part; None for anything else.

    ``parseaddr`` forgives much (a list, a comment, a line break); the parsed address is
    accepted only when it is what the text says, so nothing of the text is left unread.

    >>> parse_address("Permit Center <co@city.example>").domain
    'city.example'
    >>> parse_address("a@b.example, c@d.example") is None
    True
    """
    name, spec = parseaddr(text)
    local, _, domain = spec.rpartition("@")
    plain = text.strip() in (spec, f"<{spec}>", f"{name} <{spec}>", f'"{name}" <{spec}>')
    unsafe = any(ord(c) < 32 or ord(c) == 127 for c in text) or not spec.isascii()
    if unsafe or not plain or not local or "." not in domain:
        return None
    try:
        return Address(display_name=name, addr_spec=spec)
    except (ValueError, IndexError, HeaderParseError):
        return None


SHOWN = 200  # characters of a value a message quotes; a 10,000-address list is not repeated


def shown(text: str) -> str:
    """The text with a line break shown as ``\\n``, for a message that quotes it, cut short
    when it is long.

    >>> shown("a@b.example\\r\\nBcc: c@d.example")
    'a@b.example\\\\r\\\\nBcc: c@d.example'
    >>> shown("x" * 500)[-26:]
    'x… (500 characters in all)'
    """
    escaped = text.encode("unicode-escape").decode("ascii")
    if len(escaped) <= SHOWN:
        return escaped
    return f"{escaped[:SHOWN]}… ({len(text):,} characters in all)"
