"""What an explained result costs, stage by stage, against the values of the same cases.

    python bench/bench_explain.py [--n 2000] [--rounds 5] [--peers ../shared/peers-bench]

For the peers' permit corpus (four decisions) and for whole-policy Kent cases
(``bench_catalogue.make_case``): ``values``; ``evaluate`` without explanations; ``evaluate``
(the trees are built when read); ``evaluate`` with every tree read; the result's JSON in
version 2 (each step once) and in version 1 (the nested trees); and the size of each JSON.
Each round times every path once, interleaved, so the machine's load moves them together; a row
is the median over the rounds of its ratio to ``values`` in the same round, with the spread.
"""

from __future__ import annotations

import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from timing import corpus_args, per_case, seconds  # noqa: E402

from engine import Policy, load_policy  # noqa: E402

DECISIONS = ("permit.expires_on", "permit.expiration_reason", "permit.expired",
             "permit.extension_eligible")  # fmt: skip


def paths(policy: Policy, only: tuple[str, ...] | None) -> dict[str, Callable[[Any], Any]]:
    wanted = None if only is None else set(only)

    def trees(c: Any) -> None:
        for d in policy.evaluate(c, decisions=wanted).decisions.values():
            d.because  # noqa: B018 (reading it builds it)

    return {
        "values": lambda c: policy.values(c, only),
        "evaluate(explain=False)": lambda c: policy.evaluate(c, decisions=wanted, explain=False),
        "evaluate": lambda c: policy.evaluate(c, decisions=wanted),
        "evaluate, every tree read": trees,
        "evaluate + to_json() (v2)": lambda c: policy.evaluate(c, decisions=wanted).to_json(),
        "evaluate + to_json(version=1)": lambda c: policy.evaluate(c, decisions=wanted).to_json(1),
    }


def report(title: str, policy: Policy, cases: list[Any], only: tuple[str, ...] | None,
           rounds: int) -> None:  # fmt: skip
    runs = paths(policy, only)
    for fn in runs.values():
        per_case(fn, cases[:100])()
    ratios: dict[str, list[float]] = {k: [] for k in runs}
    micros: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        base = None
        for name, fn in runs.items():
            t = seconds(per_case(fn, cases))
            base = t if base is None else base
            ratios[name].append(t / base)
            micros[name].append(t / len(cases) * 1e6)
    sample = policy.evaluate(cases[0], decisions=None if only is None else set(only))
    v2, v1 = len(sample.to_json().encode()), len(sample.to_json(1).encode())
    print(f"\n{title}: {len(cases)} cases, {rounds} rounds; JSON of the first case: "
          f"v2 {v2:,} bytes, v1 {v1:,} bytes ({v2 / v1:.0%})")  # fmt: skip
    print("| path | µs/case | × values | spread |\n|---|---:|---:|---:|")
    for name in runs:
        r = ratios[name]
        print(f"| {name} | {statistics.median(micros[name]):.1f} | {statistics.median(r):.2f} "
              f"| {min(r):.2f}–{max(r):.2f} |")  # fmt: skip


def main() -> None:
    args = corpus_args(__doc__, 2000)
    from bench_catalogue import make_case  # type: ignore[import-not-found]
    from catalogue import make_cases  # type: ignore[import-not-found]

    policy = load_policy()
    report("peers' permit corpus, 4 decisions", policy, make_cases(args.n), DECISIONS, args.rounds)
    rng = random.Random(14011)
    whole = [make_case(rng, i) for i in range(max(args.n // 5, 200))]
    report("whole Kent policy", policy, whole, None, args.rounds)


if __name__ == "__main__":
    main()
