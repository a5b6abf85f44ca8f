"""The checker against synthetic students of graph exercises with optimizer steps.

A computational graph with a ``[training]`` table (examples/graph_adam_parabola.toml,
graph_momentum_bowl.toml, graph_rosenbrock_nesterov.toml, and random graphs under every
optimizer convention) is worked by the tests' own program (tests/graph_students.py, last
section): each pass of the graph in plain Python, a node's formula read with ``ast`` and
its local gradients by dual numbers, then the optimizer's step as tests/optim_students.py
works it, from the spec read with tomllib. The first tests check that program against
derive's key and misconception registry (two independent computations that must agree);
the others give students one or two mistakes and expect exactly those called wrong,
everything after them carried or correct, and the injected misconception named. The full
measurement (2,000 students per row) is ``benchmarks/bench_check.py --kind graph-optimizer``.
"""

from __future__ import annotations

import random
import tomllib

import pytest

import graph_students as G
import students as S
from derive import check as C
from derive.misconceptions import GRAPH_KEYS, OPTIMIZER_KEYS
from tests.conftest import EXAMPLES
from test_synthetic_kinds import assert_same_numbers, registry_places, run
from test_synthetic_students import assert_numbers_findable, describe

KEYS = GRAPH_KEYS | OPTIMIZER_KEYS
WITH_STEPS = [p for p in sorted(EXAMPLES.glob("graph_*.toml")) if "training" in tomllib.loads(p.read_text())]


def sheets():
    """Each example as its sheet asks it; Rosenbrock's also with step 1's backward pass
    asked (its sheet asks the forward pass alone), where the graph's own mistakes are made."""
    out = [pytest.param(p.read_text(), id=p.stem) for p in WITH_STEPS]
    rosenbrock = (EXAMPLES / "graph_rosenbrock_nesterov.toml").read_text()
    both = rosenbrock.replace('include = ["forward"]', 'include = ["forward", "backward"]')
    assert both != rosenbrock
    return out + [pytest.param(both, id="graph_rosenbrock_nesterov-backward-asked")]


def test_the_three_examples_are_the_ones_with_steps():
    assert [p.stem for p in WITH_STEPS] == ["graph_adam_parabola", "graph_momentum_bowl", "graph_rosenbrock_nesterov"]


@pytest.mark.parametrize("text", sheets())
def test_the_program_agrees_with_the_key_and_the_registry_on_every_quantity(text):
    item = G.optimizer_item(text)
    assert set(item.truth) == {q.name for q in item.exercise.derivation.quantities}
    spots = G.optimizer_spots(item)
    written = {line.name for line in item.program if line.written}
    assert {(m.kind, m.name) for m in spots} == registry_places(item.exercise, written, KEYS)
    assert_same_numbers(item, spots)


def test_the_program_gives_the_published_numbers():
    """Against the sources the examples cite, not against derive."""
    adam = G.optimizer_item((EXAMPLES / "graph_adam_parabola.toml").read_text()).truth
    # Basran (2024), p. 12: g1 = 10, m1 = 1, v1 = 0.1, m̂1 = 10, v̂1 = 100, θ1 = 4.9, g2 = 9.8
    assert [round(adam[n], 6) for n in ("g_theta[1]", "m_theta[1]", "v_theta[1]", "mhat_theta[1]",
                                        "vhat_theta[1]", "theta*", "g_theta[2]")] == [10, 1, 0.1, 10, 100, 4.9, 9.8]
    rosenbrock = G.optimizer_item((EXAMPLES / "graph_rosenbrock_nesterov.toml").read_text()).truth
    assert round(rosenbrock["f"], 10) == 24.2  # 2.2² + 100·0.44² at Moré et al.'s start (−1.2, 1)
    # Dive into Deep Learning §12.6.1: momentum v ← βv + g, x ← x − ηv, η = 0.6, from
    # (−5, −2) on 0.1·x1² + 2·x2²: after 20 steps x1 = 0.007188, x2 = 0.002553 with β = 0.5,
    # x1 = −0.126340, x2 = −0.186632 with β = 0.25 (more steps than a spec allows: the
    # program is run alone)
    raw = tomllib.loads((EXAMPLES / "graph_momentum_bowl.toml").read_text())
    g = G._graph_of(raw["graph"])
    for mu, x1, x2 in ((0.5, 0.007188, 0.002553), (0.25, -0.126340, -0.186632)):
        training = {**raw["training"], "mu": mu, "steps": 20}
        o = G.opt_of(training)
        lines, _, _ = G.optimizer_program(g, ("x1", "x2"), o)
        t = S.truth(lines, G.optimizer_givens(g, ("x1", "x2"), training, o))
        assert (round(t["x1*[20]"], 6), round(t["x2*[20]"], 6)) == (x1, x2)


