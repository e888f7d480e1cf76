"""Stage 3b of the expression language: typed syntax tree → Python statements, for speed.

``dsl.compile`` turns every node into a closure; a decision of a dozen nodes then costs a
dozen Python calls. Here the same checked tree becomes straight-line Python source: each node
assigns a local name, so a rule is one function's worth of bytecode. The closures stay the
reference semantics: every form below is the closure of the same name in ``dsl.compile``
written out, and the rare paths (an ``if`` whose condition is unknown, a list, a call of more
than two arguments) call the closure itself, so they are the reference by construction.
``tests/test_generated.py`` runs every golden case, DSL fixture and randomized case both ways.

What is generated, and what never is:
- names are the emitter's own (``t3``, ``k12``); a reference becomes the local its owner
  assigned, never the text of the reference;
- every value of the policy (a literal, a function, a closure) is a constant handed in by
  ``Consts``: the source names it (``k12``) and the function receives it as a closure cell;
- comments quote policy text through ``ascii()``, which escapes every line break, so a
  comment cannot end early.
No text a user wrote is ever part of the code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import partial
from typing import Any

from dsl import nodes as n
from dsl.builtins import BUILTINS
from dsl.compile import Fn, compile_expression
from dsl.semantics import (
    COMPARE,
    Context,
    add_months,
    arithmetic,
    compare_unknown,
    member_unknown,
    shift,
    unknown2,
    unknown_of,
)
from dsl.typecheck import Types
from dsl.values import Duration, Unknown

# The helpers every generated function may call, bound under these names (the emitter writes
# only these names and its own).
HELPERS: dict[str, Any] = {
    "U": Unknown,
    "DATE": dt.date,
    "unknown2": unknown2,
    "unknown_of": unknown_of,
    "compare_unknown": compare_unknown,
    "member_unknown": member_unknown,
    "shift": shift,
    "add_months": add_months,
}
# Past this many levels of blocks the rest of a tree runs on its closure: every `if` and
# every right operand of `and`/`or` opens a block, and Python refuses a function nested 100
# deep (``IndentationError``) though the language allows expressions that deep.
MAX_DEPTH = 60
_SHARED = (str, int, float, Decimal, dt.date, dt.datetime, dt.time, dt.timedelta, Duration)
_OPS = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class Consts:
    """The constants a generated function receives, each under a generated name.

    A value that can be a dict key (a literal, a date) is named once however often it occurs;
    anything else (a closure, a function) once per object."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._by_key: dict[Any, str] = {}

    def name(self, value: Any) -> str:
        # Equal values may differ (Decimal 1.0 and 1.00 print differently): a value is shared
        # only with one of the same class and the same spelling.
        key: Any = (value.__class__, repr(value)) if value.__class__ in _SHARED else id(value)
        found = self._by_key.get(key)
        if found is None:
            found = self._by_key[key] = f"k{len(self.values)}"
            self.values.append(value)
        return found


class Writer:
    """Writes indented statements into ``lines``, naming temporaries and constants."""

    def __init__(self, consts: Consts, ctx: Context, locals_of: Callable[[str], str],
                 fallback_env: str = "env") -> None:  # fmt: skip
        self.consts = consts
        self.ctx = ctx
        self.locals_of = locals_of  # a reference's path → the local holding its value
        self.env = fallback_env  # the name of the environment the closures read
        self.lines: list[str] = []
        self.depth = 1
        self._temps = 0
        self._impls: dict[str, str] = {}
        # Atoms whose value is never an Unknown, and never None: constants, and what the
        # caller knows of its locals (a case's ``as_of``; a fact that may not be null, which
        # a reader either gives a value or leaves unknown). A test that cannot hold is left
        # out of the code.
        self.known: set[str] = {"True", "False", "None"}
        self.present: set[str] = {"True", "False"}

    # Writing ----------------------------------------------------------------------------------

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    @contextmanager
    def block(self, head: str) -> Iterator[None]:
        """``head:`` and the statements written inside the ``with``, one level deeper."""
        self.line(head + ":")
        self.depth += 1
        start = len(self.lines)
        try:
            yield
        finally:
            if len(self.lines) == start:
                self.line("pass")
            self.depth -= 1

    def guard(self, head: str, statement: str) -> None:
        """``head:`` and one statement under it."""
        self.line(head + ":")
        self.line("    " + statement)

    def comment(self, text: str) -> None:
        """A comment quoting policy text: ``ascii`` escapes every line break and non-ASCII
        character, so the text stays inside the comment."""
        self.line("# " + ascii(text))

    def temp(self) -> str:
        self._temps += 1
        return f"t{self._temps}"

    def const(self, value: Any) -> str:
        if value is None or value is True or value is False:
            return repr(value)
        name = self.consts.name(value)
        self.known.add(name)
        self.present.add(name)
        return name

    def unknown(self, *atoms: str) -> str | None:
        """The test that one of ``atoms`` is unknown (None: none can be)."""
        return " or ".join(f"{a}.__class__ is U" for a in atoms if a not in self.known) or None

    def null(self, *atoms: str) -> str | None:
        """The test that one of ``atoms`` is null (None: none can be)."""
        return " or ".join(f"{a} is None" for a in atoms if a not in self.present) or None

    def choose(self, t: str, cases: list[tuple[str | None, str]], otherwise: str) -> str:
        """``t = v1 if c1 else v2 if c2 else … otherwise``, leaving out each case whose test
        cannot hold (None)."""
        parts = [f"{value} if {test} else " for test, value in cases if test is not None]
        self.line(f"{t} = {''.join(parts)}{otherwise}")
        return t

    def fallback(self, node: n.Node, types: Types) -> str:
        """The node's value by its reference closure (the rare paths)."""
        fn: Fn = compile_expression(node, types, self.ctx)
        t = self.temp()
        self.line(f"{t} = {self.consts.name(fn)}({self.env})")
        return t


