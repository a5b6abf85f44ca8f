"""Conventions that change the numbers or the key's form: online updates, names by
connection, the ŷ − y simplifications, error terms δ for deep networks, chain selection."""

from __future__ import annotations

import json
import random

import pytest

from derive import spec as spec_mod
from derive.errors import SpecError
from derive.latex import latex_name, tex
from derive.solution import Exercise

import oracle
import specs
from conftest import EXAMPLES


def test_online_updates_follow_the_examples_in_order():
    raw = specs.table(n_examples=3, rng=random.Random(11), eta=0.7)
    raw["training"]["update"] = "online"
    sol = Exercise(specs.load(raw)).solve()

    # Oracle: one plain gradient step per example, each from a single-example spec whose
    # weights are the ones the previous step left, each gradient by finite differences.
    weights = dict(raw["weights"])
    for example in raw["examples"]:
        single = dict(raw, examples=[example], weights=dict(weights), training={"learning_rate": 0.7})
        ex = Exercise(specs.load(single))
        loss = oracle.composed_loss(ex.derivation)
        g = ex.givens()
        weights = {w: v - 0.7 * oracle.finite_difference(loss, w, g) for w, v in weights.items()}
    for w, v in weights.items():
        assert sol.values[f"{w}*"] == pytest.approx(v, rel=1e-9, abs=1e-12)
    assert "w1*[1]" in sol.values and "w1*[2]" in sol.values

    # L' is the loss over all examples with the final parameters.
    after = Exercise(specs.load(dict(raw, weights=weights, training={"learning_rate": 0.7})))
    assert sol.values["L'"] == pytest.approx(after.solve().values["L"], rel=1e-9)


def test_parameters_can_be_named_by_their_connection():
    raw = specs.table(rng=random.Random(2))
    raw["network"]["names"] = {"x1 -> h1": "w11", "x2->h1": "w21", "w9": "beta"}
    raw["weights"]["w11"] = raw["weights"].pop("w1")
    raw["weights"]["w21"] = raw["weights"].pop("w3")
    raw["weights"]["beta"] = raw["weights"].pop("w9")
    ex = Exercise(specs.load(raw))
    assert ex.network.param("w11").connection == "x1 -> h1"
    assert ex.network.param("w21").connection == "x2 -> h1"
    sol = ex.solve()
    assert "dL/dw11" in sol.values and "beta*" in sol.values
    loss = oracle.composed_loss(ex.derivation)
    assert sol.values["dL/dw21"] == pytest.approx(oracle.sympy_gradient(loss, "w21", ex.givens()), rel=1e-10)


def test_a_name_used_twice_is_refused():
    raw = specs.table(rng=random.Random(2))
    raw["network"]["names"] = {"x1 -> h1": "w2"}
    with pytest.raises(SpecError, match="used twice"):
        Exercise(specs.load(raw))


@pytest.mark.parametrize("output,loss", [("sigmoid", "binary_cross_entropy"), ("softmax", "cross_entropy")])
def test_cross_entropy_collapses_to_yhat_minus_y(output, loss):
    outputs = ("o1", "o2") if output == "softmax" else ("yhat",)
    raw = specs.table(output_act=output, outputs=outputs, loss={"kind": loss}, rng=random.Random(4))
    ex = Exercise(specs.load(raw))
    o = outputs[0]
    q = ex.derivation[f"dL/d{o}_in"]
    y = ex.network.targets[0]
    assert tex(q.formula) == f"{latex_name(o)} - {latex_name(y)}"  # what the key shows
    # The simplified factor gives the true gradient (oracle: sympy.diff of the composed loss).
    sol, loss = ex.solve(), oracle.composed_loss(ex.derivation)
    w = ex.network.incoming(o)[0].name
    assert sol.values[f"dL/d{w}"] == pytest.approx(oracle.sympy_gradient(loss, w, ex.givens()), rel=1e-10)


def test_deep_networks_use_error_terms_and_grow_linearly():
    sizes = []
    for width in (3, 6):
        raw = specs.table(inputs=("x1", "x2"), hidden=tuple(tuple(f"h{l}_{u}" for u in range(width)) for l in range(3)),
                          outputs=("o1", "o2"), rng=random.Random(1))
        ex = Exercise(specs.load(raw))
        assert ex.derivation.uses_delta
        # Deep parameters have many paths, so every gradient, the output weights' too, is
        # written through δ: the short chain δ_target · ∂target_in/∂w, one per target.
        assert not ex.derivation.chain_params
        for p in ex.network.params:
            q = ex.derivation[f"dL/d{p.name}"]
            assert not q.chain and len(q.by_delta) == len(p.targets)
            assert [f.symbol.name for f, _ in q.by_delta] == [f"delta_{t}" for t in p.targets]
        formulas = sum(q.formula.count_ops() for q in ex.derivation.quantities if q.formula is not None)
        sizes.append((len(ex.network.params), formulas))
    (p1, f1), (p2, f2) = sizes
    # Formula size per parameter stays flat when the network widens (no path explosion).
    assert f2 / p2 < 1.2 * f1 / p1


