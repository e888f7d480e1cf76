"""Pipeline stage 1, load: a YAML (or JSON) file → plain data plus the position of every node.

Only the YAML composer runs on user text; nodes are converted here by hand, so no tag can
construct an object. Aliases are expanded under a node budget (no "billion laughs"), nesting is
bounded, duplicate keys are errors, and every problem is a located ``Diagnostic``.
"""

from __future__ import annotations

import codecs
import copy
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import Reader
from yaml.resolver import Resolver

from engine.diagnostics import CaseError, Collector, Diagnostic, LoadError, Span
from engine.run.facts import Case, case_from_dict
from engine.source import (
    Document,
    Lines,
    NotAFileError,
    Path_,
    TooLargeError,
    display_path,
    read_bounded,
)

# One budget for the work a document can cause: at most MAX_NODES nodes in the file, and at most
# MAX_NODES values once aliases and merge keys are expanded (each value, and each pair a merge
# copies, spends one). Every step of composing and converting spends from it, so time and memory
# are bounded by it whatever the aliases and merges are.
MAX_NODES = 200_000
MAX_DEPTH = 64
MAX_BYTES = 8 * 1024 * 1024
# The pure-Python parser is asked only when libyaml refuses a file (for its better messages,
# and for JSON that libyaml rejects, such as tab indentation). It reads 100 to 150 KiB a second
# (less on a busy machine; a file of 1 MiB took 16 s), so a larger file gets libyaml's message.
PURE_MAX_BYTES = 64 * 1024

_TAG = "tag:yaml.org,2002:"
# libyaml's parser when PyYAML was built with it (ten times faster, same marks); its events
# are composed here, so the loader class matters for speed, never for what gets constructed.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SURROGATE = re.compile("[\ud800-\udfff]")
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
# The characters YAML 1.1 refuses in a stream (libyaml's too): PyYAML's own compiled pattern,
# which is this one (tests/test_security_load.py), and not compiled a second time at import.
_NON_PRINTABLE = Reader.NON_PRINTABLE
_ESCAPES = {0x00: "\\0", 0x07: "\\a", 0x08: "\\b", 0x0B: "\\v", 0x0C: "\\f", 0x1B: "\\e"}


# The text an editor holds for files not yet saved, by resolved path (the language server sets
# it around one check): read instead of the file, so a policy is checked as its author sees it.
# A context variable, so that a check running in another thread reads only its own.
_UNSAVED: ContextVar[Mapping[str, str] | None] = ContextVar("unsaved", default=None)


@contextmanager
def unsaved_text(texts: Mapping[Path, str]) -> Iterator[None]:
    """While the block runs, ``load_document`` reads each of ``texts`` instead of its file."""
    token = _UNSAVED.set({str(p.resolve()): text for p, text in texts.items()})
    try:
        yield
    finally:
        _UNSAVED.reset(token)


def load_document(path: Path | str, display: str | None = None) -> Document:
    """Read and compose one file safely (or the unsaved text given for it: ``unsaved_text``).

    Raises:
        LoadError: the file cannot be read, is not a regular file, is empty, binary, malformed,
            or abusive.
    """
    name = display or display_path(path)
    unsaved = _UNSAVED.get()
    if unsaved and (text := unsaved.get(str(Path(path).resolve()))) is not None:
        return load_text(text, name)
    here = Span(name, 1, 1, 1, 1)
    try:
        raw = read_bounded(path, MAX_BYTES)
    except NotAFileError as exc:
        raise _fail("load/unreadable", f"`{name}` {exc}", here,
                    "give the path of a YAML or JSON file") from None  # fmt: skip
    except TooLargeError:
        raise _too_large_file(here) from None
    except OSError as exc:
        reason = exc.strerror or "not a readable file"
        raise _fail("load/unreadable", f"cannot read `{name}`: {reason}", here,
                    "check the path and its permissions") from None  # fmt: skip
    return load_text(raw, name)


def _fail(code: str, message: str, span: Span, help: str | None = None,
          related: tuple[tuple[Span, str], ...] = ()) -> LoadError:  # fmt: skip
    return LoadError([Diagnostic(code, message, span, help=help, related=related)])


