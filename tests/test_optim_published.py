"""Published hand-worked optimizer steps, against the numbers printed in the source."""

from __future__ import annotations

import pytest

from derive import spec as spec_mod
from derive.solution import Exercise

from conftest import EXAMPLES


def test_basran_adam_on_a_quadratic():
    """G. Basran, "The Full Adam Algorithm" (MATH 3850 notes, page 12): f(θ) = θ² from θ = 5,
    α = 0.1, β1 = 0.9, β2 = 0.999, ε = 1e-8; the page prints these exact values (ε moves
    them by 1e-10 at most)."""
    v = Exercise(spec_mod.load(EXAMPLES / "optim_adam_quadratic.toml")).solve().values
    printed = {"dL/dtheta": 10, "m_theta[1]": 1, "v_theta[1]": 0.1, "mhat_theta[1]": 10,
               "vhat_theta[1]": 100, "theta*": 4.9, "dL'/dtheta": 9.8}
    for name, value in printed.items():
        assert v[name] == pytest.approx(value, abs=1e-9), name


QUADRATIC_FROM_2 = """
[network]
inputs = ["x"]
bias = "none"
[[network.layers]]
units = ["yhat"]
activation = "identity"
[loss]
kind = "squared_error"
half = false
[[examples]]
x = 1
y = 0
[weights]
w1 = 2
[training]
learning_rate = 0.1
optimizer = "adam"
epsilon = 0
steps = 1
"""


def test_q4quant_first_adam_update():
    """q4quant.studio, "Compute the First Adam Update by Hand" (optimization exercises,
    Adam ex. 1): g1 = 4 (here f = θ² at θ = 2), m0 = v0 = 0, α = 0.1, β1 = 0.9,
    β2 = 0.999, ε = 0; printed: m1 = 0.4, v1 = 0.016, m̂1 = 4, v̂1 = 16, step −0.1."""
    v = Exercise(spec_mod.parse(QUADRATIC_FROM_2, "<q4quant>")).solve().values
    assert v["dL/dw1"] == 4
    printed = {"m_w1[1]": 0.4, "v_w1[1]": 0.016, "mhat_w1[1]": 4, "vhat_w1[1]": 16, "Delta_w1[1]": -0.1}
    for name, value in printed.items():
        assert v[name] == pytest.approx(value, rel=1e-12), name
