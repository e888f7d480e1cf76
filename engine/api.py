"""The public Python API for embedding programs: ``load_policy`` and the ``Policy`` facade.

``load_policy`` runs the compile stages (``engine.compile.STAGES``) over a policy folder once;
``Policy`` then evaluates cases on the run time (``engine.run``), which touches no YAML, JSON
Schema, Lark or networkx code. Results are ``engine.result.Result`` objects, rendered by
``engine.render.RENDERERS``.

>>> policy = load_policy()
>>> result = policy.evaluate({"jurisdiction": "kent", "as_of": "2025-01-10",
...     "facts": {"permit": {"code": "IBC", "issued_on": "2024-04-15"},
...               "work": {"commenced_on": None}}})
>>> result.decisions["permit.expires_on"].value
datetime.date(2025, 4, 15)
>>> result.decisions["permit.expires_on"].citations
['IBC 105.5.1 as amended by KCC 14.01.030.D']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import cache as policy_cache
from engine.diagnostics import Diagnostic, PolicyError
from engine.model import JurisdictionDef, RevisionInfo
from engine.paths import bundled_policy_dir
from engine.result import Result
from engine.run import cases as one
from engine.run.facts import Case
from engine.run.program import CompiledPolicy
from engine.run.quick import quick_prepare, quick_values
from engine.run.timeline import Timeline


@dataclass
class Policy:
    """Every jurisdiction under one policy folder, each encoded revision compiled once."""

    root: Path
    jurisdictions: dict[str, JurisdictionDef]
    compiled: dict[tuple[str, str], CompiledPolicy]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Parent layers found outside ``root`` (a search path, an installed policy package).
    layers: dict[str, JurisdictionDef] = field(default_factory=dict)
    timeline: Timeline = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.timeline = Timeline(self.jurisdictions, self.compiled)

    def __repr__(self) -> str:
        """Short: the whole policy in a test failure or a log line is megabytes of noise."""
        revisions = ", ".join(f"{j}/{r}" for j, r in sorted(self.compiled))
        return f"Policy({str(self.root)!r}: {revisions})"

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    def revision_for(self, jurisdiction: str, day: dt.date) -> RevisionInfo:
        """The revision of ``jurisdiction`` in force on ``day`` (``CaseError`` when none is)."""
        return self.timeline.revision_for(jurisdiction, day)

    def latest(self, jurisdiction: str) -> CompiledPolicy:
        """The latest encoded revision of ``jurisdiction`` that compiled (what documentation,
        ``show`` and ``graph`` describe when no revision is named)."""
        return self.timeline.latest(jurisdiction)

    def compiled_for(self, jurisdiction: str, revision: str) -> CompiledPolicy:
        """The compiled revision ``revision`` of ``jurisdiction`` (``CaseError`` when none)."""
        return self.timeline.compiled_for(jurisdiction, revision)

    def prepare(
        self,
        case: Case | dict[str, Any],
        as_of: dt.date | None = None,
        revision: str | None = None,
    ) -> one.Prepared:
        """Choose the revision and check the facts of ``case``.

        Returns the compiled revision, the case, its facts by id, the evaluation date and how
        the revision was chosen. Raises ``CaseError`` with located diagnostics.
        """
        return one.prepare(self.timeline, case, as_of, revision)

    def evaluate(
        self,
        case: Case | dict[str, Any],
        *,
        as_of: dt.date | None = None,
        explain: bool = True,
        decisions: Iterable[str] | None = None,
        revision: str | None = None,
    ) -> Result:
        """Evaluate one case.

        Args:
            case: a ``Case`` (from ``engine.compile.load.read_case``) or a mapping shaped like a
                case file, with ISO date strings or ``datetime.date`` values.
            as_of: overrides the case's ``as_of``.
            explain: build the ``because`` trees (skip for bulk work).
            decisions: report only these decision ids (only the rules they need run).
            revision: decide under this encoded revision instead of the one in force on the
                case's vesting date or ``as_of`` (overrides the case's ``revision:``).

        Raises:
            CaseError: the case does not fit the policy; its diagnostics say where and why.
        """
        quick = quick_prepare(self.timeline, case) if as_of is None and revision is None else None
        prepared = quick or one.prepare(self.timeline, case, as_of, revision)
        return one.evaluate(prepared, decisions, explain)

    def values(
        self,
        case: Case | dict[str, Any],
        decisions: Iterable[str] | None = None,
        *,
        as_of: dt.date | None = None,
    ) -> dict[str, Any]:
        """The bare values of the decisions, for bulk work: no explanations, no citations.

        A determined decision maps to its Python value (``datetime.date``, ``Decimal``, ``bool``,
        …), a not-applicable one to None, an undetermined one to a ``dsl.values.Unknown`` whose
        ``needs`` names the missing facts. Only the rules the decisions need are evaluated.

        >>> policy = load_policy()
        >>> policy.values({"jurisdiction": "kent", "as_of": "2025-01-10",
        ...     "facts": {"permit": {"code": "IRC"}}}, ["co.required"])
        {'co.required': False}
        """
        if decisions is not None and decisions.__class__ not in (tuple, frozenset):
            decisions = tuple(decisions)  # read once: the quick way may decline after reading
        if as_of is None:
            found = quick_values(self.timeline, case, decisions)
            if found is not None:
                return found
        return one.values(one.prepare(self.timeline, case, as_of), decisions)

    def values_many(
        self,
        cases: Iterable[dict[str, Any]],
        decisions: Iterable[str] | None = None,
        *,
        as_of: dt.date | None = None,
    ) -> list[dict[str, Any]]:
        """``values`` for many cases at once, in their order: the same results, computed column
        by column (several times faster for a large batch; see ``engine.run.batch``).

        A batch with a case that does not fit the policy is evaluated case by case, so the
        error raised is the one ``values`` raises for the first such case, its messages naming
        the case's place in the batch. An unknown decision id is refused for the whole batch.

        >>> policy = load_policy()
        >>> policy.values_many([{"jurisdiction": "kent", "as_of": "2025-01-10", "facts": {
        ...     "permit": {"code": "IBC", "issued_on": day}, "work": {"commenced_on": None}}}
        ...     for day in ("2024-04-15", "2022-01-03")], ["permit.expires_on"])
        [{'permit.expires_on': datetime.date(2025, 4, 15)},
         {'permit.expires_on': datetime.date(2023, 1, 3)}]
        """
        from engine.run import bulk  # the column path: loaded by the first bulk call

        return bulk.values_many(self.timeline, cases, decisions, as_of)


def load_policy(
    path: Path | str | None = None,
    *,
    strict: bool = True,
    search_path: Iterable[Path | str] = (),
    cache: bool = True,
) -> Policy:
    """Load, check and compile every jurisdiction under a policy folder.

    Args:
        path: the policy root (holding one folder per jurisdiction) or one jurisdiction's
            folder; default: the policy bundled with ordinance.
        strict: raise ``PolicyError`` when any error is found (``ordinance check`` passes
            False to collect them all).
        search_path: further policy folders where a parent that ``extends`` names is looked
            for when ``path`` does not hold it (then the installed policy packages:
            ``engine.compile.find``).
        cache: use the compiled-policy cache (``engine.cache``): load what an earlier compile
            of the same files saved, or save this compile. ``ORDINANCE_NO_CACHE=1`` turns it
            off for every call.
    """
    root = Path(path) if path is not None else bundled_policy_dir()
    if not root.is_dir():
        raise PolicyError([Diagnostic(
            "policy/empty", f"`{root}` is not a folder",
            help="give the policy folder or a jurisdiction's folder")])  # fmt: skip
    search = tuple(Path(p) for p in search_path)
    cache = cache and policy_cache.enabled()
    # Only a compile without errors is saved, so a loaded one has nothing for `strict` to raise.
    saved = policy_cache.load(root, search) if cache else None
    if saved is None:
        saved = _compile(root, search, cache, strict)
    policy = Policy(saved.root, saved.jurisdictions, saved.compiled, layers=saved.layers)
    policy.diagnostics = saved.diagnostics
    return policy


def _compile(root: Path, search: tuple[Path, ...], cache: bool, strict: bool
             ) -> policy_cache.Saved:  # fmt: skip
    """Compile the policy under ``root`` (the compile stages are imported here, not on the
    cached path); saved in the cache when it compiled without an error, raised as a
    ``PolicyError`` when it did not and ``strict``."""
    from dsl.recipe import recording
    from engine.compile.find import LayerFinder
    from engine.compile.pipeline import compile_folder

    with recording() as recipes:
        compiled = compile_folder(root, LayerFinder(search))
        saved = policy_cache.Saved(compiled.root, compiled.jurisdictions, compiled.layers,
                                   compiled.compiled, compiled.diagnostics)  # fmt: skip
        if cache and not compiled.out.errors:
            policy_cache.save(saved, search, recipes, root)
    if strict:
        compiled.out.raise_if_errors(PolicyError)
    return saved
