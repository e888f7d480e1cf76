"""Bare decision values to JSON, for the batch endpoint and the decision log: a value in the
JSON form ``ordinance eval --format json`` gives it, null when the decision does not apply, and
``{"unknown": true, "needs": [...]}`` when it is undetermined (unknown is not false)."""

from __future__ import annotations

from collections.abc import Mapping
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
