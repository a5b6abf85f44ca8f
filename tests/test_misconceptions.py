"""Each misconception of the registry, committed by hand and named by the checker.

A student's answers are computed here independently, with plain-Python formulas of the
2-2-1 network (sigmoid hidden units, linear output, bias units of value 1, L = ½(ŷ − y)²),
making exactly one mistake; the checker must call the value wrong and name that mistake.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import sympy as sp

from derive import check as C
from derive import spec as spec_mod
from derive.misconceptions import MISCONCEPTIONS, alternatives
from derive.optimizer_mistakes import MISTAKES as OPTIMIZER_MISTAKES
from derive.solution import Exercise

W = {"w1": 0.7, "w2": 1.3, "w3": 1.5, "w4": 0.1, "w5": 0.0, "w6": 0.0, "w7": 0.7, "w8": 0.8, "w9": 0.0}
ETA = 0.2


def sig(t: float) -> float:
    return 1 / (1 + math.exp(-t))


def fmt(value: float, decimals: int = 4) -> str:
    return str(Decimal(value).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


def forward(w, x1=1.0, x2=1.0):
    h1 = sig(x1 * w["w1"] + x2 * w["w3"] + w["w5"])
    h2 = sig(x1 * w["w2"] + x2 * w["w4"] + w["w6"])
    yhat = h1 * w["w7"] + h2 * w["w8"] + w["w9"]
    return h1, h2, yhat


def gradients(w, x1=1.0, x2=1.0, y=1.0):
    """The correct gradients, written out."""
    h1, h2, yhat = forward(w, x1, x2)
    e = yhat - y
    s1, s2 = h1 * (1 - h1), h2 * (1 - h2)
    return {
        "dL/dw1": e * w["w7"] * s1 * x1, "dL/dw3": e * w["w7"] * s1 * x2, "dL/dw5": e * w["w7"] * s1,
        "dL/dw2": e * w["w8"] * s2 * x1, "dL/dw4": e * w["w8"] * s2 * x2, "dL/dw6": e * w["w8"] * s2,
        "dL/dw7": e * h1, "dL/dw8": e * h2, "dL/dw9": e,
    }


def check(exercise, tmp_path: Path, values: dict[str, float | str]):
    path = tmp_path / "answers.toml"
    path.write_text("".join(f'"{k}" = {v if isinstance(v, str) else fmt(v)}\n' for k, v in values.items()))
    answers = C.read_answers(path, list(exercise.derivation.index))
    report = C.check(exercise, exercise.solve(), answers)
    return {r.name: r for r in report.results}


def assert_named(by, name, key, detail=None):
    assert by[name].verdict == "wrong", (name, by[name])
    assert by[name].misconception == key, (name, by[name])
    if detail is not None:
        assert by[name].detail == detail


def test_every_entry_is_tested():
    from derive.misconceptions import GRAPH_KEYS

    tested = {"sigma_prime_missing", "sigma_prime_of_activation", "sign_flipped", "eta_missing",
              "half_forgotten", "sequential_update", "bias_not_updated", "wrong_connection",
              "factor_left_out", "preactivation_for_activation", "target_output_swapped", "other_gradient",
              "old_weights_after"}
    tested |= {m.key for m in OPTIMIZER_MISTAKES}  # in test_optim_check.py
    assert set(MISCONCEPTIONS) - GRAPH_KEYS == tested  # the graph's entries: tests/test_graph_check.py


def test_sigma_prime_missing(reference_exercise, tmp_path):
    h1, h2, yhat = forward(W)
    g1 = (yhat - 1) * W["w7"] * 1.0  # no h1(1 − h1): 0.2719 * 0.7 = 0.1903
    g2 = (yhat - 1) * W["w8"] * 1.0
    by = check(reference_exercise, tmp_path, {"dL/dw1": g1, "dL/dw2": g2, "w1*": W["w1"] - ETA * float(fmt(g1))})
    assert_named(by, "dL/dw1", "sigma_prime_missing")
    assert_named(by, "dL/dw2", "sigma_prime_missing")
    assert by["w1*"].verdict == "carried" and by["w1*"].because == ("dL/dw1",)


def test_sigma_prime_of_the_activation(reference_exercise, tmp_path):
    h1, h2, yhat = forward(W)
    wrong_s1 = sig(h1) * (1 - sig(h1))  # σ(0.9002)(1 − σ(0.9002)) = 0.2038 instead of 0.0898
    g1 = (yhat - 1) * W["w7"] * wrong_s1
    by = check(reference_exercise, tmp_path, {"dh1/dh1_in": wrong_s1, "dL/dw1": g1})
    assert_named(by, "dh1/dh1_in", "sigma_prime_of_activation")
    assert by["dL/dw1"].verdict == "carried"
    # Written without the local value, the gradient itself carries the name.
    by = check(reference_exercise, tmp_path, {"dL/dw1": g1})
    assert_named(by, "dL/dw1", "sigma_prime_of_activation")


def test_sign_flipped(reference_exercise, tmp_path):
    g = gradients(W)
    by = check(reference_exercise, tmp_path, {"dL/dw8": g["dL/dw8"], "w8*": W["w8"] + ETA * g["dL/dw8"]})
    assert by["dL/dw8"].verdict == "correct"
    assert_named(by, "w8*", "sign_flipped")


def test_eta_left_out(reference_exercise, tmp_path):
    g = gradients(W)
    by = check(reference_exercise, tmp_path, {"w1*": W["w1"] - g["dL/dw1"], "w7*": W["w7"] - g["dL/dw7"]})
    assert_named(by, "w1*", "eta_missing")
    assert_named(by, "w7*", "eta_missing")


def test_half_forgotten(reference_exercise, tmp_path):
    h1, h2, yhat = forward(W)
    # L = (ŷ − y)² = 0.0739 instead of 0.0370; ∂L/∂w7 = 2 (ŷ − y) h1 = 0.4896.
    by = check(reference_exercise, tmp_path, {"L": (yhat - 1) ** 2, "dL/dw7": 2 * (yhat - 1) * h1})
    assert_named(by, "L", "half_forgotten")
    assert_named(by, "dL/dw7", "half_forgotten")


def test_sequential_update(reference_exercise, tmp_path):
    h1, h2, yhat = forward(W)
    g = gradients(W)
    w7_new = W["w7"] - ETA * g["dL/dw7"]  # 0.6510, then used in the chain for w1
    g1 = (yhat - 1) * w7_new * h1 * (1 - h1)  # 0.0159 instead of 0.0171
    by = check(reference_exercise, tmp_path, {"w7*": w7_new, "dL/dw1": g1})
    assert by["w7*"].verdict == "correct"
    assert_named(by, "dL/dw1", "sequential_update")


def test_bias_not_updated(reference_exercise, tmp_path):
    # w5* and w9* stay 0 (written with four decimals, so the digits could show -0.0034
    # and -0.0544: wrong, not coarse).
    g = gradients(W)
    by = check(reference_exercise, tmp_path, {"dL/dw9": g["dL/dw9"], "w5*": "0.0000", "w9*": "0.0000"})
    assert_named(by, "w5*", "bias_not_updated")
    assert_named(by, "w9*", "bias_not_updated")


def test_wrong_weight(reference_exercise, tmp_path):
    h1, h2, yhat = forward(W)
    g1 = (yhat - 1) * W["w8"] * h1 * (1 - h1)  # w8 in the chain for w1: 0.0195
    by = check(reference_exercise, tmp_path, {"dL/dw1": g1})
    assert_named(by, "dL/dw1", "wrong_connection", "w8 in place of w7")


def test_wrong_unit_value(reference_exercise, tmp_path):
    h1, h2, yhat = forward(W)
    by = check(reference_exercise, tmp_path, {"dL/dw7": (yhat - 1) * h2})  # h2 for h1: 0.2181
    assert_named(by, "dL/dw7", "wrong_connection", "h2 in place of h1")


def test_wrong_input(tmp_path):
    # With x2 = 0.5 the two inputs differ, so x2 in place of x1 shows in the numbers.
    text = spec_mod.load().source
    src = Path(text).read_text(encoding="utf-8").replace("x2 = 1\n", "x2 = 0.5\n")
    path = tmp_path / "spec.toml"
    path.write_text(src, encoding="utf-8")
    exercise = Exercise(spec_mod.load(str(path)))
    h1, h2, yhat = forward(W, 1.0, 0.5)
    g1 = (yhat - 1) * W["w7"] * h1 * (1 - h1) * 0.5  # x2 instead of x1
    right = gradients(W, 1.0, 0.5)["dL/dw1"]
    assert fmt(g1) != fmt(right)
    by = check(exercise, tmp_path, {"dL/dw1": g1})
    assert_named(by, "dL/dw1", "wrong_connection", "x2 in place of x1")


def test_factor_left_out_each_factor(reference_exercise, tmp_path):
    h1, h2, yhat = forward(W)
    e, s1 = yhat - 1, h1 * (1 - h1)
    # ∂L/∂w1 = (ŷ − y) · 1 · w7 · h1(1 − h1) · x1 = 0.2719 · 0.7 · 0.0898 = 0.0171.
    # Without w7: 0.2719 · 0.0898 = 0.0244 (the example).
    assert fmt(e * s1) == "0.0244"
    by = check(reference_exercise, tmp_path, {"dL/dw1": e * s1})
    assert_named(by, "dL/dw1", "factor_left_out")
    assert "w7" in by["dL/dw1"].note and "left out" in by["dL/dw1"].note
    # Without ∂L/∂ŷ: 0.7 · 0.0898 = 0.0629.
    by = check(reference_exercise, tmp_path, {"dL/dw1": W["w7"] * s1})
    assert_named(by, "dL/dw1", "factor_left_out")
    assert "dL/dyhat" in by["dL/dw1"].note
    # Without σ′ while ∂h1/∂h1_in is written right: 0.2719 · 0.7 = 0.1903; the written
    # local value rules out "σ′ taken as 1".
    by = check(reference_exercise, tmp_path, {"dh1/dh1_in": s1, "dL/dw1": e * W["w7"]})
    assert_named(by, "dL/dw1", "factor_left_out")
    assert by["dL/dw1"].misconceptions == ("factor_left_out",)
    # Without the local value written, both mistakes give 0.1903: named as one of the two.
    by = check(reference_exercise, tmp_path, {"dL/dw1": e * W["w7"]})
    assert set(by["dL/dw1"].misconceptions) == {"sigma_prime_missing", "factor_left_out"}
    assert by["dL/dw1"].note.startswith("one of:")
    # ∂L/∂w7 = (ŷ − y) · h1 = 0.2448; without h1: 0.2719.
    by = check(reference_exercise, tmp_path, {"dL/dw7": e})
    assert_named(by, "dL/dw7", "factor_left_out")


def test_preactivation_for_activation(reference_exercise, tmp_path):
    h1, h2, yhat = forward(W)
    # ∂L/∂w7 with h1_in = 2.2 for h1: 0.2719 · 2.2 = 0.5982; ŷ_in with 2.2 and 1.4 for h1
    # and h2: 2.2 · 0.7 + 1.4 · 0.8 = 2.66.
    by = check(reference_exercise, tmp_path, {"dL/dw7": (yhat - 1) * 2.2})
    assert_named(by, "dL/dw7", "preactivation_for_activation", "h1_in in place of h1")
    by = check(reference_exercise, tmp_path, {"yhat_in": "2.66"})
    assert_named(by, "yhat_in", "preactivation_for_activation")


def test_target_and_output_swapped(reference_exercise, tmp_path):
    h1, h2, yhat = forward(W)
    by = check(reference_exercise, tmp_path, {"dL/dyhat": 1 - yhat, "dL/dw7": (1 - yhat) * h1})
    assert_named(by, "dL/dyhat", "target_output_swapped")  # y − ŷ = −0.2719
    assert by["dL/dw7"].verdict == "carried" and by["dL/dw7"].because == ("dL/dyhat",)


def test_update_with_the_gradient_of_another_parameter(reference_exercise, tmp_path):
    g = gradients(W)
    # w7* = 0.7 − 0.2 · ∂L/∂w8 = 0.7 − 0.2 · 0.2181 = 0.6564 (right: 0.6510).
    by = check(reference_exercise, tmp_path, {"dL/dw7": g["dL/dw7"], "dL/dw8": g["dL/dw8"],
                                              "w7*": W["w7"] - ETA * float(fmt(g["dL/dw8"]))})
    assert_named(by, "w7*", "other_gradient", "dL/dw8 in place of dL/dw7")


def test_loss_after_the_update_with_the_old_weights(reference_exercise, tmp_path):
    g = gradients(W)
    new = {k: v - ETA * g[f"dL/d{k}"] for k, v in W.items()}
    h1n, h2n, yhat_new = forward(new)
    h1, h2, yhat = forward(W)
    # ŷ_in' from the new activations but the old w7, w8, w9: 0.8993 · 0.7 + 0.7989 · 0.8 = 1.2686.
    by = check(reference_exercise, tmp_path, {"h1'": h1n, "h2'": h2n, "yhat_in'": float(fmt(h1n)) * 0.7
                                              + float(fmt(h2n)) * 0.8})
    assert_named(by, "yhat_in'", "old_weights_after")
    # L' copied from L = ½ (1.2719 − 1)² = 0.0370, while ŷ' = 1.1354 is right.
    by = check(reference_exercise, tmp_path, {"L": 0.5 * (yhat - 1) ** 2, "yhat'": yhat_new,
                                              "L'": 0.5 * (yhat - 1) ** 2})
    assert_named(by, "L'", "old_weights_after")
    assert by["L"].verdict == "correct"


def test_swapped_graphs_stay_in_topological_order(reference_exercise):
    for alt in alternatives(reference_exercise.derivation):
        position = alt.derivation.index
        for q in alt.derivation.quantities:
            for s in (q.formula.free_symbols if q.formula is not None else ()):
                assert position[s.name] < position[q.name], (alt.misconception.key, q.name, s.name)
    seq = next(a for a in alternatives(reference_exercise.derivation) if a.misconception.key == "sequential_update")
    assert sp.Symbol("w7*") in seq.derivation["dL/dw1"].formula.free_symbols


def test_an_unrelated_error_is_not_named(reference_exercise, tmp_path):
    # 0.5 for ∂L/∂w7 (true 0.2448) is no known mistake's number.
    by = check(reference_exercise, tmp_path, {"dL/dw7": 0.5})
    assert by["dL/dw7"].verdict == "wrong" and by["dL/dw7"].misconception is None


# --- a network with error terms δ: Mazur's published example (examples/mazur.toml) ----------
# Published there: ∂E/∂w5 = 0.082167041, w5+ = 0.35891648, w7+ = 0.511301270;
# δ_o1 = 0.138498562, δ_o2 = -0.038098236, out_h1 = 0.593269992; η = 0.5, i1 = 0.05.

@pytest.fixture(scope="module")
def mazur():
    root = Path(__file__).resolve().parent.parent
    return Exercise(spec_mod.load(str(root / "examples" / "mazur.toml")))


def test_sign_flipped_in_a_published_example(mazur, tmp_path):
    flipped = 0.40 + 0.5 * 0.082167041  # 0.44108352
    by = check(mazur, tmp_path, {"w5*": fmt(flipped, 8)})
    assert_named(by, "w5*", "sign_flipped")


def test_sequential_update_through_error_terms(mazur, tmp_path):
    # h1 feeds o1 through w5 and o2 through w7 (the post's numbering); a sequential
    # update puts the new w5+, w7+ into δ_h1.
    s_h1 = 0.593269992 * (1 - 0.593269992)
    g1 = (0.138498562 * 0.35891648 + -0.038098236 * 0.511301270) * s_h1 * 0.05  # 0.00036473
    right = (0.138498562 * 0.40 + -0.038098236 * 0.50) * s_h1 * 0.05  # 0.000438568, as published
    assert fmt(right, 9) == "0.000438568"
    by = check(mazur, tmp_path, {"dL/dw1": fmt(g1, 9)})
    assert_named(by, "dL/dw1", "sequential_update")


@pytest.mark.parametrize("example", ["reference", "han_kamber", "mazur"])
def test_the_key_as_written_is_accepted(example, tmp_path):
    # Key and checker share one number policy: every value as the key's text writes it
    # must be accepted (a value too small for the key's decimals is "coarse").
    root = Path(__file__).resolve().parent.parent
    exercise = Exercise(spec_mod.load(str(root / "examples" / f"{example}.toml")))
    solution = exercise.solve()
    values = {q.name: exercise.policy.text(solution.values[q.name])
              for q in exercise.derivation.quantities if q.formula is not None}
    by = check(exercise, tmp_path, {k: f'"{v}"' for k, v in values.items()})
    for name, r in by.items():
        assert r.verdict == ("coarse" if float(values[name]) == 0 and r.expected != 0 else "correct"), name