class _Calls(Writer):
    """The statements of a call of a built-in function, and the lifting of strict ones."""

    expr: Callable[[n.Node, Types], str]

    def lift1(self, a: str, calc: str, on_partial: str | None = None) -> str:
        unknown = f"{a}.plain()" if on_partial is None else (
            f"({a}.plain() if {a}.known is None else {on_partial}({a}))")  # fmt: skip
        return self.choose(self.temp(), [(self.null(a), "None"), (self.unknown(a), unknown)],
                           f"{calc}({a})")  # fmt: skip

    def lift2(self, a: str, b: str, calc: str) -> str:
        cases = [(self.unknown(a, b), f"unknown2({a}, {b})"), (self.null(a, b), "None")]
        return self.choose(self.temp(), cases, f"{calc}({a}, {b})")

    def _call(self, node: n.Call, types: Types) -> str:
        builtin = BUILTINS[node.name]
        impl = self._impl(node.name)
        count = len(node.args)
        scalar = all(types[id(a)].name != "list" for a in node.args)
        args = [self.expr(a, types) for a in node.args]
        if builtin.strict:
            if count == 1:
                on_partial = None if builtin.partial is None else self.consts.name(builtin.partial)
                return self.lift1(args[0], impl, on_partial)
            if count == 2:
                return self.lift2(args[0], args[1], impl)
            return self._lift(args, impl)
        if builtin.pick is not None and scalar:
            return self._pick(builtin.pick, args)
        t = self.temp()
        self.line(f"{t} = {impl}({', '.join(args)})")
        return t

    def _impl(self, name: str) -> str:
        """A built-in's implementation bound to the context, one constant per function."""
        found = self._impls.get(name)
        if found is None:
            found = self._impls[name] = self.consts.name(partial(BUILTINS[name].impl, self.ctx))
        return found

    def _lift(self, args: list[str], calc: str) -> str:
        """``_lift`` of any arity: an unknown argument makes it unknown, a null one null."""
        listed = ", ".join(args)
        cases = [(self.unknown(*args), f"unknown_of({listed})"), (self.null(*args), "None")]
        return self.choose(self.temp(), cases, f"{calc}({listed})")

    def _pick(self, first: bool, args: list[str]) -> str:
        """``_pick2`` and ``_pick``: the least (``first``) or greatest, nulls skipped, of
        scalars; any unknown makes it unknown."""
        t = self.temp()
        if len(args) == 2:
            a, b = args
            keep = "<=" if first else ">="
            return self.choose(t, [(self.unknown(a, b), f"unknown2({a}, {b})"),
                                   (self.null(a), b), (self.null(b), a)],
                               f"({a} if {a} {keep} {b} else {b})")  # fmt: skip
        better = "<" if first else ">"
        u = self.temp()
        self.line(f"{t} = {u} = None")
        for a in args:
            head = "if"
            if (unknown := self.unknown(a)) is not None:
                with self.block(f"if {unknown}"):
                    self.line(f"{u} = {a} if {u} is None else {u}.merge({a})")
                head = "elif"
            given = "" if self.null(a) is None else f"{a} is not None and "
            with self.block(f"{head} {given}({t} is None or {a} {better} {t})"):
                self.line(f"{t} = {a}")
        self.line(f"{t} = {t} if {u} is None else {u}.plain()")
        return t


