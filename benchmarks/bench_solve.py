"""`derive solve` on the built-in exercise, timed as a user runs it (interpreter start
included), beside what its parts cost on their own.

    python benchmarks/bench_solve.py [--runs N]

In one run, interleaved so that load on the machine hits every side alike, each N times:
the bare interpreter start with `import sympy, jinja2, click`; `derive solve --no-pdf`;
`derive solve` with both PDFs; and pdflatex alone on the same two .tex files (one pass
each, both at once, as `derive solve` runs them). Prints medians, and the PDF step
(`solve` minus `solve --no-pdf`) and the whole `solve` against bare pdflatex.
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


def bare_pdflatex(texs: list[Path], aux: Path) -> float:
    """Both documents at once, one pass each, as plainly as pdflatex runs."""
    start = time.perf_counter()
    procs = [subprocess.Popen(["pdflatex", "-interaction=batchmode", "-halt-on-error", "-no-shell-escape",
                               f"-output-directory={aux}", tex.name], cwd=tex.parent,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
             for tex in texs]
    if any(p.wait() != 0 for p in procs):
        sys.exit("pdflatex failed on the built-in documents")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        tex_dir, out, aux = Path(tmp) / "tex", Path(tmp) / "ref", Path(tmp) / "aux"
        aux.mkdir()
        subprocess.run([py, "-m", "derive", "solve", "--out", str(tex_dir), "--no-pdf"], check=True, capture_output=True)
        texs = [tex_dir / "sheet.tex", tex_dir / "solution.tex"]
        have_tex = shutil.which("pdflatex") is not None
        t: dict[str, list[float]] = {"imports": [], "nopdf": [], "solve": [], "pdflatex": []}
        for _ in range(args.runs):
            t["imports"].append(wall([py, "-c", "import sympy, jinja2, click"]))
            t["nopdf"].append(wall([py, "-m", "derive", "solve", "--out", str(out), "--no-pdf"]))
            if have_tex:
                t["solve"].append(wall([py, "-m", "derive", "solve", "--out", str(out)]))
                t["pdflatex"].append(bare_pdflatex(texs, aux))
        m = {k: statistics.median(v) for k, v in t.items() if v}
        print(f"medians of {args.runs} runs")
        print(f"python -c 'import sympy, jinja2, click'   {m['imports']:.3f} s")
        print(f"derive solve --no-pdf                     {m['nopdf']:.3f} s  ({m['nopdf'] / m['imports']:.2f}x the bare imports)")
        if not have_tex:
            print("pdflatex not found: PDF step not measured")
            return
        step = m["solve"] - m["nopdf"]
        print(f"derive solve (with both PDFs)             {m['solve']:.3f} s")
        print(f"pdflatex alone, same two files at once    {m['pdflatex']:.3f} s")
        print(f"PDF step of derive solve                  {step:.3f} s  ({step / m['pdflatex']:.2f}x bare pdflatex; target at most 1.3x)")
        print(f"whole derive solve vs bare pdflatex       {m['solve'] / m['pdflatex']:.2f}x")


if __name__ == "__main__":
    main()
