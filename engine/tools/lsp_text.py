"""Positions for the language server (``engine.tools.lsp``): a ``Span`` (lines and columns from
1, columns in characters, lines broken where YAML breaks them) to and from an LSP position
(both from 0, columns in the client's code units, lines broken at CR LF, CR and LF only), and
what word of a line a position is on.

The two line counts differ on NEL, LS and PS (YAML breaks a line there, LSP does not) and the
two column counts on every character outside the Basic Multilingual Plane (two UTF-16 units),
so every conversion goes through a character offset into the text, where they agree.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache

from engine.compile.load import load_text
from engine.diagnostics import LoadError
from engine.source import Document, Lines, Path_, Span

# LSP's line breaks (the specification's: "\n", "\r\n" and "\r").
_LSP_BREAK = re.compile("\r\n|\r|\n")
# A fact or rule id, a DSL function or a ruleset name: dotted names, `-` allowed after the
# first character (ruleset names); what the cursor is on is taken from the line around it.
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*")
_QUOTED = re.compile(r'"([^"\\\n]*)"')  # a DSL string literal (no escapes in a citation)
_CITATION = re.compile(r"[A-Z][A-Za-z]*\s+\d")  # `IBC 105.5`, `KCC 14.01.030.D`, not `IBC`
WINDOW = 400  # characters each side of the cursor that are looked at (a line can be 8 MiB)

Units = Callable[[str], int]  # how many of the client's code units a text is


def utf16_units(text: str) -> int:
    """LSP's default column count: UTF-16 code units.

    >>> utf16_units("a€😀")
    4
    """
    return len(text) + sum(ord(ch) > 0xFFFF for ch in text)


@dataclass
class Text:
    """One file's text, with both line tables built when first needed."""

    text: str
    units: Units = utf16_units

    @cached_property
    def yaml_lines(self) -> Lines:
        return Lines(self.text)

    @cached_property
    def lsp_starts(self) -> list[int]:
        return [0, *(m.end() for m in _LSP_BREAK.finditer(self.text))]

    def offset_of(self, line: int, col: int) -> int:
        """The offset of a Span's line and column (from 1), clamped to the text."""
        starts = self.yaml_lines.starts
        if line > len(starts):
            return len(self.text)
        start = starts[max(line, 1) - 1]
        end = starts[line] if line < len(starts) else len(self.text)
        return min(start + max(col, 1) - 1, end)

    def position(self, offset: int) -> tuple[int, int]:
        """The LSP line and character (from 0, in code units) of ``offset``.

        >>> Text("a\\x85😀b\\nc").position(4), Text("a\\x85😀b\\nc").position(5)
        ((0, 5), (1, 0))
        """
        offset = max(0, min(offset, len(self.text)))
        line = bisect_right(self.lsp_starts, offset) - 1
        start = self.lsp_starts[line]
        return line, self.units(self.text[start:offset])

    def offset(self, line: int, character: int) -> int:
        """The offset of an LSP position; past the end of its line is the line's end (as the
        specification says), past the last line is the end of the text."""
        if line < 0:
            return 0
        if line >= len(self.lsp_starts):
            return len(self.text)
        start = self.lsp_starts[line]
        end = self.lsp_starts[line + 1] if line + 1 < len(self.lsp_starts) else len(self.text)
        while end > start and self.text[end - 1] in "\r\n":
            end -= 1
        used, at = 0, start
        while at < end and used < character:
            used += self.units(self.text[at])
            at += 1
        return at

    def span_range(self, span: Span) -> tuple[tuple[int, int], tuple[int, int]]:
        """The LSP start and end of ``span`` in this text.

        >>> Text("id: x\\nfacts:\\n  a.b: 1\\n").span_range(Span("f", 3, 3, 3, 6))
        ((2, 2), (2, 5))
        """
        start = self.offset_of(span.line, span.col)
        end = max(start, self.offset_of(span.end_line, span.end_col))
        return self.position(start), self.position(end)

    def line_around(self, offset: int) -> tuple[str, int]:
        """At most ``WINDOW`` characters of the line on each side of ``offset``, and where
        ``offset`` is in that piece.

        >>> Text("a: x\\rb: permit.code\\r\\n").line_around(8)
        ('b: permit.code', 3)
        """
        start = max(self.text.rfind("\n", 0, offset), self.text.rfind("\r", 0, offset)) + 1
        start = max(start, offset - WINDOW)
        ends = [i for i in (self.text.find("\n", offset), self.text.find("\r", offset)) if i >= 0]
        end = min([*ends, len(self.text), offset + WINDOW])
        return self.text[start:end], offset - start


def word_at(piece: str, at: int) -> tuple[str, int, int] | None:
    """The dotted name under (or just before) position ``at`` of ``piece``, with its start
    and end; None when there is none.

    >>> word_at("value: permit.issued_on + 3 years", 10)
    ('permit.issued_on', 7, 23)
    >>> word_at("when: is_business_day(d)", 12)
    ('is_business_day', 6, 21)
    """
    for found in _WORD.finditer(piece):
        if found.start() <= at <= found.end():
            return found.group(), found.start(), found.end()
        if found.start() > at:
            break
    return None


