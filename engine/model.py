"""The typed policy model: what a jurisdiction's YAML files declare, and the effective law of
one (jurisdiction, revision) once its layers are applied.

These are plain dataclasses that both halves share: the compile stages fill them
(``engine.compile.read`` from the YAML files, ``engine.compile.layer`` by layering) and the run
time reads them (a citation, a section's status, a revision's dates). So this module imports no
parser. Expressions stay text here; the compiler parses them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsl.typesys import Type
from engine.diagnostics import Span
from engine.source import Document, Path_


@dataclass(frozen=True)
class Origin:
    """Where an item was declared: a document and the path to it inside."""

    doc: Document
    path: Path_

    def span(self, key: str | None = None) -> Span:
        if key is not None:
            return self.doc.span((*self.path, key))
        return self.doc.span(self.path, key=bool(self.path) and isinstance(self.path[-1], str))


@dataclass(frozen=True)
class Expr:
    """An expression as written, with where it was written."""

    text: str
    doc: Document
    path: Path_

    def span(self, start: int = 0, end: int | None = None) -> Span:
        return self.doc.expr_span(self.path, start, len(self.text) if end is None else end)


@dataclass(frozen=True)
class FactDecl:
    id: str
    type: Type
    description: str
    nullable: bool
    citation: str | None
    jurisdiction: str
    origin: Origin
    labels: Mapping[str, str] = field(default_factory=dict)  # enum value → words for staff
    # "mask": personal data; the decision log keeps a hash of the value instead (log.py).
    log: str | None = None


@dataclass(frozen=True)
class Silence:
    """``mutation:`` on a rule, section, step or procedure: the kinds of change
    ``ordinance mutate`` leaves out there, and the author's reason (a surviving mutant is a
    question to the author; this is the answer, kept next to the rule it is about)."""

    ignore: frozenset[str]  # operator names, or "all"
    reason: str
    origin: Origin

    def covers(self, operator: str) -> bool:
        return "all" in self.ignore or operator in self.ignore


@dataclass(frozen=True)
class FeeItem:
    id: str
    title: str
    amount: Expr | None  # a flat amount, or
    unit_amount: Expr | None  # an amount per unit
    quantity: Expr | None  # times a quantity,
    over: int  # counting only the units beyond this many,
    up_to: int | None  # and at most this many in all
    unit: str | None
    when: Expr | None
    citation: str | None
    interpretation: str | None
    origin: Origin


@dataclass(frozen=True)
class FeeSpec:
    items: tuple[FeeItem, ...]
    effective_on: dt.date | None
    rounding: str
    source: str | None
    interpretation: str | None
    origin: Origin


@dataclass(frozen=True)
class RuleDef:
    id: str
    type: Type
    value: Expr | None  # None for a fee schedule, whose value is the total of its lines
    fee: FeeSpec | None
    when: Expr | None
    description: str
    subsection: str | None
    # Outcome → template: ``true``/``false``, an enum value, ``determined`` (any value; a plain
    # ``explain:`` string is this one), ``not_applicable``, ``undetermined``.
    explain: Mapping[str, str]
    interpretation: str | None
    internal: bool
    precedence: int
    origin: Origin
    labels: Mapping[str, str] = field(default_factory=dict)  # enum value → words for staff
    mutation: Silence | None = None


@dataclass(frozen=True)
class Amendment:
    target: str
    action: str  # substitute | add | repeal | delete
    title: str | None
    text: str | None
    origin: Origin
    in_parent: bool = True  # False: no parent layer encodes the target (said in the policy)


@dataclass(frozen=True)
class SectionDef:
    citation: str
    title: str
    text: str | None
    kind: str  # law | guidance
    source: str | None
    history: str | None
    amends: tuple[Amendment, ...]
    when: Expr | None
    use: tuple[str, ...]
    rules: tuple[RuleDef, ...]
    interpretation: str | None
    jurisdiction: str
    origin: Origin
    mutation: Silence | None = None


@dataclass(frozen=True)
class StepDef:
    id: str
    title: str
    description: str | None
    requires: tuple[str, ...]
    when: Expr | None
    done: Expr | None
    deadline: Expr | None
    citation: str | None
    origin: Origin
    mutation: Silence | None = None


@dataclass(frozen=True)
class ProcedureDef:
    id: str
    title: str
    description: str | None
    citation: str | None
    when: Expr | None
    steps: tuple[StepDef, ...]
    jurisdiction: str
    origin: Origin
    mutation: Silence | None = None


@dataclass(frozen=True)
class RevisionInfo:
    id: str
    title: str
    adopted_on: dt.date | None
    effective_on: dt.date | None
    encoded: bool
    interpretation: str | None
    note: str | None


@dataclass(frozen=True)
class HolidaySpec:
    citation: str | None
    note: str | None
    observed: str | None
    country: str | None
    subdivision: str | None
    names: tuple[str, ...] | None
    add: tuple[tuple[dt.date, str, str], ...]  # date, name, citation
    remove: tuple[tuple[dt.date, str, str | None], ...]  # date, citation, reason


@dataclass(frozen=True)
class Adoption:
    code: str
    title: str
    edition: str
    citation: str | None
    note: str | None


@dataclass
class RevisionContent:
    """Everything one encoded revision's folder declares."""

    facts: dict[str, FactDecl] = field(default_factory=dict)
    rulesets: dict[str, tuple[RuleDef, ...]] = field(default_factory=dict)
    sections: list[SectionDef] = field(default_factory=list)
    procedures: list[ProcedureDef] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CertificateConfig:
    """How a jurisdiction issues certificates of occupancy (``certificate:`` in its
    jurisdiction.yaml). Each field left out is taken from the jurisdiction it ``extends``."""

    verify_url: str | None = None  # the base of the QR code's verification URL
    sender: str | None = None  # the From of the emailed certificate
    requires: tuple[str, ...] | None = None  # bool decisions that must all be true to issue
    new_certificate_when: str | None = None  # the bool decision that lets a new one supersede
    note: str | None = None
    origin: Origin | None = None  # where this jurisdiction's block is
    origins: Mapping[str, Origin] = field(default_factory=dict)  # merged: who set each field


