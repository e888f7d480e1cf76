"""Replay: the events of a decision log decided again under a policy, and every decision that
comes out otherwise.

In: events (``engine.service.log.read_events``) and a ``Policy``. Out: a ``ReplayReport``.
Against the policy that made the log it finds nothing; against a new revision it is the
population-level ``ordinance diff``: what the change does to the cases the city really decided.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from dsl.typesys import Type
from engine.api import Policy
from engine.diagnostics import Diagnostic, OrdinanceError
from engine.result import nest_result
from engine.run import cases as one
from engine.service.convert import values_json
from engine.service.state import rule_types

Types = dict[str, dict[str, Type]]
REPLAYED = (200, 422)  # a decision, or a refusal of the case; other statuses decided nothing
# What the service adds to a decide result after logging it: not part of the decision.
SERVICE_KEYS = frozenset({"decision_id", "policy_digest", "engine_version"})
SHOWN = 20  # differences of one decision the text lists; the JSON lists every one


@dataclass(frozen=True)
class Difference:
    """One decision of one event that replay decides otherwise.

    ``decision`` is a decision id, ``procedure <id>`` or ``(<key>)`` for the rest of a result
    (``(revision)``), or ``(refusal)`` when the case was refused and now is not, or the reverse.
    ``what`` says what changed: value (or status), citations, explanation, refusal, result.
    """

    event: str
    decision: str
    what: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Skip:
    event: str
    reason: str


@dataclass
class ReplayReport:
    """What a replay found; ``differences`` in the order of the events."""

    events: int = 0
    replayed: int = 0
    differences: list[Difference] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    other_digest: list[str] = field(default_factory=list)  # events made under another policy
    problems: list[Diagnostic] = field(default_factory=list)  # lines of the log not read

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "replayed": self.replayed,
            "differences": [asdict(d) for d in self.differences],
            "skipped": [asdict(s) for s in self.skipped],
            "other_digest": self.other_digest,
            "problems": [d.to_json() for d in self.problems],
        }

    def summary(self) -> str:
        masked = sum(1 for s in self.skipped if s.reason.startswith("the input masks"))
        return (
            f"{self.events} events, {self.replayed} replayed, {len(self.differences)} "
            f"differences, {len(self.skipped)} skipped ({masked} masked)"
        )


def replay(
    events: Iterable[Mapping[str, Any]], policy: Policy, *, digest: str | None = None
) -> ReplayReport:
    """Decide every event's input again under ``policy`` and the event's request.

    An event whose input masks a fact is skipped (its value is gone, so the decision cannot be
    made again exactly), as is one whose status decided nothing (400, 404, 413). With
    ``digest`` (``engine.service.state.policy_files_digest``), the events made under another
    policy are listed in ``other_digest``: expected differences, not a fault.
    """
    report = ReplayReport()
    types = rule_types(policy)
    for event in events:
        report.events += 1
        eid = str(event.get("id"))
        reason = _skip_reason(event)
        if reason:
            report.skipped.append(Skip(eid, reason))
            continue
        if digest is not None and event.get("policy_digest") != digest:
            report.other_digest.append(eid)
        report.replayed += 1
        report.differences += compare_event(event, policy, types)
    return report


def _skip_reason(event: Mapping[str, Any]) -> str | None:
    if event.get("status") not in REPLAYED:
        return f"status {event.get('status')}: nothing was decided"
    hidden = masked_facts(event.get("input"))
    if hidden:
        return "the input masks " + ", ".join(f"`{f}`" for f in hidden)
    if event.get("kind") not in ("decide", "batch"):
        return f"an event of unknown kind `{event.get('kind')}`"
    return None


def masked_facts(case: Any) -> list[str]:
    """The ids of the facts ``engine.service.masking.masked`` replaced in a logged input."""
    found: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping):
                if set(value) == {"masked"} and str(value["masked"]).startswith("sha256:"):
                    found.append(prefix + str(key))
                else:
                    walk(value, f"{prefix}{key}.")

    facts = case.get("facts") if isinstance(case, Mapping) else None
    if isinstance(facts, Mapping):
        walk(facts, "")
    return sorted(found)


def compare_event(
    event: Mapping[str, Any], policy: Policy, types: Types | None = None
) -> list[Difference]:
    """The differences between what ``event`` recorded and what ``policy`` decides now."""
    eid = str(event.get("id"))
    status, new = decide_again(event, policy, types)
    if status != event.get("status") or status == 422:
        old_refusal = _refusal(event.get("status"), event.get("diagnostics"))
        new_refusal = _refusal(status, new)
        if old_refusal == new_refusal:
            return []
        return [Difference(eid, "(refusal)", "refusal", old_refusal, new_refusal)]
    old = event.get("result") or {}
    if event.get("kind") == "batch":
        return _compare_values(eid, old.get("values") or {}, new["values"])
    # Compared in the nested shape of version 1 whatever version the log holds, so that a
    # changed step is told under each decision whose tree holds it.
    old = nest_result({k: v for k, v in old.items() if k not in SERVICE_KEYS})
    return _compare_results(eid, old, new)


def decide_again(
    event: Mapping[str, Any], policy: Policy, types: Types | None = None
) -> tuple[int, Any]:
    """(200, the result as an event records one, in version 1's nested shape, which
    ``engine.result.nest_result`` gives of any version) or (422, the refusal's diagnostics).

    ``types`` is ``rule_types(policy)``, which a batch's values are converted with (as the
    service converts them); give it when deciding many events."""
    request = event.get("request") or {}
    case: Any = event.get("input")  # checked by prepare: not a mapping is case/not-a-mapping
    as_of = _date(request.get("as_of"))
    decisions = request.get("decisions")
    try:
        if event.get("kind") == "batch":
            values = one.values(policy.prepare(case, as_of), decisions)
            known = (rule_types(policy) if types is None else types).get(case["jurisdiction"])
            return 200, {"values": values_json(values, known or {})}
        result = policy.evaluate(
            case, as_of=as_of, decisions=decisions, explain=request.get("explain", True)
        )
    except OrdinanceError as e:
        return 422, [d.to_json() for d in e.diagnostics]
    # Through JSON, as the log holds it: tuples become lists, and equal means equal text.
    return 200, json.loads(json.dumps(result.to_dict(version=1), ensure_ascii=False))


def _date(text: Any) -> dt.date | None:
    return dt.date.fromisoformat(text) if isinstance(text, str) else None


def _refusal(status: Any, diagnostics: Any) -> dict[str, Any]:
    """A status and the codes of its refusal: the messages' positions are into the request
    body, which replay does not have, so codes are what is compared."""
    codes = sorted(str(d.get("code")) for d in diagnostics or () if isinstance(d, Mapping))
    return {"status": status, "codes": codes} if status == 422 else {"status": status}


def _compare_values(eid: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Difference]:
    return [
        Difference(eid, rid, "value", old.get(rid), new.get(rid))
        for rid in sorted(old.keys() | new.keys())
        if old.get(rid) != new.get(rid)
    ]


def _compare_results(eid: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Difference]:
    found = []
    old_d, new_d = old.get("decisions") or {}, new.get("decisions") or {}
    for rid in sorted(old_d.keys() | new_d.keys()):
        a, b = old_d.get(rid), new_d.get(rid)
        if a != b:
            found.append(Difference(eid, rid, _what(a, b), _brief(a), _brief(b)))
    old_p, new_p = old.get("procedures") or {}, new.get("procedures") or {}
    for pid in sorted(old_p.keys() | new_p.keys()):
        if old_p.get(pid) != new_p.get(pid):
            found.append(
                Difference(
                    eid, f"procedure {pid}", "steps", _steps(old_p.get(pid)), _steps(new_p.get(pid))
                )
            )
    for key in sorted((old.keys() | new.keys()) - {"decisions", "procedures"}):
        if old.get(key) != new.get(key):
            found.append(Difference(eid, f"({key})", "result", old.get(key), new.get(key)))
    return found


def _what(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> str:
    if a is None or b is None:
        return "value"
    for key in ("value", "status", "needs"):
        if a.get(key) != b.get(key):
            return "value"
    return "citations" if a.get("citations") != b.get("citations") else "explanation"


def _brief(d: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What a difference shows of a decision: its value and status, not its whole tree."""
    return None if d is None else {"value": d.get("value"), "status": d.get("status")}


