"""The checker against synthetic students of computational-graph and optimizer exercises.

The students are worked by the tests' own plain-Python programs (tests/graph_students.py,
tests/optim_students.py): the true values, the values carried after a mistake and the
graph's and optimizers' misconceptions all come from there, never from derive. The first
tests check that program against derive's key (two independent computations that must
agree); the others give students one or two mistakes and expect exactly those called
wrong, everything after them carried or correct, and the injected misconception named.
The full measurement (2,000 students per row) is benchmarks/bench_check.py.
"""

from __future__ import annotations

import math
import random
import tomllib

import pytest

import graph_students as G
import optim_students as O
import students as S
from derive import check as C
from derive.misconceptions import GRAPH_KEYS
from tests.conftest import EXAMPLES
from test_synthetic_students import assert_numbers_findable, describe


def run(population) -> S.Score:
    score = S.Score()
    for student in population:
        report = C.check(student.exercise, student.exercise.solve(), S.answers_of(student))
        score.add(student, report)
        assert_numbers_findable(student, report)
    return score


def registry_places(exercise, written, keys) -> set[tuple[str, str]]:
    return {(alt.misconception.key, q.name) for alt in exercise.alternatives for q in exercise.derivation.quantities
            if alt.misconception.key in keys and q.name in written and q.formula is not None
            and alt.derivation[q.name].formula != q.formula}


def assert_same_numbers(item, spots) -> None:
    """The program's values are derive's key's; each plain-Python misconception gives, on
    the true values, what the registry's swapped formula gives there."""
    solution = item.exercise.solve()
    for name, value in item.truth.items():
        assert math.isclose(value, solution.values[name], rel_tol=1e-9, abs_tol=1e-12), (name, value)
    written = [line.name for line in item.program if line.written]
    fixed = {n: item.truth[n] for n in written}
    for m in spots:
        if not callable(m.detail):
            continue
        registry = [vals[alt.derivation.index[m.name]] for alt in item.exercise.alternatives
                    if alt.misconception.key == m.kind for vals in [alt.evaluator.recompute(item.givens, fixed)[1]]]
        mine = m.detail(dict(item.truth))
        carry = item.exercise.evaluator.carry_decimals
        mine = S.half_up(mine, carry) if carry is not None else mine  # the registry's graph carries rounded too
        assert any(math.isclose(mine, v, rel_tol=1e-9, abs_tol=1e-12) for v in registry), (m.kind, m.name, mine)


# --- computational graphs ------------------------------------------------------------------

def test_graph_program_agrees_with_the_key_and_the_registry():
    rng = random.Random(20)
    for _ in range(60):
        item = G.random_item(rng)
        spots = G.misconception_spots(item.graph, item.program)
        written = {line.name for line in item.program if line.written}
        assert {(m.kind, m.name) for m in spots} == registry_places(item.exercise, written, GRAPH_KEYS)
        assert_same_numbers(item, spots)


def _graph_examples():
    """The graph examples without optimizer steps: the hand-worked graph program here does
    one forward and backward pass (those with steps: tests/test_synthetic_graph_optimizers.py)."""
    return [p for p in sorted(EXAMPLES.glob("graph_*.toml")) if "training" not in tomllib.loads(p.read_text())]


@pytest.mark.parametrize("path", _graph_examples(), ids=lambda p: p.stem)
def test_every_graph_mistake_at_every_place_of_the_examples(path):
    item = G.from_spec(path)
    spots = G.misconception_spots(item.graph, item.program)
    assert_same_numbers(item, spots)
    rng = random.Random(3)
    score = S.Score()
    for mistake in spots + [S.Mistake(k, line.name) for line in item.program for k in ("digits", "sign", "early")]:
        student = S.work(item.exercise, item.program, item.givens, item.truth, [mistake], rng)
        if not student.visible[mistake.name] and mistake.kind not in S.ROUNDING:
            continue
        report = C.check(item.exercise, item.exercise.solve(), S.answers_of(student))
        score.add(student, report)
        assert_numbers_findable(student, report)
    assert not score.failures, describe(score)
    assert score.roots_true > 5


