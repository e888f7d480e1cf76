"""Bare decision values to JSON, for the batch endpoint and the decision log: a value in the
JSON form ``ordinance eval --format json`` gives it, null when the decision does not apply, and
``{"unknown": true, "needs": [...]}`` when it is undetermined (unknown is not false)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dsl.typesys import Type
from dsl.values import Unknown
from engine.values import json_converter, to_json


def value_json(value: Any, t: Type | None) -> Any:
    """One value; ``t`` None (a decision the types do not know) converts by the value itself."""
    if value.__class__ is Unknown:
        return {"unknown": True, "needs": sorted(value.needs)}
    if value is None:
        return None
    return json_converter(t)(value) if t is not None else to_json(value)


def values_json(values: Mapping[str, Any], types: Mapping[str, Type]) -> dict[str, Any]:
    """``Policy.values`` output as JSON, keys in order.

    >>> import datetime as dt
    >>> from dsl.typesys import Type
    >>> values_json({"a": dt.date(2025, 4, 15), "b": None}, {"a": Type("date")})
    {'a': '2025-04-15', 'b': None}
    """
    return {rid: value_json(v, types.get(rid)) for rid, v in sorted(values.items())}


# Values orjson writes as ``ordinance eval --format json`` does (ISO dates and times, booleans,
# numbers, text): a batch passes them through untouched, the bulk of its cost otherwise.
NATIVE = frozenset({"date", "datetime", "bool", "int", "string", "enum"})


def values_converter(types: Mapping[str, Type]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``values_json`` for a batch of one jurisdiction's cases, converting in place: a value
    of a type orjson writes alike is left as it is, others are converted once looked up.
    The dict given is changed and returned (it is the bulk path's own, fresh per case)."""
    cache: dict[str, Callable[[Any], Any] | None] = {}

    def convert(values: dict[str, Any]) -> dict[str, Any]:
        for rid, v in values.items():
            if v.__class__ is Unknown:
                values[rid] = {"unknown": True, "needs": sorted(v.needs)}
                continue
            if v is None:
                continue
            if rid not in cache:
                t = types.get(rid)
                native = t is not None and t.name in NATIVE
                cache[rid] = None if native else (json_converter(t) if t is not None else to_json)
            fn = cache[rid]
            if fn is not None:
                values[rid] = fn(v)
        return values

    return convert
