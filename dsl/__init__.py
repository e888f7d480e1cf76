"""The ordinance expression language: parse, type-check and compile expressions to closures.

Pipeline (one module per stage): ``parse`` (Lark LALR → nodes), ``typecheck`` (nodes → typed
nodes, errors with spans), ``compile`` (typed nodes → Python closures over an environment;
``columns`` is its column form). Shared by the stages: ``typesys`` (types), ``values``,
``semantics`` (the three-valued core) and ``builtins`` (the one table of functions).
"""

from dsl.errors import DslError, DslErrors
from dsl.parse import parse_expression
from dsl.typesys import Type

__all__ = ["DslError", "DslErrors", "Type", "parse_expression"]
