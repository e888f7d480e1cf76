"""Stage 1 of the expression language: text → syntax tree (dsl.nodes), with the Lark LALR grammar.

Syntax errors become ``DslErrors`` with the offending span and the tokens that would fit there.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from dsl import nodes as n
from dsl.errors import DslError, DslErrors
from dsl.values import Duration

_GRAMMAR = Path(__file__).with_name("grammar.lark")

# How the parser's terminal names read in a message for a code administrator.
_TERMINAL_NAMES = {
    "NAME": "a name",
    "INT": "a number",
    "DECIMAL": "a number",
    "MONEY": "an amount",
    "DATE": "a date",
    "TIME": "a time",
    "DURATION": "a duration",
    "STRING": "a string",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "COMMA": "`,`",
    "DOT": "`.`",
    "COMPARE": "a comparison",
    "ADDOP": "`+` or `-`",
    "MULOP": "`*` or `/`",
    "MINUS": "`-`",
    "$END": "the end of the expression",
}

_UNITS = {"day": "days", "week": "weeks", "month": "months", "year": "years"}

# How deeply an expression may nest (each operator, call, list and `if` is a level). The passes
# after parsing (transformer, type checker, compilers, evaluation) recurse on the tree, so the
# depth is bounded here, before any of them runs; no law comes near it.
MAX_DEPTH = 100
# How long an expression may be, in characters: parsing is linear but not fast (about 10,000
# characters a second on a busy machine), and the longest rule of the bundled policy has 915.
MAX_LENGTH = 10_000
# The largest literal duration of each unit: enough to leave any date of the calendar
# (years 1 to 9999), small enough that the arithmetic never overflows.
MAX_DURATION = {"days": 3_652_059, "weeks": 521_722, "months": 119_988, "years": 9_998,
                "business_days": 2_608_613}  # fmt: skip
# Digits a decimal or an amount literal may have: exact arithmetic (28 significant digits) and
# amounts written with cents must stay exact.
MAX_DIGITS = 18


@cache
def _parser() -> Lark:
    return Lark(
        _GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
    )


def parse_expression(text: str) -> n.Node:
    """Parse one expression.

    >>> parse_expression("permit.issued_on + 3 years")
    Binary(span=(0, 26), op='+', left=Ref(span=(0, 16), path='permit.issued_on'), ...)

    Raises:
        DslErrors: with one error: ``dsl/syntax`` pointing at the first problem, a literal
            (``dsl/bad-literal``, ``dsl/out-of-range``), ``dsl/too-long`` or ``dsl/too-deep``.
    """
    if not text.strip():
        raise DslErrors(
            [
                DslError(
                    "dsl/syntax",
                    "the expression is empty",
                    0,
                    0,
                    "write an expression, for example `permit.issued_on + 180 days`",
                )
            ]
        )
    if len(text) > MAX_LENGTH:
        raise DslErrors([DslError(
            "dsl/too-long", f"the expression is {len(text):,} characters long: at most "
            f"{MAX_LENGTH:,}", MAX_LENGTH, len(text),
            "split it into several rules, each naming a part")])  # fmt: skip
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise DslErrors([_syntax_error(text, exc)]) from None
    except RecursionError:
        raise _too_deep(text, 0, len(text)) from None
    check_depth(tree, text)
    try:
        node: n.Node = _ToNodes().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, _LiteralError):
            raise DslErrors([exc.orig_exc.error]) from None
        raise
    return node


def check_depth(tree: Tree[Token], text: str) -> None:
    """Raise ``dsl/too-deep`` when a sub-expression is nested deeper than ``MAX_DEPTH``, placed
    at the part past the limit on the deepest path.

    Iterative, so that it runs on any tree the (iterative) LALR parser builds."""
    parents: dict[int, Tree[Token]] = {}
    deepest, deepest_depth = tree, 1
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        t, depth = stack.pop()
        if depth > deepest_depth:
            deepest, deepest_depth = t, depth
        for c in t.children:
            if isinstance(c, Tree):
                parents[id(c)] = t
                stack.append((c, depth + 1))
    if deepest_depth <= MAX_DEPTH:
        return
    for _ in range(deepest_depth - MAX_DEPTH - 1):
        deepest = parents[id(deepest)]
    meta = deepest.meta
    raise _too_deep(text, getattr(meta, "start_pos", 0), getattr(meta, "end_pos", len(text)))


def _too_deep(text: str, start: int, end: int) -> DslErrors:
    return DslErrors([DslError(
        "dsl/too-deep", f"the expression nests more than {MAX_DEPTH} levels deep", start, end,
        "split it into several rules, each naming a part")])  # fmt: skip


# Operators of other languages that this one does not have, and what to write instead: the
# law we encode has no use for a remainder or a power, and `and`/`or`/`not` are words here.
_FOREIGN_OPERATORS = {
    "%": "there is no remainder operator: the arithmetic operators are `+ - * /`",
    "^": "there is no power operator: the arithmetic operators are `+ - * /`",
    "**": "there is no power operator: the arithmetic operators are `+ - * /`",
    "//": "there is no whole-number division: `/` divides exactly",
    "&": "write `and`",
    "&&": "write `and`",
    "|": "write `or`",
    "||": "write `or`",
    "!": "write `not`, or `!=` to compare",
    "<>": "write `!=`",
}


def _foreign_operator(text: str, exc: UnexpectedInput) -> DslError | None:
    """A located error for an operator of another language, saying it is not supported: a
    character the lexer does not know (`%`, `&&`), or a token that is the second half of one
    (`**`, `//`, `<>`)."""
    if isinstance(exc, UnexpectedCharacters):
        begin = exc.pos_in_stream or 0
        candidates = [text[begin : begin + 2], text[begin : begin + 1]]
    elif isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        begin = (exc.token.start_pos or 0) - 1
        candidates = [text[begin : begin + 2]] if begin >= 0 else []
    else:
        return None
    for op in candidates:
        if op in _FOREIGN_OPERATORS:
            return DslError("dsl/syntax", f"`{op}` is not an operator of the expression language",
                            begin, begin + len(op), _FOREIGN_OPERATORS[op])  # fmt: skip
    return None


def _syntax_error(text: str, exc: UnexpectedInput) -> DslError:
    foreign = _foreign_operator(text, exc)
    if foreign is not None:
        return foreign
    if isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        end = len(text.rstrip())
        expected = _expected(getattr(exc, "expected", set()) or getattr(exc, "accepts", set()))
        return DslError(
            "dsl/syntax",
            "the expression ends too early",
            end,
            end,
            f"expected {expected}" if expected else None,
        )
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        start = tok.start_pos or 0
        expected = _expected(exc.accepts or exc.expected)
        return DslError(
            "dsl/syntax",
            f"unexpected `{tok}`",
            start,
            start + len(str(tok)),
            f"expected {expected} here" if expected else None,
        )
    assert isinstance(exc, UnexpectedCharacters)
    pos = exc.pos_in_stream or 0
    ch = text[pos] if pos < len(text) else ""
    hint = "strings are written in double quotes" if ch == "'" else None
    if ch == "=":
        hint = "compare with `==`"
    return DslError("dsl/syntax", f"unexpected character `{ch}`", pos, pos + 1, hint)


def _expected(names: set[str]) -> str:
    words = sorted({_TERMINAL_NAMES.get(t, f"`{t.lower()}`") for t in names if t != "COMMENT"})
    if not words:
        return ""
    if len(words) > 6:
        return "an expression or an operator"
    return " or ".join(words)


class _LiteralError(Exception):
    def __init__(self, error: DslError) -> None:
        self.error = error


def _out_of_range(tok: Token, limit: str) -> DslError:
    return DslError("dsl/out-of-range", f"`{tok}` is out of range", *_tspan(tok),
                    f"write {limit}")  # fmt: skip


def _span(meta: Any) -> n.Span:
    return (meta.start_pos, meta.end_pos)


def _tspan(tok: Token) -> n.Span:
    start = tok.start_pos or 0
    return (start, start + len(str(tok)))


@v_args(meta=True)
class _ToNodes(Transformer[Token, n.Node]):
    """Lark tree → dsl.nodes. Literal text is converted to Python values here, once."""

    def ifexpr(self, meta: Any, c: list[n.Node]) -> n.Node:
        return n.If(_span(meta), c[0], c[1], c[2])

    def _bool(self, op: str, meta: Any, c: list[n.Node]) -> n.Node:
        return n.Binary(_span(meta), op, c[0], c[1], (c[0].span[1], c[1].span[0]))

    def or_(self, meta: Any, c: list[n.Node]) -> n.Node:
        return self._bool("or", meta, c)

    def and_(self, meta: Any, c: list[n.Node]) -> n.Node:
        return self._bool("and", meta, c)

    def in_(self, meta: Any, c: list[n.Node]) -> n.Node:
        return self._bool("in", meta, c)

    def not_in(self, meta: Any, c: list[n.Node]) -> n.Node:
        return self._bool("not_in", meta, c)

    def not_(self, meta: Any, c: list[n.Node]) -> n.Node:
        return n.Unary(_span(meta), "not", c[0])

    def neg(self, meta: Any, c: list[n.Node]) -> n.Node:
        return n.Unary(_span(meta), "neg", c[0])

    def compare(self, meta: Any, c: list[Any]) -> n.Node:
        return n.Binary(_span(meta), str(c[1]), c[0], c[2], _tspan(c[1]))

    arith = compare

    def is_set(self, meta: Any, c: list[n.Node]) -> n.Node:
        return n.Test(_span(meta), "set", c[0])

    def is_missing(self, meta: Any, c: list[n.Node]) -> n.Node:
        return n.Test(_span(meta), "missing", c[0])

    def is_null(self, meta: Any, c: list[n.Node]) -> n.Node:
        return n.Test(_span(meta), "null", c[0])

    def is_not_null(self, meta: Any, c: list[n.Node]) -> n.Node:
        return n.Test(_span(meta), "not_null", c[0])

    def call(self, meta: Any, c: list[Any]) -> n.Node:
        name, *args = c
        args = [a for a in args if a is not None]
        return n.Call(_span(meta), str(name), tuple(args), _tspan(name))

    def ref(self, meta: Any, c: list[Token]) -> n.Node:
        return n.Ref(_span(meta), ".".join(str(t) for t in c))

    def listexpr(self, meta: Any, c: list[Any]) -> n.Node:
        return n.ListExpr(_span(meta), tuple(i for i in c if i is not None))

    def item(self, meta: Any, c: list[Any]) -> n.Node:
        return n.Item(_span(meta), c[0], c[1])

    def _lit(self, c: list[Token], value: Any, kind: str) -> n.Node:
        return n.Literal(_tspan(c[0]), value, kind)

    def lit_money(self, meta: Any, c: list[Token]) -> n.Node:
        digits = str(c[0])[1:].replace(",", "")
        if len(digits.split(".")[0].lstrip("0")) > MAX_DIGITS - 2:
            raise _LiteralError(_out_of_range(c[0], f"at most {MAX_DIGITS - 2} digits of dollars"))
        return self._lit(c, Decimal(digits), "money")

    def lit_date(self, meta: Any, c: list[Token]) -> n.Node:
        try:
            value = dt.date.fromisoformat(str(c[0]))
        except ValueError:
            raise _LiteralError(
                DslError(
                    "dsl/bad-literal",
                    f"`{c[0]}` is not a calendar date",
                    *_tspan(c[0]),
                    "write a date as YYYY-MM-DD",
                )
            ) from None
        return self._lit(c, value, "date")

    def lit_time(self, meta: Any, c: list[Token]) -> n.Node:
        hh, mm = (int(x) for x in str(c[0]).split(":"))
        if hh > 23 or mm > 59:
            raise _LiteralError(
                DslError(
                    "dsl/bad-literal",
                    f"`{c[0]}` is not a time of day",
                    *_tspan(c[0]),
                    "write a time as HH:MM, from 00:00 to 23:59",
                )
            )
        return self._lit(c, dt.time(hh, mm), "time")

    def lit_duration(self, meta: Any, c: list[Token]) -> n.Node:
        words = re.split(r"[ \t]+", str(c[0]))
        amount, unit = int(words[0]), words[-1]
        unit = _UNITS.get(unit, unit)
        if words[1] == "business":
            if unit != "days":
                raise _LiteralError(
                    DslError(
                        "dsl/bad-literal",
                        f"`{c[0]}`: only days can be business days",
                        *_tspan(c[0]),
                        "write `N business days`",
                    )
                )
            unit = "business_days"
        if amount > MAX_DURATION[unit]:
            limit = f"at most {MAX_DURATION[unit]:,} {unit.replace('_', ' ')}"
            raise _LiteralError(_out_of_range(c[0], limit + ", the calendar's span"))
        return self._lit(c, Duration(amount, unit), "duration")

    def lit_decimal(self, meta: Any, c: list[Token]) -> n.Node:
        if len(str(c[0]).replace(".", "").lstrip("0")) > MAX_DIGITS:
            raise _LiteralError(_out_of_range(c[0], f"at most {MAX_DIGITS} digits"))
        return self._lit(c, Decimal(str(c[0])), "decimal")

    def lit_int(self, meta: Any, c: list[Token]) -> n.Node:
        if len(c[0]) > 18:
            raise _LiteralError(DslError("dsl/bad-literal", "the number is too long",
                                         *_tspan(c[0]), "write at most 18 digits"))  # fmt: skip
        return self._lit(c, int(str(c[0])), "int")

    def lit_string(self, meta: Any, c: list[Token]) -> n.Node:
        raw = str(c[0])[1:-1]
        value = raw.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        return self._lit(c, value, "string")

    def lit_true(self, meta: Any, c: list[Token]) -> n.Node:
        return n.Literal(_span(meta), True, "bool")

    def lit_false(self, meta: Any, c: list[Token]) -> n.Node:
        return n.Literal(_span(meta), False, "bool")

    def lit_null(self, meta: Any, c: list[Token]) -> n.Node:
        return n.Literal(_span(meta), None, "null")
