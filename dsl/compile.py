"""Stage 3 of the expression language: typed syntax tree → a Python closure ``env -> value``.

Nothing is ever handed to ``eval``/``exec``: every node becomes a small closure, built once per
policy. Evaluation is three-valued: an ``Unknown`` (a fact the case does not give) propagates
through every operation except where the logic already decides (``false and unknown`` is false).
A ``None`` is a null event (a date that has not happened) or the value of a rule that did not
apply: arithmetic on it gives null, comparisons with it are false, earliest/latest/min/max/sum
skip it, and as a condition it counts as false.

What an operation means on known values is ``dsl.semantics``; the built-in functions, with
their implementations and strictness, are the one table ``dsl.builtins.BUILTINS``.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from functools import partial
from typing import Any, Generic, TypeVar

from dsl import nodes as n
from dsl.builtins import BUILTINS
from dsl.recipe import recorded, recording_on, remember
from dsl.semantics import (
    COMPARE,
    Context,
    U,
    add_months,
    arithmetic,
    chain,
    compare_unknown,
    member_unknown,
    partial_list,
    shift,
    unknown2,
    unknown_of,
)
from dsl.typecheck import Types
from dsl.typesys import Type
from dsl.values import Duration, Unknown

Env = dict[str, Any]
Fn = Callable[[Env], Any]


T = TypeVar("T")


class NodeCompiler(Generic[T]):
    """A compiler of typed syntax trees: ``compile`` hands each node to the method named after
    its class (``_if`` for ``If``). The scalar and the column compilers share this shape."""

    def __init__(self, types: Types, ctx: Any) -> None:
        self.types = types
        self.ctx = ctx

    def compile(self, node: n.Node) -> T:
        method: Callable[[Any], T] = getattr(self, "_" + type(node).__name__.lower())
        return method(node)


class _Compiler(NodeCompiler[Fn]):
    ctx: Context

    def _literal(self, node: n.Literal) -> Fn:
        value = node.value
        return lambda env: value

    def _ref(self, node: n.Ref) -> Fn:
        return operator.itemgetter(node.path)

    def _test(self, node: n.Test) -> Fn:
        if isinstance(node.operand, n.Ref):
            return _ref_test(node.operand.path, node.kind)
        f = self.compile(node.operand)
        if node.kind == "missing":
            return lambda env: f(env).__class__ is U
        if node.kind == "set" or node.kind == "not_null":

            def is_set(env: Env) -> Any:
                v = f(env)
                return _unknown_is_null(v, False) if v.__class__ is U else v is not None

            return is_set

        def is_null(env: Env) -> Any:
            v = f(env)
            return _unknown_is_null(v, True) if v.__class__ is U else v is None

        return is_null

    def _unary(self, node: n.Unary) -> Fn:
        f = self.compile(node.operand)
        if node.op == "not":

            def not_(env: Env) -> Any:
                v = f(env)
                return v.plain() if v.__class__ is U else not v  # not null is true

            return not_

        def neg(env: Env) -> Any:
            v = f(env)
            return v.plain() if v.__class__ is U else None if v is None else -v

        return neg

    def _if(self, node: n.If) -> Fn:
        fc, ft, fe = self.compile(node.cond), self.compile(node.then), self.compile(node.else_)

        def if_(env: Env) -> Any:
            c = fc(env)
            if c is True:
                return ft(env)
            if c is False or c is None:  # a condition that did not apply is false
                return fe(env)
            # Unknown condition: still decided when both branches agree.
            t, e = ft(env), fe(env)
            if t.__class__ is not U and t.__class__ is e.__class__ and t == e:
                return t
            return unknown_of(c, t, e)

        return if_

    def _listexpr(self, node: n.ListExpr) -> Fn:
        items = [
            (self.compile(i.expr), None if i.cond is None else self.compile(i.cond))
            for i in node.items
        ]
        # Known items make a Python list, on the fast path; the first unknown one (a value, or
        # a condition) hands the whole list to ``partial_list``, which keeps what is known.
        if all(c is None for _, c in items):
            fs = [f for f, _ in items]

            def plain_list(env: Env) -> Any:
                out = [f(env) for f in fs]
                for v in out:
                    if v.__class__ is U:
                        return partial_list(items, env)
                return out

            return plain_list

        def cond_list(env: Env) -> Any:
            out: list[Any] = []
            for f, c in items:
                if c is None or (keep := c(env)) is True:
                    v = f(env)
                    if v.__class__ is U:
                        return partial_list(items, env)
                    out.append(v)
                elif keep.__class__ is U:
                    return partial_list(items, env)
            return out

        return cond_list

    def _binary(self, node: n.Binary) -> Fn:
        fa, fb = self.compile(node.left), self.compile(node.right)
        op = node.op
        if op == "and":
            return _and(fa, fb)
        if op == "or":
            return _or(fa, fb)
        if op in ("in", "not_in"):
            right = node.right
            if (
                isinstance(right, n.ListExpr)
                and isinstance(node.left, n.Ref)
                and all(isinstance(i.expr, n.Literal) and i.cond is None for i in right.items)
            ):
                consts = frozenset(i.expr.value for i in right.items)  # type: ignore[attr-defined]
                return _member_ref_const(node.left.path, consts, op == "not_in")
            return _membership(fa, fb, op == "not_in")
        if op in COMPARE:
            if isinstance(node.left, n.Ref) and isinstance(node.right, n.Literal):
                return _compare_ref_const(COMPARE[op], node.left.path, node.right.value)
            if isinstance(node.left, n.Ref) and isinstance(node.right, n.Ref):
                return _compare_refs(COMPARE[op], node.left.path, node.right.path)
            return _compare(COMPARE[op], fa, fb)
        return self._arith(node, fa, fb)

    def _arith(self, node: n.Binary, fa: Fn, fb: Fn) -> Fn:
        lt, rt = self.types[id(node.left)].name, self.types[id(node.right)].name
        ctx, op = self.ctx, node.op
        if rt == "duration" and lt in ("date", "datetime") and isinstance(node.right, n.Literal):
            # The common case: `x + 180 days`.
            sign, d = -1 if op == "-" else 1, node.right.value
            if isinstance(node.left, n.Ref):
                return _shift_ref(node.left.path, d, ctx, sign)
            return _lift1(fa, lambda a: shift(a, d, ctx, sign))
        return _lift2(fa, fb, arithmetic(lt, rt, op, ctx))

    def _call(self, node: n.Call) -> Fn:
        fs = [self.compile(a) for a in node.args]
        builtin = BUILTINS[node.name]  # the checker let through only names of the table
        impl = partial(builtin.impl, self.ctx)
        if builtin.strict:
            if builtin.partial is not None and len(fs) == 1:
                return _lift1(fs[0], impl, builtin.partial)
            return _lift(fs, impl)
        scalar_args = all(self.types[id(a)].name != "list" for a in node.args)
        if builtin.pick is not None and scalar_args:
            if len(fs) == 2:
                return _pick2(builtin.pick, fs[0], fs[1])
            return _pick(builtin.pick, fs)

        def call(env: Env) -> Any:
            return impl(*[f(env) for f in fs])

        return call


def _pick2(first: bool, fa: Fn, fb: Fn) -> Fn:
    """``earliest``/``min`` (first=True) or ``latest``/``max`` of two scalars: nulls skipped."""

    def pick(env: Env) -> Any:
        a, b = fa(env), fb(env)
        if a.__class__ is U or b.__class__ is U:
            return unknown2(a, b)
        if a is None:
            return b
        if b is None:
            return a
        return (a if a <= b else b) if first else (a if a >= b else b)

    return pick


def _pick(first: bool, fs: list[Fn]) -> Fn:
    """``_pick2`` for any number of scalars."""

    def pick(env: Env) -> Any:
        best: Any = None
        unknown: Any = None
        for f in fs:
            v = f(env)
            if v.__class__ is U:
                unknown = v if unknown is None else unknown.merge(v)
            elif v is not None and (best is None or (v < best if first else v > best)):
                best = v
        return best if unknown is None else unknown.plain()

    return pick


def _lift(fs: list[Fn], calc: Callable[..., Any]) -> Fn:
    """``calc`` of the operands' values when every one is known and non-null: an unknown
    operand makes the result unknown, a null one null (the arity-one and -two forms are the
    hot paths of a strict function)."""
    if len(fs) == 1:
        return _lift1(fs[0], calc)
    if len(fs) == 2:
        return _lift2(fs[0], fs[1], calc)

    def lifted(env: Env) -> Any:
        args = [f(env) for f in fs]
        if any(a.__class__ is U for a in args):
            return unknown_of(*args)
        return None if any(a is None for a in args) else calc(*args)

    return lifted


def _lift1(
    f: Fn, calc: Callable[[Any], Any], on_partial: Callable[[Unknown], Any] | None = None
) -> Fn:
    """``calc`` of a known, non-null operand; ``on_partial`` of an unknown one that is partly
    known (a function of lists that decides on a partially known list)."""

    def lifted(env: Env) -> Any:
        a = f(env)
        if a is None:
            return a
        if a.__class__ is U:
            return a.plain() if on_partial is None or a.known is None else on_partial(a)
        return calc(a)

    return lifted


def _lift2(fa: Fn, fb: Fn, calc: Callable[[Any, Any], Any]) -> Fn:
    def lifted(env: Env) -> Any:
        a, b = fa(env), fb(env)
        if a.__class__ is U or b.__class__ is U:
            return unknown2(a, b)
        if a is None or b is None:
            return None
        return calc(a, b)

    return lifted


def _connective(decisive: bool, fa: Fn, fb: Fn) -> Fn:
    """``and`` (decisive False) or ``or`` (decisive True): one operand with the decisive value
    decides, whatever the other is; otherwise both must be known."""
    other = not decisive

    def connective(env: Env) -> Any:
        a = fa(env)
        if a is None:  # a condition that did not apply counts as false
            a = False
        if a is decisive:
            return decisive
        b = fb(env)
        if b is None:
            b = False
        if b is decisive:
            return decisive
        if a is other and b is other:
            return other
        return unknown2(a, b)

    return connective


def _and(fa: Fn, fb: Fn) -> Fn:
    return _connective(False, fa, fb)


def _or(fa: Fn, fb: Fn) -> Fn:
    return _connective(True, fa, fb)


# Specialised closures for the shapes policies use most (a reference compared with a constant, a
# reference tested for null, a date reference plus a fixed duration): they read the environment
# directly instead of calling a closure per operand. Same semantics as the general forms.


def _ref_test(key: str, kind: str) -> Fn:
    if kind == "missing":
        return lambda env: env[key].__class__ is U
    if kind in ("set", "not_null"):

        def is_set(env: Env) -> Any:
            v = env[key]
            return _unknown_is_null(v, False) if v.__class__ is U else v is not None

        return is_set

    def is_null(env: Env) -> Any:
        v = env[key]
        return _unknown_is_null(v, True) if v.__class__ is U else v is None

    return is_null


def _unknown_is_null(u: Unknown, null: bool) -> Any:
    """``is null`` (null True) or ``is set`` of an unknown: a partly known list or count is
    never null, so the test is decided; any other unknown may be null or not."""
    return u.plain() if u.known is None else not null


def _compare_ref_const(cmp: Callable[[Any, Any], bool], key: str, const: Any) -> Fn:
    if const is None:
        return lambda env: env[key].plain() if env[key].__class__ is U else False

    def compare(env: Env) -> Any:
        a = env[key]
        if a.__class__ is U:
            return compare_unknown(cmp, a, const)
        return False if a is None else cmp(a, const)

    return compare


def _compare_refs(cmp: Callable[[Any, Any], bool], ka: str, kb: str) -> Fn:
    def compare(env: Env) -> Any:
        a, b = env[ka], env[kb]
        if a.__class__ is U or b.__class__ is U:
            return compare_unknown(cmp, a, b)
        if a is None or b is None:
            return False
        return cmp(a, b)

    return compare


def _shift_ref(key: str, d: Duration, ctx: Context, sign: int) -> Fn:
    if d.unit == "days":
        delta = dt.timedelta(days=d.amount * sign)

        def add_days(env: Env) -> Any:
            a = env[key]
            if a is None or a.__class__ is U:
                return a
            return a + delta if a.__class__ is dt.date else shift(a, d, ctx, sign)

        return add_days

    if d.unit in ("months", "years"):
        months = d.amount * sign * (12 if d.unit == "years" else 1)

        def add_calendar_months(env: Env) -> Any:
            a = env[key]
            if a is None or a.__class__ is U:
                return a
            return add_months(a, months) if a.__class__ is dt.date else shift(a, d, ctx, sign)

        return add_calendar_months

    def shifted(env: Env) -> Any:
        a = env[key]
        if a is None or a.__class__ is U:
            return a
        return shift(a, d, ctx, sign)

    return shifted


def _compare(cmp: Callable[[Any, Any], bool], fa: Fn, fb: Fn) -> Fn:
    def compare(env: Env) -> Any:
        a, b = fa(env), fb(env)
        if a.__class__ is U or b.__class__ is U:
            return compare_unknown(cmp, a, b)
        if a is None or b is None:
            return False  # a null event is neither before, after nor equal to anything
        return cmp(a, b)

    return compare


def _member_ref_const(key: str, consts: frozenset[Any], negate: bool) -> Fn:
    def member(env: Env) -> Any:
        a = env[key]
        if a.__class__ is U:
            return False if not (consts or negate) else a.plain()  # nothing is in []
        return False if a is None else (a in consts) is not negate

    return member


def _membership(fa: Fn, fb: Fn, negate: bool) -> Fn:
    def member(env: Env) -> Any:
        a, b = fa(env), fb(env)
        if a.__class__ is U or b.__class__ is U:
            return member_unknown(a, b, negate)
        if a is None or b is None:
            return False
        return (a in b) is not negate

    return member


def compile_expression(node: n.Node, types: Types, ctx: Context) -> Fn:
    """Compile a type-checked expression into a closure over an environment of values."""
    fn = _Compiler(types, ctx).compile(node)
    if recording_on():  # the walk is paid only by a compile that is to be cached
        remember(fn, recompile, node, typed_nodes(node, types), ctx)
    return fn


def recompile(node: n.Node, typed: tuple[tuple[n.Node, Type], ...], ctx: Context) -> Fn:
    """``compile_expression`` again from the tree and its nodes' types saved by ``typed_nodes``
    (a compiled policy loaded from the cache: the tree is checked, only closures are made)."""
    return compile_expression(node, {id(sub): t for sub, t in typed}, ctx)


def typed_nodes(node: n.Node, types: Types) -> tuple[tuple[n.Node, Type], ...]:
    """Each node of the tree under ``node`` with its type: ``Types`` is keyed by ``id``, which
    does not survive a pickle, the nodes themselves do (shared ones stay shared)."""
    out, stack = [], [node]
    while stack:
        sub = stack.pop()
        if id(sub) in types:
            out.append((sub, types[id(sub)]))
        stack.extend(n.children(sub))
    return tuple(out)


@recorded
def conjoin(fns: list[Fn]) -> Fn | None:
    """One closure for several conditions that must all hold (three-valued ``and``)."""
    return chain(fns, _and)
