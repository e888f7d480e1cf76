"""Pipeline stage 3, model: read a jurisdiction's YAML files into the typed model.

``read_jurisdiction`` turns ``policy/<id>/jurisdiction.yaml`` and each encoded revision's folder
(``policy/<id>/<revision>/*.yaml``) into the dataclasses of ``engine.model``, with the origin of
every item kept for diagnostics. Each file is checked against its JSON Schema first.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from dsl.typesys import Type
from engine.compile.load import load_document
from engine.compile.schema import check_document
from engine.diagnostics import Collector, LoadError, PolicyError
from engine.model import (
    Adoption,
    Amendment,
    CertificateConfig,
    Expr,
    FactDecl,
    FeeItem,
    FeeSpec,
    HolidaySpec,
    JurisdictionDef,
    Origin,
    ProcedureDef,
    RevisionContent,
    RevisionInfo,
    RuleDef,
    SectionDef,
    Silence,
    StepDef,
)
from engine.source import Document, Path_

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_type(spec: dict[str, Any]) -> Type:
    """The Type a fact or rule declares with ``type:`` (and ``values:``/``item:``)."""
    name = spec["type"]
    if name == "enum":
        return Type.enum(tuple(spec.get("values", ())))
    if name == "list":
        item = spec.get("item", "string")
        return Type.list_of(
            Type.enum(tuple(spec.get("values", ()))) if item == "enum" else Type(item)
        )
    return Type(name)


def _date(v: Any) -> dt.date | None:
    return dt.date.fromisoformat(str(v)) if v is not None else None


def read_jurisdiction(
    directory: Path, out: Collector, package: str | None = None, expected: str | None = None
) -> JurisdictionDef | None:
    """Read ``jurisdiction.yaml`` and every encoded revision folder of one jurisdiction
    (``package``: the installed policy package it came from, kept as its provenance).

    Its ``id`` must be ``expected`` (the name a policy package declares it under, whose
    folder is the package's own) or else its folder's name."""
    doc = _load(directory / "jurisdiction.yaml", "jurisdiction", out)
    if doc is None:
        return None
    d = doc.data
    cal = d.get("calendar", {})
    jur = JurisdictionDef(
        id=d["id"],
        title=d["title"],
        description=d.get("description"),
        extends=d.get("extends"),
        time_zone=d["time_zone"],
        business_days=tuple(_WEEKDAYS.index(x) for x in cal.get("business_days", _WEEKDAYS[:5])),
        holidays=_holidays(cal.get("holidays")),
        adopts=tuple(
            Adoption(a["code"], a["title"], a["edition"], a.get("citation"), a.get("note"))
            for a in d.get("adopts", [])
        ),
        revisions=tuple(
            RevisionInfo(
                r["id"],
                r["title"],
                _date(r.get("adopted_on")),
                _date(r.get("effective_on")),
                r["encoded"],
                r.get("interpretation"),
                r.get("note"),
            )
            for r in d["revisions"]
        ),
        directory=directory,
        origin=Origin(doc, ()),
        vesting=(d["vesting"]["fact"], d["vesting"]["citation"], d["vesting"].get("note"))
        if "vesting" in d
        else None,
        certificate=_certificate(d["certificate"], doc) if "certificate" in d else None,
        package=package,
    )
    if expected is not None and jur.id != expected:
        out.add(
            "policy/id-mismatch",
            f"the jurisdiction id `{jur.id}` differs from the name `{expected}` its package "
            f"declares it under ({package})",
            doc.span(("id",)),
            help=f"write `id: {expected}`, or rename the package's `ordinance.policies` entry",
        )
    elif expected is None and jur.id != directory.name:
        out.add(
            "policy/id-mismatch",
            f"the jurisdiction id `{jur.id}` differs from its folder name `{directory.name}`",
            doc.span(("id",)),
            help=f"rename the folder or write `id: {directory.name}`",
        )
    seen: dict[str, int] = {}
    for i, rev in enumerate(jur.revisions):
        if rev.id in seen:
            out.add("policy/duplicate-revision", f"the revision `{rev.id}` is listed twice",
                    doc.span(("revisions", i, "id")),
                    related=((doc.span(("revisions", seen[rev.id], "id")), "first listed here"),),
                    help="give each revision its own id")  # fmt: skip
            continue
        seen[rev.id] = i
        _check_revision(jur, rev, doc, i, out)
        if rev.encoded and (directory / rev.id).is_dir():
            jur.content[rev.id] = read_revision(directory / rev.id, jur.id, out)
    return jur


def _certificate(c: dict[str, Any], doc: Document) -> CertificateConfig:
    requires = c.get("requires")
    return CertificateConfig(
        verify_url=c.get("verify_url"),
        sender=c.get("sender"),
        requires=tuple(requires) if requires is not None else None,
        new_certificate_when=c.get("new_certificate_when"),
        note=c.get("note"),
        origin=Origin(doc, ("certificate",)),
    )


def _check_revision(
    jur: JurisdictionDef, rev: RevisionInfo, doc: Document, i: int, out: Collector
) -> None:
    folder = jur.directory / rev.id
    if rev.encoded and not folder.is_dir():
        out.add(
            "policy/missing-revision",
            f"revision `{rev.id}` is marked encoded but `{folder}` does not exist",
            doc.span(("revisions", i, "encoded")),
            help="create the folder with the revision's policy files, or set `encoded: false`",
        )
    if rev.encoded and rev.effective_on is None:
        out.add(
            "policy/missing-effective-date",
            f"encoded revision `{rev.id}` has no `effective_on` date",
            doc.span(("revisions", i), key=False),
            help="cases are matched to revisions by date; add `effective_on: YYYY-MM-DD`",
        )


def _holidays(h: dict[str, Any] | None) -> HolidaySpec | None:
    if h is None:
        return None
    lib = h.get("library", {})
    return HolidaySpec(
        citation=h.get("citation"),
        note=h.get("note"),
        observed=h.get("observed"),
        country=lib.get("country"),
        subdivision=lib.get("subdivision"),
        names=tuple(h["names"]) if "names" in h else None,
        add=tuple(
            (dt.date.fromisoformat(a["date"]), a["name"], a["citation"]) for a in h.get("add", [])
        ),
        remove=tuple(
            (dt.date.fromisoformat(r["date"]), r["citation"], r.get("reason"))
            for r in h.get("remove", [])
        ),
    )


def read_revision(folder: Path, jurisdiction: str, out: Collector) -> RevisionContent:
    """Read every ``*.yaml`` of one revision folder, in name order (deterministic)."""
    content = RevisionContent()
    for path in sorted(folder.glob("*.yaml")):
        doc = _load(path, "policy", out)
        if doc is None:
            continue
        content.files.append(doc.file)
        _read_policy_file(doc, jurisdiction, content, out)
    return content


def _load(path: Path, schema_name: str, out: Collector) -> Document | None:
    try:
        doc = load_document(path)
    except LoadError as exc:
        out.items.extend(exc.diagnostics)
        return None
    before = len(out.errors)
    if not isinstance(doc.data, dict):
        out.add("schema/type", "the file must be a mapping (`key: value` lines)", doc.span(()))
        return None
    check_document(doc, schema_name, out)
    return doc if len(out.errors) == before else None


def _expr(doc: Document, path: Path_, data: dict[str, Any], key: str) -> Expr | None:
    if key not in data:
        return None
    return Expr(str(data[key]), doc, (*path, key))


def _rule(doc: Document, path: Path_, r: dict[str, Any]) -> RuleDef:
    return RuleDef(
        id=r["id"],
        type=parse_type(r),
        value=_expr(doc, path, r, "value"),
        fee=_fee(doc, (*path, "fee"), r["fee"]) if "fee" in r else None,
        when=_expr(doc, path, r, "when"),
        description=r.get("description", ""),
        subsection=r.get("subsection"),
        explain=_explain(r.get("explain")),
        interpretation=r.get("interpretation"),
        internal=r.get("internal", False),
        precedence=r.get("precedence", 0),
        origin=Origin(doc, path),
        labels=r.get("labels", {}),
        mutation=_silence(doc, path, r),
    )


def _silence(doc: Document, path: Path_, data: dict[str, Any]) -> Silence | None:
    """The ``mutation:`` annotation of a rule, section, step or procedure (schema-checked)."""
    m = data.get("mutation")
    if m is None:
        return None
    return Silence(frozenset(m["ignore"]), m["reason"], Origin(doc, (*path, "mutation")))


def _explain(e: str | dict[str, str] | None) -> dict[str, str]:
    """Outcome → template; a plain string explains every determined value."""
    if e is None:
        return {}
    return {"determined": e} if isinstance(e, str) else dict(e)


def _fee(doc: Document, path: Path_, f: dict[str, Any]) -> FeeSpec:
    items = []
    for i, it in enumerate(f["items"]):
        ipath = (*path, "items", i)
        items.append(FeeItem(
            id=it["id"], title=it["title"], amount=_expr(doc, ipath, it, "amount"),
            unit_amount=_expr(doc, ipath, it, "unit_amount"),
            quantity=_expr(doc, ipath, it, "quantity"), over=it.get("over", 0),
            up_to=it.get("up_to"), unit=it.get("unit"), when=_expr(doc, ipath, it, "when"),
            citation=it.get("citation"), interpretation=it.get("interpretation"),
            origin=Origin(doc, ipath)))  # fmt: skip
    return FeeSpec(tuple(items), _date(f.get("effective_on")), f.get("rounding", "half_up"),
                   f.get("source"), f.get("interpretation"), Origin(doc, path))  # fmt: skip


def _read_policy_file(doc: Document, jur: str, content: RevisionContent, out: Collector) -> None:
    data = doc.data
    for fid, f in data.get("facts", {}).items():
        if fid in content.facts:
            out.add(
                "policy/duplicate-fact",
                f"the fact `{fid}` is declared twice",
                doc.span(("facts", fid), key=True),
                related=((content.facts[fid].origin.span(), "first declared here"),),
            )
            continue
        content.facts[fid] = FactDecl(
            fid,
            parse_type(f),
            f["description"],
            f.get("nullable", False),
            f.get("citation"),
            jur,
            Origin(doc, ("facts", fid)),
            f.get("labels", {}),
            f.get("log"),
        )
    for name, rules in data.get("rulesets", {}).items():
        content.rulesets[name] = tuple(
            _rule(doc, ("rulesets", name, i), r) for i, r in enumerate(rules)
        )
    for i, s in enumerate(data.get("sections", [])):
        content.sections.append(_section(doc, ("sections", i), s, jur))
    for i, p in enumerate(data.get("procedures", [])):
        path = ("procedures", i)
        steps = tuple(
            StepDef(
                st["id"],
                st["title"],
                st.get("description"),
                tuple(st.get("requires", [])),
                _expr(doc, (*path, "steps", j), st, "when"),
                _expr(doc, (*path, "steps", j), st, "done"),
                _expr(doc, (*path, "steps", j), st, "deadline"),
                st.get("citation"),
                Origin(doc, (*path, "steps", j)),
                _silence(doc, (*path, "steps", j), st),
            )
            for j, st in enumerate(p["steps"])
        )
        content.procedures.append(
            ProcedureDef(
                p["id"],
                p["title"],
                p.get("description"),
                p.get("citation"),
                _expr(doc, path, p, "when"),
                steps,
                jur,
                Origin(doc, path),
                _silence(doc, path, p),
            )
        )


def _section(doc: Document, path: Path_, s: dict[str, Any], jur: str) -> SectionDef:
    amends = s.get("amends", [])
    amends = [amends] if isinstance(amends, dict) else amends
    single = isinstance(s.get("amends"), dict)
    return SectionDef(
        citation=s["citation"],
        title=s["title"],
        text=s.get("text"),
        kind=s.get("kind", "law"),
        source=s.get("source"),
        history=s.get("history"),
        amends=tuple(
            Amendment(
                a["section"],
                a["action"],
                a.get("title"),
                a.get("text"),
                Origin(doc, (*path, "amends") if single else (*path, "amends", k)),
                a.get("in_parent", True),
            )
            for k, a in enumerate(amends)
        ),
        when=_expr(doc, path, s, "when"),
        use=tuple(s.get("use", [])),
        rules=tuple(_rule(doc, (*path, "rules", k), r) for k, r in enumerate(s.get("rules", []))),
        interpretation=s.get("interpretation"),
        jurisdiction=jur,
        origin=Origin(doc, path),
        mutation=_silence(doc, path, s),
    )


def raise_on_errors(out: Collector) -> None:
    """Stop at a stage boundary when the stage found errors."""
    out.raise_if_errors(PolicyError)
