"""The result of evaluating one case: decisions, procedures and their explanations, as typed
objects with one JSON form (``to_dict``, DESIGN.md §4).

Every consumer (the renderers, the tools, an embedding program, a future service) reads these;
none reads the run time's environment. The JSON form is a contract: ``RESULT_VERSION`` changes
when it does, and the golden snapshots hold it byte for byte.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from dsl.typesys import Type
from engine.values import json_converter, to_json

RESULT_VERSION = "1"


@dataclass
class Decision:
    """The value of one rule for one case, with why."""

    id: str
    value: Any
    status: str
    citations: list[str]
    needs: list[str]
    type: Type
    because: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": json_converter(self.type)(self.value),
            "status": self.status,
            "citations": self.citations,
            "because": self.because or [],
            "needs": self.needs,
        }


@dataclass
class StepResult:
    id: str
    title: str
    status: str  # done | ready | waiting | undetermined | not_applicable
    citation: str | None
    deadline: Any = None
    needs: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "citation": self.citation,
            "deadline": to_json(self.deadline),
            "requires": self.requires,
            "needs": self.needs,
        }


@dataclass
class ProcedureResult:
    id: str
    title: str
    citation: str | None
    steps: list[StepResult]

    @property
    def next_steps(self) -> list[str]:
        return [s.id for s in self.steps if s.status == "ready"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "citation": self.citation,
            "steps": [s.to_dict() for s in self.steps],
            "next_steps": self.next_steps,
        }


@dataclass
class Result:
    """Everything decided for one case (DESIGN.md §4)."""

    case: str | None
    jurisdiction: str
    revision: str
    revision_basis: tuple[str, dt.date | None]  # what chose the revision, and its date
    as_of: dt.date
    decisions: dict[str, Decision]
    procedures: dict[str, ProcedureResult]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": RESULT_VERSION,
            "case": self.case,
            "jurisdiction": self.jurisdiction,
            "revision": self.revision,
            "revision_basis": {
                "by": self.revision_basis[0],
                "date": d.isoformat() if (d := self.revision_basis[1]) else None,
            },
            "as_of": self.as_of.isoformat(),
            "decisions": {k: d.to_dict() for k, d in sorted(self.decisions.items())},
            "procedures": {k: p.to_dict() for k, p in sorted(self.procedures.items())},
        }

    def to_json(self) -> str:
        """One line of JSON; the same policy and case always give the same bytes."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))
