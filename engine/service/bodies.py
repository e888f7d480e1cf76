"""Request bodies to cases, fast when they are right and located when they are wrong.

A well-formed body is parsed with orjson and handed to the run time as a mapping: nothing on
that path touches YAML. Only a body that is refused is read again with the policy loader's
composer (``engine.compile.load.load_text``), which knows where every key and value is, so a
client gets the same diagnostics as ``ordinance eval`` with positions into the request body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from engine.compile.load import load_text
from engine.diagnostics import CaseError, Diagnostic, LoadError, OrdinanceError, Span
from engine.run.facts import Case, case_from_dict
from engine.source import Document, Path_

T = TypeVar("T")
BODY = "request.json"  # the name diagnostics give the body


class BodyError(Exception):
    """A request the service refuses: an HTTP status and the diagnostics that say why."""

    def __init__(self, status: int, diagnostics: list[Diagnostic]) -> None:
        super().__init__(status)
        self.status = status
        self.diagnostics = diagnostics


def parse(body: bytes) -> Any:
    """The JSON of a request body, or a 400 ``BodyError`` located in it."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, _located_syntax(body, exc)) from None


def _located_syntax(body: bytes, exc: orjson.JSONDecodeError) -> list[Diagnostic]:
    if not body.strip():
        return [Diagnostic("load/empty", "the request body is empty", Span(BODY, 1, 1, 1, 1),
                           help="send a case as JSON (`jurisdiction`, `facts`, …)")]  # fmt: skip
    try:
        load_text(body, BODY)
    except LoadError as located:
        return list(located.diagnostics)
    except OrdinanceError as other:
        return list(other.diagnostics)
    # YAML's JSON reading accepted what orjson did not (a NaN, a duplicate key…): say orjson's
    return [Diagnostic("load/json-syntax", f"invalid JSON: {exc.msg}",
                       _at(body, exc.pos), help="send strict JSON (RFC 8259)")]  # fmt: skip


def _at(body: bytes, pos: int) -> Span:
    text = body[:pos].decode("utf-8", "replace")
    line = text.count("\n") + 1
    col = len(text) - (text.rfind("\n") + 1) + 1
    return Span(BODY, line, col, line, col)


def located(body: bytes, prefix: Path_, work: Callable[[Case], T], data: Any = None) -> T:
    """Run ``work`` on the case at ``prefix`` of the body again, read with positions, so the
    ``CaseError`` it raises is located in the body. Called only after the fast path refused.

    ``data`` is the case as the fast path parsed it: when the composer cannot read what orjson
    could (a key YAML takes for something else), the diagnostics are the unlocated ones of the
    mapping, never a second, confusing syntax error.
    """
    try:
        sub = sub_document(load_text(body, BODY), prefix)
    except OrdinanceError:
        sub = Document(BODY, "", data)
    if not isinstance(sub.data, dict):
        raise CaseError([Diagnostic(
            "case/not-a-mapping", "a case must be a JSON object with `jurisdiction` and `facts`",
            sub.span(()) if sub.text else Span(BODY, 1, 1, 1, 1))])  # fmt: skip
    return work(case_from_dict(sub.data, sub if sub.text else None))


def sub_document(doc: Document, prefix: Path_) -> Document:
    """The part of ``doc`` at ``prefix`` as a document of its own, positions kept (the case at
    ``cases[3]`` of a batch body is located where it is in the body)."""
    if not prefix:
        return doc
    n = len(prefix)
    data = doc.data
    for step in prefix:
        data = data[step]
    return Document(
        doc.file,
        doc.text,
        data,
        {p[n:]: v for p, v in doc.values.items() if p[:n] == prefix},
        {p[n:]: v for p, v in doc.keys.items() if p[:n] == prefix and len(p) > n},
        {p[n:]: v for p, v in doc.raw.items() if p[:n] == prefix},
    )
