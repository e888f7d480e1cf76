"""Timing shared by the benchmark scripts: wall-clock or processor seconds, the median of
several runs."""

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


def cpu_seconds(run: Callable[[], object]) -> float:
    """The processor time one call of ``run`` takes in this process: on a machine shared with
    other work, time the process spends waiting for a core does not count (wall-clock time
    moved by 30% from run to run there; both sides of a ratio are timed alike)."""
    t0 = time.process_time()
    run()
    return time.process_time() - t0


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    """The median of ``repeat`` timed calls of ``run``."""
    return statistics.median(seconds(run) for _ in range(repeat))


def per_case(fn: Callable[[Any], object], cases: Iterable[Any]) -> Callable[[], None]:
    """A run calling ``fn`` on each case in turn (a plain loop: no list of results kept)."""

    def run() -> None:
        for c in cases:
            fn(c)

    return run
