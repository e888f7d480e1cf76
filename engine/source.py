"""Source text and positions, shared by the loader (stage 1), the diagnostics and the run
time: a file read within a size limit without blocking, YAML's line breaks (so that every
line:column computed anywhere agrees with the one the YAML parser reports), ``Span`` and the
loaded ``Document`` with where each of its values sits.

Nothing here parses YAML: a case given as a mapping carries no document, and one read from a
file carries the ``Document`` the loader (``engine.compile.load``) made, so the run time can
place a bad fact without importing the parser.
"""

from __future__ import annotations

import os
import re
import stat
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate, count, islice, repeat
from operator import add
from pathlib import Path
from typing import Any

# YAML 1.1 line breaks, as PyYAML's reader and libyaml count them: CR LF, CR, LF, NEL, LS, PS.
# (Python's str.splitlines also breaks on VT, FF and FS/GS/RS, which YAML does not.)
LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
LINE_BREAK_GROUP = re.compile("(\r\n|[\r\n\x85\u2028\u2029])")
_OTHER_BREAKS = re.compile("[\r\x85\u2028\u2029]")


class NotAFileError(OSError):
    """The path names something that is not a regular file (``kind`` says what it is)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"is {kind}, not a file")
        self.kind = kind


class TooLargeError(OSError):
    """The file holds more than the limit it was read with."""


class Lines:
    """The lines of a text, split where YAML splits them, for line:column lookups.

    The table of line starts is built on first use (most documents never need a position) and
    kept compact: a file of 8 MiB of newlines has 8 million lines.

    >>> lines = Lines("a\\r\\nb\\rc\\x0cd\\n")
    >>> [lines.position(i) for i in (0, 3, 5, 6, 9)], lines.line(3), len(lines)
    ([(1, 1), (2, 1), (3, 1), (3, 2), (4, 1)], 'c\\x0cd', 4)
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts: array[int] | None = None

    @property
    def starts(self) -> array[int]:
        if self._starts is None:
            self._starts = _line_starts(self.text)
        return self._starts

    def __len__(self) -> int:
        return len(self.starts)

    def position(self, index: int) -> tuple[int, int]:
        """Line and column (both from 1) of the character at ``index``."""
        line = bisect_right(self.starts, index)
        return line, index - self.starts[line - 1] + 1

    def line(self, number: int) -> str | None:
        """The text of line ``number`` (from 1) without its line break; None past the end."""
        if not 0 < number <= len(self):
            return None
        if number == len(self):
            return self.text[self.starts[number - 1] :]
        text = self.text[self.starts[number - 1] : self.starts[number]]
        return text[:-2] if text.endswith("\r\n") else text[:-1]


_CHUNK = 1 << 20


def _line_starts(text: str) -> array[int]:
    """Where each line starts, found by C loops over chunks of the text: a Python loop over
    the 8 million breaks of an abusive file would take seconds, and splitting it whole would
    make 8 million strings at once."""
    starts = array("q", [0])
    plain = _OTHER_BREAKS.search(text) is None  # only LF: str.split, faster than a regex
    pos = 0
    while pos < len(text):
        end = pos + _CHUNK
        end += text[end - 1 : end + 1] == "\r\n"  # never cut a CR LF in two
        chunk = text[pos:end]
        after: Iterator[int]
        if plain:
            after = map(add, accumulate(map(len, chunk.split("\n")[:-1])), count(1))
        else:  # line, break, line, break, …, line: a line starts after each break
            after = islice(accumulate(map(len, LINE_BREAK_GROUP.split(chunk))), 1, None, 2)
        starts.extend(map(add, after, repeat(pos)))
        pos = end
    return starts


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in plain words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    kinds = [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
             (stat.S_ISBLK, "a device")]  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def read_bounded(path: Path | str, limit: int) -> bytes:
    """The bytes of a regular file, refusing one that holds more than ``limit``.

    The size is checked before reading, and at most ``limit + 1`` bytes are read, since a file
    can grow meanwhile and /proc files report a size of 0. A FIFO, device, socket or directory
    is refused before it is opened (opening a FIFO blocks); ``O_NONBLOCK`` closes the race of
    one replacing the file between the check and the open.

    Raises:
        NotAFileError: the path is not a regular file.
        TooLargeError: the file holds more than ``limit`` bytes.
        OSError: it cannot be read.
    """
    info = os.stat(path)
    kind = _kind(info.st_mode)
    if kind is not None:
        raise NotAFileError(kind)
    if info.st_size > limit:
        raise TooLargeError(f"larger than {limit} bytes")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        kind = _kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise NotAFileError(kind)
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise TooLargeError(f"larger than {limit} bytes")
    return b"".join(chunks)


