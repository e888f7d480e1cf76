"""Cold start (issue 16): a fresh ``ordinance eval examples/kent-co-and-permit.yaml`` against a
bare ``python -c pass``, with the compiled-policy cache warm and with it turned off, and
``load_policy()`` loaded from the cache against a fresh compile.

    python bench/bench_cold.py [--rounds 15]

Every run is a new interpreter, as a person at a terminal starts one. The cache lives in a
temporary folder (the developer's own is not touched) and is filled by a first run; bytecode is
written as an installed package has it (``PYTHONDONTWRITEBYTECODE`` is dropped), so what is
timed is the import and the work, not compiling Python source. The machine is shared: the
median is the figure, the spread (lowest to highest) says how much to trust it.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASE = "examples/kent-co-and-permit.yaml"
# The `ordinance` script of this interpreter's environment, as a person types it (with
# PYTHONPATH it runs this checkout's engine); `python -m ordinance` where none is installed.
_SCRIPT = Path(sys.executable).with_name("ordinance")
EVAL = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "ordinance"]
EVAL += ["eval", CASE]
# One fresh process timing load_policy() inside itself (its import is not counted).
LOAD = (
    "import time, engine.api as a; t = time.perf_counter(); a.load_policy(cache={cache}); "
    "print((time.perf_counter() - t) * 1000)"
)


def _env(cache_dir: str, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.pop("ORDINANCE_NO_CACHE", None)
    return {**env, "PYTHONPATH": str(ROOT), "ORDINANCE_CACHE_DIR": cache_dir, **more}


def _wall(args: list[str], env: dict[str, str], rounds: int) -> tuple[list[float], list[float]]:
    """Milliseconds per run of ``args`` in a new process: wall clock, and CPU (user + system)
    time, which the other programs of a shared machine disturb far less."""
    wall, cpu = [], []
    for _ in range(rounds):
        before = _children_cpu()
        start = time.perf_counter()
        subprocess.run(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=True)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((_children_cpu() - before) * 1000)
    return wall, cpu


def _children_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def _inside(cache: bool, env: dict[str, str], rounds: int) -> list[float]:
    """Milliseconds of ``load_policy()`` as the process itself measures it."""
    code = LOAD.format(cache=cache)
    return [float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                                 capture_output=True, text=True).stdout)
            for _ in range(rounds)]  # fmt: skip


def _line(label: str, ms: list[float], base: float | None = None) -> str:
    med = statistics.median(ms)
    ratio = f"  {med / base:5.1f}x python -c pass" if base else ""
    return f"{label:<36} {med:8.1f} ms  ({min(ms):.1f}-{max(ms):.1f}){ratio}"


def _lines(label: str, runs: tuple[list[float], list[float]],
           base: tuple[list[float], list[float]]) -> str:  # fmt: skip
    """A command's wall clock and CPU time, each with its ratio to ``base``'s."""
    return "\n".join(_line(f"{label} ({kind})", ms, statistics.median(b))
                     for kind, ms, b in zip(("wall", "cpu"), runs, base, strict=True))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = str(Path(tmp) / "cache")
        warm, off = _env(cache_dir), _env(cache_dir, ORDINANCE_NO_CACHE="1")
        _wall(EVAL, warm, 2)  # fills the cache and writes bytecode
        _inside(True, warm, 1)  # load_policy() of the bundled folder is an entry of its own
        bare = _wall([sys.executable, "-c", "pass"], warm, rounds)
        print(f"{rounds} rounds each; median (lowest-highest)")
        print(_line("python -c pass (wall)", bare[0]))
        print(_line("python -c pass (cpu)", bare[1]))
        print(_lines("eval, cache warm", _wall(EVAL, warm, rounds), bare))
        print(_lines("eval, cache off", _wall(EVAL, off, max(3, rounds // 3)), bare))
        print(_line("load_policy() from the cache", _inside(True, warm, rounds)))
        print(_line("load_policy() compiled", _inside(False, warm, max(3, rounds // 3))))


if __name__ == "__main__":
    main()
