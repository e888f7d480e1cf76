"""Timing shared by the benchmark scripts: wall-clock seconds, the median of several runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any


def seconds(run: Callable[[], object]) -> float:
    """How long one call of ``run`` takes."""
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    """The median of ``repeat`` timed calls of ``run``."""
    return statistics.median(seconds(run) for _ in range(repeat))


def per_case(fn: Callable[[Any], object], cases: Iterable[Any]) -> Callable[[], None]:
    """A run calling ``fn`` on each case in turn (a plain loop: no list of results kept)."""

    def run() -> None:
        for c in cases:
            fn(c)

    return run
