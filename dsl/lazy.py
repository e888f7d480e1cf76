"""Names a package exports but loads on first use (PEP 562), shared by ``dsl`` and ``engine``.

Why: importing a package runs its ``__init__``; if that imported the modules behind its names,
``import dsl.values`` would load Lark and ``import engine`` the compile stages, and the run time
could not stay free of them (``tests/test_architecture.py``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_names(
    namespace: dict[str, Any], homes: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose names live in ``homes``
    (name → module); a name once loaded is kept in ``namespace``, so later lookups are plain."""
    package = namespace["__name__"]

    def getattr_(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *homes})

    return getattr_, dir_
