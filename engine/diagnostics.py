"""One diagnostic type for every stage: a stable code, a message, a file:line:column span with the
source line and a caret, related spans, the section involved and a help line.

Rendered in full for people, one line per problem for editors, JSON for tools.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal

from engine.printable import printable
from engine.source import Lines, read_bounded
from engine.source import Span as Span  # re-exported: a diagnostic's place

Severity = Literal["error", "warning"]
# Where a diagnostic's page is: the documentation site's page for its code (set
# ORDINANCE_DOCS_URL to the site's address), else the section of docs/diagnostics.md.
DOCS_URL = os.environ.get("ORDINANCE_DOCS_URL", "").rstrip("/")


def docs_link(code: str) -> str:
    """The link printed under a diagnostic.

    >>> docs_link("graph/cycle") if not DOCS_URL else "docs/diagnostics.md (graph/cycle)"
    'docs/diagnostics.md (graph/cycle)'
    """
    return docs_url(code) or f"docs/diagnostics.md ({code})"


def docs_url(code: str) -> str | None:
    """The address of the code's page on the documentation site, when ORDINANCE_DOCS_URL says
    where the site is (an editor follows it from the diagnostic)."""
    return f"{DOCS_URL}/reference/diagnostics/{code.replace('/', '-')}/" if DOCS_URL else None


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a policy or a case file."""

    code: str
    message: str
    span: Span | None = None
    severity: Severity = "error"
    help: str | None = None
    related: tuple[tuple[Span, str], ...] = ()
    citation: str | None = None

    def sort_key(self) -> tuple[Any, ...]:
        s = self.span
        return (s.file, s.line, s.col, self.code) if s else ("", 0, 0, self.code)

    def one_line(self) -> str:
        where = f"{self.span}: " if self.span else ""
        tail = f" ({self.help})" if self.help else ""
        return f"{where}{self.severity}[{self.code}] {self.message}{tail}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
        }
        if self.span:
            out["span"] = {
                "file": self.span.file,
                "line": self.span.line,
                "col": self.span.col,
                "end_line": self.span.end_line,
                "end_col": self.span.end_col,
            }
        if self.help:
            out["help"] = self.help
        if self.citation:
            out["citation"] = self.citation
        if self.related:
            out["related"] = [
                {"file": s.file, "line": s.line, "col": s.col, "message": m}
                for s, m in self.related
            ]
        return out


class OrdinanceError(Exception):
    """Root of the errors a stage raises; carries every diagnostic that stage found."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sorted(dict.fromkeys(diagnostics), key=Diagnostic.sort_key)
        super().__init__("\n".join(d.one_line() for d in self.diagnostics))


class LoadError(OrdinanceError):
    """A file could not be read or is not valid YAML."""


class PolicyError(OrdinanceError):
    """A policy failed validation, layering, type checking or graph checks."""


class CaseError(OrdinanceError):
    """A case file does not fit the policy it names."""


def in_file(diagnostics: Iterable[Diagnostic], file: str) -> list[Diagnostic]:
    """The diagnostics, each one that has no place given the file's first line: a message
    about a case or a policy names at least the file it is about."""
    here = Span(file, 1, 1, 1, 1)
    return [d if d.span else replace(d, span=here) for d in diagnostics]


@dataclass
class Collector:
    """Gathers the diagnostics of one stage; the stage raises them together at its boundary."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(
        self,
        code: str,
        message: str,
        span: Span | None = None,
        *,
        help: str | None = None,
        severity: Severity = "error",
        related: tuple[tuple[Span, str], ...] = (),
        citation: str | None = None,
    ) -> None:
        self.items.append(Diagnostic(code, message, span, severity, help, related, citation))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    def raise_if_errors(self, exc: type[OrdinanceError]) -> None:
        if self.errors:
            raise exc(self.items)


# The source line shown under a diagnostic is read again from the file: within the loader's
# size limit, never from a FIFO or device, split at YAML's line breaks so that line numbers
# agree with the spans. The last few files are kept (a stage reports many problems per file),
# each as long as it is not changed.
SOURCE_MAX_BYTES = 8 * 1024 * 1024


@lru_cache(maxsize=8)
def _source_lines(file: str, version: tuple[int, int]) -> Lines:
    try:
        raw = read_bounded(file, SOURCE_MAX_BYTES)
    except OSError:
        raw = b""
    return Lines(raw.decode("utf-8", errors="replace").removeprefix("\ufeff"))


