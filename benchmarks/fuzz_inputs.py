"""Hostile inputs in bulk: the fuzz suite of tests/test_fuzz.py with many more cases and
fresh random seeds, and how long a case takes.

Every case must end in success or in exit status 2 with one line on stderr, no traceback
and nothing written (see tests/fuzzing.py); a case that breaks the rule stops the run with
hypothesis's smallest example. Prints per command: cases, how many were refused, and the
median and slowest time of a case (in this process, imports excluded).

Run: python benchmarks/fuzz_inputs.py [CASES_PER_COMMAND]  (default 2000)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fuzzing import answer_files, assert_obeys, run, spec_texts  # noqa: E402


def command_cases(name: str, strategy, make_args, ok: tuple[int, ...], writes: bool, n: int) -> None:
    times: list[float] = []
    refused = 0

    @settings(max_examples=n, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def case(data):
        nonlocal refused
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            out = folder / "out"
            args = make_args(folder, data, out)
            start = time.perf_counter()
            outcome = run(args)
            times.append(time.perf_counter() - start)
            refused += outcome.code == 2
            assert_obeys(outcome, out if writes else None, ok)

    start = time.perf_counter()
    case()
    total = time.perf_counter() - start
    print(f"{name:<18} {len(times):>6} cases  {refused:>6} refused  median {statistics.median(times) * 1000:7.1f} ms"
          f"  slowest {max(times):6.2f} s  total {total:6.1f} s", flush=True)


def _spec(folder: Path, text: bytes) -> str:
    (folder / "spec.toml").write_bytes(text)
    return str(folder / "spec.toml")


def _answers(folder: Path, case) -> str:
    suffix, data = case
    (folder / f"answers{suffix}").write_bytes(data)
    return str(folder / f"answers{suffix}")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    command_cases("solve --no-pdf", spec_texts(),
                  lambda f, t, out: ["solve", _spec(f, t), "--no-pdf", "--out", str(out)], (0,), True, n)
    command_cases("train", spec_texts(), lambda f, t, out: ["train", _spec(f, t)], (0,), False, n)
    command_cases("variants --no-pdf", spec_texts(),
                  lambda f, t, out: ["variants", _spec(f, t), "--count", "2", "--no-pdf", "--out", str(out)],
                  (0,), True, n)
    command_cases("check (spec)", spec_texts(),
                  lambda f, t, out: ["check", _spec(f, t), _answers(f, (".toml", b"h1 = 0.9002\n"))],
                  (0, 1), False, n)
    command_cases("check (answers)", answer_files(),
                  lambda f, a, out: ["check", _answers(f, a)], (0, 1), False, n)


if __name__ == "__main__":
    main()
