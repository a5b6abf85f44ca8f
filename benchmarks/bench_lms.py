"""The LMS question of one variant: CPU milliseconds per variant of the Moodle question and
of its parts, beside another checkout's.

    python benchmarks/bench_lms.py [--count 300] [--rounds 3] [--repeats 5]
                                   [--spec FILE] [--against OTHER]

Draws and solves --count variants of the built-in exercise (or --spec) once, then times
over all of them, --repeats times each: ``moodle.question``, ``lms.blanks`` (the blanks
with their misconception values), ``lms.wrong_values`` (those values alone, as the writers
take them), a QTI 2.1 item and a Canvas quiz. CPU time (time.process_time) of this
process, per variant: the best and the median of the repeats. With --against, the same in
another derive: a checkout's directory (run with this interpreter, the checkout first on
its path) or another environment's Python (its own installed derive), the two alternating
--rounds times so that load on the machine hits both alike. Each side says which derive
it imported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

# Run in a fresh interpreter with the checkout's directory first on sys.path.
CHILD = r"""
import json, sys, time
root, count, spec_path, repeats = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
if sys.path[0] == "":  # (-c puts the current directory first: it may be a checkout too)
    del sys.path[0]
if root:
    sys.path.insert(0, root)
import derive
from derive import canvas, lms, moodle, qti, spec as spec_mod, variants as V
from derive.solution import Exercise

exercise = Exercise(spec_mod.load(spec_path) if spec_path else spec_mod.load())
drawn = V.Sampler(exercise).draw_many(V.numbered(count), 5)
solutions = [exercise.solve(v.overrides, seed=v.seed, variant=v.id) for v in drawn]
for s in solutions:  # what is made once per structure, and the caches
    moodle.question(s)
steps = {
    "moodle.question": moodle.question,
    "lms.blanks": lms.blanks,
    "lms.wrong_values": lms.wrong_values,
    "qti.item": lambda s: qti.item(s, "item"),
    "canvas.assessment": lambda s: canvas.assessment(s, "quiz"),
}
out = {"derive": derive.__file__}
for name, step in steps.items():
    times = []
    for _ in range(repeats):
        start = time.process_time()
        for s in solutions:
            step(s)
        times.append((time.process_time() - start) * 1000 / len(solutions))
    out[name] = times
print(json.dumps(out))
"""


def measure(side: Path, args) -> dict:
    """One run of CHILD: in a checkout's directory with this interpreter, or with another
    interpreter and the derive it has installed."""
    python, root = (sys.executable, str(side)) if side.is_dir() else (str(side), "")
    proc = subprocess.run([python, "-c", CHILD, root, str(args.count), args.spec or "", str(args.repeats)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{side}: failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--spec", help="a spec file (default: the built-in exercise)")
    ap.add_argument("--against", metavar="OTHER",
                    help="another checkout's directory, or another environment's python, timed alternately")
    args = ap.parse_args()
    # (an interpreter by its own path: a virtual environment's python is a link to the base one)
    roots = {"this": HERE, **({"against": Path(os.path.abspath(args.against))} if args.against else {})}
    times: dict[str, dict[str, list[float]]] = {label: {} for label in roots}
    imported: dict[str, str] = {}
    for _ in range(args.rounds):
        for label, root in roots.items():
            out = measure(root, args)
            imported[label] = str(Path(out.pop("derive")).parent)
            for step, values in out.items():
                times[label].setdefault(step, []).extend(values)
    for label in roots:
        print(f"{label}: {roots[label]} (derive from {imported[label]})")
    print(f"CPU ms per variant, {args.count} variants, best / median of {args.rounds * args.repeats}")
    print(f"{'':20s}" + "".join(f"{label:>18s}" for label in roots))
    for step in times["this"]:
        cells = "".join(f"{min(times[label][step]):9.3f} /{statistics.median(times[label][step]):7.3f}"
                        for label in roots)
        print(f"{step:20s}{cells}")


if __name__ == "__main__":
    main()
