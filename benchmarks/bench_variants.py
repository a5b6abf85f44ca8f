"""Variants at scale: the text stage of `derive variants`, and its PDF stage beside
pdflatex alone on the same documents.

    python benchmarks/bench_variants.py [--count 1000] [--pdf-count 20] [--repeats 3]
                                        [--jobs 1 --jobs 2] [--against OTHER/.venv/bin/python]
                                        [--dir DIR]

1. Text stage: `derive variants --count N --no-pdf` on the built-in exercise (every sheet
   and key .tex, answers.csv, answers.json, moodle.xml), interpreter start included: wall
   time, CPU time (user + system, worker processes included, and the command's own process
   apart: what is left serial) and peak memory (the largest sum of resident sizes over the
   command's processes, sampled every 0.05 s), medians of the repeats, once per --jobs value; with --against, the same command of another
   interpreter's derive (another checkout's .venv), the runs alternating so that load on
   the machine hits both alike. Then the same run in one process, split by step.
2. PDF stage: for the sheets and keys of --pdf-count variants, in the same run and
   alternating, (a) what the command does (pdf.compile_all on all cores, then pdfunite
   into sheets.pdf and keys.pdf) and (b) pdflatex alone, one pass per document, as many at
   once as there are cores. Medians and the ratio a/b.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from derive import export, output, pdf, render, spec as spec_mod, variants as V  # noqa: E402
from derive.solution import Exercise  # noqa: E402


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return time.perf_counter() - start


def _tree_rss(pid: int) -> int:
    """Resident kB of a process and its descendants (Linux /proc; 0 where it is missing)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(status.split("VmRSS:")[1].split()[0]) if "VmRSS:" in status else 0
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def _own_cpu(pid: int) -> float | None:
    """CPU seconds of a process itself, its children not included (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def run_measured(cmd: list[str]) -> tuple[float, float, float, float]:
    """(wall seconds, CPU seconds, peak MiB, CPU seconds of the command's own process)
    of one command and its worker processes. The own process's CPU is its last sample,
    at most 0.05 s before it ended; the workers' is the difference."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tempfile.gettempdir())
    peak, own = 0, 0.0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _tree_rss(proc.pid))
        sample = _own_cpu(proc.pid)
        own = own if sample is None else sample
        time.sleep(0.05)
    secs = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()}")
    proc.returncode = 0
    # ru_maxrss: the largest single process, in case sampling missed the peak
    return secs, usage.ru_utime + usage.ru_stime, max(peak, usage.ru_maxrss) / 1024, own


def text_stage(pythons: dict[str, str], jobs: list[int], count: int, repeats: int,
               tmp: Path) -> dict[tuple[str, int | None], list[tuple[float, float, float, float]]]:
    """Each --jobs value of this derive, and once the other interpreter's (whose --jobs, if
    it has one, is left at its default), alternating."""
    runs: dict[tuple[str, int | None], list] = {("this", j): [] for j in jobs}
    runs.update({(name, None): [] for name in pythons if name != "this"})
    # The folders are removed only once every run is done: on ext4 without a journal (this
    # machine's disk), making a file skips, one by one, the inodes freed in the last minute,
    # up to six while their table is not yet on disk (`recently_deleted` in the kernel), so
    # removing one run's 20,000 files just before the next made that run's files several
    # times dearer to make than a user's first run finds them.
    outs = []
    for i in range(repeats):
        for (name, j), found in runs.items():
            out = tmp / f"text-{name}-{j}-{i}"
            outs.append(out)
            cmd = [pythons[name], "-m", "derive", "variants", "--count", str(count), "--seed", "1",
                   "--out", str(out), "--no-pdf"]
            found.append(run_measured(cmd + (["--jobs", str(j)] if j else [])))
    for out in outs:
        shutil.rmtree(out)
    return runs


def steps(count: int) -> dict[str, float]:
    """The same work in one process, CPU time step by step."""
    t: dict[str, float] = {}
    start = time.process_time()
    exercise = Exercise(spec_mod.load())
    sampler = V.Sampler(exercise)
    t["load spec, derive, compile"] = time.process_time() - start

    def timed(name, fn):
        s = time.process_time()
        value = fn()
        t[name] = time.process_time() - s
        return value

    drawn = timed("draw (constraints included)", lambda: sampler.draw_many(V.numbered(count), 1))
    sols = timed("solve", lambda: [exercise.solve(v.overrides, seed=v.seed, variant=v.id) for v in drawn])
    env = render.environment()
    timed("render sheets and keys", lambda: [output.variant_documents(s, env) for s in sols])
    for fmt, (name, writer) in export.WRITERS.items():
        timed(name, lambda writer=writer: writer(sols))
    return t


