"""Every row of issue 16's speed table in one run, each a ratio measured in the same run.

    python bench/bench_speed.py [--n 5000] [--rounds 5] [--peers ../shared/peers-bench]

| row | measured against |
|---|---|
| ``Policy.values(case, decisions)`` per case | ``catalogue.decide``, the hand-written reference |
| ``Policy.values_many`` | a numpy version of the same four decisions over the same case dicts |
| ``Policy.evaluate(case, decisions)`` | the reference |
| ``Policy.evaluate(...).to_json()`` | the reference |
| whole Kent policy, every fact given: explained + JSON | its own ``values`` |
| cold ``ordinance eval examples/kent-co-and-permit.yaml`` | a bare ``python -c pass`` |

The corpus is the peers' (``catalogue.make_cases``: four permit decisions of KCC 14.01.030.D)
and, for the whole-policy row, ``bench_catalogue.make_case``. Each round times every path
once, interleaved, in processor time of this process (``timing.cpu_seconds``: on a shared
machine, waiting for a core does not count), so the machine's load moves them together; a
row reports the median ratio over the rounds and its spread (lowest–highest). Every value
ordinance and the numpy floor give is checked against the reference first: a fast wrong answer
is not a speed.

The numpy floor reads the case dicts into arrays, decides with array operations, and writes one
result dict per case: what ``values_many`` does, with no policy, explanation or checking.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from timing import corpus_args, cpu_seconds, per_case, seconds  # noqa: E402

from engine import load_policy  # noqa: E402

DECISIONS = ("permit.expires_on", "permit.expiration_reason", "permit.expired",
             "permit.extension_eligible")  # fmt: skip
TARGETS = {"values": 2.0, "values_many": 1.2, "evaluate": 5.0, "to_json": 8.0,
           "whole": 3.0, "cold": 10.0}  # fmt: skip


def numpy_decide(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The four permit decisions over arrays: the floor for deciding many case dicts."""
    import numpy as np

    def dates(get: Callable[[dict[str, Any]], str | None]) -> Any:
        return np.array([get(c) or "NaT" for c in cases], dtype="datetime64[D]")

    issued = dates(lambda c: c["facts"]["permit"]["issued_on"])
    commenced = dates(lambda c: c["facts"]["work"]["commenced_on"])
    last = dates(lambda c: c["facts"]["work"]["last_inspection_on"])
    as_of = dates(lambda c: c["as_of"])
    enforcement = np.array([c["facts"]["property"]["code_enforcement"] for c in cases])
    single = np.array([c["facts"]["building"]["single_family"] for c in cases])
    final = np.array([c["facts"]["permit"]["only_final_remaining"] for c in cases])
    granted = np.array([c["facts"]["permit"]["extensions_granted"] for c in cases])

    def add_years(d: Any, years: int) -> Any:  # Feb 29 → Feb 28 of a common year
        month = d.astype("datetime64[M]")
        day = (d - month.astype("datetime64[D]")).astype(int)
        target = month + 12 * years
        length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(int)
        return target.astype("datetime64[D]") + np.minimum(day, length - 1)

    hard, one_year = add_years(issued, 3), add_years(issued, 1)
    not_commenced = np.isnat(commenced) | (commenced > one_year)
    latest = np.where(np.isnat(last), commenced, np.maximum(commenced, last))
    candidate = np.where(not_commenced, one_year, latest + np.timedelta64(180, "D"))
    three = candidate >= hard
    expires = np.where(three, hard, candidate)
    reason = np.where(three, "three_years", np.where(not_commenced, "not_commenced", "suspended"))
    eligible = np.where(enforcement, False,
                        np.where(single & ~three, granted < 2, final & (granted == 0)))  # fmt: skip
    columns = (expires.tolist(), reason.tolist(), (as_of > expires).tolist(), eligible.tolist())
    return [dict(zip(DECISIONS, row, strict=True)) for row in zip(*columns, strict=True)]


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.date) else v


