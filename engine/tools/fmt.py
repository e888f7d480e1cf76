"""``ordinance fmt``: policy files written one way, so a diff shows what changed in the law and
not how someone typed it.

Each file is read and written by ruamel.yaml's round-trip mode, which keeps comments, key order,
quoting and block styles. Two things change:

- **Expressions** (every value the JSON Schema marks ``#/$defs/expression``: a rule's
  ``value`` and ``when``, a fee item's amounts, a step's conditions…) are printed back from
  their syntax tree (``dsl.printer``): one space around operators, only the brackets the
  precedence needs, a long ``if … then … else …`` on one line per clause. An expression holding
  a ``#`` comment, or whose reprint would not parse to the same tree, is left as written.
- **Folded prose** (``text: >`` and the like) is folded again at the same width every time.
  A folded scalar's line breaks are not part of its value (YAML joins them with spaces), so
  this changes no text the policy holds; a literal block (``|``) keeps its lines.

The compiled policy is the same before and after (tests/test_fmt.py compiles both), and
``fmt(fmt(x)) == fmt(x)``.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import click
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from dsl.printer import reprinted
from engine.diagnostics import Diagnostic, OrdinanceError, Span, render

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
EXPRESSION = "#/$defs/expression"
WIDTH = 100  # the longest line fmt writes, indentation included (as ruff's line length)


class FormatError(OrdinanceError):
    """A file could not be formatted (it is not YAML ordinance can read)."""


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a plain or quoted scalar: only folded prose is re-folded
    y.indent(mapping=2, sequence=4, offset=2)
    return y


@cache
def _schema(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text("utf-8"))
    return data


def schema_for(path: Path) -> dict[str, Any]:
    """The schema a policy file is validated against: a jurisdiction's, or a revision's."""
    return _schema("jurisdiction" if path.name == "jurisdiction.yaml" else "policy")


# What a pass does to an expression (its text, the width left for it) and to folded prose.
OnExpression = Callable[[str, int], str]
OnFolded = Callable[[FoldedScalarString, int], FoldedScalarString]


def format_text(text: str, schema: dict[str, Any], name: str = "<text>") -> str:
    """``text`` formatted. Raises ``FormatError`` when it is not YAML."""
    return transform(text, schema, _expression, _refold, name)


def transform(text: str, schema: dict[str, Any], on_expression: OnExpression,
              on_folded: OnFolded, name: str = "<text>") -> str:  # fmt: skip
    """``text`` with each expression and each folded scalar replaced as the two functions
    say: the formatter's pass, and (in the tests) its opposite, which makes a file ugly."""
    y = _yaml()
    try:
        data = y.load(text)
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = getattr(e, "problem", None) or e
        raise FormatError([Diagnostic(
            "fmt/not-yaml", f"`{name}` is not YAML ordinance can format: {problem}",
            Span(name, line, col, line, col + 1),
            help="run `ordinance check` for the whole story")]) from None  # fmt: skip
    if data is None:
        return text
    if not isinstance(data, CommentedMap):  # a policy file is a mapping; this is something else
        raise FormatError([Diagnostic(
            "fmt/not-yaml", f"`{name}` is not a policy file: its top level is not a mapping "
            "of keys (`sections:`, `id:` …), so it is left as it is", Span(name, 1, 1, 1, 1),
            help="give policy files, or the policy folder")])  # fmt: skip
    _walk(data, schema, schema, (on_expression, on_folded), set())
    out = io.StringIO()
    y.dump(data, out)
    return out.getvalue()


Passes = tuple[OnExpression, OnFolded]


def _walk(node: Any, sub: dict[str, Any], root: dict[str, Any], passes: Passes,
          seen: set[tuple[int, int]]) -> None:  # fmt: skip
    """Rewrite, in place, the expressions and folded prose under ``node``, led by ``sub``.

    Each mapping and list is visited once per schema that leads to it (``seen``): YAML aliases
    let a file name one node a billion times in a few lines, and a walk that followed each
    would never end."""
    if (id(node), id(sub)) in seen:
        return
    seen.add((id(node), id(sub)))
    if isinstance(node, CommentedMap):
        for key in list(node):
            indent = node.lc.key(key)[1] + 2  # a block scalar's lines, under its key
            for child in _children(sub, root, str(key)):
                node[key] = _value(node[key], child, root, indent, passes, seen)
    elif isinstance(node, CommentedSeq):
        for i in range(len(node)):
            indent = node.lc.item(i)[1] + 2
            for child in _items(sub, root):
                node[i] = _value(node[i], child, root, indent, passes, seen)


def _value(value: Any, sub: dict[str, Any], root: dict[str, Any], indent: int,
           passes: Passes, seen: set[tuple[int, int]]) -> Any:  # fmt: skip
    if _is_expression(sub, root) and isinstance(value, str):
        return passes[0](value, WIDTH - indent)
    if isinstance(value, FoldedScalarString):
        return passes[1](value, WIDTH - indent)
    _walk(value, sub, root, passes, seen)
    return value