def test_graph_one_mistake_per_sheet():
    score = run(G.population(seed=31, n=250, mistakes=1, graphs=20))
    assert score.names_true > 40 and score.roots_true > 120
    assert score.figures() == {"root recall": 1.0, "root precision": 1.0, "name recall": 1.0,
                               "name precision": 1.0, "downstream right": 1.0}, describe(score)


def test_graph_two_mistakes_per_sheet():
    score = run(G.population(seed=32, n=150, mistakes=2, graphs=20))
    assert min(score.figures().values()) >= 0.99, describe(score)


# --- optimizers ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def optimizer_items():
    rng = random.Random(40)
    return [O.random_item(rng) for _ in range(8)]


def test_optimizer_program_agrees_with_the_key_and_the_registry(optimizer_items):
    seen = set()
    for item in optimizer_items:
        written = {line.name for line in item.program}
        assert set(item.own) == registry_places(item.exercise, written, O.OPTIMIZER_KEYS), item.opt
        assert_same_numbers(item, O.spots(item))
        seen.add(item.opt.key)
    assert len(seen) >= 4  # the sample holds several optimizers


def test_every_optimizer_mistake_at_every_place_of_the_adam_example():
    ex = O.Exercise(O.spec_mod.load(EXAMPLES / "optim_adam_quadratic.toml"))
    s = ex.spec.optimizer
    net, opt = O.Net.of(ex), O.Opt("adam", s.steps, dict(s.hyper))
    lines, own = O.build(ex, net, opt)
    item = O.Item(ex, net, opt, lines, ex.givens(), S.truth(lines, ex.givens()), O.finish(lines, own))
    spots = O.spots(item)
    assert_same_numbers(item, spots)
    # The published numbers of the example (see its header): g1 = 10, m1 = 1, v1 = 0.1,
    # m̂1 = 10, v̂1 = 100, θ1 = 4.9, g2 = 9.8.
    t = item.truth
    assert [round(t[n], 6) for n in ("g_theta[1]", "m_theta[1]", "v_theta[1]", "mhat_theta[1]", "vhat_theta[1]",
                                      "theta*", "g_theta[2]")] == [10, 1, 0.1, 10, 100, 4.9, 9.8]
    rng = random.Random(5)
    score = S.Score()
    for mistake in spots:
        student = S.work(ex, lines, item.givens, item.truth, [mistake], rng)
        if student.visible[mistake.name]:
            score.add(student, C.check(ex, ex.solve(), S.answers_of(student)))
    assert not score.failures, describe(score)
    assert {m.kind for m in spots} >= {"bias_correction_forgotten", "sqrt_left_out", "epsilon_misplaced",
                                       "state_not_carried"}


def test_optimizer_one_mistake_per_sheet():
    score = run(O.population(seed=41, n=120, mistakes=1, exercises=6))
    assert score.names_true > 20 and score.roots_true > 50
    assert score.figures() == {"root recall": 1.0, "root precision": 1.0, "name recall": 1.0,
                               "name precision": 1.0, "downstream right": 1.0}, describe(score)


def test_optimizer_two_mistakes_per_sheet():
    score = run(O.population(seed=42, n=60, mistakes=2, exercises=6))
    assert min(score.figures().values()) >= 0.99, describe(score)


# --- the mistakes the harness added, each against a number worked by hand -------------------

def named(exercise, sheet: dict[str, str]) -> dict:
    answers = [C.Answer(n, C.Written.parse(t), i + 1) for i, (n, t) in enumerate(sheet.items())]
    return {r.name: r for r in C.check(exercise, exercise.solve(), answers).results}


def test_max_gate_gradient_to_both_inputs():
    ex = O.Exercise(O.spec_mod.load(EXAMPLES / "graph_max.toml"))
    # f = 2 (x y + max(z, w)) at z = 2, w = -1: df/dw = 0; passed to both: df/db · 1 = 2
    r = named(ex, {"db/dw": "1.00", "df/dw": "2.00"})
    assert r["db/dw"].verdict == "wrong" and r["db/dw"].misconceptions == ("max_to_both",)
    assert r["df/dw"].verdict == "carried" and r["df/dw"].because == ("db/dw",)
    r = named(ex, {"df/dw": "2.00"})
    assert r["df/dw"].misconceptions == ("max_to_both",)


