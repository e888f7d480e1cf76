"""ordinance's engine: load, layer, compile and evaluate policy; the public API is
``load_policy`` and ``Policy.evaluate`` (see ``engine.api``).

The names are loaded on first use (PEP 562), so that ``import engine`` costs nothing and a
program that only runs compiled policy (``engine.run``) never imports the compile-time
libraries (PyYAML, jsonschema, Lark, networkx).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dsl.lazy import lazy_names

if TYPE_CHECKING:
    from engine.api import Policy, load_policy
    from engine.result import Decision, Result

__all__ = ["Decision", "Policy", "Result", "load_policy"]
_HOME = {"Policy": "engine.api", "load_policy": "engine.api", "Decision": "engine.result",
         "Result": "engine.result"}  # fmt: skip

__getattr__, __dir__ = lazy_names(globals(), _HOME)
