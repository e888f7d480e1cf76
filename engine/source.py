"""Source text, shared by the loader (stage 1) and the diagnostics: a file read within a size
limit without blocking, and YAML's line breaks, so that every line:column computed anywhere
agrees with the one the YAML parser reports.
"""

from __future__ import annotations

import os
import re
import stat
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from itertools import accumulate, count, islice, repeat
from operator import add
from pathlib import Path

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
