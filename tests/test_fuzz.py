"""Hostile inputs against every command: success, or one line and exit 2, nothing written.

A few hundred cases per command, derandomized so that CI is repeatable; the benchmark
benchmarks/fuzz_inputs.py runs thousands with fresh seeds. See tests/fuzzing.py.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from fuzzing import answer_files, assert_obeys, run, spec_texts

CASES = settings(max_examples=int(os.environ.get("FUZZ_CASES", 200)), deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _spec(folder: Path, text: bytes) -> Path:
    path = folder / "spec.toml"
    path.write_bytes(text)
    return path


@CASES
@given(spec_texts())
def test_solve(text):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        assert_obeys(run(["solve", str(_spec(Path(tmp), text)), "--no-pdf", "--out", str(out)]), out)


@CASES
@given(spec_texts())
def test_train(text):
    with tempfile.TemporaryDirectory() as tmp:
        assert_obeys(run(["train", str(_spec(Path(tmp), text))]), None)


@CASES
@given(spec_texts())
def test_variants(text):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        args = ["variants", str(_spec(Path(tmp), text)), "--count", "2", "--no-pdf", "--out", str(out)]
        assert_obeys(run(args), out, ok=(0,))


@CASES
@given(answer_files())
def test_check_answers(case):
    suffix, data = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"answers{suffix}"
        path.write_bytes(data)
        assert_obeys(run(["check", str(path)]), None, ok=(0, 1))  # 1: a value is wrong


@CASES
@given(spec_texts())
def test_check_spec(text):
    with tempfile.TemporaryDirectory() as tmp:
        answers = Path(tmp) / "answers.toml"
        answers.write_text("h1 = 0.9002\n")
        assert_obeys(run(["check", str(_spec(Path(tmp), text)), str(answers)]), None, ok=(0, 1))
