"""Training runs that compare optimizers: each run of [[training.runs]] with its own
optimizer, against the plain-Python textbook steps of tests/test_optim.py (losses from
sympy.diff's oracle); the key names each run's optimizer with its settings; derive train
names it in its heading and takes --optimizer; bad input."""

from __future__ import annotations

import random

import pytest

from derive import render, training, training_tex
from derive.errors import SpecError
from derive.solution import Exercise

import specs
from conftest import run_cli
from test_optim import Oracle, textbook

RUNS = [
    ("sgd", {}, {}),
    ("momentum", {"mu": 0.9}, {}),
    ("momentum", {"mu": 0.5}, {"momentum": "accumulate", "weight_decay": 0.01}),
    ("nesterov", {"mu": 0.9}, {"nesterov": "library"}),
    ("adagrad", {"epsilon": 1e-7}, {}),
    ("rmsprop", {"rho": 0.9, "epsilon": 1e-6}, {}),
    ("adam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, {}),
    ("adamw", {"beta1": 0.9, "beta2": 0.99, "epsilon": 1e-8}, {"weight_decay": 0.1}),
]


def with_runs(raw: dict, runs: list[dict]) -> dict:
    return dict(raw, training=dict(raw["training"], runs=runs), questions={"include": ["training"]})


@pytest.mark.parametrize("seed", range(6))
def test_each_run_follows_its_own_optimizer(seed):
    rng = random.Random(seed)
    raw = specs.table(rng=rng, eta=0.1)
    chosen = rng.sample(RUNS, 3)
    tables = [{"steps": 6, "learning_rate": 0.05, "optimizer": o, **hp, **conv} for o, hp, conv in chosen]
    sol = Exercise(specs.load(with_runs(raw, [{"steps": 6}] + tables))).solve()
    o = Oracle(raw)
    for run, (opt, hp, conv) in zip(sol.runs[1:], chosen):
        points = textbook(o, dict(raw["weights"]), opt, 0.05, 6, hp, conv)
        expected = [o.loss(raw["weights"])] + [o.loss(w) for w in points[1:6]]
        assert list(run.losses) == pytest.approx(expected, rel=1e-9, abs=1e-12), opt
        assert run.after == pytest.approx(o.loss(points[6]), rel=1e-9, abs=1e-12)
        assert run.settings.optimizer == opt
    plain = textbook(o, dict(raw["weights"]), "sgd", 0.1, 6, {}, {})
    assert list(sol.runs[0].losses) == pytest.approx([o.loss(raw["weights"])] + [o.loss(w) for w in plain[1:6]])
    assert sol.runs[0].settings is None


def test_the_key_names_every_optimizer_and_compares_them():
    raw = specs.table(rng=random.Random(2), eta=0.1)
    runs = [{"steps": 5}, {"steps": 5, "optimizer": "momentum", "mu": 0.9},
            {"steps": 5, "optimizer": "adam", "learning_rate": 0.01}]
    sol = Exercise(specs.load(with_runs(raw, runs))).solve()
    tex = render.render(render.environment(), render.KEY, render.context(sol, "Answer key"))
    assert (r"\subsection*{Gradient descent with momentum ($\eta = 0.1$, $\mu = 0.9$; "
            r"$v \leftarrow \mu v - \eta g$, $w \leftarrow w + v$)}") in tex  # the form always named
    assert r"Adam ($\eta = 0.01$, $\beta_{1} = 0.9$" in tex
    assert r"\addlegendentry{gradient descent, $\eta = 0.1$}" in tex  # the first run, dashed, named
    assert "Other optimizers" in tex and "differ in how each step is made" in tex
    sheet = render.render(render.environment(), render.SHEET, render.context(sol, "Exercise sheet"))
    assert r"\textbf{Optimizers.}" in sheet


def test_runs_that_differ_only_in_a_convention_are_told_apart():
    """Momentum in two forms, Adam with and without bias correction: the same numbers
    named, so each label must say which form or convention its run uses."""
    raw = specs.table(rng=random.Random(3), eta=0.1)
    runs = [{"steps": 4, "optimizer": "momentum", "mu": 0.5},
            {"steps": 4, "optimizer": "momentum", "mu": 0.5, "momentum": "average"},
            {"steps": 4, "optimizer": "adam", "learning_rate": 0.01},
            {"steps": 4, "optimizer": "adam", "learning_rate": 0.01, "bias_correction": False, "epsilon_at": "inside"}]
    sol = Exercise(specs.load(with_runs(raw, runs))).solve()
    ctx = training_tex.context(sol)
    for key in ("label", "heading"):
        assert len({r[key] for r in ctx}) == len(runs), key
    legends = [r["plot"]["curves"][0]["label"] for r in ctx]
    assert len(set(legends)) == len(runs)
    assert legends[1].endswith(r"$v \leftarrow \mu v + (1 - \mu )g$")  # the velocity rule tells the forms apart
    assert r"$v \leftarrow \mu v + (1 - \mu )g$, $w \leftarrow w - \eta v$" in ctx[1]["label"]
    assert "without bias correction" in ctx[3]["label"] and r"$\epsilon$ inside the root" in ctx[3]["label"]
    assert "bias correction" not in ctx[2]["label"]  # Adam's defaults go unnamed
    lines = [training.describe(r) for r in sol.runs]
    assert "v ← μv + (1 − μ)g, w ← w − ηv" in lines[1] and "v ← μv − ηg, w ← w + v" in lines[0]
    assert "ε inside the root; without bias correction" in lines[3]


def test_runs_of_learning_rates_alone_read_as_before():
    raw = specs.table(rng=random.Random(2), eta=0.1)
    sol = Exercise(specs.load(with_runs(raw, [{"steps": 5}, {"steps": 5, "learning_rate": 1}]))).solve()
    tex = render.render(render.environment(), render.KEY, render.context(sol, "Answer key"))
    assert r"Training with $\eta = 1$}" in tex and "A larger learning rate" in tex
    assert "Other optimizers" not in tex


def test_derive_train_names_the_optimizer(tmp_path, ):
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "examples" / "reference.toml"
    r = run_cli("train", example, "--optimizer", "adam", "--optimizer", "momentum", "--eta", "0.05", "--steps", "3")
    assert r.returncode == 0, r.stderr
    heads = [line for line in r.stdout.splitlines() if "eta =" in line]
    assert heads == ["adam (beta1 = 0.9, beta2 = 0.999, epsilon = 1e-08), eta = 0.05, 3 steps",
                     "momentum (mu = 0.9; v ← μv − ηg, w ← w + v), eta = 0.05, 3 steps"]
    bad = run_cli("train", example, "--optimizer", "adamm")
    assert bad.returncode == 2 and "--optimizer" in bad.stderr and "did you mean 'adam'" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("run,field,expected", [
    ({"steps": 5, "mu": 0.9}, "training.runs[0].mu", "needs an optimizer"),
    ({"steps": 5, "optimizer": "adam", "mu": 0.9}, "training.runs[0].mu", "not a hyperparameter"),
    ({"steps": 5, "optimizer": "adamm"}, "training.runs[0].optimizer", "did you mean"),
])
def test_bad_runs(run, field, expected):
    raw = specs.table(rng=random.Random(1), eta=0.1)
    with pytest.raises(SpecError) as info:
        specs.load(with_runs(raw, [run]))
    assert field in str(info.value) and expected in str(info.value), str(info.value)


def test_an_optimizer_run_is_refused_with_online_updates():
    raw = specs.table(rng=random.Random(1), eta=0.1)
    raw = with_runs(raw, [{"steps": 5, "optimizer": "adam"}])
    raw["training"]["update"] = "online"
    raw["examples"] = raw["examples"] * 2 if isinstance(raw["examples"], list) else raw["examples"]
    with pytest.raises(SpecError, match="training.runs"):
        specs.load(raw)
