"""The expression language printed back from its syntax tree, the way ``ordinance fmt`` writes
every expression: one space around each operator, none inside brackets, a comma and a space
between arguments, and only the parentheses the precedence needs.

The printer reads nothing but the tree and the literals' own text (``$1,250.00`` stays as the
author wrote the amount; ``3   years`` becomes ``3 years``). It is checked, not trusted:
``reprinted`` parses what it printed and returns it only when the tree is the same as the
original's, spans aside, so a formatted policy decides exactly as before.

>>> reprinted("permit.issued_on+  180 days")
'permit.issued_on + 180 days'
>>> reprinted("(a and b) or c and (d or e)")
'(a and b) or (c and (d or e))'
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from dsl import nodes as n
from dsl.errors import DslErrors
from dsl.parse import parse_expression

# Binding strength, loosest first, as the rules of grammar.lark nest.
IF, OR, AND, NOT, COMPARE, SUM, PRODUCT, UNARY, ATOM = range(9)
_LEVEL = {"or": OR, "and": AND, "+": SUM, "-": SUM, "*": PRODUCT, "/": PRODUCT}
_WORDS = {"in": "in", "not_in": "not in"}
_TESTS = {"set": "is set", "missing": "is missing", "null": "is null", "not_null": "is not null"}
WIDTH = 88  # a longer `if … then … else …` is written on three lines


def unparse(node: n.Node, source: str) -> str:
    """``node`` (parsed from ``source``) as text, on one line."""
    return _show(node, source, IF)


def _show(node: n.Node, src: str, need: int) -> str:
    text, level = _text(node, src)
    return f"({text})" if level < need else text


def _text(node: n.Node, src: str) -> tuple[str, int]:
    """The node's text and the binding level of its outermost operator."""
    if isinstance(node, n.Literal):
        return re.sub(r"[ \t]+", " ", src[node.span[0] : node.span[1]]), ATOM
    if isinstance(node, n.Ref):
        return node.path, ATOM
    if isinstance(node, n.Call):
        return f"{node.name}({', '.join(_show(a, src, IF) for a in node.args)})", ATOM
    if isinstance(node, n.ListExpr):
        return "[" + ", ".join(_item(i, src) for i in node.items) + "]", ATOM
    if isinstance(node, n.Unary):
        if node.op == "not":
            return f"not {_show(node.operand, src, NOT)}", NOT
        return f"-{_show(node.operand, src, ATOM)}", UNARY  # `-(-a)`, `-(a + b)`
    if isinstance(node, n.Test):
        return f"{_show(node.operand, src, SUM)} {_TESTS[node.kind]}", COMPARE
    if isinstance(node, n.Binary):
        if node.op == "or":  # `and` under `or` keeps its brackets: a reader need not know
            left, right = (_show(x, src, ATOM if _is_and(x) else need)
                           for x, need in ((node.left, OR), (node.right, AND)))  # fmt: skip
            return f"{left} or {right}", OR
        if node.op in _LEVEL:  # left-associative: the right operand binds tighter
            level = _LEVEL[node.op]
            left, right = _show(node.left, src, level), _show(node.right, src, level + 1)
            return f"{left} {node.op} {right}", level
        op = _WORDS.get(node.op, node.op)  # comparisons: both operands are sums
        return f"{_show(node.left, src, SUM)} {op} {_show(node.right, src, SUM)}", COMPARE
    if isinstance(node, n.If):
        parts = (_show(node.cond, src, IF), _show(node.then, src, IF), _show(node.else_, src, IF))
        return "if {} then {} else {}".format(*parts), IF
    raise TypeError(f"no printer for {type(node).__name__}")


def _is_and(node: n.Node) -> bool:
    return isinstance(node, n.Binary) and node.op == "and"


def _item(item: n.Node, src: str) -> str:
    assert isinstance(item, n.Item)
    # An `if` of its own inside an item would read as the item's condition: bracket it.
    expr = _show(item.expr, src, OR)
    return expr if item.cond is None else f"{expr} if {_show(item.cond, src, OR)}"


def lines(node: n.Node, source: str, width: int = WIDTH) -> str:
    """``unparse``, broken over lines when longer than ``width``, the way the bundled policy
    writes long expressions: an ``if … then … else …`` (and its ``else if`` chain) one clause
    per line; a list one item per line, each ending in a comma; an ``and`` / ``or`` chain with
    each operator starting a line. Anything else, and every part of these, stays on its line.
    """
    flat = unparse(node, source)
    if len(flat) <= width:
        return flat
    if isinstance(node, n.If):
        out: list[str] = []
        at: n.Node = node
        while isinstance(at, n.If):
            word = "if" if not out else "else if"
            out += [f"{word} {_show(at.cond, source, IF)}", f"then {_show(at.then, source, IF)}"]
            at = at.else_
        out.append(f"else {_show(at, source, IF)}")
        return "\n".join(out)
    if isinstance(node, n.ListExpr) and node.items:
        return "[\n" + "".join(f"  {_item(i, source)},\n" for i in node.items) + "]"
    if isinstance(node, n.Binary) and node.op in ("and", "or"):
        return "\n".join(_chain_lines(node, source, width))
    return flat


def _chain_lines(node: n.Binary, src: str, width: int) -> list[str]:
    """An ``and`` / ``or`` chain one operand per line, each after the first led by its
    operator; an operand that is a bracketed chain too long for its line is broken the same
    way inside its brackets, its lines lined up after the opening bracket."""
    out: list[str] = []
    for k, part in enumerate(_chain(node, node.op)):
        lead = "" if k == 0 else f"{node.op} "
        need = ATOM if node.op == "or" and _is_and(part) else (AND if node.op == "or" else NOT)
        text = _show(part, src, need)
        inner = isinstance(part, n.Binary) and part.op in ("and", "or") and text.startswith("(")
        if len(lead) + len(text) <= width or not inner:
            out.append(lead + text)
            continue
        assert isinstance(part, n.Binary)
        sub = _chain_lines(part, src, width - len(lead) - 1)
        pad = " " * (len(lead) + 1)
        out.append(f"{lead}({sub[0]}")
        out += [pad + line for line in sub[1:]]
        out[-1] += ")"
    return out


def _chain(node: n.Node, op: str) -> list[n.Node]:
    """The operands of a left-leaning chain ``a op b op c``, in order."""
    if isinstance(node, n.Binary) and node.op == op:
        return [*_chain(node.left, op), node.right]
    return [node]


def shape(node: Any) -> Any:
    """``node`` without its spans: two trees of the same shape decide alike."""
    if isinstance(node, n.Node):
        return (type(node).__name__, *(shape(getattr(node, f.name))
                                       for f in dataclasses.fields(node)
                                       if not f.name.endswith("span")))  # fmt: skip
    if isinstance(node, tuple):
        return tuple(shape(x) for x in node)
    return node


def has_comment(source: str) -> bool:
    """Whether ``source`` holds a ``#`` comment (outside a string): printing from the tree
    would drop it, so such an expression is left as written."""
    return "#" in re.sub(r'"([^"\\\n]|\\["\\n])*"', '""', source)


def reprinted(source: str, width: int = WIDTH) -> str | None:
    """The formatted text of ``source``; None when it cannot be formatted safely (it does not
    parse, holds a comment, or its reprint would not parse to the same tree)."""
    if has_comment(source):
        return None
    try:
        tree = parse_expression(source)
        text = lines(tree, source, width)
        again = parse_expression(text)
    except DslErrors:
        return None
    return text if shape(again) == shape(tree) else None
