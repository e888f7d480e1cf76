"""``ordinance test``: case files that carry an ``expect:`` block, checked against the policy.

An expectation is either a plain value (the decision must be determined with that value) or a
mapping with any of ``value``, ``status``, ``needs`` and ``citations``. The key ``steps`` (no
decision id is one word) holds the expected procedure steps instead: ``procedure/step`` → a
status, or a mapping with any of ``status``, ``deadline`` and ``needs``, so a golden case can
pin what a procedure says is next, not only what the rules decide.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from dsl.errors import did_you_mean
from engine.api import Policy
from engine.compile.load import read_case
from engine.diagnostics import (
    CaseError,
    Collector,
    Diagnostic,
    OrdinanceError,
    Span,
    in_file,
    render,
)
from engine.printable import printable
from engine.result import Decision, Result
from engine.run.facts import Case, shown
from engine.values import to_json

Observer = Callable[[Case, Result], None]
_KEYS = ("value", "status", "needs", "citations")
STEPS = "steps"  # the key of the expected procedure steps (a decision id has a dot)
STEP_STATUSES = ("done", "ready", "waiting", "undetermined", "not_applicable")
_STEP_KEYS = ("status", "deadline", "needs")
_STATUSES = ("determined", "undetermined", "not_applicable")
_PLAIN = (str, int, float, bool, type(None))


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
    """What ``ordinance test`` found for one case file; ``suite`` is the jurisdiction and
    revision that decided it (``town/r1``), a JUnit report's class name."""

    file: str
    case: str | None
    mismatches: list[Mismatch] = field(default_factory=list)
    error: str | None = None
    suite: str = ""

    @property
    def passed(self) -> bool:
        return not self.mismatches and self.error is None


def _show(v: Any) -> str:
    """A value as the case file would write it (JSON spelling: true, null, [a, b])."""
    if isinstance(v, list):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return f"`{json.dumps(v) if not isinstance(v, str) else v}`"


def expect_problems(case: Case) -> list[Diagnostic]:
    """Every way the ``expect:`` block of ``case`` is not one ``ordinance test`` can compare,
    located in the file: an expectation is a plain value (text, number, true/false, null, or a
    list of those) or a mapping of ``value``, ``status``, ``needs`` and ``citations``."""
    out = Collector()
    for rid, want in (case.expect or {}).items():
        here = ("expect", rid)
        if rid == STEPS:
            _check_steps(want, case, out)
            continue
        if not isinstance(want, dict):
            _check_plain(want, rid, case.span(*here), out)
            continue
        if not want:
            out.add(
                "case/bad-expectation",
                f"the expectation of `{rid}` is empty",
                case.span(*here),
                help="give `value:`, `status:`, `needs:` or `citations:`",
            )
        for key, given in want.items():
            _check_field(str(key), given, case, (*here, key), out)
    return out.items


def _check_plain(want: Any, rid: str, span: Span | None, out: Collector) -> None:
    items = want if isinstance(want, list) else [want]
    if not all(isinstance(x, _PLAIN) for x in items):
        out.add(
            "case/bad-expectation",
            f"the expected value of `{rid}` must be text, a "
            f"number, true/false, null or a list of those, found `{shown(want)}`",
            span,
            help="a decision's value is never a mapping or a nested list",
        )


def _check_field(key: str, given: Any, case: Case, here: tuple[Any, ...],
                 out: Collector) -> None:  # fmt: skip
    rid = here[1]
    if key not in _KEYS:
        guess = did_you_mean(key, _KEYS)
        out.add("case/bad-expectation", f"unknown key `{key}` in the expectation of `{rid}`",
                case.doc.span(here, key=True) if case.doc else None,
                help=f"did you mean `{guess}`?" if guess else
                "an expectation has " + ", ".join(f"`{k}`" for k in _KEYS))  # fmt: skip
    elif key == "value":
        _check_plain(given, rid, case.span(*here), out)
    elif key == "status" and given not in _STATUSES:
        out.add("case/bad-expectation", f"`status` must be one of {', '.join(_STATUSES)}, "
                f"found `{shown(given)}`", case.span(*here))  # fmt: skip
    elif key in ("needs", "citations") and not (
            isinstance(given, list) and all(isinstance(x, str) for x in given)):  # fmt: skip
        out.add("case/bad-expectation", f"`{key}` must be a list of text, found "
                f"`{shown(given)}`", case.span(*here), help=f"write `{key}: [a, b]`")  # fmt: skip