@dataclass(frozen=True, order=True)
class Span:
    """A region of a file; lines and columns count from 1, ``end_col`` is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


Path_ = tuple[str | int, ...]


@dataclass
class Document:
    """A loaded file: ``data`` (dicts, lists, str, int, float, bool, None; timestamps stay as
    their ISO text) and where each value and key sits in the file."""

    file: str
    text: str
    data: Any
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)  # path → (start, end) index
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    raw: dict[Path_, str] = field(default_factory=dict)  # scalar text as written
    lines: Lines = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.lines = Lines(self.text)  # YAML's line breaks, as the parser counts them

    def _pos(self, index: int) -> tuple[int, int]:
        return self.lines.position(index)

    def span_of(self, start: int, end: int) -> Span:
        (l1, c1), (l2, c2) = self._pos(start), self._pos(max(start, end))
        return Span(self.file, l1, c1, l2, c2)

    def span(self, path: Path_, *, key: bool = False) -> Span:
        """Where the value (or, with ``key``, the key) at ``path`` is; falls back to the nearest
        enclosing node that has a position (a list item has no key: its value is used)."""
        p = path
        while p:
            if key and p in self.keys:
                return self.span_of(*self.keys[p])
            if p in self.values and (not key or isinstance(p[-1], int)):
                return self.span_of(*self.values[p])
            if not key and p in self.keys:
                return self.span_of(*self.keys[p])
            p = p[:-1]
        return self.span_of(*self.values.get((), (0, 0)))

    def expr_span(self, path: Path_, start: int, end: int) -> Span:
        """Map offsets inside the scalar string at ``path`` to a file span (for DSL errors).

        The scalar's text in the file may differ from its value (quotes, block indentation,
        folding), so offsets are aligned by walking both texts.
        """
        value = self.data_at(path)
        if path not in self.values or not isinstance(value, str):
            return self.span(path)
        s0, s1 = self.values[path]
        src = self.text[s0:s1]
        a = _align(value, src, start)
        b = _align(value, src, max(start, end - 1)) + (1 if end > start else 0)
        return self.span_of(s0 + a, s0 + b)

    def data_at(self, path: Path_) -> Any:
        node = self.data
        for part in path:
            node = node[part]
        return node


def _align(value: str, src: str, offset: int) -> int:
    """Index in ``src`` of the character at ``offset`` in ``value``: greedy match of equal
    characters, skipping what the YAML syntax added (quotes, indentation, block markers)."""
    j = 0
    # Skip the block header (| or >) or the opening quote.
    if src[:1] in "|>":
        j = src.find("\n") + 1
    elif src[:1] in "\"'":
        j = 1
    for i, ch in enumerate(value):
        while j < len(src) and src[j] != ch:
            j += 1
        if i == offset:
            return min(j, len(src))
        j += 1
    return min(j, len(src))


def display_path(path: Path | str) -> str:
    """A path as the user should see it: relative to the working directory when inside it."""
    p = Path(path)
    try:
        return os.path.relpath(p) if p.is_absolute() and str(p).startswith(os.getcwd()) else str(p)
    except ValueError:
        return str(p)
