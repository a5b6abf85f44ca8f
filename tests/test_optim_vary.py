"""Optimizer hyperparameters drawn in [vary] (η, μ, ρ, β₁, β₂, ε, λ): the variants' answers
follow the textbook steps of tests/test_optim.py with the drawn values, the key and sheet
print the drawn values, and grids that would make the exercise say nothing are refused."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from derive import spec as spec_mod
from derive.errors import SpecError

import specs
from test_optim import Oracle, textbook, with_optimizer

ROOT = Path(__file__).resolve().parent.parent


def toml_value(v) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


def dump(raw: dict) -> str:
    """A spec table as TOML (tables and arrays of tables, as specs.table makes them)."""
    lines = []
    for k, v in raw.items():
        if not isinstance(v, (dict, list)) or (isinstance(v, list) and not all(isinstance(x, dict) for x in v)):
            lines.append(f"{k} = {toml_value(v)}")
    for k, v in raw.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            lines += [f"{a} = {toml_value(b)}" for a, b in v.items() if not (isinstance(b, list) and b and all(isinstance(x, dict) for x in b))]
            for a, b in v.items():
                if isinstance(b, list) and b and all(isinstance(x, dict) for x in b):
                    for item in b:
                        lines.append(f"[[{k}.{a}]]")
                        lines += [f"{c} = {toml_value(d)}" for c, d in item.items()]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                lines.append(f"[[{k}]]")
                lines += [f"{c} = {toml_value(d)}" for c, d in item.items()]
    return "\n".join(lines) + "\n"


def variants(raw: dict, tmp_path: Path, count: int = 4) -> list[dict]:
    spec = tmp_path / "spec.toml"
    spec.write_text(dump(raw))
    assert tomllib.loads(spec.read_text()) == json.loads(json.dumps(raw))
    out = tmp_path / "v"
    done = subprocess.run([sys.executable, "-m", "derive", "variants", str(spec), "--count", str(count), "--seed", "3",
                           "--out", str(out)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads((out / "answers.json").read_text())["variants"], out


@pytest.mark.parametrize("opt,hp,vary", [
    ("momentum", {"mu": 0.9}, {"mu": [0.5, 0.7, 0.9], "learning_rate": [0.05, 0.1]}),
    ("adam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, {"beta1": [0.5, 0.8], "beta2": [0.9, 0.99]}),
    ("rmsprop", {"rho": 0.9, "epsilon": 1e-6}, {"rho": {"from": 0.5, "to": 0.9, "step": 0.1}}),
])
def test_drawn_hyperparameters_are_used_and_printed(opt, hp, vary, tmp_path):
    raw = specs.table(rng=random.Random(4), eta=0.1)
    raw = with_optimizer(raw, opt, 2, hp, {"weight_decay": 0.01} if opt == "momentum" else {})
    raw["vary"] = dict(vary, constraints={"max_preactivation": False, "loss_decreases": False})
    found, out = variants(raw, tmp_path)
    o = Oracle({k: v for k, v in raw.items() if k != "vary"})  # the oracle has no optimizer to vary
    drawn = set()
    for v in found:
        g = v["given"]
        mine = {k: g[k] for k in hp}
        drawn.add(tuple(sorted(mine.items())) + (g["eta"],))
        conv = {"weight_decay": 0.01} if opt == "momentum" else {}
        expected = textbook(o, dict(raw["weights"]), opt, g["eta"], 2, mine, conv)
        for p in o.params:
            assert v["quantities"][f"{p}*[2]"] == pytest.approx(expected[2][p], rel=1e-9, abs=1e-12)
        # A grader reading the settings sees this variant's hyperparameters, not the spec's.
        settings = v["settings"]["optimizer"]
        assert {k: settings[k] for k in hp} == mine and settings["optimizer"] == opt
        if opt == "momentum":
            assert settings["weight_decay"] == 0.01
        key = (out / "keys" / f"key-{v['variant']}.tex").read_text()
        for name, value in mine.items():
            if name != "epsilon":
                tex = {"mu": r"\mu", "rho": r"\rho", "beta1": r"\beta_{1}", "beta2": r"\beta_{2}"}[name]
                assert f"${tex} = {value:g}$" in key, (name, value)
    assert len(drawn) > 1


def test_graph_variants_draw_the_rate_and_betas(tmp_path):
    raw = tomllib.loads((ROOT / "examples" / "graph_adam_parabola.toml").read_text())
    raw["vary"] = {"inputs": {"from": 2, "to": 6, "step": 1}, "learning_rate": [0.1, 0.5], "beta1": [0.5, 0.9]}
    found, _ = variants(raw, tmp_path)
    for v in found:
        g = v["given"]
        theta, m, s = g["theta"], 0.0, 0.0
        for t in (1, 2):  # Kingma & Ba, Algorithm 1, on f = θ²
            grad = 2 * theta
            m, s = g["beta1"] * m + (1 - g["beta1"]) * grad, 0.999 * s + 0.001 * grad * grad
            mhat, shat = m / (1 - g["beta1"] ** t), s / (1 - 0.999 ** t)
            theta -= g["eta"] * mhat / (shat ** 0.5 + 1e-8)
        assert v["quantities"]["theta*[2]"] == pytest.approx(theta, rel=1e-9)
        settings = v["settings"]["optimizer"]
        assert (settings["optimizer"], settings["beta1"], settings["beta2"]) == ("adam", g["beta1"], 0.999)
    assert len({v["settings"]["optimizer"]["beta1"] for v in found}) > 1


@pytest.mark.parametrize("opt,hp,vary,field,expected", [
    ("momentum", {"mu": 0.9}, {"mu": [0, 0.5]}, "vary.mu", "strictly between 0 and 1"),
    ("adam", {}, {"beta2": {"from": 0.9, "to": 1.0, "step": 0.05}}, "vary.beta2", "strictly between 0 and 1"),
    ("adam", {}, {"epsilon": [-1e-8, 1e-8]}, "vary.epsilon", "≥ 0"),
    ("adam", {}, {"mu": [0.5]}, "vary.mu", "not a given value"),
    ("sgd", {}, {"lambda": [0.1]}, "vary.lambda", "not a given value"),
])
def test_meaningless_grids_are_refused(opt, hp, vary, field, expected):
    raw = with_optimizer(specs.table(rng=random.Random(1), eta=0.1), opt, 2, hp, {})
    raw["vary"] = vary
    with pytest.raises(SpecError) as info:
        spec_mod.from_table(raw, "<test>")
    assert field in str(info.value) and expected in str(info.value), str(info.value)


def test_a_zero_decay_grid_is_refused():
    raw = with_optimizer(specs.table(rng=random.Random(1), eta=0.1), "sgd", 2, {}, {"weight_decay": 0.1})
    raw["vary"] = {"lambda": [0, 0.1]}
    with pytest.raises(SpecError, match="vary.lambda.*positive weight decay"):
        spec_mod.from_table(raw, "<test>")