def _check(cases: list[dict[str, Any]], decide: Callable[[dict[str, Any]], Any],
           paths: dict[str, list[dict[str, Any]]]) -> int:  # fmt: skip
    wrong = 0
    for i, c in enumerate(cases):
        want = decide(c)
        for name, got in paths.items():
            if {k: _iso(got[i][k]) for k in DECISIONS} != want:
                wrong += 1
                if wrong <= 3:
                    print(f"mismatch ({name})", c["case"], want, got[i])
    return wrong


def _cold(command: list[str], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = seconds(lambda: subprocess.run(command, cwd=ROOT, check=True, capture_output=True))
        out.append(t)
    return out


def _row(name: str, ratios: list[float], detail: str) -> None:
    med, lo, hi = statistics.median(ratios), min(ratios), max(ratios)
    target = TARGETS[name]
    verdict = "met" if med <= target else "not met"
    print(f"| {detail} | {med:6.2f}× | {lo:.2f}–{hi:.2f} | ≤ {target:g}× | {verdict} |")


def main() -> None:
    args = corpus_args(__doc__, 5_000)
    from bench_catalogue import make_case  # type: ignore[import-not-found]
    from catalogue import decide, make_cases  # type: ignore[import-not-found]

    cases = make_cases(args.n)
    policy = load_policy()
    wanted = set(DECISIONS)
    wrong = _check(cases, decide, {
        "values": [policy.values(c, DECISIONS) for c in cases],
        "values_many": policy.values_many(cases, DECISIONS),
        "numpy": numpy_decide(cases)})  # fmt: skip
    rng = random.Random(14011)
    whole = [make_case(rng, i) for i in range(max(args.n // 5, 200))]

    def values(c: dict[str, Any]) -> Any:
        return policy.values(c, DECISIONS)

    def explained(c: dict[str, Any]) -> Any:
        return policy.evaluate(c, decisions=wanted)

    def as_json(c: dict[str, Any]) -> Any:
        return policy.evaluate(c, decisions=wanted).to_json()

    def whole_json(c: dict[str, Any]) -> Any:
        return policy.evaluate(c).to_json()

    for fn in (decide, values, explained, as_json):  # warm up caches (holiday years, months)
        per_case(fn, cases[:300])()
    per_case(whole_json, whole[:50])()
    ratios: dict[str, list[float]] = {k: [] for k in TARGETS}
    for _ in range(args.rounds):
        ref = cpu_seconds(per_case(decide, cases))
        ratios["values"].append(cpu_seconds(per_case(values, cases)) / ref)
        floor = cpu_seconds(lambda: numpy_decide(cases))
        many = cpu_seconds(lambda: policy.values_many(cases, DECISIONS))
        ratios["values_many"].append(many / floor)
        ratios["evaluate"].append(cpu_seconds(per_case(explained, cases)) / ref)
        ratios["to_json"].append(cpu_seconds(per_case(as_json, cases)) / ref)
        own = cpu_seconds(per_case(policy.values, whole))
        ratios["whole"].append(cpu_seconds(per_case(whole_json, whole)) / own)
    bare = _cold([sys.executable, "-c", "pass"], args.rounds)
    cli = _cold([sys.executable, "-m", "ordinance", "eval", "examples/kent-co-and-permit.yaml"],
                args.rounds)  # fmt: skip
    ratios["cold"] = [c / b for c, b in zip(sorted(cli), sorted(bare), strict=True)]
    print(f"corpus: {len(cases)} peers cases (4 decisions), {len(whole)} whole-policy Kent "
          f"cases; {args.rounds} rounds; mismatches: {wrong}")  # fmt: skip
    print("| path | median | spread | target | |\n|---|---:|---:|---:|---|")
    _row("values", ratios["values"], "`values(case, decisions)` / reference")
    _row("values_many", ratios["values_many"], "`values_many` / numpy over the same dicts")
    _row("evaluate", ratios["evaluate"], "`evaluate(case, decisions)` / reference")
    _row("to_json", ratios["to_json"], "`evaluate(...).to_json()` / reference")
    _row("whole", ratios["whole"], "whole Kent policy: explained + JSON / its own values")
    _row("cold", ratios["cold"], f"cold `ordinance eval` ({statistics.median(cli) * 1000:.0f} ms)"
         f" / `python -c pass` ({statistics.median(bare) * 1000:.0f} ms)")  # fmt: skip
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