def test_chains_can_be_chosen_per_parameter():
    raw = specs.table(hidden=(("h1", "h2"), ("g1", "g2")), rng=random.Random(8))
    raw["display"] = {"chains": ["w1", "w13"]}
    ex = Exercise(specs.load(raw))
    assert ex.derivation.chain_params == {"w1", "w13"}
    assert ex.derivation["dL/dw1"].chain and not ex.derivation["dL/dw2"].chain
    loss = oracle.composed_loss(ex.derivation)
    sol = ex.solve()
    for w in ("w1", "w2", "w13"):
        assert sol.values[f"dL/d{w}"] == pytest.approx(oracle.sympy_gradient(loss, w, ex.givens()), rel=1e-10)


def test_unknown_chain_name_is_refused():
    raw = specs.table(rng=random.Random(8))
    raw["display"] = {"chains": ["w99"]}
    with pytest.raises(SpecError, match="display.chains"):
        Exercise(specs.load(raw))


def test_values_carried_rounded_as_by_hand(reference_spec):
    import dataclasses

    spec = dataclasses.replace(reference_spec, carry="rounded", decimals=2)
    v = Exercise(spec).solve().values
    # By hand, two decimals at every step (the arithmetic written out independently):
    # h1_in = 2.2, h1 = σ(2.2) = 0.9002 -> 0.90; h2 = σ(1.4) = 0.8022 -> 0.80;
    # ŷ = 0.90·0.7 + 0.80·0.8 = 1.27; dL/dŷ = 0.27; dh1/dh1_in = 0.90·0.10 = 0.09;
    # dL/dw1 = 0.27·1·0.7·0.09·1 = 0.01701 -> 0.02; w1* = 0.7 − 0.2·0.02 = 0.696 -> 0.70.
    assert v["h1"] == 0.90 and v["h2"] == 0.80 and v["yhat"] == 1.27
    assert v["dh1/dh1_in"] == 0.09 and v["dL/dw1"] == 0.02
    assert v["dL/dw7"] == 0.24  # 0.27 · 1 · 0.90 = 0.243
    assert v["w1*"] == 0.70 and v["w7*"] == 0.65  # 0.7 − 0.2·0.24 = 0.652


def test_online_spec_through_check_and_variants(tmp_path, cli):
    spec = EXAMPLES / "softmax_online.toml"
    raw = spec_mod.load(spec).raw
    # The online pass with the update's sign flipped, computed by the oracle: each example's
    # gradient by finite differences of its own composed loss, w <- w + η ∇L_n(w).
    weights = dict(raw["weights"])
    eta = raw["training"]["learning_rate"]
    for example in raw["examples"]:
        single = dict(raw, examples=[example], weights=dict(weights), training={"learning_rate": eta})
        single.pop("vary")
        ex = Exercise(spec_mod.from_table(single, "<single>"))
        loss = oracle.composed_loss(ex.derivation)
        weights = {w: v + eta * oracle.finite_difference(loss, w, ex.givens()) for w, v in weights.items()}
    answers = tmp_path / "answers.toml"
    answers.write_text(f'"w1*" = {weights["w1"]:.4f}\n"w5*" = {weights["w5"]:.4f}\n')
    r = cli("check", spec, answers, "--json")
    assert r.returncode == 1, r.stderr
    results = {x["name"]: x for x in json.loads(r.stdout)["results"]}
    assert results["w1*"]["misconception"] == "sign_flipped"
    assert results["w5*"]["misconception"] == "sign_flipped"

    r = cli("variants", spec, "--count", "3", "--no-pdf", "--out", tmp_path / "v")
    assert r.returncode == 0, r.stderr
    variants = json.loads((tmp_path / "v" / "answers.json").read_text())["variants"]
    assert len(variants) == 3 and all("w1*[1]" in v["quantities"] for v in variants)


def test_unit_names_stay_distinct_in_the_key():
    from derive.latex import latex_name

    names = ["h1_1", "h1_2", "h2_1", "h2_2", "b_h1_1", "b_h2_1"]
    assert len({latex_name(n) for n in names}) == len(names)
    assert latex_name("h1_2") == "h_{1,2}"


def test_names_that_print_alike_are_refused():
    with pytest.raises(SpecError, match="written the same"):
        specs.table(hidden=(("h1", "h_1"),), rng=random.Random(2))
