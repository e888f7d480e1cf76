"""ordinance vs the hand-written reference on the shared permit-expiration corpus.

    python bench/bench_peers.py [--n 10000] [--peers ../shared/peers-bench]

Uses ``catalogue.make_cases`` (the peers' corpus in ordinance's case shape) and
``catalogue.decide`` (the hand-written reference with the catalogue's exact semantics, the speed
floor), checks every value, and times both in the same run, interleaved, on one core. Reported:
ordinance values only (the four decisions the reference computes) in bulk (``values_many`` on
the whole corpus: how a program deciding many cases calls it) and case by case (``values``),
ordinance with explanations, and each one's ratio to the reference.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import median_seconds, per_case, seconds  # noqa: E402

from engine import load_policy  # noqa: E402

DECISIONS = ("permit.expires_on", "permit.expiration_reason", "permit.expired",
             "permit.extension_eligible")  # fmt: skip


def _json(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--peers", type=Path, default=ROOT.parent / "shared" / "peers-bench")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    sys.path.insert(0, str(args.peers))
    from catalogue import decide, make_cases  # type: ignore[import-not-found]

    cases = make_cases(args.n)
    policy = load_policy()
    only = set(DECISIONS)

    def values(c: dict[str, Any]) -> Any:
        return policy.values(c, DECISIONS)

    def bulk(cs: list[dict[str, Any]]) -> Any:
        return policy.values_many(cs, DECISIONS)

    mismatches = 0
    for c, many in zip(cases, bulk(cases), strict=True):
        want = decide(c)
        for got in (values(c), many):
            if {k: _json(got[k]) for k in DECISIONS} != want:
                mismatches += 1
                if mismatches <= 3:
                    print("mismatch", c["case"], want, {k: _json(got[k]) for k in DECISIONS})

    def explained(c: dict[str, Any]) -> Any:
        return policy.evaluate(c, decisions=only)

    for fn in (decide, values, explained):  # warm up
        for c in cases[:300]:
            fn(c)
    ref, ours, ref2, full, many = [], [], [], [], []
    for _ in range(args.repeat):
        ref.append(seconds(per_case(decide, cases)))
        many.append(seconds(lambda: bulk(cases)))
        ours.append(seconds(per_case(values, cases)))
        ref2.append(seconds(per_case(decide, cases)))
        full.append(seconds(per_case(explained, cases)))
    prepare = median_seconds(per_case(policy.prepare, cases), args.repeat)
    r, o, e = statistics.median(ref + ref2), statistics.median(ours), statistics.median(full)
    m = statistics.median(many)
    n = len(cases)
    print(f"corpus: {n} cases from peers-bench/catalogue.py; mismatches: {mismatches}")
    print(f"reference (hand-written):   {r / n * 1e6:7.2f} µs/case  {n / r:>10,.0f} cases/s")
    print(
        f"ordinance values, in bulk:  {m / n * 1e6:7.2f} µs/case  {n / m:>10,.0f} cases/s"
        f"  {m / r:5.2f}× reference"
    )
    print(
        f"ordinance values, one call per case:"
        f" {o / n * 1e6:6.2f} µs/case  {n / o:>10,.0f} cases/s  {o / r:5.2f}× reference"
    )
    print(
        f"ordinance with explanation: {e / n * 1e6:7.2f} µs/case  {n / e:>10,.0f} cases/s"
        f"  {e / r:5.2f}× reference"
    )
    print(f"  of which reading and checking the case and choosing its revision: "
          f"{prepare / n * 1e6:.2f} µs/case ({prepare / r:.2f}× the whole reference)")  # fmt: skip
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
