"""Computational-graph exercises: the CS231n circuit (2 gates), the sigmoid neuron gate by
gate (8 gates) and a twenty-gate circuit, each built and solved in-process, one evaluation
of its compiled quantity graph, `derive solve --no-pdf` as a user runs it, and 1,000
variants without PDFs.

    python benchmarks/bench_graph.py [--runs N]

Prints medians over N runs, side by side in one table, with the built-in network exercise
as the yardstick. Commands are timed by wall clock and by CPU time (user + system of the
child process): on a shared machine the CPU time is the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from derive import spec as spec_mod  # noqa: E402
from derive.solution import Exercise  # noqa: E402

CASES = {
    "(x + y) z": ROOT / "examples" / "graph_sum_product.toml",
    "sigmoid neuron": ROOT / "examples" / "graph_sigmoid_neuron.toml",
    "twenty gates": ROOT / "tests" / "data" / "graph_twenty.toml",
}


def median(runs: int, fn) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def command(runs: int, cmd: list[str]) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of a command."""
    walls, cpus = [], []
    for _ in range(runs):
        before = os.times()
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = os.times()
        cpus.append((after.children_user - before.children_user) + (after.children_system - before.children_system))
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    py = sys.executable
    print(f"{'exercise':<16} {'gates':>5} {'build+solve':>12} {'evaluation':>11} "
          f"{'solve --no-pdf (wall/CPU)':>26} {'1000 variants (wall/CPU)':>25}")
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = command(args.runs, [py, "-m", "derive", "solve", "--out", f"{tmp}/r", "--no-pdf", "--force"])
        print(f"{'built-in network':<16} {'':>5} {'':>12} {'':>11} {wall:>12.2f} s / {cpu:.2f} s")
        for label, path in CASES.items():
            spec = spec_mod.load(path)
            build = median(args.runs, lambda: Exercise(spec_mod.load(path)).solve())
            ex = Exercise(spec)
            givens = ex.givens()
            one = median(args.runs, lambda: [ex.evaluator.evaluate(givens) for _ in range(1000)]) / 1000
            wall, cpu = command(args.runs, [py, "-m", "derive", "solve", str(path), "--out", f"{tmp}/s",
                                            "--no-pdf", "--force"])
            many_text = "—"
            if "[vary]" in path.read_text():
                mw, mc = command(max(1, args.runs // 2), [py, "-m", "derive", "variants", str(path), "--count",
                                                          "1000", "--out", f"{tmp}/v", "--no-pdf", "--force"])
                many_text = f"{mw:.2f} s / {mc:.2f} s"
            print(f"{label:<16} {len(spec.graph.nodes):>5} {build:>10.3f} s {one * 1e6:>8.1f} µs "
                  f"{wall:>12.2f} s / {cpu:.2f} s {many_text:>25}")


if __name__ == "__main__":
    main()
