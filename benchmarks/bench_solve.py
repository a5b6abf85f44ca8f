"""`derive solve` on the built-in exercise, timed as a user runs it (interpreter start
included), with the PDF step measured separately.

    python benchmarks/bench_solve.py [--runs N]

Prints medians over N runs; for context, the bare interpreter start with `import sympy`
is timed in the same run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def median_of(runs: int, cmd: list[str]) -> float:
    return statistics.median(wall(cmd) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ref"
        subprocess.run([py, "-m", "derive", "solve", "--out", str(out), "--no-pdf"], check=True, capture_output=True)
        bare = median_of(args.runs, [py, "-c", "import sympy, jinja2, click"])
        nopdf = median_of(args.runs, [py, "-m", "derive", "solve", "--out", str(out), "--no-pdf"])
        print(f"python -c 'import sympy, jinja2, click'   median {bare:.3f} s  ({args.runs} runs)")
        print(f"derive solve --no-pdf                     median {nopdf:.3f} s  ({nopdf / bare:.2f}x the bare imports)")
        if shutil.which("latexmk"):
            full = median_of(3, [py, "-m", "derive", "solve", "--out", str(out)])
            print(f"derive solve (with both PDFs)             median {full:.3f} s  (PDF step {full - nopdf:.3f} s, 3 runs)")
        else:
            print("latexmk not found: PDF step not measured")


if __name__ == "__main__":
    main()
