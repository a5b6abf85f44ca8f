"""Variants of computational-graph exercises: seed sweeps with the constraints as
invariants, every drawn variant's gradients against the oracles, and the command line."""

from __future__ import annotations

import json

import pytest

from derive import spec as spec_mod, variants
from derive.errors import SpecError
from derive.solution import Exercise
from tests.conftest import EXAMPLES, run_cli
from tests.test_graph import check_against_oracles


def exercise(name: str) -> Exercise:
    return Exercise(spec_mod.load(EXAMPLES / f"graph_{name}.toml"))


@pytest.mark.parametrize("name", ["max", "used_twice", "sum_product"])
def test_seed_sweep(name):
    ex = exercise(name)
    sampler = variants.Sampler(ex)
    grid = {r.name: set(r.grid) for r in sampler.vary.ranges}
    rnd = ex.policy.round
    n = min(300, sampler.vary.combinations // 2)
    drawn = sampler.draw_many(variants.numbered(n), 7)
    assert len({tuple(v.overrides.values()) for v in drawn}) == n
    for v in drawn:
        assert all(v.overrides[k] in grid[k] for k in grid)
        values = ex.solve(v.overrides).values
        for q in ex.derivation.stage("gradient"):
            g = values[q.name]
            assert g == 0 or rnd(g) != 0, (v.id, q.name)
        if name == "max":
            assert rnd(values["z"] - values["w"]) != 0  # no tie at max(z, w)


@pytest.mark.parametrize("name", ["max", "used_twice"])
def test_drawn_variants_against_the_oracles(name):
    ex = exercise(name)
    for v in variants.Sampler(ex).draw_many(variants.numbered(15), 3):
        check_against_oracles(ex, dict(v.overrides))


def test_a_variant_is_a_function_of_its_seed():
    ex = exercise("max")
    a = variants.Sampler(ex).draw_many(variants.numbered(5), 11)
    b = variants.Sampler(ex).draw_many(variants.numbered(20), 11)
    assert [v.overrides for v in a] == [v.overrides for v in b[:5]]


VARY_ERRORS = {
    'weights = { from = -1, to = 1, step = 1 }': "vary.weights: not an input of this graph",
    'q = [1, 2]': "vary.q: not an input of this graph",
    'xx = [1, 2]': "(did you mean 'x'?)",
    'tries = 0': "vary.tries: expected a whole number from 1",
    'inputs = "all"': "vary.inputs: expected a range",
    'constraints = { ties = true }': "vary.constraints.ties: unknown constraint",
}


@pytest.mark.parametrize("line", list(VARY_ERRORS))
def test_vary_refused(line):
    # [vary] is read with the rest of the spec, so the spec itself is refused
    with pytest.raises(SpecError) as info:
        spec_mod.parse(f'[graph]\ninputs = {{ x = 1, y = 2 }}\nnodes = [ {{ f = "x * y" }} ]\n[vary]\n{line}\n', "v.toml")
    assert VARY_ERRORS[line] in str(info.value) and str(info.value).startswith("v.toml: vary")


def test_impossible_constraints_are_named():
    # max(x, y) with x and y both drawn from {1}: always a tie
    spec = spec_mod.parse('[graph]\ninputs = { x = 1, y = 2 }\nnodes = [ { f = "max(x, y)" } ]\n'
                          '[vary]\ninputs = [1]\ntries = 20\n[vary.constraints]\ndistinct = false\n', "t.toml")
    with pytest.raises(variants.ConstraintError, match="failing most: no tie at a max or min gate"):
        variants.Sampler(Exercise(spec)).draw_many(variants.numbered(1), 1)


def test_variants_and_check_through_the_command_line(tmp_path):
    spec = EXAMPLES / "graph_sum_product.toml"
    out = tmp_path / "v"
    result = run_cli("variants", spec, "--count", "4", "--seed", "5", "--out", out, "--no-pdf")
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "answers.json").read_text())
    record = next(r for r in data["variants"] if r["variant"] == "002")
    g, q = record["given"], record["quantities"]
    # an independent recomputation of the variant's numbers from its given values
    assert q["q"] == g["x"] + g["y"] and q["f"] == (g["x"] + g["y"]) * g["z"]
    assert q["df/dx"] == q["df/dy"] == g["z"] and q["df/dz"] == g["x"] + g["y"]
    answers = tmp_path / "a.toml"
    answers.write_text(f'"df/dz" = {g["x"] + g["y"]:.2f}\n"df/dx" = {g["z"]:.2f}\n')
    result = run_cli("check", spec, answers, "--variant", "002", "--key", out / "answers.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 correct" in result.stdout
    assert "<question type=\"cloze\">" in (out / "moodle.xml").read_text()


def test_names_that_shadow_the_generated_code():
    # inputs called like the modules and helpers of the compiled code still work
    spec = spec_mod.parse('[graph]\ninputs = { math = 2, g_max = 1, sp = 3 }\n'
                          'nodes = [ { f = "max(math, g_max) * sp" } ]\n[vary]\ninputs = [1, 2, 3, 4]\n', "n.toml")
    ex = Exercise(spec)
    values = ex.solve().values
    assert (values["f"], values["df/dmath"], values["df/dg_max"], values["df/dsp"]) == (6, 3, 0, 2)
    from derive import render

    assert [r["value"] for r in render.context(ex.solve(), "k")["check"]["rows"]] == ["3", "0", "2"]
    for v in variants.Sampler(ex).draw_many(variants.numbered(5), 1):
        assert v.overrides["math"] != v.overrides["g_max"]  # no tie at the max gate