class Emitter(_Calls):
    """Python statements for a checked tree: ``expr`` returns the atom (a name, or ``True``,
    ``False``, ``None``) holding the node's value once the statements written so far ran.
    The calls of built-in functions are ``_Calls``'s."""

    def expr(self, node: n.Node, types: Types) -> str:
        if self.depth >= MAX_DEPTH and not isinstance(node, n.Literal | n.Ref):
            return self.fallback(node, types)  # Python nests blocks 100 deep at most
        method: Callable[[Any, Types], str] = getattr(self, "_" + type(node).__name__.lower())
        return method(node, types)

    def _literal(self, node: n.Literal, types: Types) -> str:
        return self.const(node.value)

    def _ref(self, node: n.Ref, types: Types) -> str:
        return self.locals_of(node.path)

    def _listexpr(self, node: n.ListExpr, types: Types) -> str:
        return self.fallback(node, types)

    def _test(self, node: n.Test, types: Types) -> str:
        a, t = self.expr(node.operand, types), self.temp()
        unknown = self.unknown(a)
        if node.kind == "missing":
            self.line(f"{t} = {unknown or 'False'}")
            return t
        null = node.kind == "null"
        # ``_unknown_is_null``: a partly known list or count is never null.
        return self.choose(t, [(unknown, f"({a}.plain() if {a}.known is None else {not null})")],
                           f"{a} is {'' if null else 'not '}None")  # fmt: skip

    def _unary(self, node: n.Unary, types: Types) -> str:
        a, t = self.expr(node.operand, types), self.temp()
        unknown = self.unknown(a)
        if node.op == "not":
            return self.choose(t, [(unknown, f"{a}.plain()")], f"not {a}")
        return self.choose(t, [(unknown, f"{a}.plain()"), (self.null(a), "None")], f"-{a}")

    def _if(self, node: n.If, types: Types) -> str:
        c, t = self.expr(node.cond, types), self.temp()
        with self.block(f"if {c} is True"):
            self.line(f"{t} = {self.expr(node.then, types)}")
        with self.block(f"elif {c} is False or {c} is None"):
            self.line(f"{t} = {self.expr(node.else_, types)}")
        with self.block("else"):  # unknown condition: decided when both branches agree
            self.line(f"{t} = {self.fallback(node, types)}")
        return t

    def _binary(self, node: n.Binary, types: Types) -> str:
        op = node.op
        if op in ("and", "or"):
            return self.connective(op == "or", node.left, node.right, types)
        if op in ("in", "not_in"):
            return self._membership(node, types)
        if op in COMPARE:
            return self._compare(node, types)
        return self._arith(node, types)

    def connective(self, decisive: bool, left: n.Node, right: n.Node, types: Types) -> str:
        """``_connective``: a decisive operand decides, the other is computed only if needed."""
        d, o = repr(decisive), repr(not decisive)
        a, t = self.expr(left, types), self.temp()
        ta = self._as_condition(a)  # null counts as false
        with self.block(f"if {ta} is {d}"):
            self.line(f"{t} = {d}")
        with self.block("else"):
            tb = self._as_condition(self.expr(right, types))
            self.line(f"{t} = {d} if {tb} is {d} else {o} if {ta} is {o} and {tb} is {o} "
                      f"else unknown2({ta}, {tb})")  # fmt: skip
        return t

    def _as_condition(self, a: str) -> str:
        """``a`` with null read as false."""
        if self.null(a) is None:
            return a
        return self.choose(self.temp(), [(self.null(a), "False")], a)

    def _compare(self, node: n.Binary, types: Types) -> str:
        left, right, op = node.left, node.right, _OPS[node.op]
        cmp = self.consts.name(COMPARE[node.op])
        a = self.expr(left, types)
        t = self.temp()
        if isinstance(left, n.Ref) and isinstance(right, n.Literal):  # _compare_ref_const
            if right.value is None:
                return self.choose(t, [(self.unknown(a), f"{a}.plain()")], "False")
            k = self.const(right.value)
            return self.choose(t, [(self.unknown(a), f"compare_unknown({cmp}, {a}, {k})"),
                                   (self.null(a), "False")], f"{a} {op} {k}")  # fmt: skip
        b = self.expr(right, types)  # _compare_refs and _compare: both operands first
        return self.choose(t, [(self.unknown(a, b), f"compare_unknown({cmp}, {a}, {b})"),
                               (self.null(a, b), "False")], f"{a} {op} {b}")  # fmt: skip

    def _membership(self, node: n.Binary, types: Types) -> str:
        negate, right = node.op == "not_in", node.right
        a = self.expr(node.left, types)
        t = self.temp()
        word = "not in" if negate else "in"
        if (
            isinstance(right, n.ListExpr)
            and isinstance(node.left, n.Ref)
            and all(isinstance(i.expr, n.Literal) and i.cond is None for i in right.items)
        ):  # _member_ref_const
            consts = frozenset(i.expr.value for i in right.items)  # type: ignore[attr-defined]
            k = self.consts.name(consts)
            on_unknown = "False" if not (consts or negate) else f"{a}.plain()"
            return self.choose(t, [(self.unknown(a), f"({on_unknown})"), (self.null(a), "False")],
                               f"{a} {word} {k}")  # fmt: skip
        b = self.expr(right, types)
        return self.choose(t, [(self.unknown(a, b), f"member_unknown({a}, {b}, {negate})"),
                               (self.null(a, b), "False")], f"{a} {word} {b}")  # fmt: skip

    def _arith(self, node: n.Binary, types: Types) -> str:
        lt, rt = types[id(node.left)].name, types[id(node.right)].name
        op, right = node.op, node.right
        if rt == "duration" and lt in ("date", "datetime") and isinstance(right, n.Literal):
            return self._shift(node.left, right.value, -1 if op == "-" else 1, types)
        a = self.expr(node.left, types)
        b = self.expr(right, types)
        return self.lift2(a, b, self.consts.name(arithmetic(lt, rt, op, self.ctx)))

    def _shift(self, left: n.Node, d: Any, sign: int, types: Types) -> str:
        """``x ± a duration literal``: ``_shift_ref`` for a reference, ``_lift1`` of ``shift``
        otherwise (the two meet an unknown differently: the first keeps it as it is)."""
        a, t = self.expr(left, types), self.temp()
        ctx, k = self.consts.name(self.ctx), self.consts.name(d)
        general = f"shift({a}, {k}, {ctx}, {sign})"
        if not isinstance(left, n.Ref):
            return self.choose(t, [(self.null(a), "None"), (self.unknown(a), f"{a}.plain()")],
                               general)  # fmt: skip
        if d.unit == "days":
            fast = f"{a} + {self.consts.name(dt.timedelta(days=d.amount * sign))}"
        elif d.unit in ("months", "years"):
            months = d.amount * sign * (12 if d.unit == "years" else 1)
            fast = f"add_months({a}, {self.const(months)})"
        else:
            fast = general
        absent = " or ".join(c for c in (self.null(a), self.unknown(a)) if c is not None) or None
        return self.choose(t, [(absent, a)], f"{fast} if {a}.__class__ is DATE else {general}")