def file_cost(folder: Path, count: int = 300) -> float:
    """CPU seconds to make (and close) one empty file in ``folder``, the median of ``count``."""
    probe = folder / "probe"
    probe.mkdir()
    costs = []
    for i in range(count):
        start = time.process_time()
        os.close(os.open(probe / str(i), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        costs.append(time.process_time() - start)
    shutil.rmtree(probe)
    return statistics.median(costs)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(fn, *args) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child processes): the CPU time barely moves when
    other work shares the machine, the wall time does."""
    cpu = children_cpu()
    secs = fn(*args)
    return secs, children_cpu() - cpu


def pdflatex_alone(texs: list[Path], jobs: int) -> float:
    def one(tex: Path) -> None:
        with tempfile.TemporaryDirectory() as aux:
            subprocess.run(["pdflatex", "-interaction=batchmode", "-halt-on-error", "-no-shell-escape",
                            f"-output-directory={aux}", tex.name], cwd=tex.parent, check=True,
                           capture_output=True, stdin=subprocess.DEVNULL)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, texs))
    return time.perf_counter() - start


def derive_stage(texs: list[Path], out: Path) -> float:
    start = time.perf_counter()
    result = pdf.compile_all(texs)
    for folder, target in ((output.SHEETS, "sheets.pdf"), (output.KEYS, "keys.pdf")):
        pdf.unite([p for p in result.made if p.parent.name == folder], out / target)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--pdf-count", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pdf-only", action="store_true", help="skip the text stage")
    ap.add_argument("--jobs", type=int, action="append", help="--jobs of the text stage; repeatable "
                    "(default: all cores)")
    ap.add_argument("--against", metavar="PYTHON", help="also time the derive of this interpreter")
    ap.add_argument("--dir", metavar="DIR", help="where the variants are written, in a folder made and removed "
                    "there (default: the system's temporary folder)")
    args = ap.parse_args()
    jobs = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-variants-", dir=args.dir) as tmp_name:
        tmp = Path(tmp_name)
        # A run makes a few files per variant: where making one is slow, that shows.
        print(f"writing into {tmp}: making an empty file there takes {file_cost(tmp) * 1e3:.3f} ms of CPU")
        pythons = {"this": sys.executable, **({"against": args.against} if args.against else {})}
        if not args.pdf_only:
            print(f"text stage, {args.count} variants (--no-pdf, interpreter start included), "
                  f"load average before: {os.getloadavg()[0]:.1f}")
            runs = text_stage(pythons, args.jobs or [jobs], args.count, args.repeats, tmp)
            for (name, j), found in runs.items():
                med = [statistics.median(r[k] for r in found) for k in range(4)]
                print(f"    {name:<8} --jobs {j or '-'}: median {med[0]:7.2f} s wall, {med[1]:7.2f} s CPU "
                      f"(own process {med[3]:.2f} s, workers {med[1] - med[3]:.2f} s), {med[2]:5.0f} MiB peak  "
                      f"(runs: {', '.join(f'{r[0]:.1f} s/{r[1]:.1f} s' for r in found)})")
            print(f"    load average after: {os.getloadavg()[0]:.1f}")
            print(f"    in one process, {min(args.count, 1000)} variants, CPU time by step:")
            for name, secs in steps(min(args.count, 1000)).items():
                print(f"        {name:<32} {secs:6.2f} s")

        if shutil.which("pdflatex") is None or args.pdf_count < 1:
            print("PDF stage skipped")
            return
        out = tmp / "pdf"
        subprocess.run([sys.executable, "-m", "derive", "variants", "--count", str(args.pdf_count),
                        "--seed", "1", "--out", str(out), "--no-pdf"], check=True, capture_output=True)
        texs = sorted(out.rglob("*.tex"))
        ours, bare = [], []
        for i in range(args.repeats):
            # Alternate the order so that neither side always runs on a warm cache.
            if i % 2 == 0:
                ours.append(measured(derive_stage, texs, out))
                bare.append(measured(pdflatex_alone, texs, jobs))
            else:
                bare.append(measured(pdflatex_alone, texs, jobs))
                ours.append(measured(derive_stage, texs, out))
        print(f"PDF stage, {len(texs)} documents on {jobs} cores (wall; CPU time of the TeX processes):")
        for label, runs in (("derive (compile_all + pdfunite)", ours), ("pdflatex alone, one pass each", bare)):
            print(f"    {label:<32} median {statistics.median(r[0] for r in runs):6.2f} s wall, "
                  f"{statistics.median(r[1] for r in runs):6.2f} s CPU  "
                  f"(wall runs: {', '.join(f'{r[0]:.2f}' for r in runs)})")
        wall_ratio = statistics.median(o[0] / b[0] for o, b in zip(ours, bare))
        cpu_ratio = statistics.median(o[1] / b[1] for o, b in zip(ours, bare))
        print(f"    ratio, median of paired runs: {wall_ratio:.2f}x wall, {cpu_ratio:.2f}x CPU  (target: at most 1.3x)")


if __name__ == "__main__":
    main()
