"""Timeline: which compiled revision decides a case.

A jurisdiction's revisions take effect on dates; the one in force on the case's vesting date
(when the jurisdiction names a vesting fact and the case gives it, DESIGN.md §3) or else on its
``as_of`` decides, unless the case or the caller forces a revision by id. Every refusal is a
``CaseError`` placed at the case key that caused it.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from dsl.errors import did_you_mean
from engine.diagnostics import CaseError, Diagnostic
from engine.model import JurisdictionDef, RevisionInfo
from engine.run.facts import Case
from engine.run.program import CompiledPolicy

# How a revision was chosen: ("revision", None) when forced, else (the key or vesting fact whose
# date chose it, that date).
Basis = tuple[str, dt.date | None]
T = TypeVar("T")


@dataclass
class Timeline:
    """The compiled revisions of every jurisdiction of a policy, by the date each takes effect."""

    jurisdictions: dict[str, JurisdictionDef]
    compiled: dict[tuple[str, str], CompiledPolicy]
    _dates: dict[str, tuple[list[dt.date], list[RevisionInfo]]] = field(default_factory=dict)
    _foreign: dict[tuple[str, str], dict[str, tuple[str, ...]]] = field(default_factory=dict)
    # Per jurisdiction: the dates revisions take effect, and before each date's place the
    # compiled revision in force (None before the first, or for one that did not compile).
    _on: dict[str, tuple[list[dt.date], list[CompiledPolicy | None]]] = field(default_factory=dict)

    def foreign_facts(self, cp: CompiledPolicy) -> dict[str, tuple[str, ...]]:
        """The facts other jurisdictions of this policy declare and ``cp`` does not, each with
        the jurisdictions declaring it: a permitting system sends one record shape to every
        city, so such a fact is ignored with a warning, not refused (built once per revision)."""
        key = (cp.jurisdiction, cp.revision)
        found = self._foreign.get(key)
        if found is None:
            by: dict[str, set[str]] = {}
            for (jid, _), other in self.compiled.items():
                if jid != cp.jurisdiction:
                    for fid in other.facts.keys() - cp.facts.keys():
                        by.setdefault(fid, set()).add(jid)
            found = self._foreign[key] = {f: tuple(sorted(j)) for f, j in by.items()}
        return found

    def jurisdiction(self, jid: str) -> JurisdictionDef:
        """The jurisdiction ``jid``, or a ``case/unknown-jurisdiction`` with a did-you-mean."""
        found = self.jurisdictions.get(jid)
        if found is not None:
            return found
        guess = did_you_mean(jid, self.jurisdictions)
        raise CaseError([Diagnostic(
            "case/unknown-jurisdiction", f"unknown jurisdiction `{jid}`",
            help=f"did you mean `{guess}`?" if guess
            else "known jurisdictions: " + ", ".join(sorted(self.jurisdictions)))])  # fmt: skip

    def revision_for(self, jurisdiction: str, day: dt.date) -> RevisionInfo:
        """The revision of ``jurisdiction`` in force on ``day``.

        Raises:
            CaseError: ``day`` is before every encoded revision, or falls under a revision
                whose text is not encoded.
        """
        dates, revisions = self._dated(jurisdiction)
        i = bisect.bisect_right(dates, day)
        if i and revisions[i - 1].encoded:
            return revisions[i - 1]
        encoded = sorted(
            (r.effective_on, r.title) for r in revisions if r.encoded and r.effective_on
        )
        under = f", under {revisions[i - 1].title}, whose text is not encoded" if i else ""
        raise CaseError([Diagnostic(
            "case/no-revision",
            f"{day.isoformat()} is before every encoded revision of `{jurisdiction}`{under}",
            help=f"the first encoded revision, {encoded[0][1]}, takes effect on {encoded[0][0]}"
            if encoded else "encode a revision of this jurisdiction")])  # fmt: skip

    def on(self, jurisdiction: str, day: dt.date) -> CompiledPolicy | None:
        """The compiled revision in force on ``day`` (None: none is; ``revision_for`` says why).
        The fast path of revision selection: one bisection, no exceptions."""
        found = self._on.get(jurisdiction)
        if found is None:
            dates, revisions = self._dated(jurisdiction)
            found = self._on[jurisdiction] = (dates, [None, *(
                self.compiled.get((jurisdiction, r.id)) for r in revisions)])  # fmt: skip
        return found[1][bisect.bisect_right(found[0], day)]

    def _dated(self, jurisdiction: str) -> tuple[list[dt.date], list[RevisionInfo]]:
        """The revisions of a jurisdiction by the date each took effect (or was adopted)."""
        cached = self._dates.get(jurisdiction)
        if cached is None:
            jur = self.jurisdiction(jurisdiction)
            dated = sorted(
                ((r.effective_on or r.adopted_on, r) for r in jur.revisions
                 if (r.effective_on or r.adopted_on) is not None),
                key=lambda pair: pair[0] or dt.date.min)  # fmt: skip
            cached = ([d for d, _ in dated if d is not None], [r for _, r in dated])
            self._dates[jurisdiction] = cached
        return cached

    def latest(self, jurisdiction: str) -> CompiledPolicy:
        """The latest encoded revision of ``jurisdiction`` that compiled (what documentation,
        ``show`` and ``graph`` describe when no revision is named)."""
        found = [cp for (jid, _), cp in self.compiled.items() if jid == jurisdiction]
        if not found:
            self.jurisdiction(jurisdiction)  # an unknown id gets its did-you-mean
            raise CaseError([Diagnostic("case/unknown-revision", f"`{jurisdiction}` has no "
                             "compiled revision", help="run `ordinance check`")])  # fmt: skip
        return max(found, key=lambda cp: cp.layered.revision.effective_on or dt.date.min)

    def compiled_for(self, jurisdiction: str, revision: str) -> CompiledPolicy:
        """The compiled revision ``revision`` of ``jurisdiction``, or why there is none."""
        found = self.compiled.get((jurisdiction, revision))
        if found is not None:
            return found
        ids = [r.id for r in self.jurisdiction(jurisdiction).revisions if r.encoded]
        if revision in ids:
            raise CaseError([Diagnostic(
                "case/unknown-revision", f"revision `{revision}` of `{jurisdiction}` has "
                "errors and could not be compiled",
                help=f"run `ordinance check policy/{jurisdiction}`")])  # fmt: skip
        raise CaseError([Diagnostic(
            "case/unknown-revision", f"`{revision}` is not an encoded revision of "
            f"`{jurisdiction}`", help="encoded revisions: " + ", ".join(ids))])  # fmt: skip

    def choose(
        self, case: Case, as_of: dt.date | None, revision: str | None
    ) -> tuple[CompiledPolicy, dt.date, Basis]:
        """The compiled revision that decides ``case``, its evaluation date and the basis."""
        jur = self.jurisdictions.get(case.jurisdiction) or located(
            lambda: self.jurisdiction(case.jurisdiction), case, "jurisdiction"
        )
        day = as_of or case.as_of or today(jur)
        forced = revision or case.revision
        if forced:
            return located(lambda: self.compiled_for(jur.id, forced), case, "revision"), day, (
                "revision", None)  # fmt: skip
        vest = vesting_date(jur, case)
        basis: Basis = vest if vest else ("as_of", day)
        when = vest[1] if vest else day
        found = self.on(jur.id, when)
        if found is not None:
            return found, day, basis
        try:
            return self.compiled_for(jur.id, self.revision_for(jur.id, when).id), day, basis
        except CaseError as exc:
            span = case.span("facts", *vest[0].split(".")) if vest else case.span("as_of")
            what = f" (the vesting date, `{vest[0]}`)" if vest else " (`as_of`)"
            raise CaseError([Diagnostic(d.code, d.message + what, span, help=d.help)
                             for d in exc.diagnostics]) from None  # fmt: skip


def located(get: Callable[[], T], case: Case, key: str) -> T:
    """Run ``get``; a CaseError it raises is placed at the case's ``key``."""
    try:
        return get()
    except CaseError as exc:
        raise CaseError([Diagnostic(d.code, d.message, d.span or case.span(key), help=d.help)
                         for d in exc.diagnostics]) from None  # fmt: skip


def today(jur: JurisdictionDef) -> dt.date:
    """Today in the jurisdiction's time zone (a case without ``as_of`` is decided as of now
    where the permit center is, not where the server is)."""
    return dt.datetime.now(ZoneInfo(jur.time_zone)).date()


def vesting_date(jur: JurisdictionDef, case: Case) -> tuple[str, dt.date] | None:
    """The vesting fact's date when the jurisdiction names one and the case gives it."""
    return vesting_in(jur, case.facts)


def vesting_in(jur: JurisdictionDef, facts: Any) -> tuple[str, dt.date] | None:
    """``vesting_date`` of a case's ``facts:`` as given."""
    if jur.vesting is None:
        return None
    node: Any = facts
    for part in jur.vesting[0].split("."):
        node = node.get(part) if isinstance(node, dict) else None
    day = vesting_value(node)
    return None if day is None else (jur.vesting[0], day)


def vesting_value(node: Any) -> dt.date | None:
    """A vesting fact's value as a date (None: absent, null, or not a date, which is reported
    with its position when the facts are read)."""
    if node is None or isinstance(node, dt.datetime):
        return None
    try:
        return node if isinstance(node, dt.date) else dt.date.fromisoformat(str(node))
    except ValueError:
        return None
