"""The stress test of a ``[vary]`` section (as R/exams' ``stresstest_exercise``): draw many
variants without writing documents, and report how often each constraint rejects a draw,
the range every quantity takes, and the time taken. It tells an instructor, before an
exam, whether the ranges make good exercises and how many different ones there are.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping

from .errors import DeriveError
from .variants import CONSTRAINTS, ConstraintError, Sampler, child_seed, numbered


@dataclass(frozen=True)
class StressReport:
    variants: int  # asked for
    made: int  # met the constraints within the tries
    draws: int  # draws in all, redraws included
    failures: Mapping[str, int]  # constraint -> draws that broke it
    distinct: int
    ranges: Mapping[str, tuple[float, float]]  # quantity -> (min, max) over the variants made
    seconds: float


def run(sampler: Sampler, n: int, base_seed: int, progress: Callable[[int], None] | None = None) -> StressReport:
    """Draw ``n`` variants as ``variants`` would (no documents) and collect the statistics."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DeriveError(f"--stress: expected a whole number of at least 1, got {n}")
    start = time.perf_counter()
    names = [q.name for q in sampler.exercise.derivation.quantities]
    lo = [math.inf] * len(names)
    hi = [-math.inf] * len(names)
    failures: dict[str, int] = {}
    draws = made = 0
    seen = set()
    for _, key in numbered(n):
        try:
            drawn, tries, values = sampler.draw(child_seed(base_seed, key), failures)
        except ConstraintError:
            draws += sampler.vary.tries
        else:
            draws += tries
            made += 1
            seen.add(tuple(drawn[r.name] for r in sampler.vary.ranges))
            for i, v in enumerate(values):
                lo[i] = min(lo[i], v)
                hi[i] = max(hi[i], v)
        if progress:
            progress(1)
    ranges = {name: (lo[i], hi[i]) for i, name in enumerate(names) if made}
    return StressReport(n, made, draws, MappingProxyType(failures), len(seen), MappingProxyType(ranges),
                        time.perf_counter() - start)


def text(report: StressReport, sampler: Sampler) -> str:
    policy = sampler.policy
    lines = [f"{report.variants} variants asked, {report.made} made, {report.distinct} distinct; "
             f"{report.draws} draws in {report.seconds:.2f} s "
             f"({report.seconds / max(report.variants, 1) * 1e3:.3f} ms per variant)",
             "", "rejected draws, per constraint (a draw can break several):"]
    for key, label in CONSTRAINTS.items():
        if key == "distinct":
            continue
        n = report.failures.get(key, 0)
        lines.append(f"  {n / max(report.draws, 1) * 100:6.2f} %  {n:>8}  {label}")
    if report.made:
        varied = {r.name for r in sampler.vary.ranges}
        width = max(len(name) for name in report.ranges)
        lines += ["", "range of every quantity over the variants made (* = drawn):"]
        for name, (a, b) in report.ranges.items():
            mark = "*" if name in varied else " "
            lines.append(f"  {mark} {name:<{width}}  {policy.text(a):>12} .. {policy.text(b):>12}")
    return "\n".join(lines)
