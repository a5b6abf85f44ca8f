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


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return time.perf_counter() - start


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
        times: dict[str, list[float]] = {"on": [], "off": []}
        for i in range(args.repeats):
            for what, spec in (("on", []), ("off", [str(off)])):
                out = tmp / f"{what}{i}"
                times[what].append(wall([sys.executable, "-m", "derive", "variants", *spec, "--count",
                                         str(args.count), "--seed", "1", "--no-pdf", "--out", str(out)]))
                shutil.rmtree(out)

    exercise = Exercise(spec_mod.load())
    vary = V.parse(exercise)
    draws: dict[str, list[float]] = {"on": [], "off": []}
    tried = {}
    for _ in range(args.repeats):
        for what in ("on", "off"):
            sampler = V.Sampler(exercise, replace(vary, constraints=replace(vary.constraints,
                                                                          same_verdicts=what == "on")))
            start = time.perf_counter()
            made = sampler.draw_many(V.numbered(args.count), 1)
            draws[what].append(time.perf_counter() - start)
            tried[what] = sum(v.tries for v in made)
    load_after = os.getloadavg()

    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    d_on, d_off = statistics.median(draws["on"]), statistics.median(draws["off"])
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} "
          f"({os.cpu_count()} cores); medians of {args.repeats}")
    print("| what | same_verdicts (default) | same_verdicts = false | ratio |")
    print("|---|---|---|---|")
    print(f"| `derive variants --count {args.count} --no-pdf`, interpreter start included "
          f"| {on:.2f} s | {off:.2f} s | {on / off:.2f} |")
    print(f"| the draws alone, in-process ({tried['on']:,} and {tried['off']:,} draws tried) "
          f"| {d_on:.2f} s | {d_off:.2f} s | {d_on / d_off:.1f} |")


if __name__ == "__main__":
    main()
