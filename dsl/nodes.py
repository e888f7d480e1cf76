"""Syntax tree of the expression language: frozen dataclasses, each with the span it came from.

Spans are (start, end) character offsets into the expression text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Node:
    span: Span

    def __reduce__(self) -> tuple[type[Node], tuple[Any, ...]]:
        """Pickled as a constructor call: a compiled policy in the cache holds a thousand
        nodes, and a frozen dataclass's default state restore costs four times as much."""
        return type(self), tuple(getattr(self, f) for f in self.__match_args__)


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A constant; ``kind`` is the literal's type name (``date``, ``money``, ``duration``, …)."""

    value: Any
    kind: str


@dataclass(frozen=True, slots=True)
class Ref(Node):
    """A dotted reference to a fact, a rule or a built-in (``as_of``)."""

    path: str


@dataclass(frozen=True, slots=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]
    name_span: Span


@dataclass(frozen=True, slots=True)
class Item(Node):
    """A list element, kept only when its optional ``if`` condition holds."""

    expr: Node
    cond: Node | None


@dataclass(frozen=True, slots=True)
class ListExpr(Node):
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str  # "neg" | "not"
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str  # + - * / == != < <= > >= and or in not_in
    left: Node
    right: Node
    op_span: Span


@dataclass(frozen=True, slots=True)
class Test(Node):
    """``x is set`` / ``is missing`` / ``is null`` / ``is not null``."""

    kind: str  # "set" | "missing" | "null" | "not_null"
    operand: Node


@dataclass(frozen=True, slots=True)
class If(Node):
    cond: Node
    then: Node
    else_: Node


def iter_refs(node: Node) -> list[Ref]:
    """Every reference in ``node``, in source order (the graph builder's edges)."""
    out: list[Ref] = []
    _collect_refs(node, out)
    return out


def _collect_refs(node: Node, out: list[Ref]) -> None:
    if isinstance(node, Ref):
        out.append(node)
        return
    for child in children(node):
        _collect_refs(child, out)


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of ``node``."""
    if isinstance(node, Call):
        return node.args
    if isinstance(node, ListExpr):
        return node.items
    if isinstance(node, Item):
        return (node.expr,) if node.cond is None else (node.expr, node.cond)
    if isinstance(node, Unary | Test):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, If):
        return (node.cond, node.then, node.else_)
    return ()
