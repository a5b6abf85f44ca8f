"""Speed of checking a class: `derive check --class` for 300 students, each against their own
variant, end to end (interpreter start included).

The students hand in the course sheet's own values (31 values each, so each has root
errors and carried values against their variant's numbers: the checker's slow path).

Run: python benchmarks/bench_class.py  (prints medians; no assertions)
"""

from __future__ import annotations

import csv
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from derive import check, spec  # noqa: E402
from derive.solution import Exercise  # noqa: E402

STUDENTS = 300


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    exercise = Exercise(spec.load())
    answers = check.read_answers(ROOT / "tests/data/reference_sheet_answers.toml", list(exercise.derivation.index))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, "-m", "derive", "variants", "--count", str(STUDENTS), "--no-pdf", "--out",
                        str(tmp / "variants")], check=True, capture_output=True)
        table = io.StringIO()
        rows = csv.writer(table)
        rows.writerow(["id", *(a.name for a in answers)])
        for i in range(1, STUDENTS + 1):
            rows.writerow([f"{i:03d}", *(a.written.text for a in answers)])
        (tmp / "class.csv").write_text(table.getvalue(), encoding="utf-8")
        base = [sys.executable, "-m", "derive", "check", "--class", str(tmp / "class.csv"), "--variants",
                str(tmp / "variants"), "--out", str(tmp / "graded")]
        no_pdf = statistics.median(timed(base + ["--no-pdf"]) for _ in range(3))
        print(f"{STUDENTS} students, grades.csv and feedback .tex, no PDF: median {no_pdf:.2f} s")
        with_pdf = timed(base)
        print(f"{STUDENTS} students with {STUDENTS} feedback PDFs (pdflatex, one per core): {with_pdf:.1f} s")


if __name__ == "__main__":
    main()
