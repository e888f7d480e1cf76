"""The result of evaluating one case: decisions, procedures and their explanations, as typed
objects with one JSON form (``to_dict``, DESIGN.md §4).

Every consumer (the renderers, the tools, an embedding program, a future service) reads these;
none reads the run time's environment. The JSON form is a contract: ``RESULT_VERSION`` changes
when it does, and the golden snapshots hold it byte for byte.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from dsl.typesys import Type
from engine.diagnostics import Diagnostic
from engine.values import json_converter, to_json, to_words

RESULT_VERSION = "1"

# The explanation nodes. A node is built once per case and shared by every tree it recurs in
# (the renderers show a recurring step once by its identity), so nodes compare by identity
# (``eq=False``) and are never changed once built. ``to_dict`` gives the JSON of DESIGN.md §4
# byte for byte: keys in this order, and a key only where the node has it.


@dataclass(slots=True, eq=False)
class Step:
    """A rule's step: which rule decided, under which section, its value, the sentence for
    staff, the facts it read and, under ``because``, the nodes it read in turn.

    ``needs`` and ``because`` are None where the JSON has no such key: ``needs`` is given when
    the step is undetermined, ``because`` when it read other rules or charged fee lines, and
    always when it does not apply (then it holds one ``Unmet`` per definition: the reason);
    ``known`` when an undetermined list or count is partly known (``engine.values.known_json``)."""

    rule: str
    citation: str | None
    status: str
    value: Any  # already in its JSON form
    text: str
    facts: dict[str, Any]  # fact id → its JSON form, or "unknown"
    needs: list[str] | None = None  # the missing facts, when undetermined
    because: list[Node] | None = None
    known: dict[str, Any] | None = None  # what is known of an undetermined list or count
    # The facts of ``facts`` the case does not give. Not in the JSON, whose "unknown" a fact
    # given as the text "unknown" also reads as; what staff read tells the two apart by this.
    absent: frozenset[str] = frozenset()
    dates: frozenset[str] = frozenset()  # the facts of ``facts`` declared as dates (the timeline)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "citation": self.citation,
            "status": self.status,
            "value": self.value,
            "text": self.text,
        }
        if self.needs is not None:
            out["needs"] = self.needs
        if self.known is not None:
            out["known"] = self.known
        out["facts"] = self.facts
        if self.because is not None:
            out["because"] = [n.to_dict() for n in self.because]
        return out


@dataclass(slots=True, eq=False)
class Unmet:
    """A definition that does not apply to the case, and the condition of it that fails."""

    citation: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"citation": self.citation, "text": self.text}


@dataclass(slots=True, eq=False)
class FeeLine:
    """One charged line of a fee: quantity, unit amount and amount (money as JSON strings)."""

    line: str
    citation: str
    text: str
    quantity: Any
    unit_amount: str
    amount: Any

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "citation": self.citation, "text": self.text,
                "quantity": self.quantity, "unit_amount": self.unit_amount,
                "amount": self.amount}  # fmt: skip


Node = Step | Unmet | FeeLine


@dataclass
class Decision:
    """The value of one rule for one case, with why."""

    id: str
    value: Any
    status: str
    citations: list[str]
    needs: list[str]
    type: Type
    because: list[Node] | None = None  # None when not explained
    # The rule's words for its values (its labels: "Fire Prevention" for `fire_prevention`);
    # staff read these, the JSON keeps the ids.
    words: Callable[[Any], str] | None = field(default=None, repr=False, compare=False)

    def in_words(self) -> str:
        """The value as staff read it, with the policy's labels."""
        return self.words(self.value) if self.words is not None else to_words(self.value, self.type)

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": json_converter(self.type)(self.value),
            "status": self.status,
            "citations": self.citations,
            "because": [n.to_dict() for n in self.because or ()],
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
    # What the case gave that was ignored (a fact another jurisdiction declares): told to the
    # person running it, not part of the decision, so not in ``to_dict`` (the JSON contract).
    warnings: tuple[Diagnostic, ...] = field(default=(), compare=False)

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
        """One line of JSON; the same policy and case always give the same bytes.

        Encoded by orjson, which writes exactly what ``json.dumps(..., ensure_ascii=False,
        separators=(",", ":"))`` writes (tested on every golden case and every code point) in
        a tenth of the time: encoding used to cost more than deciding. What orjson refuses, an
        integer past 64 bits or half a surrogate pair a JSON case can carry, ``json`` writes."""
        data = self.to_dict()
        try:
            return orjson.dumps(data).decode()
        except orjson.JSONEncodeError:
            return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
