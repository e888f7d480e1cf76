"""Timing shared by the benchmark scripts: wall-clock or processor seconds, the median of
several runs."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
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


def corpus_args(doc: str, n: int) -> argparse.Namespace:
    """The options of a script timing the peers' permit corpus (``--n`` cases, ``--rounds``,
    ``--peers`` the folder of ``catalogue.py``), that folder put on the import path."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--n", type=int, default=n)
    ap.add_argument("--rounds", type=int, default=5)
    root = Path(__file__).resolve().parent.parent
    ap.add_argument("--peers", type=Path, default=root.parent / "shared" / "peers-bench")
    args = ap.parse_args()
    sys.path.insert(0, str(args.peers))
    return args
