"""Output safety for every renderer: text from case files and policy, made safe to print on a
terminal (``printable``) or to place in Markdown (``md_text``, ``md_code``, ``md_fence``) and in
Mermaid labels (``mermaid_text``). Case files are untrusted, policy authors write law, not markup:
what they wrote is shown as written, never obeyed by a terminal, a Markdown renderer or a browser.
"""

from __future__ import annotations

import html
import re

# C0 and C1 controls but newline and tab (the renderers' own layout), and the bidirectional
# overrides, embeddings and isolates that reorder what a reader sees (Trojan Source).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Python-Markdown's code span: a run of backticks, text, the same run (content shown literally).
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
# Outside code spans: links (`[..](javascript:..)`), attribute lists (`{: onclick=..}`), table
# cells (`|`), a stray backtick that would pair with one of ours, and the backslash itself (so
# none of these escapes can be undone).
_MD_SPECIAL = re.compile(r"([\\\[\]{}|`])")
# `%` too: a label must never start a Mermaid directive (`%%{init: …}%%`) or comment (`%%`).
_MERMAID_SPECIAL = re.compile(r"[\"<>&#`%]")


def printable(text: str) -> str:
    r"""Text with every control character shown as its escape, so it cannot drive a terminal.

    Applied once to a whole rendering (its layout uses only newlines and tabs).

    >>> printable("CASE-1\x1b[2J\u202eevil")
    'CASE-1\\x1b[2J\\u202eevil'
    """
    return _CONTROL.sub(_escape, text)


def one_line(text: str) -> str:
    r"""Text that must stay on its line of a text rendering (a case id, an explanation that
    quotes a case's text): a line break in it is shown as ``\n``, so a case cannot print lines
    that look like decisions. Controls are left to ``printable``, applied to the whole.

    >>> one_line("A-1\nco.issuable = true")
    'A-1\\nco.issuable = true'
    """
    return text.replace("\n", "\\n")


def printable_json(text: str) -> str:
    r"""JSON text with the same characters escaped the JSON way (``\u001b``), which keeps it
    valid JSON meaning exactly the same: they can only stand inside its strings.

    >>> printable_json('{"case": "A' + chr(0x202E) + 'B"}')
    '{"case": "A\\u202eB"}'
    """
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def md_text(text: str) -> str:
    """Policy or case text as one line of Markdown that shows exactly as written.

    HTML is escaped (a ``<script>`` in a title is text), and so is the Markdown that makes
    links, attributes or table cells; line breaks become spaces so the text stays in its
    heading, cell or list item. Emphasis and code spans are kept: authors use them in prose.

    >>> md_text('<img src=x onerror="alert(1)"> | `a < b`')
    '&lt;img src=x onerror="alert(1)"&gt; \\\\| `a < b`'
    """
    text = " ".join(printable(text).split())
    out, last = [], 0
    for span in _CODE_SPAN.finditer(text):
        out += [_md_plain(text[last : span.start()]), span.group()]
        last = span.end()
    return "".join([*out, _md_plain(text[last:])])


def _md_plain(text: str) -> str:
    escaped = _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))
    # A line of law that starts with `#` is text, not a heading on the page and in its contents.
    return "\\" + escaped if escaped.startswith("#") else escaped


def md_lines(text: str) -> list[str]:
    """Multi-line policy text, each line escaped as ``md_text`` (for quotes and admonitions)."""
    return [md_text(line) for line in text.strip().splitlines()]


def md_code(text: str) -> str:
    """Text as an inline code span that no backtick in it can close early.

    >>> md_code("a ` b")
    '`` a ` b ``'
    """
    text = " ".join(printable(text).split())
    ticks = "`" * (_longest_run(text) + 1)
    pad = " " if "`" in text else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def md_cell_code(text: str) -> str:
    """``md_code`` for a table cell of GitHub's Markdown (a CI job summary), where a ``|``
    ends the cell even inside a code span unless it is escaped; GitHub shows ``\\|`` there as
    ``|``.

    >>> md_cell_code('permit.code == "A|B"')
    '`permit.code == "A\\\\|B"`'
    """
    return md_code(text).replace("|", "\\|")


def md_fence(text: str, info: str) -> list[str]:
    """Text as a fenced code block, its fence longer than any run of backticks inside it."""
    fence = "`" * max(3, _longest_run(text) + 1)
    return [fence + info, printable(text), fence]


def _longest_run(text: str) -> int:
    return max((len(run) for run in re.findall("`+", text)), default=0)


def mermaid_text(text: str) -> str:
    """Text for a quoted Mermaid label: Mermaid draws labels as HTML and reads ``#name;`` as an
    entity, so quotes, markup, ``#`` and ``%`` (which starts directives) become its numeric
    entity codes.

    >>> mermaid_text('Get "final" <b> %%{init: {}}%%')
    'Get #34;final#34; #60;b#62; #37;#37;{init: {}}#37;#37;'
    """
    text = " ".join(printable(text).split())
    return _MERMAID_SPECIAL.sub(lambda m: f"#{ord(m.group())};", text)
