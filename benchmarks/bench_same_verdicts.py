"""What keeping the runs' verdicts costs variants of the built-in exercise.

    python benchmarks/bench_same_verdicts.py [--count 1000] [--repeats 5]

The built-in sheet compares η = 0.2 with η = 1, so its variants keep both runs' verdicts
(`same_verdicts`, on by default there). In the same run, alternating:

1. `derive variants --count N --no-pdf` of the built-in exercise, wall time with
   interpreter start, and the same with `same_verdicts = false`;
2. in one process, the draws alone (Sampler.draw_many), both ways, with the draws tried.

Medians, the ratio between the two, and the load average before and after.
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
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from derive import spec as spec_mod, variants as V  # noqa: E402
from derive.solution import Exercise  # noqa: E402


def wall(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one command. On a machine shared with
    other work the CPU time is the better guide to what the command costs on a quiet one."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()}")
    return secs, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        off = tmp / "off.toml"
        off.write_text(spec_mod.builtin_path().read_text(encoding="utf-8")
                       + "\n[vary.constraints]\nsame_verdicts = false\n", encoding="utf-8")
        times: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
        for i in range(args.repeats):
            for what, spec in (("on", []), ("off", [str(off)])):
                out = tmp / f"{what}{i}"
                times[what].append(wall([sys.executable, "-m", "derive", "variants", *spec, "--count",
                                         str(args.count), "--seed", "1", "--no-pdf", "--out", str(out)]))
                shutil.rmtree(out)

    exercise = Exercise(spec_mod.load())
    vary = V.parse(exercise)
    draws: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
    tried = {}
    for _ in range(args.repeats):
        for what in ("on", "off"):
            sampler = V.Sampler(exercise, replace(vary, constraints=replace(vary.constraints,
                                                                          same_verdicts=what == "on")))
            start, cpu = time.perf_counter(), time.process_time()
            made = sampler.draw_many(V.numbered(args.count), 1)
            draws[what].append((time.perf_counter() - start, time.process_time() - cpu))
            tried[what] = sum(v.tries for v in made)
    load_after = os.getloadavg()

    def med(xs, k):
        return statistics.median(x[k] for x in xs)

    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} "
          f"({os.cpu_count()} cores); medians of {args.repeats}; wall / CPU (user + system)")
    print("| what | same_verdicts (default) | same_verdicts = false | ratio (wall, CPU) |")
    print("|---|---|---|---|")
    for label, data in ((f"`derive variants --count {args.count} --no-pdf`, interpreter start included", times),
                        (f"the draws alone, in-process ({tried['on']:,} and {tried['off']:,} draws tried)", draws)):
        on, off = data["on"], data["off"]
        print(f"| {label} | {med(on, 0):.2f} s / {med(on, 1):.2f} s | {med(off, 0):.2f} s / {med(off, 1):.2f} s "
              f"| {med(on, 0) / med(off, 0):.2f}, {med(on, 1) / med(off, 1):.2f} |")

if __name__ == "__main__":
    main()