def test_rate_and_its_complement_swapped():
    ex = O.Exercise(O.spec_mod.load(EXAMPLES / "optim_adam_quadratic.toml"))
    # step 1 from zero state, g1 = 2θ = 10: m1 = 0.1 · 10 = 1, v1 = 0.001 · 100 = 0.1;
    # swapped: m1 = 0.9 · 10 = 9, v1 = 0.999 · 100 = 99.9
    r = named(ex, {"g_theta[1]": "10.0000", "m_theta[1]": "9.0000", "v_theta[1]": "99.9000"})
    assert r["m_theta[1]"].misconceptions == ("rate_swapped",)
    assert r["v_theta[1]"].misconceptions == ("rate_swapped",)


def test_bias_correction_of_step_one_reused():
    ex = O.Exercise(O.spec_mod.load(EXAMPLES / "optim_adam_quadratic.toml"))
    # θ1 = 4.9 (as published), g2 = 9.8, m2 = 0.9 · 1 + 0.1 · 9.8 = 1.88,
    # v2 = 0.999 · 0.1 + 0.001 · 96.04 = 0.19594; m̂2 = 1.88 / (1 − 0.9²) = 9.8947, but
    # divided by 1 − 0.9 again: 18.8; v̂2 by 1 − 0.999: 195.94
    r = named(ex, {"theta*": "4.9000", "m_theta[2]": "1.8800", "v_theta[2]": "0.19594",
                   "mhat_theta[2]": "18.8000", "vhat_theta[2]": "195.9400"})
    assert r["m_theta[2]"].verdict == "correct" and r["v_theta[2]"].verdict == "correct"
    assert r["mhat_theta[2]"].misconceptions == ("correction_not_raised",)
    assert r["vhat_theta[2]"].misconceptions == ("correction_not_raised",)
    assert named(ex, {"mhat_theta[2]": "9.8947"})["mhat_theta[2]"].verdict == "correct"


def test_a_huge_value_of_the_students_own_is_checked_without_a_crash():
    # Found by the harness: 10^30 at 4 decimals has more digits than Decimal's default
    # precision, and telling a cut-off value from a rounded one raised InvalidOperation.
    ex = O.Exercise(O.spec_mod.load(EXAMPLES / "optim_adam_quadratic.toml"))
    r = named(ex, {"Delta_theta[1]": "1e30", "theta*": "1.0000"})
    assert r["theta*"].verdict == "wrong" and r["theta*"].recomputed == 1e30 + 5


def test_the_feedback_sheet_of_an_optimizer_exercise_shows_every_value_by_step():
    # Found with the harness's sheets: the sheet grouped rows by the network's parts only,
    # so an optimizer's steps were left out and its table was empty; and two names or
    # more in the summary were joined with an escaped backslash.
    from derive import feedback, render

    ex = O.Exercise(O.spec_mod.load(EXAMPLES / "optim_adam_quadratic.toml"))
    sheet = {"g_theta[1]": "10.0000", "m_theta[1]": "9.0000", "theta*": "4.9000", "dL'/dtheta": "9.8000",
             "mhat_theta[2]": "18.8000", "L''": "23.0406"}
    answers = [C.Answer(n, C.Written.parse(t), i + 1) for i, (n, t) in enumerate(sheet.items())]
    context = feedback.feedback_context(C.check(ex, ex.solve(), answers))
    titles = [p["title"] for p in context["parts"]]
    assert titles == ["Step 1", "Step 2", "After the update"]
    assert sum(len(p["rows"]) for p in context["parts"]) == len(sheet)
    tex = render.render(render.environment(None), feedback.TEMPLATE, context)
    summary = next(line for line in tex.splitlines() if "to correct" in line)
    assert "textbackslash" not in summary and summary.count(",") >= 1
