"""Optimizer exercises: the cost of building and solving k steps, beside one gradient step.

    python benchmarks/bench_optim.py

For a 2-2-1 network and a 4-8-8-2 one, times (median of 7 and of 3 runs, in-process) the
build of the quantity graph with its compiled evaluator (once per structure) and one solve
(per variant), for plain gradient descent (one step) and Adam with 2 and 5 steps; and a
training run of 100 Adam steps against 100 gradient-descent steps. Ratios are to the
gradient-descent figure of the same network, from the same run.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from derive import spec as spec_mod  # noqa: E402
from derive import training  # noqa: E402
from derive.solution import Exercise  # noqa: E402

REPEAT = 7
NETWORKS = [((2, 2, 1), 7), ((4, 8, 8, 2), 3)]  # (layer sizes, repeats)


def network_table(sizes: tuple[int, ...], training_table: dict) -> dict:
    rng = random.Random(1)
    inputs = [f"x{i + 1}" for i in range(sizes[0])]
    layers = [{"units": [f"h{k}_{i + 1}" for i in range(n)], "activation": "sigmoid"}
              for k, n in enumerate(sizes[1:-1], start=1)]
    outputs = [f"o{i + 1}" for i in range(sizes[-1])]
    targets = [f"y{i + 1}" for i in range(sizes[-1])]
    layers.append({"units": outputs, "activation": "identity", "targets": targets})
    raw = {"network": {"inputs": inputs, "bias": "neuron", "layers": layers},
           "loss": {"kind": "squared_error"},
           "examples": [{**{x: rng.uniform(-1, 1) for x in inputs}, **{t: rng.uniform(-1, 1) for t in targets}}],
           "weights": {}, "training": training_table, "display": {"chains": "none"}}
    from derive.network import structure
    _, params = structure(spec_mod.from_table(dict(raw, training={"learning_rate": 0.1}), "<bench>"))
    raw["weights"] = {p.name: rng.uniform(-1, 1) for p in params}
    return raw


def median(f, repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    cases = [("gradient descent, 1 step", {"learning_rate": 0.1}),
             ("Adam, 2 steps", {"learning_rate": 0.1, "optimizer": "adam", "steps": 2}),
             ("Adam, 5 steps", {"learning_rate": 0.1, "optimizer": "adam", "steps": 5})]
    print("| network | exercise | quantities | build | ratio | solve | ratio |")
    print("|---|---|---|---|---|---|---|")
    for sizes, repeat in NETWORKS:
        base = None
        for label, table in cases:
            spec = spec_mod.from_table(network_table(sizes, table), "<bench>")
            build = median(lambda: Exercise(spec), repeat)
            ex = Exercise(spec)
            ex.solve()  # the printed forms are made once per structure, on the first solve
            solve = median(ex.solve, repeat)
            base = base or (build, solve)
            print(f"| {'-'.join(map(str, sizes))} | {label} | {len(ex.derivation.quantities)} | {build * 1e3:.0f} ms "
                  f"| {build / base[0]:.1f} | {solve * 1e3:.1f} ms | {solve / base[1]:.1f} |")
    print()
    print("| network | 100-step run | time | ratio |")
    print("|---|---|---|---|")
    for sizes, repeat in NETWORKS:
        base = None
        for label, table in cases[:2]:
            ex = Exercise(spec_mod.from_table(network_table(sizes, table), "<bench>"))
            sol = ex.solve()
            run = training.RunSpec(0.1, 100)
            training.runs_for(sol, [run])  # compiled once per structure
            t = median(lambda: training.runs_for(sol, [run]), repeat)
            base = base or t
            print(f"| {'-'.join(map(str, sizes))} | {label.split(',')[0]} | {t * 1e3:.1f} ms | {t / base:.1f} |")


if __name__ == "__main__":
    main()
