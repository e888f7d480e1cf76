"""Masking personal data in decision-log events: a fact declared `log: mask` reaches the log
only as a hash of its value, and whatever a result or a diagnostic repeats of it is replaced.

In: an event (docs/service.md) and the masked fact ids (`mask_for(policy)`). Out: the event as
the log keeps it. Split from `engine.service.log`, which writes what this returns.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from engine.api import Policy

MIN_SCRUB = 2  # a masked text shorter than this is not looked for in results (it is everywhere)


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def mask_for(policy: Policy) -> frozenset[str]:
    """The ids of the facts declared `log: mask` in any compiled revision of `policy`."""
    return frozenset(
        fid for cp in policy.compiled.values() for fid, f in cp.facts.items() if f.log == "mask"
    )


def masked(case: Mapping[str, Any], mask: frozenset[str]) -> dict[str, Any]:
    """`case` with the value of each fact of `mask` replaced by `{"masked": "sha256:…"}`: the
    first 16 hex digits of the SHA-256 of the value's canonical JSON, so that equal values stay
    comparable across events. A null (the event has not happened) is kept: it says nothing of
    anyone. `case` itself is not changed.

    >>> masked({"facts": {"owner": {"name": "Ann"}, "permit": {"code": "IBC"}}},
    ...        frozenset({"owner.name"}))
    {'facts': {'owner': {'name': {'masked': 'sha256:c13d584857222664'}}, 'permit': {'code': 'IBC'}}}
    """
    return _masked(case, mask, {})


def _masked(case: Mapping[str, Any], mask: frozenset[str], given: dict[str, Any]) -> dict[str, Any]:
    """`masked`, noting in `given` each masked value by its fact id."""
    out = dict(case)
    if _mentions(case, mask):
        out["facts"] = _mask_tree(case["facts"], mask, "", given)
    return out


def _mentions(case: Mapping[str, Any], mask: frozenset[str]) -> bool:
    """Whether the case's facts may hold a masked fact: most cases of a batch do not, and
    are logged as they came, without a copy (this runs once per case: about 0.2 µs)."""
    facts = case.get("facts")
    if not mask or not isinstance(facts, Mapping):
        return False
    if not _heads(mask).isdisjoint(facts):
        return True
    try:  # a key that holds dots itself (`"owner.name": …`): look closer
        return "." in "".join(facts)
    except TypeError:  # a key that is not text (a case built in Python): look closer
        return True


def _mask_tree(
    facts: Mapping[str, Any], mask: frozenset[str], prefix: str, given: dict[str, Any]
) -> dict[str, Any]:
    # A key may hold dots itself (`"owner.name": …`, which a case may not give but a refused
    # one may hold): the id is the path so far, however it was split.
    out: dict[str, Any] = {}
    for key, value in facts.items():
        fid = f"{prefix}{key}"
        if fid in mask and value is not None:
            out[key] = {"masked": _digest(value)}
            given[fid] = value
        elif fid in _prefixes(mask) and isinstance(value, Mapping):
            out[key] = _mask_tree(value, mask, fid + ".", given)
        else:
            out[key] = value
    return out


@functools.lru_cache(maxsize=8)
def _prefixes(mask: frozenset[str]) -> frozenset[str]:
    """Every id that leads to a masked fact (`owner` for `owner.name`): looked up per key of
    every logged case, so a set, built once per mask."""
    return frozenset(".".join(m.split(".")[:i]) for m in mask for i in range(1, m.count(".") + 1))


@functools.lru_cache(maxsize=8)
def _heads(mask: frozenset[str]) -> frozenset[str]:
    """The keys of a case's `facts` under which a masked fact can be: the masked ids and
    every id leading to one."""
    return mask | _prefixes(mask)


def _masked_texts(given: Mapping[str, Any]) -> dict[str, str]:
    """Each text inside the given masked values, and what stands for it in a result."""
    found: dict[str, str] = {}

    def collect(value: Any) -> None:
        if isinstance(value, str) and len(value) >= MIN_SCRUB:
            found[value] = f"[masked {_digest(value)}]"
        elif isinstance(value, list | tuple):
            for v in value:
                collect(v)
        elif isinstance(value, Mapping):
            for v in value.values():
                collect(v)

    for value in given.values():
        collect(value)
    return found


def _scrub(value: Any, texts: dict[str, str], given: frozenset[str]) -> Any:
    """`value` (a result or diagnostics) with every masked text replaced wherever it occurs,
    and the masked entries of an explanation step's `facts` replaced by their hash: a rule
    that copies a masked fact (a certificate's owner line) must not carry it into the log."""
    if isinstance(value, str):
        for text in sorted(texts, key=len, reverse=True):
            if text in value:
                value = value.replace(text, texts[text])
        return value
    if isinstance(value, list | tuple):
        return [_scrub(v, texts, given) for v in value]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if k == "facts" and isinstance(v, Mapping):
                v = {f: {"masked": _digest(x)} if f in given else x for f, x in v.items()}
            out[k] = _scrub(v, texts, given)
        return out
    return value


def mask_event(event: Mapping[str, Any], mask: frozenset[str]) -> Mapping[str, Any]:
    """The event as the log keeps it: the input `masked`, and what the result and the
    diagnostics repeat of a masked value replaced too; for a batch, each of its items so."""
    items = event.get("items")
    if mask and isinstance(items, list):
        return {**event, "items": [_mask_decision(item, mask) for item in items]}
    return _mask_decision(event, mask)


def _mask_decision(event: Mapping[str, Any], mask: frozenset[str]) -> Mapping[str, Any]:
    case = event.get("input")
    if not isinstance(case, Mapping) or not _mentions(case, mask):
        return event
    given: dict[str, Any] = {}
    out = {**event, "input": _masked(case, mask, given)}
    texts = _masked_texts(given)
    for key in ("result", "diagnostics"):
        if event.get(key) is not None:
            out[key] = _scrub(event[key], texts, frozenset(given))
    return out
