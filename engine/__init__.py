"""ordinance's engine: load, layer, compile and evaluate policy; the public API is
``load_policy`` and ``Policy.evaluate`` (see ``engine.api``).

The names are loaded on first use (PEP 562), so that ``import engine`` costs nothing and a
program that only runs compiled policy (``engine.run``) never imports the compile-time
libraries (PyYAML, jsonschema, Lark, networkx).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.api import Policy, load_policy
    from engine.result import Decision, Result

__all__ = ["Decision", "Policy", "Result", "load_policy"]
_HOME = {"Policy": "engine.api", "load_policy": "engine.api", "Decision": "engine.result",
         "Result": "engine.result"}  # fmt: skip


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