def _resolve(sub: dict[str, Any], root: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``sub`` and the schemas it stands for ($ref, oneOf, anyOf, allOf), each once."""
    ref = sub.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        yield from _resolve(root["$defs"][ref.split("/")[-1]], root)
        return
    yield sub
    for key in ("oneOf", "anyOf", "allOf"):
        for alt in sub.get(key, ()):
            yield from _resolve(alt, root)


def _children(sub: dict[str, Any], root: dict[str, Any], key: str) -> Iterator[dict[str, Any]]:
    for s in _resolve(sub, root):
        props = s.get("properties", {})
        if key in props:
            yield props[key]
        elif isinstance(s.get("additionalProperties"), dict):
            yield s["additionalProperties"]


def _items(sub: dict[str, Any], root: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for s in _resolve(sub, root):
        if isinstance(s.get("items"), dict):
            yield s["items"]


def _is_expression(sub: dict[str, Any], root: dict[str, Any]) -> bool:
    return sub.get("$ref") == EXPRESSION or any(
        s.get("$ref") == EXPRESSION for s in (sub, *sub.get("oneOf", ()), *sub.get("anyOf", ()))
    )


def _expression(value: str, width: int) -> str:
    """The expression reprinted, in the style the file gave it: several lines make a literal
    block (keeping the block's final line break or not); one line stays plain or quoted."""
    text = reprinted(value, max(width, 40))
    if text is None or text == value.rstrip("\n"):
        return value
    if "\n" in text:
        block: str = LiteralScalarString(text + ("\n" if value.endswith("\n") else ""))
        return block
    same_style: str = type(value)(text)  # plain, single- or double-quoted, as written
    return text if isinstance(value, LiteralScalarString) else same_style


def _refold(value: FoldedScalarString, width: int) -> FoldedScalarString:
    """The same text, folded at ``width``: fold points are the spaces where a greedy fill
    breaks each paragraph (ruamel writes a line break at each)."""
    width = max(width, 40)
    out: FoldedScalarString = FoldedScalarString(str(value))
    folds = []
    start = 0
    for paragraph in str(value).split("\n"):
        line_start, last_space = start, -1
        for i, ch in enumerate(paragraph):
            at = start + i
            if ch == " ":
                last_space = at
            if at - line_start >= width and last_space > line_start:
                folds.append(last_space)
                line_start, last_space = last_space + 1, -1
        start += len(paragraph) + 1
    setattr(out, "fold_pos", folds)  # where ruamel breaks a folded scalar's lines  # noqa: B010
    return out


def format_file(path: Path, *, check: bool = False) -> bool:
    """Format ``path`` in place (or, with ``check``, only say); True when it changes."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError([Diagnostic("fmt/not-yaml", f"`{path}` cannot be read: {e}",
                                      Span(str(path), 1, 1, 1, 1))]) from None  # fmt: skip
    new = format_text(text, schema_for(path), str(path))
    if new == text:
        return False
    if not check:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new)
        os.replace(tmp, path)
    return True


def policy_files(paths: list[Path]) -> list[Path]:
    """The YAML policy files under ``paths`` (a file is taken as given), sorted."""
    found: set[Path] = set()
    for p in paths:
        if p.is_dir():
            found |= {f for f in p.rglob("*.yaml") if not f.name.startswith(".")}
        else:
            found.add(p)
    return sorted(found)


def register(main: click.Group, echo: Callable[..., None], guarded: Callable[[Any], Any],
             policy_option: Callable[[Any], Any]) -> None:  # fmt: skip
    """Add ``ordinance fmt`` to the ``ordinance`` command."""

    @main.command("fmt")
    @click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
    @click.option("--check", is_flag=True,
                  help="Change nothing: list what fmt would change, exit 1 if any.")  # fmt: skip
    @policy_option
    @guarded
    def fmt_cmd(paths: tuple[Path, ...], check: bool, policy_dir: Path | None) -> None:
        """Format policy files (default: the project's policy folder): expressions printed
        from their syntax tree, folded prose folded again; comments and key order kept."""
        from engine.tools.cli_common import _project

        files = policy_files(list(paths) or [_project(policy_dir).policy])
        changed, refused = [], []
        for f in files:  # a file that cannot be formatted is said, and the others still are
            try:
                if format_file(f, check=check):
                    changed.append(f)
            except FormatError as exc:
                refused += exc.diagnostics
        for f in changed:
            echo(f"{'would reformat' if check else 'reformatted'} {f}")
        verb = "would be reformatted" if check else "reformatted"
        echo(f"{len(changed)} of {len(files)} files {verb}")
        if refused:
            echo(render(refused), err=True)
        sys.exit(1 if refused or (check and changed) else 0)
