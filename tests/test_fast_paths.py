"""What was made faster gives what it gave before: answer and LMS files written one variant
at a time are the bytes of the files made from all Solutions at once, a variants run keeps
no list of Solutions, and the key's numbers follow the number policy's rules."""

from __future__ import annotations

import pytest

from conftest import run_cli
from derive import canvas, export, moodle, qti, variants as V

CATEGORY = "$course$/Backpropagation by hand/seed 7"


@pytest.fixture(scope="module")
def solutions(reference_exercise):
    drawn = V.Sampler(reference_exercise).draw_many(V.numbered(6), base_seed=7)
    return [reference_exercise.solve(v.overrides, seed=v.seed, variant=v.id) for v in drawn]


@pytest.mark.parametrize("fmt, whole", [
    ("moodle", lambda sols: moodle.write_moodle(sols, CATEGORY).encode("utf-8")),
    ("qti21", qti.write_qti21),
    ("canvas", canvas.write_canvas),
])
def test_streamed_lms_files_equal_the_writers_of_all_variants_at_once(solutions, fmt, whole):
    # the LMS modules' own writers take the whole list; the streams take one Solution at a time
    assert export.write(fmt, iter(solutions), CATEGORY if fmt == "moodle" else None) == whole(solutions)


def test_one_exercise_answers_json_is_the_whole_document(reference):
    import json
    data = json.loads(export.write("json", [reference]))
    assert data["variant"] is None and "spec" in data and "quantities" in data


def test_a_variants_run_writes_what_its_solutions_give(tmp_path, reference_exercise):
    formats = ["json", "csv", "moodle", "qti21", "canvas"]
    out = tmp_path / "v"
    done = run_cli("variants", "--count", "5", "--seed", "3", "--no-pdf", "--out", out,
                   *(a for f in formats for a in ("--format", f)))
    assert done.returncode == 0, done.stderr
    drawn = V.Sampler(reference_exercise).draw_many(V.numbered(5), 3)
    sols = [reference_exercise.solve(v.overrides, seed=v.seed, variant=v.id) for v in drawn]
    category = moodle.default_category(reference_exercise.spec.title, "seed 3")
    for fmt in formats:
        name = export.STREAMS[fmt][0]
        assert (out / name).read_bytes() == export.write(fmt, sols, category if fmt == "moodle" else None), name


def test_the_variants_command_keeps_no_solution(tmp_path, monkeypatch, reference_exercise):
    """Every Solution is gone (garbage) before the next is made: the memory of a run does
    not grow with the number of variants."""
    import gc
    import weakref

    from click.testing import CliRunner

    from derive import cli as cli_mod
    from derive.solution import Exercise

    made: list[weakref.ref] = []
    alive_at_each_solve: list[int] = []
    original = Exercise.solve

    def solve(self, *args, **kwargs):
        gc.collect()
        alive_at_each_solve.append(sum(r() is not None for r in made))
        s = original(self, *args, **kwargs)
        made.append(weakref.ref(s))
        return s

    monkeypatch.setattr(Exercise, "solve", solve)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli_mod.cli, ["variants", "--count", "8", "--no-pdf", "--out", "v"])
    assert result.exit_code == 0, result.output
    assert len(made) == 8 and isinstance(made[0], weakref.ref)
    assert max(alive_at_each_solve) <= 1  # at most the one just written, still in the loop's variable


def test_the_keys_number_text_follows_round_is_exact_and_text():
    """NumberPolicy.tex rounds each value once; it must give what its three rules give."""
    import math
    import random
    import struct

    from derive.rounding import LARGE, NumberPolicy, given_text, scientific

    rng = random.Random(9)
    values = [0.0, -0.0, 1.0, 0.125, 0.00005, -0.00005, 0.000049999, 1e6, 999999.99995, 1e-300, 2.2]
    values += [rng.choice([rng.uniform(-2, 2), rng.gauss(0, 1) * 10 ** rng.randint(-8, 8),
                           round(rng.uniform(-3, 3), rng.randint(0, 6)),
                           struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]]) for _ in range(20000)]
    for decimals in (0, 2, 4):
        p = NumberPolicy(decimals)
        for v in values:
            if not math.isfinite(v):
                continue
            if v != 0 and p.round(v) == 0:
                expected = scientific(v, 2)
            elif abs(v) >= LARGE:
                expected = scientific(v, 3)
            elif p.is_exact(v):
                expected = given_text(p.round(v))
            else:
                expected = p.text(v)
            assert p.tex(v) == expected, (decimals, v)