def _too_large_file(span: Span) -> LoadError:
    return _fail("load/too-large", f"the file is larger than {MAX_BYTES >> 20} MiB", span)


def load_text(raw: bytes | str, name: str) -> Document:
    """Compose YAML text into a Document (see ``load_document``)."""
    here = Span(name, 1, 1, 1, 1)
    if len(raw) > MAX_BYTES:
        raise _too_large_file(here)
    text = _decode(raw, name) if isinstance(raw, bytes) else raw.removeprefix("\ufeff")
    if not text.strip():
        raise _fail("load/empty", "the file is empty", here,
                    "write the file's content (a case needs `jurisdiction:` and `facts:`), or "
                    "delete the file")  # fmt: skip
    doc = Document(name, text, None)
    _check_printable(doc)
    kind = "JSON" if name.endswith(".json") else "YAML"
    try:
        root = _compose(text, json=kind == "JSON")
    except _Limit as exc:
        raise exc.error(doc) from None
    except yaml.MarkedYAMLError as exc:
        if exc.problem_mark and "maximum nesting depth" in (exc.problem or ""):  # libyaml's
            raise _too_deep(exc.problem_mark.index).error(doc) from None
        raise _syntax_error(exc, doc, kind) from None
    except yaml.YAMLError as exc:  # not raised by PyYAML 6 on checked text; kept as a net
        raise _fail("load/yaml-syntax", f"invalid {kind}: {_problem(exc)}", here) from None
    if root is None:
        raise _fail("load/empty", "the file holds no data", here)
    conv = _Converter(doc)
    try:
        doc.data = conv.convert(root, (), 0)
    except _Limit as exc:
        conv.problems.items.append(exc.diagnostic(doc))
    conv.problems.raise_if_errors(LoadError)
    return doc


