"""The ordinance expression language: parse, type-check and compile expressions to closures.

Pipeline (one module per stage): ``parse`` (Lark LALR → nodes), ``typecheck`` (nodes → typed
nodes, errors with spans), ``compile`` (typed nodes → Python closures over an environment;
``columns`` is its column form). Shared by the stages: ``typesys`` (types), ``values``,
``semantics`` (the three-valued core) and ``builtins`` (the one table of functions).

The names below are loaded on first use (PEP 562): the run time imports ``dsl.values`` and
``dsl.compile`` and must not pay for, or depend on, Lark.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dsl.lazy import lazy_names

if TYPE_CHECKING:
    from dsl.errors import DslError, DslErrors
    from dsl.parse import parse_expression
    from dsl.typesys import Type

__all__ = ["DslError", "DslErrors", "Type", "parse_expression"]
_HOME = {"DslError": "dsl.errors", "DslErrors": "dsl.errors", "Type": "dsl.typesys",
         "parse_expression": "dsl.parse"}  # fmt: skip

__getattr__, __dir__ = lazy_names(globals(), _HOME)
