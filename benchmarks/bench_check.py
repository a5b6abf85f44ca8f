"""How often the checker's diagnoses are right, on synthetic students.

Students are made from the true values with known mistakes injected, each carrying
everything after a mistake forward from their own rounded values: random networks of
every convention (tests/students.py), random computational graphs
(tests/graph_students.py), random optimizer exercises (tests/optim_students.py) and
random computational graphs minimised by a random optimizer (tests/graph_students.py, its
last section), the last three worked by a plain-Python program of the tests' own. The
checker must call exactly the injected mistakes wrong, everything after them carried or correct, and name
the injected misconception (and none where none was injected). Prints, per kind of
exercise, precision and recall of root errors and of names for sheets with one mistake
and with two, the "one of" cases, and the median time of a check.

    .venv/bin/python benchmarks/bench_check.py [--kind network|graph|optimizer|graph-optimizer|all]
                                               [--students 2000] [--seed 2026]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import graph_students as G  # noqa: E402
import optim_students as O  # noqa: E402
import students as S  # noqa: E402

from derive.check import check  # noqa: E402

KINDS = {
    "network": lambda seed, n, k: S.population(seed, n, k, exercises=60),
    "graph": lambda seed, n, k: G.population(seed, n, k, graphs=60),
    "optimizer": lambda seed, n, k: O.population(seed, n, k, exercises=60),
    "graph-optimizer": lambda seed, n, k: G.optimizer_population(seed, n, k, exercises=60),
}


def run(population) -> tuple[S.Score, list[float], collections.Counter, collections.Counter]:
    score, times, kinds, one_of = S.Score(), [], collections.Counter(), collections.Counter()
    for student in population:
        solution = student.exercise.solve()
        answers = S.answers_of(student)
        t = time.perf_counter()
        report = check(student.exercise, solution, answers)
        times.append(time.perf_counter() - t)
        score.add(student, report)
        one_of.update(" / ".join(r.misconceptions) for r in report.results if len(r.misconceptions) > 1)
        for m in student.mistakes:
            kinds["slip" if m.kind in S.SLIPS else "rounding" if m.kind in S.ROUNDING else m.kind] += 1
    return score, times, kinds, one_of


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=[*KINDS, "all"], default="all")
    ap.add_argument("--students", type=int, default=2000, help="students per row (default 2000)")
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    kinds = list(KINDS) if args.kind == "all" else [args.kind]
    print(f"{args.students} students per row, 60 random exercises per row, seed {args.seed}")
    print("| exercise | mistakes | root recall | root precision | name recall | name precision "
          "| after a mistake right | one of | median check |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in kinds:
        for k in (1, 2):
            score, times, injected, one_of = run(KINDS[kind](args.seed + k, args.students, k))
            f = score.figures()
            print(f"| {kind} | {k} | {f['root recall']:.2%} ({score.roots_found}/{score.roots_true}) "
                  f"| {f['root precision']:.2%} ({score.roots_right}/{score.roots_claimed}) "
                  f"| {f['name recall']:.2%} ({score.names_found}/{score.names_true}) "
                  f"| {f['name precision']:.2%} ({score.names_right}/{score.names_claimed}) "
                  f"| {f['downstream right']:.2%} | {score.one_of} | {statistics.median(times) * 1000:.1f} ms |",
                  flush=True)
            print(f"  {kind}, {k}: mistakes injected: {dict(injected)}; sheets with any miss: {len(score.failures)}",
                  file=sys.stderr, flush=True)
            print(f"  named as one of: {dict(one_of)}", file=sys.stderr, flush=True)
            for student, report, missed in score.failures[:10]:
                print("  miss:", [(m.kind, m.name) for m in student.mistakes], missed, file=sys.stderr)


if __name__ == "__main__":
    main()