@dataclass
class JurisdictionDef:
    id: str
    title: str
    description: str | None
    extends: str | None
    time_zone: str
    business_days: tuple[int, ...]
    holidays: HolidaySpec | None
    adopts: tuple[Adoption, ...]
    revisions: tuple[RevisionInfo, ...]
    directory: Path
    origin: Origin
    vesting: tuple[str, str, str | None] | None = None  # fact, citation, note
    certificate: CertificateConfig | None = None
    content: dict[str, RevisionContent] = field(default_factory=dict)
    # `name version` of the installed policy package this layer came from (its provenance);
    # None for a jurisdiction of the policy folder or of the search path.
    package: str | None = None


_PHRASES = {
    "substitute": "as amended by",
    "add": "as added by",
    "repeal": "repealed by",
    "delete": "deleted by",
}


@dataclass(frozen=True)
class Provenance:
    """One change to a section: what was done, by which section, in which jurisdiction."""

    action: str  # substitute | add | repeal | delete
    by: str  # citation of the amending section
    jurisdiction: str
    revision: str

    def phrase(self) -> str:
        return f"{_PHRASES[self.action]} {self.by}"


@dataclass
class EffectiveSection:
    """A section as it stands in one jurisdiction and revision."""

    citation: str
    title: str
    text: str | None
    status: str  # in_force | repealed | deleted
    kind: str
    jurisdiction: str  # the layer whose text is in force
    defined_by: SectionDef | None  # the definition whose text and rules apply
    model_text: str | None = None  # the parent's text before the last amendment
    model_title: str | None = None
    provenance: list[Provenance] = field(default_factory=list)
    rules: list[RuleDef] = field(default_factory=list)
    when: list[Expr] = field(default_factory=list)
    amends: list[str] = field(default_factory=list)  # for an amending section: its targets

    @property
    def cited_as(self) -> str:
        """The citation as a result shows it: ``IBC 105.5 as amended by KCC 14.01.030.D``."""
        if not self.provenance:
            return self.citation
        return f"{self.citation} {self.provenance[-1].phrase()}"

    def cite(self, subsection: str | None) -> str:
        base = f"{self.citation}.{subsection}" if subsection else self.citation
        return f"{base} {self.provenance[-1].phrase()}" if self.provenance else base


@dataclass
class LayeredPolicy:
    """The effective policy of one jurisdiction at one revision, ready to compile."""

    jurisdiction: JurisdictionDef
    revision: RevisionInfo
    chain: list[tuple[JurisdictionDef, RevisionInfo]]
    facts: dict[str, FactDecl] = field(default_factory=dict)
    sections: dict[str, EffectiveSection] = field(default_factory=dict)
    procedures: dict[str, ProcedureDef] = field(default_factory=dict)


CERTIFICATE_FIELDS = ("verify_url", "sender", "requires", "new_certificate_when", "note")


def effective_certificate(chain: list[tuple[JurisdictionDef, RevisionInfo]]) -> CertificateConfig:
    """The certificate settings of the last jurisdiction of ``chain`` (root first): each field
    from the nearest jurisdiction that sets it, so a city states only what differs. ``origins``
    says which file set each field, for diagnostics."""
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for jur, _ in chain:
        c = jur.certificate
        for name in CERTIFICATE_FIELDS:
            if c is not None and c.origin is not None and getattr(c, name) is not None:
                values[name] = getattr(c, name)
                origins[name] = Origin(c.origin.doc, (*c.origin.path, name))
    return CertificateConfig(**values, origins=origins)
