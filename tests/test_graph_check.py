"""Checking a hand-worked backward pass through a computational graph: errors carried
through the graph, root errors first, and the graph's own misconceptions recognised by
their numbers. Every expected number is worked out here by hand from the formulas."""

from __future__ import annotations

import math

import pytest

from derive import check, spec as spec_mod
from derive.solution import Exercise
from tests.conftest import EXAMPLES, run_cli


def sigmoid(t: float) -> float:
    return 1 / (1 + math.exp(-t))


def run(exercise: Exercise, answers: str, tmp_path) -> dict[str, check.Result]:
    path = tmp_path / "answers.toml"
    path.write_text(answers)
    parsed = check.read_answers(path, list(exercise.derivation.index))
    report = check.check(exercise, exercise.solve(), parsed)
    return {r.name: r for r in report.results}


@pytest.fixture(scope="module")
def sum_product():
    return Exercise(spec_mod.load(EXAMPLES / "graph_sum_product.toml"))


def test_errors_carried_through_the_graph(sum_product, tmp_path):
    # q = x + y written as 4 (wrong); f = q z and df/dz = q then follow from it.
    r = run(sum_product, 'q = 4.00\nf = -16.00\n"df/dz" = 4.00\n"df/dq" = -4.00\n', tmp_path)
    assert r["q"].verdict == "wrong"
    assert r["f"].verdict == "carried" and r["f"].because == ("q",)
    assert r["df/dz"].verdict == "carried" and r["df/dz"].because == ("q",)
    assert r["df/dq"].verdict == "correct"


def test_multiply_gate_not_swapped(sum_product, tmp_path):
    # ∂(q z)/∂z taken as z = -4 instead of q = 3
    r = run(sum_product, '"df/dz" = -4\n', tmp_path)
    assert r["df/dz"].misconception == "own_input_at_multiply"


def test_upstream_left_out(tmp_path):
    ex = Exercise(spec_mod.load(EXAMPLES / "graph_sigmoid_neuron.toml"))
    # df/dx0 = df/dp0 · ∂p0/∂x0 = 0.197 · w0; left out: just w0 = 2
    r = run(ex, '"df/dp0" = 0.20\n"df/dx0" = 2\n', tmp_path)
    assert r["df/dp0"].verdict == "correct"
    assert r["df/dx0"].misconception == "upstream_left_out"


def test_fork_not_summed(tmp_path):
    ex = Exercise(spec_mod.load(EXAMPLES / "graph_used_twice.toml"))
    x, y = 3, -4
    sigy, sigx = sigmoid(y), sigmoid(x)
    den = sigx + (x + y) ** 2
    # y feeds sigy and xpy; only the path through sigy: (1/den) · σ'(y)
    only_sigy = (1 / den) * sigy * (1 - sigy)
    r = run(ex, f'"df/dy" = {only_sigy:.4f}\n', tmp_path)
    assert r["df/dy"].verdict == "wrong"
    assert r["df/dy"].misconception == "fork_not_summed"


def test_sign_slip_in_subtraction_and_division(tmp_path):
    spec = spec_mod.parse('[graph]\ninputs = { x = 3, y = 2, z = 4 }\n'
                          'nodes = [ { q = "x - y" }, { r = "q * q" }, { f = "z / r" } ]\n', "slip.toml")
    ex = Exercise(spec)
    # q = 1, r = 1, f = 4; ∂f/∂r = -z/r² = -4, slipped: 4; ∂q/∂y = -1, slipped: 1
    got = run(ex, '"df/dr" = 4\n"dq/dy" = 1\n', tmp_path)
    assert got["df/dr"].misconception == "sign_slip"
    assert got["dq/dy"].misconception == "sign_slip"
    # with the slipped local gradient, df/dy = df/dq · 1 = (-8) · 1 follows from it
    got = run(ex, '"dq/dy" = 1\n"df/dy" = -8\n', tmp_path)
    assert got["df/dy"].verdict == "carried" and got["df/dy"].because == ("dq/dy",)


def test_network_mistakes_stay_with_networks(reference_exercise, sum_product):
    from derive.misconceptions import GRAPH_KEYS, alternatives

    assert {a.misconception.key for a in alternatives(sum_product.derivation)} <= GRAPH_KEYS
    assert not {a.misconception.key for a in alternatives(reference_exercise.derivation)} & GRAPH_KEYS


def test_check_command(tmp_path):
    answers = tmp_path / "a.toml"
    answers.write_text('q = 3\nf = -12\n"df/dz" = -4\n')
    result = run_cli("check", EXAMPLES / "graph_sum_product.toml", answers)
    assert result.returncode == 1
    assert "multiply gate not swapped" in result.stdout
    answers.write_text('q = 3\n"df/dw" = 1\n')
    result = run_cli("check", EXAMPLES / "graph_sum_product.toml", answers)
    assert result.returncode == 2 and "df/dw" in result.stderr and "not a quantity" in result.stderr


def test_every_graph_entry_is_tested():
    from derive.misconceptions import GRAPH_KEYS

    assert GRAPH_KEYS == {"upstream_left_out", "own_input_at_multiply", "fork_not_summed", "sign_slip",
                          "max_to_both"}  # this one: tests/test_synthetic_kinds.py
