"""The optimizer mistakes, each committed by hand in plain Python and named by the checker;
and a student's error in step 1 carried forward into step 2."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path


from derive import check as C
from derive import spec as spec_mod
from derive.solution import Exercise

W = {"w1": 0.7, "w2": 1.3, "w3": 1.5, "w4": 0.1, "w5": 0.0, "w6": 0.0, "w7": 0.7, "w8": 0.8, "w9": 0.5}
ETA = 0.1


def sig(t: float) -> float:
    return 1 / (1 + math.exp(-t))


def grad_w7_w9(w: dict) -> tuple[float, float]:
    """∂L/∂w7 and ∂L/∂w9 of the 2-2-1 network (x1 = x2 = 1, y = 1, L = ½(ŷ − y)²)."""
    h1 = sig(w["w1"] + w["w3"] + w["w5"])
    h2 = sig(w["w2"] + w["w4"] + w["w6"])
    e = h1 * w["w7"] + h2 * w["w8"] + w["w9"] - 1
    return e * h1, e


def spec_text(training: str) -> str:
    weights = "\n".join(f"{k} = {v}" for k, v in W.items())
    return f"""
[network]
inputs = ["x1", "x2"]
[[network.layers]]
units = ["h1", "h2"]
activation = "sigmoid"
[[network.layers]]
units = ["yhat"]
activation = "identity"
[loss]
kind = "squared_error"
[[examples]]
x1 = 1
x2 = 1
y = 1
[weights]
{weights}
[training]
learning_rate = {ETA}
{training}
"""


def fmt(value: float, decimals: int = 4) -> str:
    return str(Decimal(value).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


def verdicts(training: str, values: dict[str, float], tmp_path: Path) -> dict:
    ex = Exercise(spec_mod.parse(spec_text(training), "<test>"))
    path = tmp_path / "answers.toml"
    path.write_text("".join(f'"{k}" = {fmt(v)}\n' for k, v in values.items()))
    answers = C.read_answers(path, list(ex.derivation.index))
    report = C.check(ex, ex.solve(), answers)
    return {r.name: r for r in report.results}


def assert_named(result, key: str) -> None:
    # Named alone or as "one of": a velocity of +ηg is also what a gradient of the wrong
    # sign gives (target and output swapped), and the checker names every mistake that fits.
    assert result.verdict == "wrong" and key in result.misconceptions, (result.verdict, result.misconceptions)


def test_every_optimizer_mistake_is_tested():
    from derive.optimizer_mistakes import MISTAKES

    tested = {"bias_correction_forgotten", "sqrt_left_out", "epsilon_misplaced", "momentum_sign_mixed",
              "state_not_carried", "decay_on_biases",
              "rate_swapped", "correction_not_raised"}  # these two: tests/test_synthetic_kinds.py
    assert {m.key for m in MISTAKES} == tested


def test_bias_correction_forgotten(tmp_path):
    g, _ = grad_w7_w9(W)
    m, v = 0.1 * g, 0.001 * g * g
    step = -ETA * m / (math.sqrt(v) + 1e-8)  # m and v as they are
    r = verdicts('optimizer = "adam"', {"Delta_w7[1]": step}, tmp_path)
    assert_named(r["Delta_w7[1]"], "bias_correction_forgotten")


def test_sqrt_left_out(tmp_path):
    g, _ = grad_w7_w9(W)
    mhat, vhat = g, g * g  # step 1 from zero state: the corrected moments are g and g²
    step = -ETA * mhat / (vhat + 1e-8)
    r = verdicts('optimizer = "adam"', {"Delta_w7[1]": step}, tmp_path)
    assert_named(r["Delta_w7[1]"], "sqrt_left_out")


def test_epsilon_inside_instead_of_outside(tmp_path):
    g, _ = grad_w7_w9(W)
    r0 = g * g
    step = -ETA * g / math.sqrt(r0 + 0.1)
    r = verdicts('optimizer = "adagrad"\nepsilon = 0.1', {"Delta_w7[1]": step}, tmp_path)
    assert_named(r["Delta_w7[1]"], "epsilon_misplaced")


def test_momentum_sign_mixed(tmp_path):
    g, _ = grad_w7_w9(W)
    v = 0.9 * 0 + ETA * g  # v ← μv + ηg, from the other form, with w ← w + v
    r = verdicts('optimizer = "momentum"', {"v_w7[1]": v, "w7*": W["w7"] + v}, tmp_path)
    assert_named(r["v_w7[1]"], "momentum_sign_mixed")
    assert r["w7*"].verdict == "carried"


def test_state_not_carried(tmp_path):
    g1, _ = grad_w7_w9(W)
    ex = Exercise(spec_mod.parse(spec_text('optimizer = "momentum"'), "<test>"))
    after = {p: ex.solve().values[f"{p}*"] for p in W}
    g2, _ = grad_w7_w9(after)
    v2 = -ETA * g2  # step 2 as if the velocity had started again at zero
    assert abs(v2 - (0.9 * -ETA * g1 - ETA * g2)) > 1e-3
    r = verdicts('optimizer = "momentum"', {"v_w7[2]": v2}, tmp_path)
    assert_named(r["v_w7[2]"], "state_not_carried")


def test_decay_applied_to_bias(tmp_path):
    _, g9 = grad_w7_w9(W)
    w9 = W["w9"] - ETA * (g9 + 0.1 * W["w9"])
    r = verdicts('optimizer = "sgd"\nweight_decay = 0.1', {"w9*": w9}, tmp_path)
    assert_named(r["w9*"], "decay_on_biases")


def test_error_carried_into_step_two(tmp_path):
    """A wrong velocity in step 1 moves w7*, so step 2's gradient and velocity differ too;
    computed from the student's own values they are right, and the checker says so."""
    ex = Exercise(spec_mod.parse(spec_text('optimizer = "momentum"'), "<test>"))
    true = ex.solve().values
    wrong_v1 = float(fmt(true["v_w7[1]"] + 0.05))
    after = {p: true[f"{p}*"] for p in W} | {"w7": W["w7"] + wrong_v1}
    g2, _ = grad_w7_w9(after)
    v2 = 0.9 * wrong_v1 - ETA * g2
    r = verdicts('optimizer = "momentum"', {"v_w7[1]": wrong_v1, "v_w7[2]": v2}, tmp_path)
    assert r["v_w7[1]"].verdict == "wrong"
    assert r["v_w7[2]"].verdict == "carried" and r["v_w7[2]"].because == ("v_w7[1]",)
