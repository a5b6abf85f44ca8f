"""`derive solve` on the built-in exercise, timed as a user runs it (interpreter start
included), beside what its parts cost on their own.

    python benchmarks/bench_solve.py [--runs N] [--no-pdf] [--against OTHER/.venv/bin/python]

In one run, interleaved so that load on the machine hits every side alike, each N times:
the bare interpreter start with `import sympy, jinja2, click`; `derive solve --no-pdf`;
`derive solve` with both PDFs; and pdflatex alone on the same two .tex files (one pass
each, both at once, as `derive solve` runs them). Prints medians of the wall time and of
the CPU time (user + system, which moves less than the wall time when other work shares
the machine), and the PDF step (`solve` minus `solve --no-pdf`) and the whole `solve`
against bare pdflatex. With --against, `derive solve --no-pdf` and `derive solve` of another
interpreter's derive (another checkout's .venv) join the interleaved runs.

derive's modules are compiled to bytecode first, as an installed package has them
(SymPy's are; where PYTHONDONTWRITEBYTECODE is set, an editable install would otherwise
compile derive from source on every run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def wall(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tempfile.gettempdir())
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()}")
    proc.returncode = 0
    return secs, usage.ru_utime + usage.ru_stime


def compile_bytecode(python: str) -> None:
    subprocess.run([python, "-c", "import compileall, os, derive; "
                    "compileall.compile_dir(os.path.dirname(derive.__file__), quiet=1)"],
                   check=True, cwd=tempfile.gettempdir())


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
    parser.add_argument("--no-pdf", action="store_true", help="leave out the runs with PDFs and pdflatex")
    parser.add_argument("--against", metavar="PYTHON", help="also time `derive solve` of this interpreter")
    args = parser.parse_args()
    py = sys.executable
    for python in filter(None, (py, args.against)):
        compile_bytecode(python)
    with tempfile.TemporaryDirectory() as tmp:
        tex_dir, out, aux = Path(tmp) / "tex", Path(tmp) / "ref", Path(tmp) / "aux"
        aux.mkdir()
        subprocess.run([py, "-m", "derive", "solve", "--out", str(tex_dir), "--no-pdf"], check=True,
                       capture_output=True, cwd=tmp)
        texs = [tex_dir / "sheet.tex", tex_dir / "solution.tex"]
        have_tex = shutil.which("pdflatex") is not None and not args.no_pdf
        t: dict[str, list[tuple[float, float]]] = {"imports": [], "nopdf": [], "against": [], "solve": [],
                                                   "against_solve": [], "pdflatex": []}
        load = os.getloadavg()[0]
        for _ in range(args.runs):
            t["imports"].append(wall([py, "-c", "import sympy, jinja2, click"]))
            t["nopdf"].append(wall([py, "-m", "derive", "solve", "--out", str(out), "--no-pdf", "--force"]))
            if args.against:
                t["against"].append(wall([args.against, "-m", "derive", "solve", "--out", str(out), "--no-pdf",
                                          "--force"]))
            if have_tex:
                t["solve"].append(wall([py, "-m", "derive", "solve", "--out", str(out), "--force"]))
                if args.against:
                    t["against_solve"].append(wall([args.against, "-m", "derive", "solve", "--out", str(out),
                                                    "--force"]))
                start = time.perf_counter()
                bare_pdflatex(texs, aux)
                t["pdflatex"].append((time.perf_counter() - start, 0.0))
        m = {k: statistics.median(r[0] for r in v) for k, v in t.items() if v}
        c = {k: statistics.median(r[1] for r in v) for k, v in t.items() if v}
        print(f"medians of {args.runs} runs, wall / CPU; load average {load:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after")
        print(f"python -c 'import sympy, jinja2, click'   {m['imports']:.3f} s / {c['imports']:.3f} s")
        for key, label in (("nopdf", "derive solve --no-pdf"), ("against", "the same, --against")):
            if key in m:
                print(f"{label:<42}{m[key]:.3f} s / {c[key]:.3f} s  ({m[key] / m['imports']:.2f}x / "
                      f"{c[key] / c['imports']:.2f}x the bare imports)")
        if not have_tex:
            print("PDF step not measured")
            return
        step = m["solve"] - m["nopdf"]
        print(f"derive solve (with both PDFs)             {m['solve']:.3f} s")
        print(f"pdflatex alone, same two files at once    {m['pdflatex']:.3f} s")
        print(f"PDF step of derive solve                  {step:.3f} s  ({step / m['pdflatex']:.2f}x bare pdflatex; target at most 1.3x)")
        print(f"whole derive solve vs bare pdflatex       {m['solve'] / m['pdflatex']:.2f}x")
        if "against_solve" in m:
            step = m["against_solve"] - m["against"]
            print(f"the same, --against                       {m['against_solve']:.3f} s; PDF step {step:.3f} s "
                  f"({step / m['pdflatex']:.2f}x); whole {m['against_solve'] / m['pdflatex']:.2f}x")


if __name__ == "__main__":
    main()