def _check_steps(want: Any, case: Case, out: Collector) -> None:
    """``steps:`` maps ``procedure/step`` to a status or to ``{status, deadline, needs}``."""
    span = case.span("expect", STEPS)
    if not isinstance(want, dict) or not want:
        out.add("case/bad-expectation", "`steps` maps each `procedure/step` to its expected "
                f"status, found `{shown(want)}`", span,
                help="write `steps: {certificate_of_occupancy/issue: ready}`")  # fmt: skip
        return
    for key, spec in want.items():
        here = case.span("expect", STEPS, key)
        if not isinstance(key, str) or key.count("/") != 1:
            out.add("case/bad-expectation", f"a step is named `procedure/step`, found "
                    f"`{key if isinstance(key, str) else shown(key)}`", here)  # fmt: skip
            continue
        fields = spec if isinstance(spec, dict) else {"status": spec}
        for name, given in fields.items():
            if name not in _STEP_KEYS:
                guess = did_you_mean(str(name), _STEP_KEYS)
                keys = ", ".join(f"`{k}`" for k in _STEP_KEYS)
                out.add("case/bad-expectation", f"unknown key `{name}` in the expectation of "
                        f"step `{key}`", here, help=f"did you mean `{guess}`?" if guess
                        else f"a step's expectation has {keys}")  # fmt: skip
            elif name == "status" and given not in STEP_STATUSES:
                out.add("case/bad-expectation", f"a step's status is one of "
                        f"{', '.join(STEP_STATUSES)}, found `{shown(given)}`", here)  # fmt: skip
            elif name == "needs" and not (isinstance(given, list)
                                          and all(isinstance(x, str) for x in given)):  # fmt: skip
                out.add("case/bad-expectation", f"`needs` must be a list of text, found "
                        f"`{shown(given)}`", here, help="write `needs: [a, b]`")  # fmt: skip


def _compare_steps(want: dict[str, Any], result: Result) -> list[Mismatch]:
    out = []
    steps = {f"{pid}/{s.id}": s for pid, p in result.procedures.items() for s in p.steps}
    for key, spec in want.items():
        got = steps.get(key)
        if got is None:
            guess = did_you_mean(key, steps)
            hint = f" (did you mean {guess}?)" if guess else ""
            out.append(Mismatch(key, "step", "a step of this policy", f"no such step{hint}"))
            continue
        fields = spec if isinstance(spec, dict) else {"status": spec}
        actual = {"status": got.status, "deadline": to_json(got.deadline), "needs": got.needs}
        for name in _STEP_KEYS:
            if name not in fields:
                continue
            wanted = sorted(fields[name] or []) if name == "needs" else fields[name]
            if name == "deadline" and wanted is not None:
                wanted = str(wanted)
            if wanted != actual[name]:
                out.append(Mismatch(key, name, wanted, actual[name]))
    return out


def check_expectations(policy: Policy, case: Case, result: Result) -> list[Mismatch]:
    """Every difference between ``case.expect`` and ``result``."""
    out: list[Mismatch] = []
    for rid, want in (case.expect or {}).items():
        if rid == STEPS:
            out.extend(_compare_steps(want, result))
            continue
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
        spec = want if isinstance(want, dict) else {"value": want, "status": "determined"}
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


