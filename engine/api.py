"""The public Python API for embedding programs: ``load_policy`` and ``Policy.evaluate``.

The pipeline, in order (one module per stage):

1. load      (engine.compile.load)      YAML → data with positions
2. validate  (engine.compile.schema)    JSON Schemas in engine/schemas/
3. model     (engine.model)     data → typed declarations
4. layer     (engine.compile.layer)     extends + amendments, with provenance
5. compile   (engine.compile.compiler)  type-check (dsl.typecheck), graph
                                (engine.compile.graph), closures (dsl.compile)
6. evaluate  (engine.run.evaluate)  case facts → decisions; explain (engine.run.explain); many cases
                                at once, column by column (engine.run.batch, dsl.columns)
7. render    (engine.render)    text, JSON, Markdown

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

import bisect
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from dsl.typesys import Type
from engine.compile.compiler import compile_policy
from engine.compile.layer import apply_layers
from engine.compile.read import read_jurisdiction
from engine.diagnostics import CaseError, Collector, Diagnostic, PolicyError
from engine.model import JurisdictionDef, RevisionInfo
from engine.paths import bundled_policy_dir
from engine.result import Result
from engine.run.batch import Fallback, by_value, iso_dates, nested, read_columns, run_rules
from engine.run.decide import OutOfRange, run_values
from engine.run.evaluate import build_decisions, run_plan, run_procedures, start_env
from engine.run.explain import explain_decision
from engine.run.facts import (
    CASE_KEYS,
    EARLIEST,
    KEY_TYPES,
    LATEST,
    Case,
    as_of_date,
    case_from_dict,
    shown,
)
from engine.run.program import CompiledPolicy


@dataclass
class Policy:
    """Every jurisdiction under one policy folder, each encoded revision compiled once."""

    root: Path
    jurisdictions: dict[str, JurisdictionDef]
    compiled: dict[tuple[str, str], CompiledPolicy]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    _timelines: dict[str, tuple[list[dt.date], list[RevisionInfo]]] = field(default_factory=dict)

    def __repr__(self) -> str:
        """Short: the whole policy in a test failure or a log line is megabytes of noise."""
        revisions = ", ".join(f"{j}/{r}" for j, r in sorted(self.compiled))
        return f"Policy({str(self.root)!r}: {revisions})"

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    def revision_for(self, jurisdiction: str, day: dt.date) -> RevisionInfo:
        """The revision of ``jurisdiction`` in force on ``day``.

        Raises:
            CaseError: ``day`` is before every encoded revision, or falls under a revision
                whose text is not encoded.
        """
        dates, revisions = self._timeline(jurisdiction)
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

    def _compiled_on(self, jurisdiction: str, day: dt.date) -> CompiledPolicy | None:
        """The compiled revision in force on ``day`` (None: none is; ``revision_for`` says why).
        The fast path of revision selection: one bisection, no exceptions."""
        dates, revisions = self._timeline(jurisdiction)
        i = bisect.bisect_right(dates, day)
        return self.compiled.get((jurisdiction, revisions[i - 1].id)) if i else None

    def _timeline(self, jurisdiction: str) -> tuple[list[dt.date], list[RevisionInfo]]:
        """The revisions of a jurisdiction by the date each took effect (or was adopted)."""
        cached = self._timelines.get(jurisdiction)
        if cached is None:
            jur = self._jurisdiction(jurisdiction)
            dated = sorted(
                ((r.effective_on or r.adopted_on, r) for r in jur.revisions
                 if (r.effective_on or r.adopted_on) is not None),
                key=lambda pair: pair[0] or dt.date.min)  # fmt: skip
            cached = ([d for d, _ in dated if d is not None], [r for _, r in dated])
            self._timelines[jurisdiction] = cached
        return cached

    def latest(self, jurisdiction: str) -> CompiledPolicy:
        """The latest encoded revision of ``jurisdiction`` that compiled (what documentation,
        ``show`` and ``graph`` describe when no revision is named)."""
        found = [cp for (jid, _), cp in self.compiled.items() if jid == jurisdiction]
        if not found:
            self._jurisdiction(jurisdiction)  # an unknown id gets its did-you-mean
            raise CaseError([Diagnostic("case/unknown-revision", f"`{jurisdiction}` has no "
                             "compiled revision", help="run `ordinance check`")])  # fmt: skip
        return max(found, key=lambda cp: cp.layered.revision.effective_on or dt.date.min)

    def compiled_for(self, jurisdiction: str, revision: str) -> CompiledPolicy:
        try:
            return self.compiled[(jurisdiction, revision)]
        except KeyError:
            jur = self._jurisdiction(jurisdiction)
            ids = [r.id for r in jur.revisions if r.encoded]
            if revision in ids:
                raise CaseError([Diagnostic(
                    "case/unknown-revision", f"revision `{revision}` of `{jurisdiction}` has "
                    "errors and could not be compiled",
                    help=f"run `ordinance check policy/{jurisdiction}`")]) from None  # fmt: skip
            raise CaseError(
                [
                    Diagnostic(
                        "case/unknown-revision",
                        f"`{revision}` is not an encoded revision of `{jurisdiction}`",
                        help="encoded revisions: " + ", ".join(ids),
                    )
                ]
            ) from None

    def _jurisdiction(self, jid: str) -> JurisdictionDef:
        if jid not in self.jurisdictions:
            from dsl.errors import did_you_mean

            guess = did_you_mean(jid, self.jurisdictions)
            raise CaseError(
                [
                    Diagnostic(
                        "case/unknown-jurisdiction",
                        f"unknown jurisdiction `{jid}`",
                        help=f"did you mean `{guess}`?"
                        if guess
                        else "known jurisdictions: " + ", ".join(sorted(self.jurisdictions)),
                    )
                ]
            )
        return self.jurisdictions[jid]

    def prepare(
        self,
        case: Case | dict[str, Any],
        as_of: dt.date | None = None,
        revision: str | None = None,
    ) -> tuple[CompiledPolicy, Case, dict[str, Any], dt.date, tuple[str, dt.date | None]]:
        """Choose the revision and check the facts of ``case``.

        Returns the compiled revision, the case, its facts by id, the evaluation date and how
        the revision was chosen. Raises ``CaseError`` with located diagnostics.
        """
        _check_arguments(as_of, revision)
        if not isinstance(case, Case):
            case = case_from_dict(case)
        jur = self.jurisdictions.get(case.jurisdiction) or _located(
            lambda: self._jurisdiction(case.jurisdiction), case, "jurisdiction"
        )
        day = as_of or case.as_of or dt.datetime.now(_tz(jur)).date()
        basis: tuple[str, dt.date | None]
        forced = revision or case.revision
        if forced:
            cp = _located(lambda: self.compiled_for(jur.id, forced), case, "revision")
            basis = ("revision", None)
        else:
            vest = _vesting_date(jur, case)
            basis = vest if vest else ("as_of", day)
            found = self._compiled_on(jur.id, vest[1] if vest else day)
            try:
                cp = found or self.compiled_for(jur.id, self.revision_for(jur.id, basis[1]).id)
            except CaseError as exc:
                span = case.span("facts", *vest[0].split(".")) if vest else case.span("as_of")
                raise CaseError(
                    [
                        Diagnostic(
                            d.code,
                            d.message
                            + (f" (the vesting date, `{vest[0]}`)" if vest else " (`as_of`)"),
                            span,
                            help=d.help,
                        )
                        for d in exc.diagnostics
                    ]
                ) from None
        out = Collector()
        facts = cp.reader.read(case, out)
        out.raise_if_errors(CaseError)
        return cp, case, facts, day, basis

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
            case: a ``Case`` (from ``engine.run.facts.read_case``) or a mapping shaped like a case
                file, with ISO date strings or ``datetime.date`` values.
            as_of: overrides the case's ``as_of``.
            explain: build the ``because`` trees (skip for bulk work).
            decisions: report only these decision ids (only the rules they need run).
            revision: decide under this encoded revision instead of the one in force on the
                case's vesting date or ``as_of`` (overrides the case's ``revision:``).

        Raises:
            CaseError: the case does not fit the policy; its diagnostics say where and why.
        """
        cp, case, facts, day, basis = self.prepare(case, as_of, revision)
        only = _checked(cp, decisions)
        try:
            env, chosen = run_plan(cp, facts, day, only)
        except OutOfRange as exc:
            raise _placed(cp, case, exc) from None
        found = build_decisions(cp, env, chosen, only)
        if explain:
            memo: dict[str, dict[str, Any]] = {}
            for rid, d in found.items():
                d.because = explain_decision(cp, env, chosen, rid, memo)
        procedures = run_procedures(cp, env) if only is None else {}
        return Result(case.id, cp.jurisdiction, cp.revision, basis, day, found, procedures)

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
        cp, case, facts, day, _ = self.prepare(case, as_of)
        only = _checked(cp, decisions)
        env, plan = start_env(cp, facts, day, only)
        try:
            run_values(plan, env)
        except OutOfRange as exc:
            raise _placed(cp, case, exc) from None
        wanted = only if only is not None else cp.public
        return {rid: env[rid] for rid in wanted}

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
        _check_arguments(as_of, None)
        cases = list(cases)
        decisions = None if decisions is None else tuple(decisions)  # read once, for every group
        try:
            groups = self._batch_groups(cases, as_of)
        except (Fallback, TypeError):  # TypeError: an unhashable `as_of` or vesting date
            return self._values_each(cases, decisions, as_of)
        results: list[dict[str, Any]] = [{}] * len(cases)
        for cp, rows, days in groups:
            only = _checked(cp, decisions)
            part = cases if len(rows) == len(cases) else [cases[r] for r in rows]
            try:
                found = self._values_columns(cp, part, days, only)
            except (Fallback, ArithmeticError, ValueError):
                # Case by case, in order: the first case with a problem is the one reported.
                return self._values_each(cases, decisions, as_of)
            if part is cases:
                return found
            for r, value in zip(rows, found, strict=True):
                results[r] = value
        return results

    def _batch_groups(
        self, cases: list[Any], as_of: dt.date | None
    ) -> list[tuple[CompiledPolicy, Sequence[int], list[dt.date]]]:
        """The cases by compiled revision: (revision, row numbers, evaluation dates).

        Raises ``Fallback`` for anything the case-by-case path must report or handle."""
        if not cases:
            return []
        if set(map(type, cases)) != {dict}:
            raise Fallback
        keys = set().union(*cases)
        if not keys <= _BATCH_KEYS or not {"jurisdiction", "facts"} <= keys:
            raise Fallback
        facts = [c.get("facts") for c in cases]
        jids = [c.get("jurisdiction") for c in cases]
        if set(map(type, facts)) != {dict} or set(map(type, jids)) != {str}:
            raise Fallback
        for key in keys & _IGNORED_KEYS:  # unread here, yet refused by `values` when malformed
            valid = KEY_TYPES[key][0]
            if not all(valid(c[key]) for c in cases if key in c):
                raise Fallback
        if "as_of" in keys and any("as_of" in c and c["as_of"] is None for c in cases):
            raise Fallback  # `as_of: null` is an error, not today
        given = [c.get("as_of") for c in cases]
        if not set(map(type, given)) <= _AS_OF_TYPES:
            raise Fallback  # equal values of other types must not be merged below
        days: list[Any] = by_value(given, _case_day, {None: None}, iso_dates)  # checked
        if as_of:  # as `values` reads it: the argument, when given, overrides the case's
            days = [as_of] * len(cases)
        groups: dict[int, tuple[CompiledPolicy, Sequence[int]]] = {}
        for jid in dict.fromkeys(jids):
            jur = self.jurisdictions.get(jid)
            if jur is None:
                raise Fallback
            rows: Sequence[int] = range(len(cases))
            if len(set(jids)) > 1:
                rows = [r for r, j in enumerate(jids) if j == jid]
            if None in days:
                today = dt.datetime.now(_tz(jur)).date()
                for r in rows:
                    days[r] = days[r] or today
            basis = [days[r] for r in rows]
            if jur.vesting is not None:
                vested = by_value(nested([facts[r] for r in rows], jur.vesting[0].split(".")),
                                  _vesting_value)  # fmt: skip
                basis = [v or d for v, d in zip(vested, basis, strict=True)]
            revision: dict[dt.date, CompiledPolicy] = {}
            for d in set(basis):
                compiled = self._compiled_on(jid, d)
                if compiled is None:
                    raise Fallback  # no encoded revision: the case-by-case path says so
                revision[d] = compiled
            chosen = {id(cp): cp for cp in revision.values()}
            if len(chosen) == 1:
                (cp,) = chosen.values()
                groups[id(cp)] = (cp, rows)
                continue
            for r, d in zip(rows, basis, strict=True):
                member = groups.setdefault(id(revision[d]), (revision[d], []))[1]
                assert isinstance(member, list)
                member.append(r)
        return [(cp, rows, days if rows.__class__ is range else [days[r] for r in rows])
                for cp, rows in groups.values()]  # fmt: skip

    @staticmethod
    def _values_columns(
        cp: CompiledPolicy, cases: list[dict[str, Any]], days: list[dt.date],
        only: frozenset[str] | None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        missing = cp.missing if only is None else cp.plan_for(only)[1]
        rules = cp.batch_plan(only)
        cols, marks = read_columns(
            cp.reader.tree, cp.batch_kinds, [c["facts"] for c in cases], missing
        )
        cols["as_of"] = days
        run_rules(rules, cols, len(cases), marks)
        wanted = only if only is not None else cp.public
        if not wanted:
            return [{} for _ in cases]
        return [dict(zip(wanted, row, strict=True))
                for row in zip(*(cols[r] for r in wanted), strict=True)]  # fmt: skip

    def _values_each(
        self, cases: list[Any], decisions: Iterable[str] | None, as_of: dt.date | None
    ) -> list[dict[str, Any]]:
        """``values`` case by case; an error about a case names its place in the batch (an
        unknown decision is the request's error, not a case's)."""
        out = []
        for r, case in enumerate(cases):
            try:
                out.append(self.values(case, decisions, as_of=as_of))
            except CaseError as exc:
                cid = case.get("case") if isinstance(case, dict) else None
                named = KEY_TYPES["case"][0](cid) and bool(cid)  # a valid id, else none
                where = f"case {r + 1} of the batch" + (f" (`{cid}`)" if named else "")
                raise CaseError([
                    d if d.code == "case/unknown-decision"
                    else replace(d, message=f"{where}: {d.message}")
                    for d in exc.diagnostics]) from None  # fmt: skip
        return out


_BATCH_KEYS = frozenset(CASE_KEYS) - {"revision"}
_IGNORED_KEYS = frozenset({"case", "description", "expect"})
_AS_OF_TYPES = frozenset({str, dt.date, type(None)})


def _check_arguments(as_of: Any, revision: Any) -> None:
    """The keyword arguments of an evaluation are checked like the case keys they override,
    so a caller's mistake is a ``CaseError`` saying so, not a ``TypeError`` deep inside."""
    problems = []
    if as_of is not None and (as_of.__class__ is not dt.date or as_of_date(as_of) is None):
        problems.append(Diagnostic("case/bad-argument", "the `as_of` argument must be a "
                                   f"`datetime.date` between {EARLIEST} and {LATEST}, found "
                                   f"`{shown(as_of)}`"))  # fmt: skip
    if revision is not None and revision.__class__ is not str:
        problems.append(Diagnostic("case/bad-argument", "the `revision` argument must be text (a "
                                   f"revision id), found `{shown(revision)}`"))  # fmt: skip
    if problems:
        raise CaseError(problems)


def _case_day(v: Any) -> dt.date:
    """A case's ``as_of`` as ``case_from_dict`` reads it (a Fallback when it is wrong)."""
    day = as_of_date(v)
    if day is None:
        raise Fallback
    return day


T = TypeVar("T")


def _located(get: Callable[[], T], case: Case, key: str) -> T:
    """Run ``get``; a CaseError it raises is placed at the case's ``key``."""
    try:
        return get()
    except CaseError as exc:
        raise CaseError([Diagnostic(d.code, d.message, d.span or case.span(key), help=d.help)
                         for d in exc.diagnostics]) from None  # fmt: skip


def _checked(cp: CompiledPolicy, decisions: Iterable[str] | None) -> frozenset[str] | None:
    """The requested decisions as a set, refusing ids the policy does not decide."""
    if decisions is None:
        return None
    if isinstance(decisions, tuple | frozenset) and decisions in cp.checked_requests:
        return cp.checked_requests[decisions]
    only = frozenset(decisions)
    unknown = sorted(only - cp.rules.keys())
    if unknown:
        from dsl.errors import did_you_mean

        raise CaseError([Diagnostic(
            "case/unknown-decision", f"`{cp.jurisdiction}` decides no `{rid}`",
            help=f"did you mean `{g}`?" if (g := did_you_mean(rid, cp.rules)) else None)
            for rid in unknown])  # fmt: skip
    if isinstance(decisions, tuple | frozenset):
        cp.checked_requests[decisions] = only
    return only


def _placed(cp: CompiledPolicy, case: Case, exc: OutOfRange) -> CaseError:
    """``case/out-of-range``, placed at the numbers the case gives among the facts the
    decision reads, directly or through other rules."""
    numbers = [f for f in _facts_read(cp, exc.rid)
               if _is_number(cp.facts[f].type) and _given(case.facts, f)]  # fmt: skip
    names = ", ".join(f"`{f}`" for f in numbers)
    return CaseError([Diagnostic(
        "case/out-of-range", str(exc),
        case.span("facts", *numbers[0].split(".")) if numbers else None,
        help=f"check the numbers it reads: {names}" if numbers
        else "a number the case gives is too large")])  # fmt: skip


def _facts_read(cp: CompiledPolicy, rid: str | None) -> list[str]:
    """The facts a rule reads, directly or through the rules it reads, in order."""
    out: dict[str, None] = {}
    stack, seen = [rid], set()
    while stack:
        r = stack.pop()
        if r in seen or r not in cp.rules:
            continue
        seen.add(r)
        for v in cp.rules[r].variants:
            out.update(dict.fromkeys(v.facts))
            stack.extend(v.rules)
    return list(out)


def _is_number(t: Type) -> bool:
    return t.is_numeric or (t.item is not None and t.item.is_numeric)


def _given(facts: Any, fid: str) -> bool:
    for part in fid.split("."):
        if not isinstance(facts, dict) or part not in facts:
            return False
        facts = facts[part]
    return True


def _tz(jur: JurisdictionDef) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(jur.time_zone)


def _vesting_date(jur: JurisdictionDef, case: Case) -> tuple[str, dt.date] | None:
    """The vesting fact's date when the jurisdiction names one and the case gives it."""
    if jur.vesting is None:
        return None
    node: Any = case.facts
    for part in jur.vesting[0].split("."):
        node = node.get(part) if isinstance(node, dict) else None
    day = _vesting_value(node)
    return None if day is None else (jur.vesting[0], day)


def _vesting_value(node: Any) -> dt.date | None:
    """A vesting fact's value as a date (None: absent, null, or not a date, which is reported
    with its position when the facts are read)."""
    if node is None or isinstance(node, dt.datetime):
        return None
    try:
        return node if isinstance(node, dt.date) else dt.date.fromisoformat(str(node))
    except ValueError:
        return None


def load_policy(path: Path | str | None = None, *, strict: bool = True) -> Policy:
    """Load, check and compile every jurisdiction under a policy folder.

    Args:
        path: the policy root (holding one folder per jurisdiction) or one jurisdiction's
            folder; default: the policy bundled with ordinance.
        strict: raise ``PolicyError`` when any error is found (``ordinance check`` passes
            False to collect them all).
    """
    root = Path(path) if path is not None else bundled_policy_dir()
    if not root.is_dir():
        raise PolicyError([Diagnostic(
            "policy/empty", f"`{root}` is not a folder",
            help="give the policy folder or a jurisdiction's folder")])  # fmt: skip
    only = None
    if (root / "jurisdiction.yaml").is_file():
        only, root = root.name, root.parent
    out = Collector()
    jurisdictions: dict[str, JurisdictionDef] = {}
    for folder in sorted(p for p in root.iterdir() if (p / "jurisdiction.yaml").is_file()):
        jur = read_jurisdiction(folder, out)
        if jur is not None:
            jurisdictions[jur.id] = jur
    if not jurisdictions and not out.errors:
        out.add(
            "policy/empty",
            f"no jurisdiction under `{root}`",
            help="a jurisdiction is a folder with a `jurisdiction.yaml`",
        )
    policy = Policy(root, jurisdictions, {})
    wanted = [only] if only else sorted(jurisdictions)
    # Stop at the stage boundary: a file that did not load would make every reference to what
    # it declares look like a second error.
    if not out.errors:
        for jid in wanted:
            if jid in jurisdictions:
                _compile_jurisdiction(policy, jurisdictions[jid], out)
    # A parent layer is compiled under each child: report each of its problems once.
    policy.diagnostics = sorted(dict.fromkeys(out.items), key=Diagnostic.sort_key)
    if strict:
        out.raise_if_errors(PolicyError)
    return policy


def _compile_jurisdiction(policy: Policy, jur: JurisdictionDef, out: Collector) -> None:
    for rev in jur.revisions:
        if not rev.encoded or rev.id not in jur.content:
            continue
        chain = _chain(policy, jur, rev, out)
        if chain is None:
            continue
        layered = apply_layers(chain, out)
        compiled = compile_policy(layered, out)
        if compiled is not None:
            policy.compiled[(jur.id, rev.id)] = compiled


def _chain(
    policy: Policy, jur: JurisdictionDef, rev: RevisionInfo, out: Collector
) -> list[tuple[JurisdictionDef, RevisionInfo]] | None:
    """The layers under ``jur`` at ``rev``: each parent at its revision in force on the date
    ``rev`` takes effect."""
    chain = [(jur, rev)]
    seen = {jur.id}
    day = rev.effective_on
    while chain[0][0].extends:
        child = chain[0][0]
        pid = child.extends
        assert pid is not None
        if pid in seen or pid not in policy.jurisdictions:
            out.add(
                "policy/unknown-parent",
                f"`{child.id}` extends `{pid}`, which "
                + ("extends it back" if pid in seen else "is not a jurisdiction here"),
                child.origin.doc.span(("extends",)),
                help="known jurisdictions: " + ", ".join(sorted(policy.jurisdictions)),
            )
            return None
        parent = policy.jurisdictions[pid]
        seen.add(pid)
        revs = sorted(
            (
                r
                for r in parent.revisions
                if r.encoded and r.effective_on and day and r.effective_on <= day
            ),
            key=lambda r: r.effective_on or dt.date.min,
        )
        if not revs:
            out.add(
                "policy/no-parent-revision",
                f"`{pid}` has no encoded revision in force on "
                f"{day}, when `{jur.id}` {rev.id} takes effect",
                child.origin.doc.span(("extends",)),
            )
            return None
        chain.insert(0, (parent, revs[-1]))
    return chain
