"""The result of evaluating one case: decisions, procedures and their explanations, as typed
objects with one JSON form (``to_dict``, DESIGN.md §4).

Every consumer (the renderers, the tools, an embedding program, a future service) reads these;
none reads the run time's environment. The JSON form is a contract: ``RESULT_VERSION`` changes
when it does. Version 2 (``engine/schemas/result.schema.json``) carries each explanation step
once, in ``steps``, referred to by id from the decisions and from other steps; version 1
(``result-v1.schema.json``: every decision's whole tree, nested) is still written on request for
one version, byte for byte as before (the golden snapshots hold it), and ``nest_result`` turns
a version 2 object into it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from dsl.typesys import Type
from engine.diagnostics import Diagnostic
from engine.values import json_converter, to_json, to_words

RESULT_VERSION = "2"
RESULT_VERSIONS = ("1", "2")  # what ``to_dict``/``to_json`` write; "1" until the next version

# The explanation nodes. A node is built once per case and shared by every tree it recurs in
# (the renderers show a recurring step once by its identity), so nodes compare by identity
# and are never changed once built. ``to_dict`` gives the version 1 JSON of DESIGN.md §4 byte
# for byte: keys in this order, and a key only where the node has it.


class Step:
    """A rule's step: which rule decided, under which section, its value, the sentence for
    staff, the facts it read and, under ``because``, the nodes it read in turn.

    ``needs`` and ``because`` are None where the JSON has no such key: ``needs`` is given when
    the step is undetermined, ``because`` when it read other rules or charged fee lines, and
    always when it does not apply (then it holds one ``Unmet`` per definition: the reason);
    ``known`` when an undetermined list or count is partly known (``engine.values.known_json``).

    A step keeps its JSON (``data``: version 2's entry in ``steps``, the steps it read named by
    their rule's ids) and reads its fields from it: written once, when the step is built, and
    given as it is to every result JSON, so writing a result copies no step."""

    __slots__ = ("absent", "because", "data", "dates", "rule")

    def __init__(
        self,
        rule: str,
        citation: str | None,
        status: str,
        value: Any,  # already in its JSON form
        text: str,
        facts: dict[str, Any],  # fact id → its JSON form, or "unknown"
        needs: list[str] | None = None,  # the missing facts, when undetermined
        because: list[Node] | None = None,
        known: dict[str, Any] | None = None,  # what is known of an undetermined list or count
        # The facts of ``facts`` the case does not give. Not in the JSON, whose "unknown" a
        # fact given as the text "unknown" also reads as; staff's text tells the two apart.
        absent: frozenset[str] = frozenset(),
        dates: frozenset[str] = frozenset(),  # the facts of ``facts`` declared as dates
    ) -> None:
        self.rule, self.because, self.absent, self.dates = rule, because, absent, dates
        data: dict[str, Any] = {"citation": citation, "status": status, "value": value,
                                "text": text}  # fmt: skip
        if needs is not None:
            data["needs"] = needs
        if known is not None:
            data["known"] = known
        data["facts"] = facts
        if because is not None:
            data["because"] = [n.rule if n.__class__ is Step else n.to_dict() for n in because]
        self.data = data

    @property
    def citation(self) -> str | None:
        return self.data["citation"]  # type: ignore[no-any-return]

    @property
    def status(self) -> str:
        return self.data["status"]  # type: ignore[no-any-return]

    @property
    def value(self) -> Any:
        return self.data["value"]

    @property
    def text(self) -> str:
        return self.data["text"]  # type: ignore[no-any-return]

    @property
    def facts(self) -> dict[str, Any]:
        return self.data["facts"]  # type: ignore[no-any-return]

    @property
    def needs(self) -> list[str] | None:
        return self.data.get("needs")

    @property
    def known(self) -> dict[str, Any] | None:
        return self.data.get("known")

    def __repr__(self) -> str:
        return f"Step({self.rule!r}, {self.status!r}, {self.text!r})"

    def to_dict(self) -> dict[str, Any]:
        """The step in version 1: its whole tree, the steps it read written out in place."""
        out: dict[str, Any] = {"rule": self.rule}
        out.update(self.data)
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


class Explainer(Protocol):
    """What builds a case's explanation when it is first read (``engine.run.explain``)."""

    def tree(self, rid: str) -> list[Node]:
        """The ``because`` list of decision ``rid``."""
        ...


@dataclass
class Decision:
    """The value of one rule for one case, with why.

    ``because`` is built when first read, by the ``explainer`` the evaluation left (one per
    case, so a step shared by several decisions is built once): a result that is only looked
    at for its values never pays for its sentences. Set, it is what it is set to."""

    id: str
    value: Any
    status: str
    citations: list[str]
    needs: list[str]
    type: Type
    # The rule's words for its values (its labels: "Fire Prevention" for `fire_prevention`);
    # staff read these, the JSON keeps the ids.
    words: Callable[[Any], str] | None = field(default=None, repr=False, compare=False)
    explainer: Explainer | None = field(default=None, repr=False, compare=False)
    # The value's JSON form, specialised for the type once (the rule's); else found by type.
    value_json: Callable[[Any], Any] | None = field(default=None, repr=False, compare=False)
    _because: list[Node] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def because(self) -> list[Node] | None:
        """The explanation tree; None when the case was evaluated without one."""
        if self._because is None and self.explainer is not None:
            self._because = self.explainer.tree(self.id)
        return self._because

    @because.setter
    def because(self, nodes: list[Node] | None) -> None:
        self._because = nodes
        self.explainer = None

    def in_words(self) -> str:
        """The value as staff read it, with the policy's labels."""
        return self.words(self.value) if self.words is not None else to_words(self.value, self.type)

    def to_dict(self, version: str | int = RESULT_VERSION) -> dict[str, Any]:
        """The decision's JSON: in version 1 its whole tree under ``because``, in version 2 the
        ids of its steps (``Result.to_dict`` writes the steps once, under ``steps``)."""
        because = self.because or ()
        return {
            "value": (self.value_json or json_converter(self.type))(self.value),
            "status": self.status,
            "citations": self.citations,
            "because": [n.to_dict() for n in because]
            if version == "1" or version == 1
            else [n.rule if n.__class__ is Step else n.to_dict() for n in because],
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

    def to_dict(self, version: str | int = RESULT_VERSION) -> dict[str, Any]:
        """The result's JSON form in ``version`` (``RESULT_VERSIONS``; the current by default).

        Raises:
            ValueError: not a version this engine writes."""
        v = checked_version(version)
        out: dict[str, Any] = {
            "version": v,
            "case": self.case,
            "jurisdiction": self.jurisdiction,
            "revision": self.revision,
            "revision_basis": {
                "by": self.revision_basis[0],
                "date": d.isoformat() if (d := self.revision_basis[1]) else None,
            },
            "as_of": self.as_of.isoformat(),
            "decisions": {k: d.to_dict(v) for k, d in sorted(self.decisions.items())},
        }
        if v != "1":
            out["steps"] = {rid: s.data for rid, s in self.steps().items()}
        out["procedures"] = {k: p.to_dict() for k, p in sorted(self.procedures.items())}
        return out

    def steps(self) -> dict[str, Step]:
        """Every explanation step of the decisions, once, by the id of the rule it explains
        (sorted): what a decision's ``because`` is a view over, and version 2's ``steps``.
        Reading it builds the trees not yet read; empty when evaluated without them.

        Raises:
            ValueError: the trees hold two different steps of one rule (set by hand: the
                engine never builds them)."""
        found = _steps(self.decisions)
        return {rid: found[rid] for rid in sorted(found)}

    def to_json(self, version: str | int = RESULT_VERSION) -> str:
        """One line of JSON; the same policy and case always give the same bytes.

        Encoded by orjson, which writes exactly what ``json.dumps(..., ensure_ascii=False,
        separators=(",", ":"))`` writes (tested on every golden case and every code point) in
        a tenth of the time: encoding used to cost more than deciding. What orjson refuses, an
        integer past 64 bits or half a surrogate pair a JSON case can carry, ``json`` writes."""
        data = self.to_dict(version)
        try:
            return orjson.dumps(data).decode()
        except orjson.JSONEncodeError:
            return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def checked_version(version: str | int) -> str:
    """``version`` as the text the JSON carries, if this engine writes it.

    Raises:
        ValueError: it does not."""
    v = str(version)
    if v not in RESULT_VERSIONS:
        raise ValueError(f"no result version `{v}`: this engine writes "
                         f"{', '.join(RESULT_VERSIONS)}")  # fmt: skip
    return v


def _steps(decisions: dict[str, Decision]) -> dict[str, Step]:
    """Every step of the decisions' trees, once, by its rule's id: the evaluation builds one
    step per rule per case, which is what lets version 2 name a step by its rule (trees built
    apart, ``explain_decision`` per decision, hold equal steps of a rule: one step)."""
    found: dict[str, Step] = {}
    stack = [n for d in decisions.values() for n in d.because or ()]
    while stack:
        node = stack.pop()
        if node.__class__ is not Step:
            continue
        seen = found.get(node.rule)
        if seen is None:
            found[node.rule] = node
            stack += node.because or ()
        elif seen is not node and seen.data != node.data:
            raise ValueError(f"two explanation steps of `{node.rule}` in one result")
    return found


def nest_result(data: dict[str, Any]) -> dict[str, Any]:
    """A version 2 result (as JSON data) in the version 1 shape: every decision's ``because``
    the whole tree, each step written out wherever it recurs. The version 1 JSON of the same
    result, key for key in its order (so its bytes, encoded as ``to_json`` does); an object
    without ``steps`` (version 1) is returned as it is. What it cannot read (a logged result
    cut short) it leaves in place, for a comparison to report.

    >>> v2 = {"version": "2", "decisions": {"a.b": {"value": 1, "status": "determined",
    ...       "citations": [], "because": ["a.b"], "needs": []}},
    ...       "steps": {"a.b": {"citation": None, "status": "determined", "value": 1,
    ...                 "text": "One.", "facts": {}}}, "procedures": {}}
    >>> nest_result(v2)["decisions"]["a.b"]["because"][0]["rule"]
    'a.b'
    """
    steps = data.get("steps")
    if data.get("version") == "1" or not isinstance(steps, dict):
        return data

    def expand(ref: Any, above: frozenset[str] = frozenset()) -> Any:
        step = steps.get(ref) if ref.__class__ is str and ref not in above else None
        if not isinstance(step, dict):
            return ref  # a condition that does not hold, a fee line: written in place
        out = {"rule": ref}
        out.update(step)
        if isinstance(step.get("because"), list):
            out["because"] = [expand(k, above | {ref}) for k in step["because"]]
        return out

    def nested(d: Any) -> Any:
        if not isinstance(d, dict) or not isinstance(d.get("because"), list):
            return d
        return {**d, "because": [expand(k) for k in d["because"]]}

    out = {k: v for k, v in data.items() if k != "steps"}
    out["version"] = "1"
    decisions = data.get("decisions")
    if isinstance(decisions, dict):
        out["decisions"] = {rid: nested(d) for rid, d in decisions.items()}
    return out
