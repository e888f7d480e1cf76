"""``ordinance test``: case files that carry an ``expect:`` block, checked against the policy.

An expectation is either a plain value (the decision must be determined with that value) or a
mapping with any of ``value``, ``status``, ``needs`` and ``citations``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from dsl.typecheck import did_you_mean
from engine.api import Policy
from engine.case import Case
from engine.evaluate import Decision, Result
from engine.values import to_json

_KEYS = ("value", "status", "needs", "citations")


@dataclass
class Mismatch:
    decision: str
    field: str
    expected: Any
    actual: Any

    def __str__(self) -> str:
        return (
            f"{self.decision}: expected {self.field} {_show(self.expected)}, "
            f"got {_show(self.actual)}"
        )


@dataclass
class CaseOutcome:
    file: str
    case: str | None
    mismatches: list[Mismatch] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return not self.mismatches and self.error is None


def _show(v: Any) -> str:
    """A value as the case file would write it (JSON spelling: true, null, [a, b])."""
    if isinstance(v, list):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return f"`{json.dumps(v) if not isinstance(v, str) else v}`"


def check_expectations(policy: Policy, case: Case, result: Result) -> list[Mismatch]:
    """Every difference between ``case.expect`` and ``result``."""
    out: list[Mismatch] = []
    for rid, want in (case.expect or {}).items():
        got = result.decisions.get(rid)
        if got is None:
            guess = did_you_mean(rid, result.decisions)
            out.append(
                Mismatch(
                    rid,
                    "decision",
                    "a decision of this policy",
                    f"no such decision{f' (did you mean {guess}?)' if guess else ''}",
                )
            )
            continue
        spec = (
            want
            if isinstance(want, dict) and set(want) <= set(_KEYS) and want
            else {"value": want, "status": "determined"}
        )
        out.extend(_compare(rid, spec, got))
    return out


def _compare(rid: str, spec: dict[str, Any], got: Decision) -> list[Mismatch]:
    out = []
    actual = {
        "value": to_json(got.value, got.type),
        "status": got.status,
        "needs": got.needs,
        "citations": got.citations,
    }
    for key in _KEYS:
        if key not in spec:
            continue
        want = spec[key]
        if key == "value":
            want = _normalize(want, actual["value"])
        if key == "needs":
            want = sorted(want or [])
        if want != actual[key]:
            out.append(Mismatch(rid, key, want, actual[key]))
    return out


def _normalize(want: Any, actual: Any) -> Any:
    """Read a YAML-written expectation the way the result writes values (money as text)."""
    if isinstance(actual, str) and isinstance(want, int | float) and not isinstance(want, bool):
        try:
            if Decimal(actual) == Decimal(str(want)):
                return actual
        except InvalidOperation:
            return want
    return want


def find_case_files(paths: list[Path]) -> list[Path]:
    """Case files under ``paths`` (YAML or JSON), sorted."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found += [
                f for f in p.rglob("*") if f.suffix in (".yaml", ".yml", ".json") and f.is_file()
            ]
        else:
            found.append(p)
    return sorted(set(found))
