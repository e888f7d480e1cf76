"""Whole-catalogue speed of ordinance on Kent: load + compile, evaluations per second, CLI start.

    python bench/bench_catalogue.py [--n 10000] [--seed 14011]

Generates N Kent cases that give every fact of the decision catalogue (permits under each code,
applications, CO approvals, appeals), then reports, on one core:
- the cost of loading and compiling the bundled policy (fresh process, median of 3);
- whole-catalogue evaluations per second, values only (``Policy.values`` case by case, and
  ``Policy.values_many`` on the whole batch) and with explanations (``Policy.evaluate``),
  excluding file parsing (the cases are dicts in memory);
- the CLI's cold start: ``ordinance eval`` on the bundled example (median of 5).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import median_seconds, per_case  # noqa: E402

from engine import load_policy  # noqa: E402

CODES = ("IBC", "IRC", "IEBC", "UPC", "IMC")
TYPES = ("detached_one_family", "detached_two_family", "townhouse", "accessory", "other")
KINDS = ("new_building", "addition", "alteration", "change_of_occupancy", "relocation")
# The decision catalogue Kent was specified with; the policy decides more (inherited CO issuance,
# IBC 504.4.1, IPMC penalties), reported by the whole-policy line.
ISSUE_2_CATALOGUE = (
    "permit.expires_on", "permit.expiration_reason", "permit.expired", "permit.extension_eligible",
    "application.expires_on", "application.expired", "application.extensions_valid",
    "co.required", "co.missing_approvals", "co.ready_for_inspection", "co.inspection_due_by",
    "co.reinspection_fee_risk", "appeal.filing_deadline", "appeal.timely", "appeal.standing",
    "appeal.superior_court_deadline",
)  # fmt: skip
CONTENTS = [
    "permit_number",
    "address",
    "owner",
    "portion_description",
    "compliance_statement",
    "building_official",
    "code_edition",
    "use_and_occupancy",
    "construction_type",
    "design_occupant_load",
    "sprinkler_statement",
    "special_conditions",
]
FINAL_CHECKS = (
    "smoke_detectors_working",
    "co_detectors_working",
    "gfci_installed",
    "egress_windows_ok",
    "tempered_glazing_ok",
    "punch_list_complete",
    "grading_complete",
    "ventilation_ok",
    "matches_plans",
    "paperwork_ready",
)
DIVISIONS = ("public_works_engineering", "planning_services", "fire_prevention",
             "building_services")  # fmt: skip


def _day(rng: random.Random, start: dt.date, span: int) -> dt.date:
    return start + dt.timedelta(days=rng.randrange(span))


def _maybe(rng: random.Random, p: float, value: dt.date) -> str | None:
    return value.isoformat() if rng.random() < p else None


def make_case(rng: random.Random, i: int) -> dict[str, Any]:
    """One Kent case giving every catalogue fact (some events not yet happened: null)."""
    approved = _day(rng, dt.date(2024, 3, 15), 700)
    issued = approved + dt.timedelta(days=rng.randrange(0, 420))
    commenced = issued + dt.timedelta(days=rng.randrange(0, 420))
    last = commenced + dt.timedelta(days=rng.randrange(0, 600))
    decision = _day(rng, dt.date(2024, 4, 1), 900)
    as_of = max(last, decision, issued) + dt.timedelta(days=rng.randrange(0, 200))
    request = as_of - dt.timedelta(days=rng.randrange(0, 10))
    return {
        "case": f"K{i:05d}", "jurisdiction": "kent", "as_of": as_of.isoformat(),
        "facts": {
            "permit": {"code": rng.choice(CODES), "issued_on": _maybe(rng, 0.9, issued),
                       "special_conditions": rng.random() < 0.2,
                       "only_final_remaining": rng.random() < 0.3,
                       "extensions_granted": rng.choice((0, 0, 1, 2))},
            "building": {"single_family": rng.random() < 0.4, "type": rng.choice(TYPES),
                         "accessory_to": rng.choice(("detached_one_family", "other")),
                         "sprinklered": rng.random() < 0.5,
                         "stories_above_grade": rng.randint(1, 6),
                         "separate_egress": rng.random() < 0.7},
            "property": {"code_enforcement": rng.random() < 0.05},
            "project": {"kind": rng.choice(KINDS)},
            "application": {"approved_for_issuance_on": approved.isoformat(),
                            "review": rng.choice(("standard", "standard", "sepa", "kcc_12_01")),
                            "extensions": rng.choice(([], [], [90], [90, 60], [90, 90, 30]))},
            "approvals": {d: _maybe(rng, 0.8, request - dt.timedelta(days=rng.randrange(-3, 30)))
                          for d in DIVISIONS},
            "co": {"inspection_requested_on": _maybe(rng, 0.6, request), "issued_on": None},
            "appeal": {"decision_on": decision.isoformat(),
                       "filed_at": _maybe(rng, 0.7, decision + dt.timedelta(
                           days=rng.randrange(0, 20))),
                       "appellant": rng.choice(("applicant", "owner", "other")),
                       "prejudiced": rng.random() < 0.7, "redressable": rng.random() < 0.7,
                       "remedies_exhausted": rng.random() < 0.7,
                       "examiner_decision_on": _maybe(rng, 0.5, decision + dt.timedelta(60)),
                       "decision_by": "building_official", "flood_hazard_area": False,
                       "subject": "application_of_codes"},
            # The model-code layer's CO issuance, certificate, TCO and final-inspection facts.
            "inspections": {"complete": rng.random() < 0.7},
            "fees": {"paid": rng.random() < 0.8},
            "workflow": {k: rng.random() < 0.9 for k in (
                "portion_recorded", "occupant_load_recorded", "owner_involvement_verified",
                "professionals_verified", "related_records_finaled")},
            "certificate": {"contents": rng.sample(CONTENTS, rng.randint(6, len(CONTENTS)))},
            "work": {"commenced_on": _maybe(rng, 0.8, commenced),
                     "last_inspection_on": _maybe(rng, 0.7, last),
                     "complete": rng.random() < 0.5},
            "tco": {"portion_safe": rng.random() < 0.8, "issued_on": _maybe(rng, 0.3, request),
                    "valid_days": rng.choice((30, 60, 90))},
            "final": {**{k: rng.random() < 0.9 for k in FINAL_CHECKS},
                      "handrail_height_in": rng.choice((33.5, 34, 36, 38, 38.5)),
                      "guard_height_in": rng.choice((36, 42)),
                      "guard_opening_in": rng.choice((3.5, 4, 4.5))},
        },
    }  # fmt: skip


def _subprocess_ms(code: list[str], repeat: int) -> float:
    run = lambda: subprocess.run(code, check=True, capture_output=True, cwd=ROOT)  # noqa: E731
    return median_seconds(run, repeat) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=14011)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    cases = [make_case(rng, i) for i in range(args.n)]

    load = _subprocess_ms([sys.executable, "-c", "import time; t=time.perf_counter(); "
                           "from engine import load_policy; load_policy(); "
                           "print((time.perf_counter()-t)*1000)"], 3)  # fmt: skip
    t0 = time.perf_counter()
    policy = load_policy()
    in_process = (time.perf_counter() - t0) * 1000
    decisions = sum(1 for r in policy.compiled[("kent", "ord-4463")].rules.values()
                    if not r.internal)  # fmt: skip

    for c in cases[:200]:  # warm up caches (holiday years, month arithmetic)
        policy.evaluate(c)
    values = median_seconds(per_case(policy.values, cases), args.repeat)
    kent_catalogue = median_seconds(
        per_case(lambda c: policy.values(c, ISSUE_2_CATALOGUE), cases), args.repeat)  # fmt: skip
    bulk = median_seconds(lambda: policy.values_many(cases), args.repeat)
    kent_bulk = median_seconds(lambda: policy.values_many(cases, ISSUE_2_CATALOGUE), args.repeat)
    explained = median_seconds(per_case(policy.evaluate, cases), args.repeat)
    as_json = median_seconds(per_case(lambda c: policy.evaluate(c).to_json(), cases), 1)
    cli = _subprocess_ms(["ordinance", "eval", "examples/kent-co-and-permit.yaml"], 5)

    n = len(cases)
    print(f"cases: {n} generated Kent cases giving every fact; the whole policy decides "
          f"{decisions} decisions")  # fmt: skip
    print(f"load + compile policy: {load:7.1f} ms in a fresh process (import included); "
          f"{in_process:.1f} ms in process")  # fmt: skip
    print(f"values only:       {values / n * 1e6:7.1f} µs/case {n / values:>9,.0f} cases/s")
    k = kent_catalogue
    print(f"  the {len(ISSUE_2_CATALOGUE)} decisions of Kent's catalogue (issue 2) only: "
          f"{k / n * 1e6:.1f} µs/case {n / k:,.0f} cases/s")  # fmt: skip
    print(f"values in bulk:    {bulk / n * 1e6:7.1f} µs/case {n / bulk:>9,.0f} cases/s"
          f"  (values_many on the {n} cases)")  # fmt: skip
    k = kent_bulk
    print(f"  the {len(ISSUE_2_CATALOGUE)} decisions of Kent's catalogue (issue 2) only: "
          f"{k / n * 1e6:.1f} µs/case {n / k:,.0f} cases/s")  # fmt: skip
    print(f"with explanations: {explained / n * 1e6:7.1f} µs/case {n / explained:>9,.0f} cases/s")
    print(f"explained + JSON:  {as_json / n * 1e6:7.1f} µs/case {n / as_json:>9,.0f} cases/s")
    print(f"CLI cold start (ordinance eval on the example): {cli:.0f} ms")


if __name__ == "__main__":
    main()