def _source_line(file: str, line: int) -> str | None:
    try:
        info = os.stat(file)
    except (OSError, ValueError):
        return None
    lines = _source_lines(file, (info.st_mtime_ns, info.st_size))
    return lines.line(line) if lines.text else None


def render_full(d: Diagnostic) -> str:
    """The rendering for people: the source line with a caret under the span.

    >>> print(render_full(Diagnostic("case/unknown-fact", "unknown fact `permit.isued_on`",
    ...                              help="did you mean `permit.issued_on`?")))
    error[case/unknown-fact]: unknown fact `permit.isued_on`
       = help: did you mean `permit.issued_on`?
       = see: docs/diagnostics.md (case/unknown-fact)
    """
    out = [f"{d.severity}[{d.code}]: {d.message}"]
    if d.span:
        out.extend(_snippet(d.span))
    for span, msg in d.related:
        out.append(f"   = note: {span}: {msg}")
    if d.citation:
        out.append(f"   = section: {d.citation}")
    if d.help:
        out.append(f"   = help: {d.help}")
    out.append(f"   = see: {docs_link(d.code)}")
    return "\n".join(out)


def _snippet(span: Span) -> list[str]:
    out = [f"  --> {span}"]
    src = _source_line(span.file, span.line)
    if src is None:
        return out
    src = src.replace("\t", " ")
    num = str(span.line)
    width = span.end_col - span.col if span.end_line == span.line else len(src) - span.col + 1
    src, col = _cut_line(src, span.col)
    width = max(1, min(width, max(1, len(src) - col + 1)))
    # The line is shown with its control characters escaped (`\u202e`, six columns for one):
    # the caret is placed under the escaped text, not under the raw one.
    lead, marked = printable(src[: col - 1]), printable(src[col - 1 : col - 1 + width])
    pad = " " * len(num)
    out += [f"{pad} |", f"{num} | {printable(src)}",
            f"{pad} | {' ' * len(lead)}{'^' * max(1, len(marked))}"]  # fmt: skip
    return out


SHOWN_COLUMNS = 120  # of a long source line (a minified JSON file is one line of megabytes)


def _cut_line(src: str, col: int) -> tuple[str, int]:
    """At most ``SHOWN_COLUMNS`` characters of ``src`` around column ``col``, with ``…`` where
    it was cut; returns the shown text and the column of the same character in it.

    >>> shown, col = _cut_line("x" * 200 + "^" + "y" * 200, 201)
    >>> len(shown), shown[:3], shown[-3:], shown[col - 1]
    (122, '…xx', 'yy…', '^')
    """
    if len(src) <= SHOWN_COLUMNS:
        return src, col
    start = max(0, min(col - 1 - SHOWN_COLUMNS // 3, len(src) - SHOWN_COLUMNS))
    head = "…" if start else ""
    tail = "…" if start + SHOWN_COLUMNS < len(src) else ""
    return head + src[start : start + SHOWN_COLUMNS] + tail, col - start + len(head)


FULL_SHOWN, SHORT_SHOWN = 3, 12


def render(diags: Iterable[Diagnostic], fmt: str = "full") -> str:
    """Render diagnostics as ``full`` (people), ``short`` (editors) or ``json`` (tools).

    People get one screen: the first problems in full, the next ones a line each, then a count
    of the rest (a file given by mistake can have thousands). Editors and tools get every one.
    """
    diags = list(diags)
    if fmt == "json":
        return json.dumps([d.to_json() for d in diags], indent=2, sort_keys=True)
    # Messages quote case values and the full form echoes source lines: shown, never obeyed.
    return printable(_render_people(diags, fmt))


def _render_people(diags: list[Diagnostic], fmt: str) -> str:
    if fmt == "short":
        return "\n".join(d.one_line() for d in diags)
    parts = [render_full(d) for d in diags[:FULL_SHOWN]]
    more = diags[FULL_SHOWN : FULL_SHOWN + SHORT_SHOWN]
    if more:
        parts.append("\n".join(d.one_line() for d in more))
    rest = len(diags) - FULL_SHOWN - len(more)
    if rest > 0:
        parts.append(f"... and {rest} more problem{'s' if rest > 1 else ''} "
                     "(use --format short to list them all)")  # fmt: skip
    return "\n\n".join(parts)
