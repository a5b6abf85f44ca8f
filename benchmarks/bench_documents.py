"""A variant's sheet and key (``output.variant_documents``) on the built-in exercise: CPU
time per variant, with the variants drawn and solved beforehand.

    python benchmarks/bench_documents.py [--variants 300] [--repeats 12] [--rounds 3] [--against CHECKOUT]

Each round measures this checkout's derive in a process of its own and, with --against,
another checkout's (its folder put first on the module path), one after the other, so that
load on the machine hits both alike. A process draws and solves the variants once, makes
the first variant's documents (templates compiled, what every variant shares made), then
times the documents of a hundred variants at a time, --repeats times: both documents as a
variants run makes them, and the sheet and the key each with its own template data. Prints
the median and the best of all repeats, in ms per variant.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHUNK = 100


def measure(variants: int, repeats: int) -> dict[str, list[float]]:
    import time

    from derive import output, render, spec as spec_mod, variants as variants_mod
    from derive.solution import Exercise

    exercise = Exercise(spec_mod.load(None))
    drawn = variants_mod.Sampler(exercise).draw_many(variants_mod.numbered(variants), 1)
    solved = [exercise.solve(v.overrides, seed=v.seed, variant=v.id) for v in drawn]
    env = render.environment(None)
    output.variant_documents(solved[0], env)
    kinds = {
        "sheet+key": lambda s: output.variant_documents(s, env),
        "sheet": lambda s: render.render(env, render.SHEET, render.context(s, "Exercise sheet")),
        "key": lambda s: render.render(env, render.KEY, render.context(s, "Answer key")),
    }
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(repeats):
        start = (r * CHUNK) % max(1, len(solved) - CHUNK + 1)
        chunk = solved[start:start + CHUNK]
        for kind, make in kinds.items():
            t = time.process_time()
            for s in chunk:
                make(s)
            times[kind].append((time.process_time() - t) / len(chunk) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", type=Path, help="another checkout of derive, measured alike")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # one process's part
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.variants, args.repeats)))
        return
    sides = {"this": Path(__file__).resolve().parent.parent}
    if args.against:
        sides["against"] = args.against.resolve()
    got: dict[str, dict[str, list[float]]] = {side: {} for side in sides}
    for _ in range(args.rounds):
        for side, folder in sides.items():
            env = dict(os.environ, PYTHONPATH=str(folder))
            proc = subprocess.run([sys.executable, __file__, "--measure", "--variants", str(args.variants),
                                   "--repeats", str(args.repeats)], env=env, cwd=tempfile.gettempdir(),
                                  capture_output=True, text=True, check=True)
            for kind, values in json.loads(proc.stdout.splitlines()[-1]).items():
                got[side].setdefault(kind, []).extend(values)
    for kind in got["this"]:
        print(f"{kind:10s}" + "".join(f"  {side} ({sides[side]}): median {statistics.median(got[side][kind]):.3f}"
                                      f" best {min(got[side][kind]):.3f} ms" for side in sides))


if __name__ == "__main__":
    main()
