"""Speed of training runs: `derive train` end to end, and the cost of one gradient step.

Run: python benchmarks/bench_training.py  (prints medians; no assertions)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from derive import spec as spec_mod
from derive import training
from derive.solution import Exercise


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    cli = [sys.executable, "-m", "derive", "train", "--eta", "0.2", "--eta", "1", "--steps", "10",
           "--freeze", "w5", "--freeze", "w6"]
    wall = median_seconds(lambda: subprocess.run(cli, capture_output=True, check=True), 5)
    print(f"derive train (2 runs x 10 steps, interpreter start included): median {wall:.3f} s")

    exercise = Exercise(spec_mod.load())
    solution = exercise.solve()
    for label, runs in [("batch, nothing pinned", [training.RunSpec(0.2, 1000)]),
                        ("batch, w5 and w6 pinned", [training.RunSpec(0.2, 1000, ("w5", "w6"))])]:
        t = median_seconds(lambda: solution.exercise.train(runs, solution.givens), 5)
        print(f"reference network, {label}: {t / 1000 * 1e6:.1f} us per step")


if __name__ == "__main__":
    main()