def factory_source(name: str, params: list[str], body: list[str]) -> str:
    """The module text: one factory taking every constant and helper, returning the function.

    A constant reached as a closure cell costs what a local costs, where a global would cost a
    dictionary lookup."""
    head = f"def make({', '.join(params)}):"
    return "\n".join([head, *("    " + b for b in body), f"    return {name}", ""])


def build(source: str, filename: str, consts: Consts, helpers: dict[str, Any]) -> Any:
    """The function the factory in ``source`` returns, given the constants and helpers.

    The source is compiled from text the emitter wrote (generated names, constants by name);
    ``exec`` here runs that definition only, in a namespace with no builtins but those it needs.
    """
    code = compile(source, filename, "exec")
    namespace: dict[str, Any] = {"__builtins__": {}}
    exec(code, namespace)  # generated from the checked tree: see the module's docstring
    return namespace["make"](*consts.values, **helpers)


def compile_generated(node: n.Node, types: Types, ctx: Context) -> Fn:
    """``compile_expression``'s equal as generated code: a function ``env -> value`` (the
    differential tests run every fixture both ways)."""
    consts = Consts()
    paths = list(dict.fromkeys(r.path for r in n.iter_refs(node)))
    local = {p: f"v{j}" for j, p in enumerate(paths)}
    em = Emitter(consts, ctx, local.__getitem__)
    for p, name in local.items():
        em.line(f"{name} = env[{consts.name(p)}]")
    em.line(f"return {em.expr(node, types)}")
    params = [f"k{i}" for i in range(len(consts.values))] + list(HELPERS)
    source = factory_source("value", params, ["def value(env):", *em.lines])
    fn: Fn = build(source, "<ordinance expression>", consts, HELPERS)
    return fn
