"""Pipeline stage 1, load: a YAML (or JSON) file → plain data plus the position of every node.

Only the YAML composer runs on user text; nodes are converted here by hand, so no tag can
construct an object. Aliases are expanded under a node budget (no "billion laughs"), nesting is
bounded, duplicate keys are errors, and every problem is a located ``Diagnostic``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.diagnostics import Collector, Diagnostic, LoadError, Span

MAX_NODES = 200_000
MAX_DEPTH = 64
MAX_BYTES = 8 * 1024 * 1024

Path_ = tuple[str | int, ...]
_TAG = "tag:yaml.org,2002:"
# libyaml's composer when PyYAML was built with it (ten times faster, same marks); only the
# composer runs, so the loader class matters for speed, never for what gets constructed.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}


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
    _line_starts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        starts = [0]
        for i, ch in enumerate(self.text):
            if ch == "\n":
                starts.append(i + 1)
        self._line_starts = starts

    def _pos(self, index: int) -> tuple[int, int]:
        lo, hi = 0, len(self._line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._line_starts[mid] <= index:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, index - self._line_starts[lo] + 1

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


def load_document(path: Path | str, display: str | None = None) -> Document:
    """Read and compose one file safely.

    Raises:
        LoadError: the file cannot be read, is empty, binary, malformed, or abusive.
    """
    name = display or display_path(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or "not a readable file"
        raise LoadError([Diagnostic(
            "load/unreadable", f"cannot read `{name}`: {reason}", Span(name, 1, 1, 1, 1),
            help="check the path and its permissions")]) from None  # fmt: skip
    return load_text(raw, name)


def _fail(code: str, message: str, span: Span, help: str | None = None,
          related: tuple[tuple[Span, str], ...] = ()) -> LoadError:  # fmt: skip
    return LoadError([Diagnostic(code, message, span, help=help, related=related)])


def load_text(raw: bytes | str, name: str) -> Document:
    """Compose YAML text into a Document (see ``load_document``)."""
    here = Span(name, 1, 1, 1, 1)
    if isinstance(raw, bytes):
        if len(raw) > MAX_BYTES:
            raise _fail("load/too-large", f"the file is larger than {MAX_BYTES >> 20} MiB", here)
        if b"\x00" in raw:
            raise _fail("load/binary", "the file is binary, not YAML or JSON", here,
                        "give a YAML or JSON text file")  # fmt: skip
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            raise _fail(
                "load/encoding",
                f"the file is not UTF-8 text (byte {exc.start})",
                Span(name, line, col, line, col + 1),
                "save the file as UTF-8",
            ) from None
    else:
        text = raw
    if not text.strip():
        raise _fail("load/empty", "the file is empty", here,
                    "write the file's content (a case needs `jurisdiction:` and `facts:`), or "
                    "delete the file")  # fmt: skip
    kind = "JSON" if name.endswith(".json") else "YAML"
    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text, name, kind) from None
    except yaml.YAMLError as exc:
        raise _fail("load/yaml-syntax", f"invalid {kind}: {exc}", here) from None
    except RecursionError:
        line = _deepest_line(text)
        raise _fail("load/too-deep", "the file is nested too deeply",
                    Span(name, line, 1, line, 2), f"at most {MAX_DEPTH} levels of nesting"
                    ) from None  # fmt: skip
    doc = Document(name, text, None)
    if root is None:
        raise _fail("load/empty", "the file holds no data", here)
    conv = _Converter(doc)
    doc.data = conv.convert(root, (), 0)
    conv.problems.raise_if_errors(LoadError)
    return doc


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, name: str, kind: str) -> LoadError:
    """The parser's problem at its position, with where the construct it was in began."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = (exc.problem or f"invalid {kind}").replace("\n", " ")
    lines = text.splitlines()
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    hint = _yaml_hint(problem)
    if "\t" in source[: max(col, 1)] or "'\\t'" in problem:
        hint = "indent with spaces, not tabs"
    related: tuple[tuple[Span, str], ...] = ()
    ctx = exc.context_mark
    if ctx is not None and exc.problem_mark is not None and exc.context:
        cl, cc = ctx.line + 1, ctx.column + 1
        related = ((Span(name, cl, cc, cl, cc + 1), exc.context),)
    return _fail("load/yaml-syntax", f"invalid {kind}: {problem}",
                 Span(name, line, col, line, col + 1), hint, related)  # fmt: skip


def _deepest_line(text: str) -> int:
    """The line where bracket nesting first passes the limit (for an overflowing document)."""
    depth, line = 0, 1
    for ch in text:
        if ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line
        elif ch in "]}":
            depth -= 1
        elif ch == "\n":
            line += 1
    return 1


def _compose(text: str) -> Node | None:
    """Compose with libyaml; when it refuses, ask the pure-Python composer, whose messages
    name the problem better (and which reads some JSON that libyaml rejects, such as tabs)."""
    if _LOADER is not yaml.SafeLoader:
        try:
            return yaml.compose(text, Loader=_LOADER)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _yaml_hint(problem: str) -> str | None:
    if "tab" in problem:
        return "indent with spaces, not tabs"
    if "mapping values are not allowed" in problem:
        return "a value containing `: ` must be quoted"
    if "could not find expected ':'" in problem:
        return "each line of a mapping needs `key: value`"
    return None


class _Converter:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.count = 0
        self.problems = Collector()
        self.constructor = SafeConstructor()

    def span(self, node: Node) -> Span:
        return self.doc.span_of(node.start_mark.index, node.end_mark.index)

    def convert(self, node: Node, path: Path_, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            if self.count == MAX_NODES + 1:
                self.problems.add(
                    "load/too-large",
                    f"the document expands to more than {MAX_NODES:,} values",
                    self.span(node),
                    help="aliases (`*name`) are expanded; use fewer of them",
                )
            return None
        if depth > MAX_DEPTH:
            self.problems.add(
                "load/too-deep",
                "the document is nested too deeply",
                self.span(node),
                help=f"at most {MAX_DEPTH} levels of nesting",
            )
            return None
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
            return node.value
        try:
            method = getattr(self.constructor, f"construct_yaml_{kind}")
            return method(node)
        except (ValueError, yaml.YAMLError):
            return node.value

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
            key = str(key_node.value)
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
        """The key/value pairs, with YAML merge keys (``<<: *base``) flattened in."""
        pairs: list[tuple[Node, Node]] = []
        merged: list[tuple[Node, Node]] = []
        for k, v in node.value:
            if k.tag == _TAG + "merge":
                sources = v.value if isinstance(v, SequenceNode) else [v]
                for src in sources:
                    if isinstance(src, MappingNode) and depth < MAX_DEPTH:
                        merged.extend(self._pairs(src, depth + 1))
                    else:
                        self.problems.add(
                            "load/bad-merge", "`<<` merges only mappings", self.span(v)
                        )
            else:
                pairs.append((k, v))
        own = {k.value for k, _ in pairs if isinstance(k, ScalarNode)}
        seen: set[str] = set()
        for k, v in merged:
            if isinstance(k, ScalarNode) and k.value not in own and k.value not in seen:
                seen.add(k.value)
                pairs.append((k, v))
        return pairs