def run_case(policy: Policy, path: Path, pattern: str | None = None,
             observe: Observer | None = None) -> CaseOutcome | None:  # fmt: skip
    """The outcome of the case file at ``path``, or None when it is not a test: it has no
    ``expect:`` block, or ``pattern`` (``-k``) is in neither its path nor its case id.
    ``observe`` is given each case that was decided, with its result (``--coverage``)."""
    outcome = CaseOutcome(str(path), None)
    try:
        case = read_case(path)
        outcome.case = case.id
        outcome.suite = "/".join(filter(None, (case.jurisdiction, case.revision)))
        if not case.expect or not _selected(pattern, str(path), case.id):
            return None
        problems = expect_problems(case) + misfiled(policy, case, path)
        if problems:
            raise CaseError(problems)
        result = evaluate_pinned(policy, case, pinned_revision(policy, case, path), explain=False)
        outcome.suite = f"{result.jurisdiction}/{result.revision}"
        outcome.mismatches = check_expectations(policy, case, result)
        if observe is not None:
            observe(case, result)
    except OrdinanceError as exc:
        if not _selected(pattern, str(path), outcome.case):
            return None
        outcome.error = render(in_file(exc.diagnostics, str(path)), "short")
    return outcome


def pinned_revision(policy: Policy, case: Case, path: Path) -> str | None:
    """The revision a golden case is about: its own ``revision:``, else the folder it is in
    when that folder is ``<jurisdiction>/<revision>/`` of an encoded, compiled revision."""
    if case.revision:
        return case.revision
    folder = path.parent
    if folder.parent.name == case.jurisdiction and (case.jurisdiction, folder.name) in (
        policy.compiled
    ):
        return folder.name
    return None


def misfiled(policy: Policy, case: Case, path: Path) -> list[Diagnostic]:
    """A golden case in ``<jurisdiction>/<folder>/`` whose folder names no encoded revision of
    its jurisdiction (a typo, a renamed revision): it cannot be kept with its revision, and
    deciding it by date instead would hide that."""
    folder = path.parent
    jur = policy.jurisdictions.get(case.jurisdiction or "")
    if case.revision or jur is None or folder.parent.name != jur.id:
        return []
    if (jur.id, folder.name) in policy.compiled:
        return []
    known = [r.id for r in jur.revisions if r.encoded]
    return [Diagnostic(
        "case/revision-folder",
        f"the case is filed under `{jur.id}/{folder.name}/`, which names no encoded revision "
        f"of `{jur.id}`", Span(str(path), 1, 1, 1, 1),
        help=f"move it to the folder of its revision ({', '.join(known)}), or give "
        "`revision:` in the case")]  # fmt: skip


def evaluate_pinned(policy: Policy, case: Case, revision: str | None, *,
                    explain: bool = True) -> Result:  # fmt: skip
    """``case`` decided under ``revision``: by its date when that already chooses it (the
    result then says so, `revision_basis` by `as_of` or vesting), else forced there (`by:
    revision`), as when a later revision took effect before the case's date."""
    result = policy.evaluate(case, explain=explain)
    if revision is not None and result.revision != revision:
        result = policy.evaluate(case, explain=explain, revision=revision)
    return result


def _selected(pattern: str | None, path: str, case_id: str | None) -> bool:
    """``-k``: a plain substring of the path or the case id, as simple as pytest's word."""
    return pattern is None or pattern in path or pattern in str(case_id or "")


def write_junit(outcomes: list[CaseOutcome], path: Path) -> None:
    """A JUnit XML report (the shape CI systems read): one ``<testcase>`` per case file, class
    name the jurisdiction and revision, name the case id; a mismatch is a ``<failure>``, a
    case that could not run an ``<error>``. Built as a tree, and every text passes through
    ``printable`` (XML 1.0 has no control characters), so no case text breaks the report."""
    failures = sum(bool(o.mismatches) for o in outcomes)
    errors = sum(o.error is not None for o in outcomes)
    root = ET.Element("testsuites")
    suite = ET.SubElement(root, "testsuite", name="ordinance", tests=str(len(outcomes)),
                          failures=str(failures), errors=str(errors))  # fmt: skip
    for o in outcomes:
        name = str(o.case) if o.case is not None else o.file
        case = ET.SubElement(suite, "testcase", classname=printable(o.suite or "ordinance"),
                             name=printable(name), file=printable(o.file))  # fmt: skip
        if o.mismatches:
            text = printable("\n".join(str(m) for m in o.mismatches))
            ET.SubElement(case, "failure", message=text.split("\n", 1)[0]).text = text
        elif o.error is not None:
            text = printable(o.error)
            ET.SubElement(case, "error", message=text.split("\n", 1)[0]).text = text
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