def _steps(p: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if p is None else {s.get("id"): s.get("status") for s in p.get("steps", [])}


def render_text(report: ReplayReport) -> str:
    """The summary line, then the differences grouped by decision, then what was skipped."""
    lines = [report.summary()]
    if report.other_digest:
        lines.append(
            f"{len(report.other_digest)} events were decided under another policy "
            "(another digest): their differences are the change's"
        )
    by_decision: dict[str, list[Difference]] = {}
    for d in report.differences:
        by_decision.setdefault(d.decision, []).append(d)
    for decision, diffs in sorted(by_decision.items()):
        # The values that changed first: an explanation's wording changes with its numbers.
        diffs.sort(key=lambda d: d.what not in ("value", "refusal", "result"))
        kinds: dict[str, int] = {}
        for d in diffs:
            kinds[d.what] = kinds.get(d.what, 0) + 1
        counted = ", ".join(f"{n} in {w}" for w, n in kinds.items())
        lines += ["", f"{decision}: {len(diffs)} differ ({counted})"]
        lines += [
            f"  {d.event}: {_shown(d.old)} → {_shown(d.new)}"
            + ("" if d.what in ("value", "refusal", "result") else f" ({d.what})")
            for d in diffs[:SHOWN]
        ]
        if len(diffs) > SHOWN:
            lines.append(f"  … and {len(diffs) - SHOWN} more (--format json lists them all)")
    reasons: dict[str, int] = {}
    for s in report.skipped:
        reasons[s.reason] = reasons.get(s.reason, 0) + 1
    if reasons:
        lines += ["", "skipped:"] + [f"  {n} × {r}" for r, n in sorted(reasons.items())]
    return "\n".join(lines)


def _shown(value: Any) -> str:
    if isinstance(value, Mapping) and set(value) <= {"value", "status"} and value:
        v = json.dumps(value.get("value"), ensure_ascii=False)
        return v if value.get("status") == "determined" else f"{v} ({value.get('status')})"
    return "absent" if value is None else json.dumps(value, ensure_ascii=False)