def test_random_graphs_under_every_optimizer_agree_with_the_key_and_the_registry():
    rng = random.Random(60)
    seen = set()
    for _ in range(40):
        item = G.random_optimizer_item(rng)
        assert set(item.truth) == {q.name for q in item.exercise.derivation.quantities}
        spots = G.optimizer_spots(item)
        written = {line.name for line in item.program if line.written}
        assert {(m.kind, m.name) for m in spots} == registry_places(item.exercise, written, KEYS), item.opt
        assert_same_numbers(item, spots)
        seen.add(item.opt.key)
        seen.update(m.kind for m in spots)
    assert {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"} <= seen
    assert KEYS - {"decay_on_biases", "max_to_both"} <= seen  # a graph's inputs are never biases


@pytest.mark.parametrize("text", sheets())
def test_every_mistake_at_every_place_of_the_examples(text):
    item = G.optimizer_item(text)
    spots = G.optimizer_spots(item)
    rng = random.Random(3)
    score = S.Score()
    slips = [S.Mistake(k, line.name) for line in item.program if line.written for k in ("digits", "sign", "early")]
    for mistake in spots + slips:
        try:
            student = S.work(item.exercise, item.program, item.givens, item.truth, [mistake], rng)
        except (ArithmeticError, ValueError):  # e.g. a sign slip in v, whose square root no one can take
            continue
        if not student.visible[mistake.name] and mistake.kind not in S.ROUNDING:
            continue
        report = C.check(item.exercise, item.exercise.solve(), S.answers_of(student))
        score.add(student, report)
        assert_numbers_findable(student, report)
    assert not score.failures, describe(score)
    assert score.roots_true > 40 and score.names_true > 10


def test_one_mistake_per_sheet():
    score = run(G.optimizer_population(seed=71, n=200, mistakes=1, exercises=15))
    assert score.names_true > 30 and score.roots_true > 100
    assert score.figures() == {"root recall": 1.0, "root precision": 1.0, "name recall": 1.0,
                               "name precision": 1.0, "downstream right": 1.0}, describe(score)


def test_two_mistakes_per_sheet():
    score = run(G.optimizer_population(seed=72, n=120, mistakes=2, exercises=15))
    assert min(score.figures().values()) >= 0.99, describe(score)




def test_a_graph_mistake_in_a_later_step_is_called_wrong_and_carried():
    """The registry names the graph's mistakes in step 1's pass only (as a network's in
    its first pass); made again in a later step's pass, such a mistake must still be the
    one value called wrong, with everything after it carried or correct."""
    rng = random.Random(9)
    score = S.Score()
    texts = [p.values[0] for p in sheets()]
    items = [G.optimizer_item(t) for t in texts] + [G.random_optimizer_item(rng) for _ in range(15)]
    for item in items:
        for mistake in G.later_pass_spots(item):
            try:
                student = S.work(item.exercise, item.program, item.givens, item.truth, [mistake], rng)
            except (ArithmeticError, ValueError):
                continue
            if not student.visible[mistake.name]:
                continue
            report = C.check(item.exercise, item.exercise.solve(), S.answers_of(student))
            score.add(student, report)
            assert not any(r.misconceptions for r in report.results if r.name != mistake.name)
    assert score.roots_true > 20
    f = score.figures()
    assert (f["root recall"], f["root precision"], f["downstream right"]) == (1.0, 1.0, 1.0), describe(score)
    assert score.names_found == 0  # not named: see the docstring
