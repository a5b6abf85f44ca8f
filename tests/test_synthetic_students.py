"""The checker against synthetic students (tests/students.py): a fixed-seed sample.

Each student works a random network's sheet from the true values with known mistakes and
carries everything after a mistake forward from their own rounded values. What is
expected comes from what was injected, never from the checker. The full measurement
(over 2,000 students per row) is benchmarks/bench_check.py; its figures are in the README.
"""

from __future__ import annotations

import random

import pytest

import students as S
from derive import check as C
from derive import spec as spec_mod
from derive.notes import number
from derive.rounding import fixed
from derive.solution import Exercise


def run(population) -> S.Score:
    score = S.Score()
    for student in population:
        report = C.check(student.exercise, student.exercise.solve(), S.answers_of(student))
        score.add(student, report)
        assert_numbers_findable(student, report)
    return score


def assert_numbers_findable(student: S.Student, report) -> None:
    """Every number in a note is a value the student wrote, the exact value at the sheet's
    precision (or the student's, if finer), or what the student's own values give."""
    d = student.exercise.policy.decimals
    for r in report.results:
        w = report.written[r.name]
        allowed = {t for t in student.sheet.values()} | {number(r.expected, max(d, w.decimals), strip=False)}
        if r.recomputed is not None:
            allowed |= {number(r.recomputed, k, strip=False) for k in (w.decimals, max(d, w.decimals + 1))}
            allowed.add(fixed(r.recomputed, w.exponent))
        for kind, s in r.segments:
            if kind == "v":
                assert s in allowed, (r.name, s, r.note)


def describe(score: S.Score) -> str:
    return "\n".join(f"{[(m.kind, m.name) for m in st.mistakes]} -> missed {missed}: "
                     + "; ".join(f"{r.name} {r.verdict} {r.misconceptions} {r.note}" for r in rep.results
                                 if r.name in missed)
                     for st, rep, missed in score.failures[:5])


def test_one_mistake_per_sheet():
    score = run(S.population(seed=7, n=60, mistakes=1, exercises=6))
    assert score.roots_true > 30 and score.names_true > 10  # the sample holds mistakes of each kind
    assert score.figures() == {"root recall": 1.0, "root precision": 1.0, "name recall": 1.0,
                               "name precision": 1.0, "downstream right": 1.0}, describe(score)


def test_two_mistakes_per_sheet():
    score = run(S.population(seed=8, n=40, mistakes=2, exercises=6))
    f = score.figures()
    assert min(f.values()) >= 0.99, describe(score)


@pytest.fixture(scope="module")
def reference():
    return Exercise(spec_mod.load())


def test_every_misconception_at_every_place_of_the_reference(reference):
    # (a) of the harness, exhaustively on the built-in exercise: each registered mistake at
    # each quantity whose formula it changes.
    rng = random.Random(1)
    score = S.Score()
    seen = set()
    for mistake in S.places(reference):
        student = S.make(reference, [mistake], rng)
        if not student.visible[mistake.name]:
            continue
        seen.add(mistake.kind)
        score.add(student, C.check(reference, reference.solve(), S.answers_of(student)))
    assert seen >= {"sign_flipped", "eta_missing", "half_forgotten", "sigma_prime_missing", "sequential_update",
                    "bias_not_updated", "wrong_connection", "factor_left_out", "preactivation_for_activation",
                    "target_output_swapped", "other_gradient", "old_weights_after"}
    assert score.figures()["root recall"] == 1.0 and score.figures()["name recall"] == 1.0, describe(score)
    assert score.figures()["name precision"] == 1.0 and score.downstream_bad == 0, describe(score)


@pytest.mark.parametrize("kind", ["digits", "sign", "early", "coarse"])
def test_slips_and_rounding_at_every_value_name_no_misconception(reference, kind):
    rng = random.Random(2)
    score = S.Score()
    for name in S.computed(reference):
        student = S.make(reference, [S.Mistake(kind, name)], rng)
        if kind in S.SLIPS and not student.visible[name]:
            continue
        report = C.check(reference, reference.solve(), S.answers_of(student))
        score.add(student, report)
        assert_numbers_findable(student, report)
    assert not score.failures, describe(score)
    if kind in S.ROUNDING:
        assert score.roots_claimed == 0  # rounding early is not a mistake of the calculation


def test_a_student_without_mistakes_is_all_correct(reference):
    student = S.make(reference, [], random.Random(0))
    report = C.check(reference, reference.solve(), S.answers_of(student))
    assert {r.verdict for r in report.results} == {"correct"}