def _decode(raw: bytes, name: str) -> str:
    """UTF-8 text without its byte order mark (which is not part of line 1)."""
    if b"\x00" in raw:
        raise _fail("load/binary", "the file is binary, not YAML or JSON", Span(name, 1, 1, 1, 1),
                    "give a YAML or JSON text file")  # fmt: skip
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        return raw[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:  # its position counts from after the BOM
        before = raw[bom : bom + exc.start].decode("utf-8")  # valid up to the first bad byte
        line, col = Lines(before).position(len(before))
        where = Span(name, line, col, line, col + 1)
        message = f"the file is not UTF-8 text (byte {bom + exc.start})"
        raise _fail("load/encoding", message, where, "save the file as UTF-8") from None


def _check_printable(doc: Document) -> None:
    """YAML refuses control characters anywhere in a file, even in comments; say which one,
    where it is, and how to write it instead (the parsers say neither)."""
    found = _NON_PRINTABLE.search(doc.text)
    if found is None:
        return
    code = ord(found.group())
    control = code < 0x20 or 0x7F <= code <= 0x9F
    what = "the control character" if control else "the character"
    if not control:
        fix = "remove it"
    elif doc.file.endswith(".json"):
        fix = f"remove it, or write it as the escape `\\u{code:04x}` inside a string"
    else:
        esc = _ESCAPES.get(code, f"\\x{code:02x}")
        fix = f"remove it, or write it as the escape `{esc}` inside double quotes"
    raise _fail("load/yaml-syntax", f"{what} U+{code:04X} is not allowed in YAML",
                doc.span_of(found.start(), found.end()), fix)  # fmt: skip


def _problem(exc: yaml.YAMLError) -> str:
    """The parser's own words, without its position text (``in "<unicode string>"…``)."""
    text = getattr(exc, "problem", None) or str(exc)
    return str(text).split("\n")[0]


def _syntax_error(exc: yaml.MarkedYAMLError, doc: Document, kind: str) -> LoadError:
    """The parser's problem at its position, with where the construct it was in began.

    Positions come from the marks' character index, through the same line breaks as every
    other span (libyaml's line numbers differ at the end of a file without a final newline).
    """
    mark = exc.problem_mark or exc.context_mark
    index = min(mark.index, len(doc.text)) if mark else 0
    span = doc.span_of(index, index + 1)
    problem = (exc.problem or f"invalid {kind}").replace("\n", " ")
    source = doc.lines.line(span.line) or ""
    hint = _yaml_hint(problem)
    if "\t" in source[: max(span.col, 1)] or "'\\t'" in problem:
        hint = "indent with spaces, not tabs"
    related: tuple[tuple[Span, str], ...] = ()
    ctx = exc.context_mark
    if ctx is not None and exc.problem_mark is not None and exc.context:
        at = min(ctx.index, len(doc.text))
        related = ((doc.span_of(at, at + 1), exc.context),)
    return _fail("load/yaml-syntax", f"invalid {kind}: {problem}", span, hint, related)


class _Limit(Exception):
    """The budget (or the depth limit) ran out at ``index``: stop at once, wherever it was."""

    def __init__(self, code: str, message: str, help: str, index: int) -> None:
        super().__init__(message)
        self.code, self.message, self.help, self.index = code, message, help, index

    def diagnostic(self, doc: Document) -> Diagnostic:
        at = min(self.index, len(doc.text))
        return Diagnostic(self.code, self.message, doc.span_of(at, at + 1), help=self.help)

    def error(self, doc: Document) -> LoadError:
        return LoadError([self.diagnostic(doc)])


def _too_deep(index: int) -> _Limit:
    return _Limit("load/too-deep", "the document is nested too deeply",
                  f"at most {MAX_DEPTH} levels of nesting", index)  # fmt: skip


def _compose(text: str, json: bool = False) -> Node | None:
    """Compose with libyaml's parser; when it refuses, ask the pure-Python parser, whose
    messages name the problem better (and which reads some JSON that libyaml rejects, such as
    tabs) unless the file is too large for it to read quickly."""
    if _LOADER is not yaml.SafeLoader:
        try:
            return _Composer(yaml.parse(text, Loader=_LOADER)).compose()
        except yaml.YAMLError:
            if len(text) > PURE_MAX_BYTES:
                if not (json and "\t" in text):
                    raise
                # Tabs between JSON tokens are spaces to JSON; libyaml refuses some of them.
                # One character for one, so every position stays.
                untabbed = _JSON_TAB.sub(lambda m: " " if m.group() == "\t" else m.group(), text)
                return _Composer(yaml.parse(untabbed, Loader=_LOADER)).compose()
    return _Composer(yaml.parse(text, Loader=yaml.SafeLoader)).compose()


_JSON_TAB = re.compile(r'"(?:[^"\\\n]|\\.)*"|\t')  # a string (kept whole), or a tab


class _Composer:
    """PyYAML's composer (``yaml.composer.Composer``) over the parser's events, with the limits:
    every node spends from the budget as it is made, and nesting stops at ``MAX_DEPTH``, so an
    abusive file stops where it passes a limit instead of after every node is built (libyaml's
    own composer takes 14 s and 1.3 GB for 8 MiB of ``[a,a,a,…]``)."""

    _resolver: Any = Resolver()  # the implicit tags (int, bool, null…) of SafeLoader

    def __init__(self, events: Any) -> None:
        self.events = iter(events)
        self.anchors: dict[str, Node] = {}
        self.count = 0

    def compose(self) -> Node | None:
        """The one document of the stream (None when there is none)."""
        next(self.events)  # stream start
        event = next(self.events)
        if isinstance(event, StreamEndEvent):
            return None
        root = self.node(next(self.events), 0)  # after the document start
        next(self.events)  # document end
        event = next(self.events)
        if not isinstance(event, StreamEndEvent):
            raise ComposerError("expected a single document in the stream",
                                              root.start_mark, "but found another document",
                                              event.start_mark)  # fmt: skip
        return root

    def node(self, event: Any, depth: int) -> Node:
        self.count += 1
        if self.count > MAX_NODES:
            raise _Limit("load/too-large", f"the file holds more than {MAX_NODES:,} values",
                         "split the data into smaller files", event.start_mark.index)  # fmt: skip
        if isinstance(event, AliasEvent):
            return self.alias(event)
        if depth > MAX_DEPTH:
            raise _too_deep(event.start_mark.index)
        anchor = getattr(event, "anchor", None)
        if anchor is not None and anchor in self.anchors:
            first = self.anchors[anchor].start_mark
            raise ComposerError("first occurrence", first,
                                f"found duplicate anchor {anchor!r}", event.start_mark)  # fmt: skip
        node = self.make(event)
        if anchor is not None:
            self.anchors[anchor] = node
        if isinstance(node, SequenceNode):
            while not isinstance(event := next(self.events), SequenceEndEvent):
                node.value.append(self.node(event, depth + 1))
            node.end_mark = event.end_mark
        elif isinstance(node, MappingNode):
            while not isinstance(event := next(self.events), MappingEndEvent):
                key = self.node(event, depth + 1)
                node.value.append((key, self.node(next(self.events), depth + 1)))
            node.end_mark = event.end_mark
        return node

    def alias(self, event: Any) -> Node:
        """The anchored node, placed where the alias is (so that an expansion's problems point
        at the ``*name`` that caused them); it shares the anchored node's children."""
        target = self.anchors.get(event.anchor)
        if target is None:
            problem = f"found undefined alias {event.anchor!r}"
            raise ComposerError(None, None, problem, event.start_mark)
        node = copy.copy(target)
        node.start_mark, node.end_mark = event.start_mark, event.end_mark
        return node

    def make(self, event: Any) -> Node:
        """The node an event starts, its tag resolved as PyYAML's composer resolves it."""
        tag, start, end = getattr(event, "tag", None), event.start_mark, event.end_mark
        implicit = getattr(event, "implicit", True)
        if isinstance(event, ScalarEvent):
            tag = self._tag(tag, ScalarNode, event.value, implicit)
            return ScalarNode(tag, event.value, start, end, event.style)
        if isinstance(event, SequenceStartEvent):
            tag = self._tag(tag, SequenceNode, None, implicit)
            return SequenceNode(tag, [], start, None, event.flow_style)
        if isinstance(event, MappingStartEvent):
            tag = self._tag(tag, MappingNode, None, implicit)
            return MappingNode(tag, [], start, None, event.flow_style)
        raise ComposerError(None, None, "expected a node", start)

    def _tag(self, tag: str | None, kind: type[Node], value: str | None, implicit: Any) -> str:
        resolved = self._resolver.resolve(kind, value, implicit) if tag in (None, "!") else tag
        return str(resolved)


def _yaml_hint(problem: str) -> str | None:
    if "tab" in problem:
        return "indent with spaces, not tabs"
    if "mapping values are not allowed" in problem:
        return "a value containing `: ` must be quoted"
    if "could not find expected ':'" in problem:
        return "each line of a mapping needs `key: value`"
    return None


class _Converter:
    """Nodes → plain data, spending one unit of the budget per value made (an alias's values
    are made again at each use) and per pair a merge key copies."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.count = 0
        self.problems = Collector()
        self.constructor = SafeConstructor()

    def span(self, node: Node) -> Span:
        return self.doc.span_of(node.start_mark.index, node.end_mark.index)

    def spend(self, node: Node) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            message = f"the document expands to more than {MAX_NODES:,} values"
            advice = "aliases (`*name`) and merge keys (`<<:`) are expanded; use fewer of them"
            raise _Limit("load/too-large", message, advice, node.start_mark.index)

    def convert(self, node: Node, path: Path_, depth: int) -> Any:
        self.spend(node)
        if depth > MAX_DEPTH:  # an anchor used inside itself (`&a [*a]`) nests without end
            raise _too_deep(node.start_mark.index)
        self.doc.values[path] = (node.start_mark.index, node.end_mark.index)
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if isinstance(node, SequenceNode) and node.tag == _TAG + "seq":
            return [self.convert(c, (*path, i), depth + 1) for i, c in enumerate(node.value)]
        if isinstance(node, MappingNode) and node.tag == _TAG + "map":
            return self.mapping(node, path, depth)
        self.bad_tag(node)
        return None

    def bad_tag(self, node: Node) -> None:
        self.problems.add(
            "load/yaml-tag",
            f"the YAML tag `{node.tag}` is not allowed",
            self.span(node),
            help="remove the tag: only plain YAML data is read",
        )

    def scalar(self, node: ScalarNode, path: Path_) -> Any:
        tag = node.tag
        if tag not in _SCALAR_TAGS:
            self.bad_tag(node)
            return None
        self.doc.raw[path] = node.value
        kind = tag[len(_TAG) :]
        if kind in ("str", "timestamp"):
            return self.text(node)
        try:
            method = getattr(self.constructor, f"construct_yaml_{kind}")
            return method(node)
        except (ValueError, yaml.YAMLError):
            return node.value

    def text(self, node: ScalarNode) -> str:
        """A scalar's text. JSON writes a character past U+FFFF as two escapes
        (``"\\ud83d\\ude00"``), which YAML reads one by one: the pair is joined into its
        character here, and an escape without its partner, which is no character (and cannot
        be printed or written out), is refused where it stands."""
        value = str(node.value)
        if not _SURROGATE.search(value):
            return value
        try:
            return value.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError:
            self.problems.add(
                "load/encoding",
                "the text holds half of a surrogate pair (an escape from `\\ud800` to "
                "`\\udfff` without its partner), which is no character",
                self.span(node),
                help="write the character itself, or both escapes of its pair",
            )
            return value

    def mapping(self, node: MappingNode, path: Path_, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in self._pairs(node, depth):
            if not isinstance(key_node, ScalarNode) or key_node.tag not in _SCALAR_TAGS:
                self.problems.add(
                    "load/bad-key",
                    "a key must be plain text",
                    self.span(key_node),
                    help="write `name: value`",
                )
                continue
            key = self.text(key_node)
            kpath = (*path, key)
            if key in out:
                first = self.doc.span_of(*self.doc.keys[kpath])
                self.problems.add(
                    "load/duplicate-key",
                    f"the key `{key}` appears twice",
                    self.span(key_node),
                    related=((first, "first here"),),
                    help="remove one of them; YAML would silently keep the last",
                )
                continue
            self.doc.keys[kpath] = (key_node.start_mark.index, key_node.end_mark.index)
            out[key] = self.convert(value_node, kpath, depth + 1)
        return out

    def _pairs(self, node: MappingNode, depth: int) -> list[tuple[Node, Node]]:
        """The key/value pairs, with YAML merge keys (``<<: *base``) flattened in.

        Each mapping merged and each pair it brings spends from the budget: merges of merges
        of aliases multiply like aliases do, even when every merged mapping is empty.
        """
        pairs: list[tuple[Node, Node]] = []
        merged: list[tuple[Node, Node]] = []
        for k, v in node.value:
            if k.tag == _TAG + "merge":
                sources = v.value if isinstance(v, SequenceNode) else [v]
                for src in sources:
                    if not isinstance(src, MappingNode):
                        self.problems.add(
                            "load/bad-merge", "`<<` merges only mappings", self.span(v)
                        )
                        continue
                    self.spend(src)
                    if depth >= MAX_DEPTH:  # a mapping merged into itself, or merges nested deep
                        raise _too_deep(src.start_mark.index)
                    for pair in self._pairs(src, depth + 1):
                        self.spend(pair[0])
                        merged.append(pair)
            else:
                pairs.append((k, v))
        own = {k.value for k, _ in pairs if isinstance(k, ScalarNode)}
        seen: set[str] = set()
        for k, v in merged:
            if isinstance(k, ScalarNode) and k.value not in own and k.value not in seen:
                seen.add(k.value)
                pairs.append((k, v))
        return pairs


def read_case(path: Path | str) -> Case:
    """Load and validate a case file.

    A file and the same mapping given to ``Policy.evaluate`` go through one validation
    (``case_from_dict``), so they are accepted or refused alike.

    Raises:
        LoadError: the file is not readable YAML/JSON.
        CaseError: the file does not have a case's shape.
    """
    return _case_of(load_document(path))


def read_case_text(raw: bytes | str, name: str) -> Case:
    """``read_case`` for text that is not a file (``ordinance eval -`` reads standard input);
    ``name`` is what the diagnostics call it."""
    return _case_of(load_text(raw, name))


def _case_of(doc: Document) -> Case:
    if not isinstance(doc.data, dict):
        raise CaseError([Diagnostic(
            "case/not-a-mapping", "a case file must be a mapping with `jurisdiction:` and `facts:`",
            doc.span(()))])  # fmt: skip
    return case_from_dict(doc.data, doc)
