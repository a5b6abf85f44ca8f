"""L2 weight decay in the loss the key shows: the penalty R = λ/2·Σw² over the decayed
parameters and the objective J = L + R at every pass, against the loss of sympy.diff's
oracle (tests/test_optim.py) and the textbook steps computed there; and the key prints them.
"""

from __future__ import annotations

import random

import pytest

from derive.solution import Exercise

import specs
from test_optim import Oracle, textbook, with_optimizer


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("opt,hp", [("sgd", {}), ("momentum", {"mu": 0.9}), ("adam", {"beta1": 0.9, "beta2": 0.99,
                                                                                    "epsilon": 1e-8})])
def test_penalty_and_objective_at_every_pass(seed, opt, hp):
    rng = random.Random(seed)
    raw = specs.table(bias=rng.choice(["unit", "neuron", "none"]), rng=rng, eta=0.1)
    lam = rng.choice([0.01, 0.1, 0.5])
    biases_too = rng.random() < 0.5
    conv = {"weight_decay": lam, "decay_biases": biases_too}
    steps = rng.randint(1, 3)
    sol = Exercise(specs.load(with_optimizer(raw, opt, steps, hp, conv))).solve()
    o = Oracle(raw)
    decayed = [p for p in o.params if p not in o.frozen and (biases_too or p not in o.bias)]
    points = textbook(o, dict(raw["weights"]), opt, 0.1, steps, hp, conv)[1:]
    points = [dict(raw["weights"])] + points
    for k, w in enumerate(points):
        tag = "'" * k
        r = lam / 2 * sum(w[p] ** 2 for p in decayed)
        assert sol.values[f"R{tag}"] == pytest.approx(r, rel=1e-9, abs=1e-12)
        assert sol.values[f"J{tag}"] == pytest.approx(o.loss(w) + r, rel=1e-9, abs=1e-12)


def test_no_penalty_without_l2_decay():
    raw = specs.table(rng=random.Random(1), eta=0.1)
    for conv in ({}, {"weight_decay": 0.1, "decay": "decoupled"}):
        sol = Exercise(specs.load(with_optimizer(raw, "sgd", 2, {}, conv))).solve()
        assert "R" not in sol.values and "J'" not in sol.values


def test_the_key_shows_the_penalty_and_its_gradient():
    from derive import render

    raw = specs.table(rng=random.Random(3), eta=0.1)
    ex = Exercise(specs.load(with_optimizer(raw, "momentum", 2, {"mu": 0.9}, {"weight_decay": 0.1})))
    tex = render.render(render.environment(), render.KEY, render.context(ex.solve(), "Answer key"))
    assert r"R &= \frac{1}{2} \lambda" in tex and r"J &= \mathcal{L} + R" in tex
    assert r"R'' &=" in tex and r"J'' &=" in tex  # after the last step
    assert r"+ \lambda w_{1}" in tex  # the penalty's gradient, its own term of g