def prefix_at(piece: str, at: int) -> tuple[str, int]:
    """The part of a dotted name typed before position ``at`` (for completion), and where it
    starts; ``("", at)`` when the cursor follows no name.

    >>> prefix_at("when: permit.iss", 16), prefix_at("value: 1 + ", 11)
    (('permit.iss', 6), ('', 11))
    """
    found = re.search(r"[A-Za-z_][A-Za-z0-9_.-]*$", piece[:at])
    return (found.group(), found.start()) if found else ("", at)


# What the cursor is on -----------------------------------------------------------------------

# The YAML places whose value names something other than a fact or rule: (kind, test on the
# path of the value). Elsewhere (expressions, explanation templates, ids) the word under the
# cursor is looked up as a fact, rule, function or ruleset.
_PLACES: tuple[tuple[str, Callable[[Path_], bool]], ...] = (
    ("jurisdiction", lambda p: p == ("extends",)),
    ("ruleset", lambda p: len(p) > 1 and p[-2] == "use" and isinstance(p[-1], int)),
    ("citation", lambda p: p[-1:] == ("citation",) or (p[-1:] == ("section",) and "amends" in p)),
)


@dataclass(frozen=True)
class Target:
    """What a position is on: its kind (``name``, ``citation``, ``ruleset``, ``jurisdiction``),
    the name or citation, and its start and end offsets in the text."""

    kind: str
    name: str
    start: int
    end: int


def target_at(text: str, offset: int) -> Target | None:
    """What ``offset`` of a policy file's ``text`` is on (the YAML value it is in when the
    text is YAML, else the word under it)."""
    found = _yaml_target(text, offset)
    if found is not None:
        return found
    piece, at = Text(text).line_around(offset)
    for quoted in _QUOTED.finditer(piece):  # `in_force("IPMC 604")`: a citation in a string
        if quoted.start() < at < quoted.end() and _CITATION.match(quoted.group(1)):
            return Target("citation", " ".join(quoted.group(1).split()),
                          offset - at + quoted.start(1), offset - at + quoted.end(1))  # fmt: skip
    word = word_at(piece, at)
    if word is None:
        return None
    name, start, end = word
    return Target("name", name, offset - at + start, offset - at + end)


@lru_cache(maxsize=4)
def _document(text: str) -> Document | None:
    """The buffer as YAML, kept for the next request on the same text (a hover, then a
    definition, on a file of megabytes)."""
    try:
        return load_text(text, "buffer")
    except LoadError:
        return None


def _yaml_target(text: str, offset: int) -> Target | None:
    doc = _document(text)
    if doc is None:
        return None
    inside = [(e - s, path, s, e) for path, (s, e) in doc.values.items() if s <= offset <= e]
    if not inside:
        return None
    _, path, start, end = min(inside, key=lambda x: x[0])
    value = doc.data_at(path) if path else None
    kind = next((k for k, test in _PLACES if path and test(path)), None)
    if kind is None or not isinstance(value, str):
        return None
    return Target(kind, " ".join(value.split()), start, end)


def completion_kind(text: str, offset: int) -> tuple[str, int]:
    """What to complete at ``offset``: ``citation`` after ``section:``, ``jurisdiction`` after
    ``extends:``, ``ruleset`` in a ``use:`` list, else ``name`` (facts, rules, functions);
    and where the text to replace starts.

    >>> completion_kind("    use: [kcc-permit", 20), completion_kind("  section: IBC 10", 17)
    (('ruleset', 10), ('citation', 11))
    """
    start = text.rfind("\n", 0, offset) + 1
    line = text[start:offset]
    for kind, pattern in (("citation", r"^\s*(?:-\s+)?section:\s*"),
                          ("jurisdiction", r"^\s*extends:\s*"),
                          ("ruleset", r"^\s*(?:-\s+)?use:\s*\[(?:[^\]]*,)?\s*")):  # fmt: skip
        found = re.match(pattern, line)
        if found:
            return kind, start + found.end()
    item = re.match(r"^(\s*)-\s+(?=[\w-]*$)", line)
    if item and _under_use(text, start, len(item.group(1))):
        return "ruleset", start + item.end()
    _, at = prefix_at(line, len(line))
    return "name", start + at


def _under_use(text: str, line_start: int, indent: int) -> bool:
    """Whether the list item on the line at ``line_start`` belongs to a ``use:`` key."""
    lines = text[:line_start].splitlines()[-200:]
    for line in reversed(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        lead = len(line) - len(line.lstrip())
        if lead < indent or (lead == indent and not line.lstrip().startswith("-")):
            return re.match(r"^\s*(?:-\s+)?use:\s*$", line) is not None
    return False
