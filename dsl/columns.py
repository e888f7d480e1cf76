"""Stage 3, column form: a typed syntax tree → a closure computing one expression for many cases.

Bulk evaluation (``Policy.values_many``) pays the cost of walking a closure tree once per batch
instead of once per case: each node runs one list comprehension over the rows. The semantics are
those of ``dsl.compile`` for every case whose inputs are all known, and these closures are only
ever given such rows (the batch runner decides a row with an unknown input through the scalar
closures instead). A partly known list is an ``Unknown`` too, so what three-valued lists mean
(docs/dsl.md, "Unknown and null in lists") is decided there and never here; on known lists the
two agree, which tests/test_dsl.py holds on every fixture. Null is handled here exactly as
there.

Evaluation is masked: a closure takes the rows to compute, so a branch of ``if`` or the right
side of ``and``/``or`` is computed only for the rows that reach it, as the scalar closures would.
Nothing is handed to ``eval``/``exec``.

>>> from dsl.parse import parse_expression
>>> f = compile_vector(parse_expression("if a is null then b else a"), {}, None)
>>> f({"a": [None, dt.date(2024, 1, 1)], "b": [dt.date(2024, 2, 28)] * 2}, range(2))
[datetime.date(2024, 2, 28), datetime.date(2024, 1, 1)]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from functools import partial
from itertools import compress
from typing import Any

from dsl import nodes as n
from dsl import semantics as sc
from dsl.builtins import BUILTINS
from dsl.compile import NodeCompiler
from dsl.typecheck import Types

Cols = dict[str, list[Any]]
# The rows to compute: ``range(n)`` for every row of the batch, or a list of row numbers.
Rows = range | list[int]
VFn = Callable[[Cols, Rows], list[Any]]
_DATE = dt.date
_TOTAL_OPS = frozenset({"and", "or", "in", "not_in", *sc.COMPARE})
# Types whose values compare with each other without error.
_ALIKE = {"int": "number", "decimal": "number", "money": "number", "enum": "text", "string": "text"}


def compile_vector(node: n.Node, types: Types, ctx: sc.Context | None) -> VFn:
    """Compile a type-checked expression into a column closure ``(columns, rows) -> values``."""
    return _Vector(types, ctx).compile(node)


def conjoin_vector(fns: Sequence[VFn]) -> VFn | None:
    """Several conditions that must all hold, as ``and`` chains them."""
    return sc.chain(fns, lambda a, b: _connective(False, a, b))


def gather(col: list[Any], rows: Rows) -> list[Any]:
    """The values of ``col`` at ``rows`` (the column itself for every row: never mutated)."""
    return col if rows.__class__ is range else list(map(col.__getitem__, rows))


def select(rows: Rows, flags: list[Any]) -> tuple[Rows, Rows]:
    """The rows whose flag is true, and the others (false or null), in order. When every flag
    is true (or none is), ``rows`` itself is returned, so that a full batch stays a range."""
    true = flags.count(True)  # flags are true, false or null: only True counts
    if true == len(flags):
        return rows, []
    if not true:
        return [], rows
    return ([r for r, f in zip(rows, flags, strict=True) if f is True],
            [r for r, f in zip(rows, flags, strict=True) if f is not True])  # fmt: skip


def merge(flags: list[Any], yes: list[Any], no: list[Any]) -> list[Any]:
    """Interleave the values computed for the true rows and for the others, in row order."""
    next_yes, next_no = iter(yes).__next__, iter(no).__next__
    return [next_yes() if f is True else next_no() for f in flags]


class _Vector(NodeCompiler[VFn]):
    ctx: sc.Context | None

    def _literal(self, node: n.Literal) -> VFn:
        value = node.value
        return lambda cols, rows: [value] * len(rows)

    def _ref(self, node: n.Ref) -> VFn:
        key = node.path
        return lambda cols, rows: gather(cols[key], rows)

    def _test(self, node: n.Test) -> VFn:
        f = self.compile(node.operand)
        if node.kind == "missing":  # rows given here have no unknowns
            return lambda cols, rows: [False] * len(rows)
        if node.kind in ("set", "not_null"):
            return lambda cols, rows: [v is not None for v in f(cols, rows)]
        return lambda cols, rows: [v is None for v in f(cols, rows)]

    def _unary(self, node: n.Unary) -> VFn:
        f = self.compile(node.operand)
        if node.op == "not":
            return lambda cols, rows: [not v for v in f(cols, rows)]
        return lambda cols, rows: [None if v is None else -v for v in f(cols, rows)]

    def total(self, node: n.Node) -> bool:
        """Whether ``node`` gives a value for every row of known inputs, never raising (no
        arithmetic, no function, comparisons of like types): such a branch may be computed
        for rows that do not take it, which is cheaper than selecting the rows that do."""
        if isinstance(node, n.Literal | n.Ref):
            return True
        if isinstance(node, n.Test) or (isinstance(node, n.Unary) and node.op == "not"):
            return self.total(node.operand)
        if isinstance(node, n.If):
            return self.total(node.cond) and self.total(node.then) and self.total(node.else_)
        if isinstance(node, n.Binary) and node.op in _TOTAL_OPS:
            if node.op in sc.COMPARE:
                lt, rt = self.types[id(node.left)].name, self.types[id(node.right)].name
                if _ALIKE.get(lt, lt) != _ALIKE.get(rt, rt) and "null" not in (lt, rt):
                    return False
            return self.total(node.left) and self.total(node.right)
        return False

    def _if(self, node: n.If) -> VFn:
        fc, ft, fe = self.compile(node.cond), self.compile(node.then), self.compile(node.else_)
        if self.total(node.then) and self.total(node.else_):

            def pick(cols: Cols, rows: Rows) -> list[Any]:
                c = fc(cols, rows)
                true = c.count(True)
                if true == len(c):
                    return ft(cols, rows)
                if not true:
                    return fe(cols, rows)
                t, e = ft(cols, rows), fe(cols, rows)
                return [x if f is True else y for f, x, y in zip(c, t, e, strict=True)]

            return pick

        def if_(cols: Cols, rows: Rows) -> list[Any]:
            c = fc(cols, rows)
            yes, no = select(rows, c)
            if not no:
                return ft(cols, rows)
            if not yes:
                return fe(cols, rows)
            return merge(c, ft(cols, yes), fe(cols, no))

        return if_

    def _listexpr(self, node: n.ListExpr) -> VFn:
        items = [
            (self.compile(i.expr), None if i.cond is None else self.compile(i.cond))
            for i in node.items
        ]

        if items and all(self.total(i.expr) for i in node.items):
            # Items that cannot fail (the usual list of names, each with its condition) are
            # computed for every row and kept where their condition holds.
            fs = [f for f, _ in items]
            cs = [c for _, c in items]

            def total_list(cols: Cols, rows: Rows) -> list[Any]:
                vals = zip(*[f(cols, rows) for f in fs], strict=True)
                if all(c is None for c in cs):
                    return [list(v) for v in vals]
                keep = zip(*[[True] * len(rows) if c is None else c(cols, rows) for c in cs],
                           strict=True)  # fmt: skip
                # compress keeps the values whose condition is true (false and null drop).
                return list(map(list, map(compress, vals, keep)))

            return total_list

        def list_(cols: Cols, rows: Rows) -> list[Any]:
            out: list[list[Any]] = [[] for _ in rows]
            at = dict(zip(rows, range(len(rows)), strict=True))
            for f, c in items:
                keep = rows if c is None else select(rows, c(cols, rows))[0]
                for r, v in zip(keep, f(cols, keep), strict=True):
                    out[at[r]].append(v)
            return out

        return list_

    def _binary(self, node: n.Binary) -> VFn:
        fa, fb = self.compile(node.left), self.compile(node.right)
        op = node.op
        if op in ("and", "or"):
            if self.total(node.right):
                if op == "and":
                    return lambda cols, rows: [
                        a is True and b is True
                        for a, b in zip(fa(cols, rows), fb(cols, rows), strict=True)
                    ]
                return lambda cols, rows: [
                    a is True or b is True
                    for a, b in zip(fa(cols, rows), fb(cols, rows), strict=True)
                ]
            return _connective(op == "or", fa, fb)
        if op in ("in", "not_in"):
            negate = op == "not_in"
            return lambda cols, rows: [
                False if a is None or b is None else (a in b) is not negate
                for a, b in zip(fa(cols, rows), fb(cols, rows), strict=True)
            ]
        if op in sc.COMPARE:
            cmp = sc.COMPARE[op]
            if isinstance(node.right, n.Literal):
                const = node.right.value
                if const is None:
                    return lambda cols, rows: [False] * len(rows)
                return lambda cols, rows: [
                    False if a is None else cmp(a, const) for a in fa(cols, rows)
                ]
            return lambda cols, rows: [
                False if a is None or b is None else cmp(a, b)
                for a, b in zip(fa(cols, rows), fb(cols, rows), strict=True)
            ]
        return self._arith(node, fa, fb)

    def _arith(self, node: n.Binary, fa: VFn, fb: VFn) -> VFn:
        lt, rt = self.types[id(node.left)].name, self.types[id(node.right)].name
        ctx, op = self.ctx, node.op
        if rt == "duration" and lt in ("date", "datetime") and isinstance(node.right, n.Literal):
            d, sign = node.right.value, -1 if op == "-" else 1
            if d.unit == "days":
                delta = dt.timedelta(days=d.amount * sign)
                return lambda cols, rows: [
                    None if a is None else a + delta if a.__class__ is _DATE
                    else sc.shift(a, d, ctx, sign)  # type: ignore[arg-type]
                    for a in fa(cols, rows)
                ]  # fmt: skip
            if d.unit in ("months", "years"):
                months = d.amount * sign * (12 if d.unit == "years" else 1)
                add = sc.add_months
                return lambda cols, rows: [
                    None if a is None else add(a, months) if a.__class__ is _DATE
                    else sc.shift(a, d, ctx, sign)  # type: ignore[arg-type]
                    for a in fa(cols, rows)
                ]  # fmt: skip
            return _lift1(fa, lambda a: sc.shift(a, d, ctx, sign))  # type: ignore[arg-type]
        return _lift2(fa, fb, sc.arithmetic(lt, rt, op, ctx))  # type: ignore[arg-type]

    def _call(self, node: n.Call) -> VFn:
        fs = [self.compile(a) for a in node.args]
        builtin = BUILTINS[node.name]
        impl = partial(builtin.impl, self.ctx)
        if builtin.strict:
            return _lift(fs, impl)
        scalar_args = all(self.types[id(a)].name != "list" for a in node.args)
        if builtin.pick is not None and scalar_args:
            # Pairwise from the left: the earliest (latest) of three is that of the first two
            # and the third; nulls are skipped and a tie keeps the earlier argument, as in
            # the scalar form.
            out = fs[0]
            for f in fs[1:]:
                out = _pick2(builtin.pick, out, f)
            return out
        return lambda cols, rows: [
            impl(*args) for args in zip(*(f(cols, rows) for f in fs), strict=True)
        ]


def _pick2(first: bool, fa: VFn, fb: VFn) -> VFn:
    """``earliest``/``min`` (first) or ``latest``/``max`` of two known scalars, nulls skipped."""
    if first:
        return lambda cols, rows: [
            b if a is None else a if b is None else a if a <= b else b
            for a, b in zip(fa(cols, rows), fb(cols, rows), strict=True)
        ]
    return lambda cols, rows: [
        b if a is None else a if b is None else a if a >= b else b
        for a, b in zip(fa(cols, rows), fb(cols, rows), strict=True)
    ]


def _lift1(f: VFn, calc: Callable[[Any], Any]) -> VFn:
    return lambda cols, rows: [None if a is None else calc(a) for a in f(cols, rows)]


def _lift2(fa: VFn, fb: VFn, calc: Callable[[Any, Any], Any]) -> VFn:
    return lambda cols, rows: [
        None if a is None or b is None else calc(a, b)
        for a, b in zip(fa(cols, rows), fb(cols, rows), strict=True)
    ]


def _lift(fs: list[VFn], calc: Callable[..., Any]) -> VFn:
    """``calc`` row by row, null where any operand is null (rows here have no unknowns)."""
    if len(fs) == 1:
        return _lift1(fs[0], calc)
    if len(fs) == 2:
        return _lift2(fs[0], fs[1], calc)
    return lambda cols, rows: [
        None if None in args else calc(*args)
        for args in zip(*(f(cols, rows) for f in fs), strict=True)
    ]


def _connective(decisive: bool, fa: VFn, fb: VFn) -> VFn:
    """``and`` (decisive False) or ``or`` (decisive True) over known operands; null counts as
    false. The right side is computed only for the rows the left side does not decide."""

    def connective(cols: Cols, rows: Rows) -> list[Any]:
        a = fa(cols, rows)
        yes, no = select(rows, a)
        pending = no if decisive else yes  # or: a true left side decides; and: a false one
        if not pending:
            return [decisive] * len(a)
        b = fb(cols, pending)
        if len(pending) == len(a):
            return [x is True for x in b]
        next_b = iter(b).__next__
        if decisive:
            return [True if x is True else next_b() is True for x in a]
        return [next_b() is True if x is True else False for x in a]

    return connective
