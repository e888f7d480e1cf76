"""Closures that can be saved: the call each compiled closure was built by, and the pickler that
writes a closure as that call (``engine.cache`` saves a compiled policy with it).

A closure cannot be pickled; the checked tree it was compiled from can. While ``recording`` is
on (only while a policy is compiled to be cached), each builder of a closure the run time keeps
(``compile_expression``, ``conjoin``, ``build_decide``, a fee's total) notes the function it
returned and the call that built it; ``dump`` writes such a function as that call, so loading
calls the builder again with the same trees: no parse, type check or graph, only the last step.
Off (every other compile: the service, ``ordinance mutate``) ``remember`` is one test, and keeps
nothing alive.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import IO, Any, TypeVar, cast

F = TypeVar("F")

# id(function) → (the function, its builder, the builder's arguments); the function is held so
# its id is not reused while the table lives.
Recipes = dict[int, tuple[Any, Callable[..., Any], tuple[Any, ...]]]
# Per thread and task: a service compiling in one thread records nothing of another's compile.
_recording: ContextVar[Recipes | None] = ContextVar("recording", default=None)


@contextmanager
def recording() -> Iterator[Recipes]:
    """Note the recipe of every closure built inside the block (see the module's docstring)."""
    recipes: Recipes = {}
    token = _recording.set(recipes)
    try:
        yield recipes
    finally:
        _recording.reset(token)


def recording_on() -> bool:
    """Whether ``remember`` keeps recipes now (a builder whose arguments cost to gather asks)."""
    return _recording.get() is not None


def remember(fn: F, build: Callable[..., Any], *args: Any) -> F:
    """``fn``, noted as built by ``build(*args)`` when recording. The first recipe of a function
    wins: a builder that hands back a function it was given (``conjoin`` of one condition) must
    not make that function its own argument."""
    recipes = _recording.get()
    if recipes is not None and id(fn) not in recipes:
        recipes[id(fn)] = (fn, build, args)
    return fn


B = TypeVar("B", bound=Callable[..., Any])


def recorded(build: B) -> B:
    """``build`` with each function it returns remembered as built by it (its arguments are
    what is saved: trees, tables and other closures, themselves remembered)."""

    @wraps(build)
    def building(*args: Any) -> Any:
        fn = build(*args)
        if fn is None or _recording.get() is None:
            return fn
        # A function handed back as it was given (``conjoin`` of one condition) keeps the
        # recipe it came with: as its own argument it would pickle itself for ever.
        given = any(fn is a or (a.__class__ is list and any(fn is x for x in a)) for a in args)
        return fn if given else remember(fn, building, *args)

    return cast(B, building)


class _Pickler(pickle.Pickler):
    def __init__(self, file: IO[bytes], recipes: Recipes) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.recipes = recipes

    def reducer_override(self, obj: Any) -> Any:
        found = self.recipes.get(id(obj))
        if found is not None and found[0] is obj:
            return found[1], found[2]
        return NotImplemented


def dump(obj: Any, file: IO[bytes], recipes: Recipes) -> None:
    """Pickle ``obj`` with each recorded closure written as its recipe. A closure built without
    one raises ``pickle.PicklingError`` (or ``AttributeError``/``TypeError``): the caller then
    does not cache, it never writes a half-saved policy."""
    _Pickler(file, recipes).dump(obj)
