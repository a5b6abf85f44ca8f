"""Every gradient the derivation computes, against two independent oracles: sympy.diff of
the composed loss and mpmath's high-precision numerical derivative of it.

Covered: every activation × every loss (with the output activations it is used with) ×
every bias convention on a fixed structure, plus random structures drawn by hypothesis.
"""

from __future__ import annotations

import itertools
import math
import random
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.activations import ACTIVATIONS
from derive.solution import Exercise

import oracle
import specs

HIDDEN = [k for k, a in ACTIVATIONS.items() if a.elementwise]
# (output activation, loss table): each loss with the output activations it is taught with.
OUTPUT_LOSS = [
    ("identity", {"kind": "squared_error", "half": True}),
    ("identity", {"kind": "squared_error", "half": False, "outputs": "mean"}),
    ("sigmoid", {"kind": "squared_error", "half": True}),
    ("tanh", {"kind": "mse"}),
    ("relu", {"kind": "squared_error", "half": True}),
    ("leaky_relu", {"kind": "squared_error", "half": True}),
    ("softmax", {"kind": "squared_error", "half": True}),
    ("sigmoid", {"kind": "binary_cross_entropy"}),
    ("softmax", {"kind": "cross_entropy"}),
    ("sigmoid", {"kind": "cross_entropy", "outputs": "mean"}),
]
BIAS = ["unit", "neuron", "layer", "none"]


def assert_gradients_match(raw: dict, methods=("diff", "fd")) -> None:
    """Compare every gradient with the oracles (drawn values near a ReLU kink are skipped)."""
    ex = Exercise(specs.load(raw))
    sol = ex.solve()
    g = ex.givens()
    if not away_from_kinks(ex, sol):
        pytest.skip("a ReLU pre-activation lies on the kink")
    loss = oracle.composed_loss(ex.derivation)
    assert sol.values["L"] == pytest.approx(oracle.loss_value(loss, g), rel=1e-12, abs=1e-14)
    for p in ex.network.params:
        ours = sol.values[f"dL/d{p.name}"]
        if "diff" in methods:
            assert ours == pytest.approx(oracle.sympy_gradient(loss, p.name, g), rel=1e-9, abs=1e-12), p.name
        if "fd" in methods:
            assert ours == pytest.approx(oracle.finite_difference(loss, p.name, g), rel=1e-9, abs=1e-12), p.name


def away_from_kinks(ex: Exercise, sol) -> bool:
    # ReLU has no derivative at 0; a finite difference across the kink would be meaningless.
    kinked = {f"{u}_in" for l in ex.network.layers if l.activation in ("relu", "leaky_relu") for u in l.units}
    return all(abs(v) > 1e-6 for name, v in sol.values.items() if name.split("[")[0] in kinked)


@pytest.mark.parametrize("hidden,output_loss,bias", list(itertools.product(HIDDEN, OUTPUT_LOSS, BIAS)))
def test_every_activation_loss_and_bias_convention(hidden, output_loss, bias):
    output, loss = output_loss
    outputs = ("o1", "o2") if output == "softmax" or loss.get("outputs") == "mean" else ("yhat",)
    seed = zlib.crc32(repr((hidden, output, loss, bias)).encode())
    raw = specs.table(hidden_act=hidden, output_act=output, outputs=outputs, loss=dict(loss), bias=bias,
                      rng=random.Random(seed))
    assert_gradients_match(raw)


@pytest.mark.parametrize("examples", ["sum", "mean"])
def test_several_examples_reduce_by_the_stated_convention(examples):
    raw = specs.table(n_examples=3, loss={"kind": "squared_error", "half": True, "examples": examples},
                      rng=random.Random(7))
    assert_gradients_match(raw)


def test_reference_exercise_against_both_oracles(reference_spec):
    assert_gradients_match(dict(reference_spec.raw))


def test_frozen_and_untrained_parameters_keep_their_value():
    raw = specs.table(bias="neuron", train_bias=False, frozen=["w1"], rng=random.Random(3))
    sol = Exercise(specs.load(raw)).solve()
    for name in ("w1", "b_h1", "b_h2", "b_yhat"):
        assert sol.values[f"{name}*"] == raw["weights"][name]
    # Everything else moves by exactly -η times its gradient.
    eta = raw["training"]["learning_rate"]
    assert sol.values["w2*"] == pytest.approx(raw["weights"]["w2"] - eta * sol.values["dL/dw2"], abs=1e-15)


layers_st = st.lists(st.integers(1, 3), min_size=0, max_size=2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    n_in=st.integers(1, 3),
    hidden=layers_st,
    n_out=st.integers(1, 3),
    hidden_act=st.sampled_from(HIDDEN),
    output_loss=st.sampled_from(OUTPUT_LOSS),
    bias=st.sampled_from(BIAS),
    n_examples=st.integers(1, 2),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_networks(n_in, hidden, n_out, hidden_act, output_loss, bias, n_examples, seed):
    output, loss = output_loss
    if output == "softmax":
        n_out = max(n_out, 2)
    raw = specs.table(
        inputs=tuple(f"x{i + 1}" for i in range(n_in)),
        hidden=tuple(tuple(f"h{l + 1}_{u + 1}" for u in range(n)) for l, n in enumerate(hidden)),
        outputs=tuple(f"o{k + 1}" for k in range(n_out)) if n_out > 1 else ("yhat",),
        hidden_act=hidden_act, output_act=output, loss=dict(loss), bias=bias,
        n_examples=n_examples, rng=random.Random(seed),
    )
    assert_gradients_match(raw)
    assert math.isfinite(Exercise(specs.load(raw)).solve().values["L'"])
