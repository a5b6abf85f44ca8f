"""How often the checker's diagnoses are right, on synthetic students.

Students are made from the true values of random networks of every convention with known
mistakes injected (tests/students.py), each carrying everything after a mistake forward
from their own rounded values. The checker must call exactly the injected mistakes wrong,
everything after them carried or correct, and name the injected misconception (and none
where none was injected). Prints precision and recall of root errors and of names, for
sheets with one mistake and with two, the "one of" cases, and the median time of a check.

    .venv/bin/python benchmarks/bench_check.py [--students 2000] [--seed 2026]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import students as S  # noqa: E402

from derive.check import check  # noqa: E402


def run(seed: int, n: int, mistakes: int) -> tuple[S.Score, list[float], collections.Counter]:
    score, times, kinds = S.Score(), [], collections.Counter()
    for student in S.population(seed, n, mistakes, exercises=60):
        solution = student.exercise.solve()
        answers = S.answers_of(student)
        t = time.perf_counter()
        report = check(student.exercise, solution, answers)
        times.append(time.perf_counter() - t)
        score.add(student, report)
        for m in student.mistakes:
            kinds["slip" if m.kind in S.SLIPS else "rounding" if m.kind in S.ROUNDING else "misconception"] += 1
    return score, times, kinds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=2000, help="students per row (default 2000)")
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    print(f"{args.students} students per row, 60 random networks each, seed {args.seed}")
    print("| mistakes | root recall | root precision | name recall | name precision | after a mistake right "
          "| one of | median check |")
    print("|---|---|---|---|---|---|---|---|")
    for k in (1, 2):
        score, times, kinds = run(args.seed + k, args.students, k)
        f = score.figures()
        print(f"| {k} | {f['root recall']:.2%} ({score.roots_found}/{score.roots_true}) "
              f"| {f['root precision']:.2%} ({score.roots_right}/{score.roots_claimed}) "
              f"| {f['name recall']:.2%} ({score.names_found}/{score.names_true}) "
              f"| {f['name precision']:.2%} ({score.names_right}/{score.names_claimed}) "
              f"| {f['downstream right']:.2%} | {score.one_of} | {statistics.median(times) * 1000:.1f} ms |")
        print(f"  mistakes injected: {dict(kinds)}; sheets with any miss: {len(score.failures)}", file=sys.stderr)
        for student, report, missed in score.failures[:10]:
            print("  miss:", [(m.kind, m.name) for m in student.mistakes], missed, file=sys.stderr)


if __name__ == "__main__":
    main()
