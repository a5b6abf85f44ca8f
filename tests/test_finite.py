"""Finite or refused: no NaN or infinity reaches a key, answers.json or a verdict."""

from __future__ import annotations

import json
import math

import pytest

from derive import spec as spec_mod
from derive.activations import ACTIVATIONS
from derive.errors import DeriveError
from derive.evaluate import NotFinite
from derive.solution import Exercise

BASE = spec_mod.builtin_path().read_text()


def _spec(tmp_path, *replacements, name="s.toml"):
    text = BASE
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / name
    path.write_text(text)
    return path


HUGE_INPUTS = (("x1 = 1\nx2 = 1\n", "x1 = 1e200\nx2 = 1e200\n"),
               ('activation = "sigmoid"', 'activation = "relu"'))
STEEP_SLOPE = (("x1 = 1\nx2 = 1\n", "x1 = -1\nx2 = -1\n"),
               ('activation = "sigmoid"\nsymbol = "a"', 'activation = "leaky_relu"\nslope = 1e308'))
HUGE_BIAS = (('bias_unit = "b1"', 'bias_unit = "b1"\nbias_value = 1e308'),)


def _one_line(result):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh", "identity"])
def test_activations_keep_nan(activation):
    act = ACTIVATIONS[activation]
    assert math.isnan(act.numeric(math.nan, 0.1))
    assert math.isnan(act.numeric_prime(math.nan, 0.1)) or activation == "identity"


@pytest.mark.parametrize("activation", [k for k, a in ACTIVATIONS.items() if a.plain is not None])
def test_the_evaluators_direct_function_is_the_activation(activation):
    act = ACTIVATIONS[activation]
    assert not act.has_slope  # a function of t alone cannot honour a slope
    points = [-1e308, -800.0, -40.0, -2.5, -1e-300, -0.0, 0.0, 1e-300, 0.3, 2.2, 40.0, 800.0, math.inf, -math.inf]
    for t in points:
        assert act.plain(t) == act.numeric(t, 0.1), t
    assert math.isnan(act.plain(math.nan))
    assert act.plain(2.2) == pytest.approx(math.tanh(2.2) if activation == "tanh" else
                                           1 / (1 + math.exp(-2.2)) if activation == "sigmoid" else 2.2, rel=1e-15)


def test_relu_of_nan_is_not_zero():
    assert math.isnan(ACTIVATIONS["relu"].numeric(math.nan, 0.0))
    assert ACTIVATIONS["relu"].numeric(-3.0, 0.0) == 0.0 and ACTIVATIONS["relu"].numeric(2.5, 0.0) == 2.5


def test_huge_inputs_are_refused_naming_the_quantity_and_the_input(tmp_path, cli):
    # 1e200 · 0.7 + 1e200 · 1.5 is finite, and so is the ReLU of it and ŷ ≈ 2.9e200, but
    # ½ (ŷ − y)² is about 4e400: the loss is the first value that overflows.
    path = _spec(tmp_path, *HUGE_INPUTS)
    out = tmp_path / "out"
    line = _one_line(cli("solve", path, "--out", out, "--no-pdf"))
    assert line.startswith(f"derive: {path}: examples[0].x")
    assert " L overflows" in line and "x1 = 1e+200" in line or "x2 = 1e+200" in line
    assert not out.exists()  # nothing written
    with pytest.raises(DeriveError) as info:
        Exercise(spec_mod.load(path)).solve()
    assert "L overflows" in str(info.value)


def test_huge_inputs_in_check_are_refused(tmp_path, cli):
    path = _spec(tmp_path, *HUGE_INPUTS)
    answers = tmp_path / "a.toml"
    answers.write_text('h1_in = 1\n')
    line = _one_line(cli("check", path, answers))
    assert "L overflows" in line


def test_huge_inputs_train_diverges_at_the_first_step(tmp_path, cli):
    path = _spec(tmp_path, *HUGE_INPUTS)
    result = cli("train", path, "--eta", "0.2", "--steps", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("verdict: diverging (at step 1 ")
    assert "Error: inf" in result.stdout


def test_steep_leaky_slope_is_refused_on_load(tmp_path, cli):
    # A slope of 1e308 would make LReLU(−2.2) overflow; a leaky slope is a fraction below 1,
    # so the spec is refused before anything is computed.
    path = _spec(tmp_path, *STEEP_SLOPE)
    line = _one_line(cli("solve", path, "--no-pdf", "--out", tmp_path / "out"))
    assert f"{path}: network.layers[0].slope: expected a number from 0 up to (not including) 1" in line


def test_huge_bias_value_is_blamed_on_the_bias_unit(tmp_path, cli):
    # The forward pass is finite (w5 = w6 = 0), the gradient of w5 is about 1.7e306, so w5*
    # is about 3e305 and b1 · w5* = 1e308 · (−3e305) in the pass after the update overflows.
    path = _spec(tmp_path, *HUGE_BIAS)
    line = _one_line(cli("solve", path, "--no-pdf", "--out", tmp_path / "out"))
    assert f"{path}: network.layers[0].bias_value: h1_in' overflows to -inf" in line
    assert "b1 = 1e+308" in line


def test_huge_bias_value_run_diverges_where_the_update_broke(tmp_path):
    exercise = Exercise(spec_mod.load(_spec(tmp_path, *HUGE_BIAS)))
    from derive.training import RunSpec
    (run,) = exercise.train((RunSpec(0.2, 5),))
    # the loss of step 1 is the reference exercise's own (b1 only multiplies w5 = w6 = 0)
    assert run.losses[0] == pytest.approx(0.0369707241, abs=1e-10)
    assert run.overflow_at == 2 and math.isinf(run.losses[1]) and run.verdict == "diverging"


def test_overflow_after_an_online_pass_names_the_learning_rate(tmp_path, cli):
    path = _spec(tmp_path,
                 ("[[examples]]\nx1 = 1\nx2 = 1\ny = 1\n",
                  "[[examples]]\nx1 = 1\nx2 = 1\ny = 1\n\n[[examples]]\nx1 = 0.5\nx2 = -1\ny = 0\n"),
                 ("learning_rate = 0.2\n\n", 'learning_rate = 1e300\nupdate = "online"\n\n'))
    line = _one_line(cli("solve", path, "--no-pdf", "--out", tmp_path / "out"))
    assert f"{path}: training.learning_rate:" in line and "eta = 1e+300" in line
    assert "weights:" not in line


def test_a_non_finite_given_value_is_refused(reference_exercise):
    with pytest.raises(DeriveError) as info:
        reference_exercise.solve({"x1": math.nan})
    assert str(info.value).endswith("examples[0].x1: x1 is nan: expected a finite number")
    with pytest.raises(NotFinite):
        reference_exercise.evaluator.evaluate(reference_exercise.givens({"w7": math.inf}))


def test_answers_json_is_strict(tmp_path, cli):
    out = tmp_path / "out"
    assert cli("solve", "--no-pdf", "--out", out).returncode == 0
    text = (out / "answers.json").read_text()

    def refuse(name):
        raise ValueError(name)

    data = json.loads(text, parse_constant=refuse)  # NaN, Infinity, -Infinity are refused
    assert all(math.isfinite(v) for v in data["quantities"].values())
