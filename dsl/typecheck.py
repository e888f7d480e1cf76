"""Stage 2 of the expression language: syntax tree → the type of every node, or located errors.

References are resolved through a ``Scope`` (facts, rules and built-ins of one policy), so an
unknown name gets a "did you mean" from the names that exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from dsl import nodes as n
from dsl.builtins import BUILTINS
from dsl.errors import DslError, DslErrors, did_you_mean
from dsl.typesys import (
    ANY,
    BOOL,
    DATE,
    DATETIME,
    DECIMAL,
    DURATION,
    INT,
    MONEY,
    NULL,
    STRING,
    TIME,
    Type,
    article,
    unify,
)


class Scope(Protocol):
    """What the checker needs to know about the names an expression may use."""

    def lookup(self, path: str) -> Type | None: ...

    def names(self) -> Iterable[str]: ...


Types = dict[int, Type]  # id(node) → type; valid while the tree is alive

_LITERAL_TYPES = {
    "bool": BOOL,
    "int": INT,
    "decimal": DECIMAL,
    "money": MONEY,
    "date": DATE,
    "time": TIME,
    "duration": DURATION,
    "string": STRING,
    "null": NULL,
}
_ORDERED = ("int", "decimal", "money", "date", "datetime", "time")


@dataclass
class _Checker:
    scope: Scope
    types: Types = field(default_factory=dict)
    errors: list[DslError] = field(default_factory=list)

    def error(self, code: str, message: str, span: n.Span, help: str | None = None) -> Type:
        self.errors.append(DslError(code, message, span[0], span[1], help))
        return ANY

    def check(self, node: n.Node) -> Type:
        method: Callable[[n.Node], Type] = getattr(self, "_" + type(node).__name__.lower())
        t = method(node)
        self.types[id(node)] = t
        return t

    def _literal(self, node: n.Literal) -> Type:
        return _LITERAL_TYPES[node.kind]

    def _ref(self, node: n.Ref) -> Type:
        t = self.scope.lookup(node.path)
        if t is not None:
            return t
        guess = did_you_mean(node.path, self.scope.names())
        return self.error(
            "dsl/unknown-reference",
            f"unknown reference `{node.path}`",
            node.span,
            f"did you mean `{guess}`?"
            if guess
            else "declare the fact under `facts:` or define a rule with this id",
        )

    def _test(self, node: n.Test) -> Type:
        self.check(node.operand)
        if node.kind == "missing" and not isinstance(node.operand, n.Ref):
            self.error(
                "dsl/type-mismatch",
                "`is missing` applies to a fact or rule reference",
                node.span,
                "write `permit.issued_on is missing`",
            )
        return BOOL

    def _unary(self, node: n.Unary) -> Type:
        t = self.check(node.operand)
        if node.op == "not":
            return self.expect(node.operand, t, BOOL, "`not`")
        if t.name in ("int", "decimal", "money", "any"):
            return t
        return self.error("dsl/type-mismatch", f"cannot negate {article(t)}", node.span)

    def expect(self, node: n.Node, got: Type, want: Type, where: str) -> Type:
        if not want.accepts(got) or (got.name == "null" and want.name == "bool"):
            self.error(
                "dsl/type-mismatch",
                f"{where} needs {article(want)}, found {article(got)}",
                node.span,
            )
        return want

    def _if(self, node: n.If) -> Type:
        self.expect(node.cond, self.check(node.cond), BOOL, "the condition of `if`")
        a, b = self.check(node.then), self.check(node.else_)
        t = unify(a, b)
        if t is None:
            return self.error(
                "dsl/type-mismatch",
                f"the branches of `if` differ: `then` gives {article(a)}, `else` {article(b)}",
                node.span,
                "both branches must give the same type",
            )
        return t

    def _item(self, node: n.Item) -> Type:
        if node.cond is not None:
            self.expect(node.cond, self.check(node.cond), BOOL, "the `if` of a list item")
        return self.check(node.expr)

    def _listexpr(self, node: n.ListExpr) -> Type:
        t: Type | None = NULL
        mixed: Type | None = None
        for item in node.items:  # every item is checked (and typed), even after a mismatch
            it = self.check(item)
            u = unify(t, it) if t is not None else None
            if u is None and mixed is None:
                mixed = self.error("dsl/type-mismatch", f"a list mixes {t} and {it}", item.span)
            t = u or t
        if mixed is not None:
            return mixed
        # An empty (or all-null) list is a list of null: it fits any list, and arithmetic on
        # its items is refused as arithmetic on null is (never `any`, which would let anything
        # through to evaluation).
        return Type.list_of(NULL if t is None else t)

    def _binary(self, node: n.Binary) -> Type:
        a, b = self.check(node.left), self.check(node.right)
        op = node.op
        if op in ("and", "or"):
            self.expect(node.left, a, BOOL, f"`{op}`")
            self.expect(node.right, b, BOOL, f"`{op}`")
            return BOOL
        if op in ("in", "not_in"):
            return self._membership(node, a, b)
        if op in ("==", "!="):
            self._check_enum_literal(node.left, a, node.right, b)
            self._check_enum_literal(node.right, b, node.left, a)
            if unify(a, b) is None:
                self.error(
                    "dsl/type-mismatch", f"cannot compare {article(a)} with {article(b)}", node.span
                )
            return BOOL
        if op in ("<", "<=", ">", ">="):
            u = unify(a, b)
            if u is None or u.name not in (*_ORDERED, "any", "null"):
                self.error(
                    "dsl/type-mismatch",
                    f"cannot order {article(a)} and {article(b)} with `{op}`",
                    node.span,
                )
            return BOOL
        return self._arith(node, a, b)

    def _membership(self, node: n.Binary, a: Type, b: Type) -> Type:
        if b.name not in ("list", "any"):
            return self.error(
                "dsl/type-mismatch",
                f"`in` needs a list on its right, found {article(b)}",
                node.right.span,
                'write `x in ["a", "b"]`',
            )
        if b.item is not None and unify(a, b.item) is None:
            self.error("dsl/type-mismatch", f"{article(a)} is never in {article(b)}", node.span)
        if isinstance(node.right, n.ListExpr):
            for item in node.right.items:
                self._check_enum_literal(item.expr, self.types[id(item.expr)], node.left, a)
        return BOOL

    def _check_enum_literal(self, lit: n.Node, lt: Type, other: n.Node, ot: Type) -> None:
        if ot.name != "enum" or not isinstance(lit, n.Literal) or lit.kind != "string":
            return
        if lit.value not in ot.values:
            guess = did_you_mean(lit.value, ot.values)
            self.error(
                "dsl/unknown-value",
                f'"{lit.value}" is not a value of {_describe(other)}',
                lit.span,
                f'did you mean "{guess}"?' if guess else f"the values are {ot}",
            )

    def _arith(self, node: n.Binary, a: Type, b: Type) -> Type:
        t = arith_result(node.op, a, b)
        if t is None:
            hint = None
            if a.name == "date" and b.is_numeric:
                hint = f"give the unit: `{node.op} 180 days`, or `days(n)` for a number of days"
            return self.error(
                "dsl/type-mismatch",
                f"cannot apply `{node.op}` to {article(a)} and {article(b)}",
                node.span,
                hint,
            )
        return t

    def _call(self, node: n.Call) -> Type:
        arg_types = [self.check(a) for a in node.args]
        builtin = BUILTINS.get(node.name)
        if builtin is None:
            guess = did_you_mean(node.name, BUILTINS)
            return self.error(
                "dsl/unknown-function",
                f"unknown function `{node.name}`",
                node.name_span,
                f"did you mean `{guess}`?"
                if guess
                else "the functions are " + ", ".join(sorted(BUILTINS)),
            )
        result = builtin.check(arg_types)
        if isinstance(result, str):
            return self.error(
                "dsl/type-mismatch",
                f"`{node.name}`: {result}",
                node.span,
                f"usage: {builtin.usage}",
            )
        return result


def _describe(node: n.Node) -> str:
    return f"`{node.path}`" if isinstance(node, n.Ref) else "the other side"


_ARITH: dict[tuple[str, str, str], Type] = {
    ("+", "int", "int"): INT,
    ("-", "int", "int"): INT,
    ("*", "int", "int"): INT,
    ("+", "money", "money"): MONEY,
    ("-", "money", "money"): MONEY,
    ("*", "money", "int"): MONEY,
    ("*", "int", "money"): MONEY,
    ("*", "money", "decimal"): MONEY,
    ("*", "decimal", "money"): MONEY,
    ("/", "money", "int"): MONEY,
    ("/", "money", "decimal"): MONEY,
    ("/", "money", "money"): DECIMAL,
    ("+", "date", "duration"): DATE,
    ("+", "duration", "date"): DATE,
    ("-", "date", "duration"): DATE,
    ("-", "date", "date"): INT,
    ("+", "datetime", "duration"): DATETIME,
    ("-", "datetime", "duration"): DATETIME,
    ("*", "duration", "int"): DURATION,
    ("*", "int", "duration"): DURATION,
    ("+", "string", "string"): STRING,
}


def arith_result(op: str, a: Type, b: Type) -> Type | None:
    """The type of ``a op b``, or None when the operation is not defined (an operator the
    grammar may one day accept is refused here until it has a meaning in dsl.semantics)."""
    if op not in ("+", "-", "*", "/"):
        return None
    if a.name == "any" or b.name == "any":
        return ANY
    an = "string" if a.is_textual else a.name
    bn = "string" if b.is_textual else b.name
    if a.is_numeric and b.is_numeric:
        return DECIMAL if op == "/" or "decimal" in (an, bn) else INT
    return _ARITH.get((op, an, bn))


def check_expression(node: n.Node, scope: Scope) -> tuple[Type, Types]:
    """Type-check ``node``; returns its type and the type of every sub-node.

    Raises:
        DslErrors: every type problem found, in source order.
    """
    checker = _Checker(scope)
    t = checker.check(node)
    if checker.errors:
        raise DslErrors(sorted(checker.errors, key=lambda e: (e.start, e.end)))
    return t, checker.types
