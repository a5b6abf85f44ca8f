"""Every optimizer against an independent implementation written here from the textbook
formulas, with gradients from sympy.diff of the composed loss (not the derivation's chain
rule); and against PyTorch's torch.optim where its convention is the same (skipped when
torch is absent).
"""

from __future__ import annotations

import math
import random

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.optimizers import OPTIMIZERS
from derive.solution import Exercise

import oracle
import specs


# --- the independent side -----------------------------------------------------------------

class Oracle(oracle.Objective):
    """The loss and its gradient as plain functions of the parameters, from sympy.diff of
    the composed loss of the network without any optimizer."""

    def __init__(self, raw: dict):
        plain = dict(raw, training={"learning_rate": raw["training"]["learning_rate"],
                                    "frozen": raw["training"].get("frozen", [])})
        ex = Exercise(specs.load(plain))
        self.exercise = ex
        params = [p.name for p in ex.network.params]
        self.frozen = set(ex.network.frozen)
        self.bias = {p.name for p in ex.network.params if p.is_bias}
        self.fixed = {k: v for k, v in ex.givens().items() if k not in params}
        super().__init__(oracle.composed_loss(ex.derivation).xreplace(
            {sp.Symbol(k): v for k, v in self.fixed.items()}), params)


def textbook(o: Oracle, w0: dict, opt: str, eta: float, steps: int, hp: dict, conv: dict) -> list[dict]:
    """Parameters after each step, from the formulas as the sources print them; the first
    entry is where step 1 takes its gradient (the look-ahead point for Nesterov)."""
    w = dict(w0)
    lam = conv.get("weight_decay", 0.0)
    decoupled = conv.get("decay", "decoupled" if opt == "adamw" else "l2") == "decoupled"
    ascent = conv.get("direction") == "ascent"
    form = conv.get("momentum", "velocity")
    eps_at = conv.get("epsilon_at", "inside" if opt == "rmsprop" else "outside")
    state = {p: {"v": 0.0, "m": 0.0, "r": 0.0} for p in o.params}
    for p, s in state.items():
        for k, value in conv.get("state", {}).items():
            if k in s:
                s[k] = value
    out = []
    first = None
    for t in range(1, steps + 1):
        at = dict(w)
        if opt == "nesterov" and conv.get("nesterov", "lookahead") == "lookahead":
            mu = hp["mu"]
            for p in o.params:
                if p in o.frozen:
                    continue
                v = state[p]["v"]
                at[p] = {"velocity": w[p] + mu * v, "velocity_plus": w[p] - mu * v}.get(form, w[p] - eta * mu * v)
        grads = o.grad(at)
        first = first or at
        new = {}
        for p in o.params:
            if p in o.frozen:
                new[p] = w[p]
                continue
            decays = lam > 0 and (conv.get("decay_biases", False) or p not in o.bias)
            g = -grads[p] if ascent else grads[p]
            if decays and not decoupled:
                g += lam * w[p]
            s = state[p]
            if opt == "sgd":
                x = w[p] - eta * g
            elif opt in ("momentum", "nesterov") and not (opt == "nesterov" and conv.get("nesterov") == "library"):
                mu = hp["mu"]
                if form == "velocity":
                    s["v"] = mu * s["v"] - eta * g
                    x = w[p] + s["v"]
                elif form == "accumulate":
                    s["v"] = mu * s["v"] + g
                    x = w[p] - eta * s["v"]
                elif form == "velocity_plus":
                    s["v"] = mu * s["v"] + eta * g
                    x = w[p] - s["v"]
                else:
                    s["v"] = mu * s["v"] + (1 - mu) * g
                    x = w[p] - eta * s["v"]
            elif opt == "nesterov":
                s["v"] = hp["mu"] * s["v"] + g
                x = w[p] - eta * (g + hp["mu"] * s["v"])
            elif opt in ("adagrad", "rmsprop"):
                s["r"] = s["r"] + g * g if opt == "adagrad" else hp["rho"] * s["r"] + (1 - hp["rho"]) * g * g
                den = math.sqrt(s["r"] + hp["epsilon"]) if eps_at == "inside" else math.sqrt(s["r"]) + hp["epsilon"]
                x = w[p] - eta * g / den
            else:
                b1, b2, eps = hp["beta1"], hp["beta2"], hp["epsilon"]
                s["m"] = b1 * s["m"] + (1 - b1) * g
                s["v"] = b2 * s["v"] + (1 - b2) * g * g
                if eps_at == "hat":
                    rate = eta * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                    x = w[p] - rate * s["m"] / (math.sqrt(s["v"]) + eps)
                else:
                    m, v = s["m"], s["v"]
                    if conv.get("bias_correction", True):
                        m, v = m / (1 - b1 ** t), v / (1 - b2 ** t)
                    den = math.sqrt(v + eps) if eps_at == "inside" else math.sqrt(v) + eps
                    x = w[p] - eta * m / den
            if decays and decoupled:
                x -= eta * lam * w[p]
            new[p] = x
        w = new
        out.append(dict(w))
    return [first] + out


def with_optimizer(raw: dict, opt: str, steps: int, hp: dict, conv: dict) -> dict:
    training = dict(raw["training"], optimizer=opt, steps=steps, **hp, **conv)
    return dict(raw, training=training)


def assert_matches(raw: dict, opt: str, steps: int, hp: dict, conv: dict) -> None:
    o = Oracle(raw)
    ex = Exercise(specs.load(with_optimizer(raw, opt, steps, hp, conv)))
    sol = ex.solve()
    w0 = {p: raw["weights"][p] for p in o.params}
    start, *expected = textbook(o, w0, opt, raw["training"]["learning_rate"], steps, hp, conv)
    for k, w in enumerate(expected, start=1):
        for p in o.params:
            name = f"{p}*" if k == 1 else f"{p}*[{k}]"
            assert sol.values[name] == pytest.approx(w[p], rel=1e-9, abs=1e-12), (opt, conv, name)
    assert sol.values["L"] == pytest.approx(o.loss(start), rel=1e-10, abs=1e-14)
    assert sol.values["L" + "'" * steps] == pytest.approx(o.loss(expected[-1]), rel=1e-9, abs=1e-14)


# --- the cases ----------------------------------------------------------------------------

CASES = [
    ("sgd", {}, {}),
    ("sgd", {}, {"direction": "ascent"}),
    ("sgd", {}, {"weight_decay": 0.1}),
    ("sgd", {}, {"weight_decay": 0.1, "decay": "decoupled", "decay_biases": True}),
    *[("momentum", {"mu": 0.9}, {"momentum": f}) for f in ("velocity", "accumulate", "velocity_plus", "average")],
    ("momentum", {"mu": 0.5}, {"state": {"v": 0.3}}),
    *[("nesterov", {"mu": 0.8}, {"momentum": f}) for f in ("velocity", "accumulate", "velocity_plus", "average")],
    ("nesterov", {"mu": 0.8}, {"nesterov": "library"}),
    ("nesterov", {"mu": 0.8}, {"state": {"v": -0.2}}),
    ("adagrad", {"epsilon": 1e-7}, {}),
    ("adagrad", {"epsilon": 0.01}, {"epsilon_at": "inside"}),
    ("rmsprop", {"rho": 0.9, "epsilon": 1e-6}, {}),
    ("rmsprop", {"rho": 0.5, "epsilon": 0.01}, {"epsilon_at": "outside"}),
    ("adam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, {}),
    ("adam", {"beta1": 0.8, "beta2": 0.9, "epsilon": 0.01}, {"epsilon_at": "inside"}),
    ("adam", {"beta1": 0.8, "beta2": 0.9, "epsilon": 0.01}, {"epsilon_at": "hat"}),
    ("adam", {"beta1": 0.9, "beta2": 0.99, "epsilon": 1e-8}, {"bias_correction": False}),
    ("adam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, {"weight_decay": 0.05}),
    ("adam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, {"direction": "ascent", "weight_decay": 0.05}),
    ("adamw", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, {"weight_decay": 0.1}),
    ("adamw", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, {"weight_decay": 0.1, "decay": "l2", "decay_biases": True}),
]


def test_every_optimizer_is_covered():
    assert {c[0] for c in CASES} == set(OPTIMIZERS)


@pytest.mark.parametrize("opt,hp,conv", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_against_textbook(opt, hp, conv):
    raw = specs.table(rng=random.Random(7), eta=0.3)
    assert_matches(raw, opt, 3, hp, conv)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(CASES), seed=st.integers(0, 10_000), steps=st.integers(1, 3),
       bias=st.sampled_from(["unit", "neuron", "layer", "none"]), hidden=st.sampled_from(["sigmoid", "tanh"]),
       eta=st.sampled_from([0.05, 0.2, 0.7]), frozen=st.booleans())
def test_random_networks(case, seed, steps, bias, hidden, eta, frozen):
    opt, hp, conv = case
    rng = random.Random(seed)
    hp = {k: (round(rng.uniform(0.1, 0.95), 2) if k != "epsilon" else v) for k, v in hp.items()}
    raw = specs.table(bias=bias, hidden_act=hidden, rng=rng, eta=eta,
                      hidden=(("h1", "h2", "h3")[:rng.randint(1, 3)],))
    if frozen:
        raw["training"]["frozen"] = [next(iter(raw["weights"]))]
    assert_matches(raw, opt, steps, hp, conv)


# --- PyTorch, where its convention is the same --------------------------------------------

TORCH = [
    # (our optimizer, hyperparameters, conventions, torch class name, torch arguments)
    ("sgd", {}, {}, "SGD", {}),
    ("momentum", {"mu": 0.9}, {"momentum": "accumulate"}, "SGD", {"momentum": 0.9}),
    ("nesterov", {"mu": 0.9}, {"nesterov": "library"}, "SGD", {"momentum": 0.9, "nesterov": True}),
    ("adagrad", {"epsilon": 1e-10}, {}, "Adagrad", {"eps": 1e-10}),
    ("rmsprop", {"rho": 0.99, "epsilon": 1e-8}, {"epsilon_at": "outside"}, "RMSprop", {"alpha": 0.99, "eps": 1e-8}),
    ("adam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, {}, "Adam", {"betas": (0.9, 0.999), "eps": 1e-8}),
    ("adam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, {"weight_decay": 0.1, "decay_biases": True},
     "Adam", {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1}),
    ("adamw", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, {"weight_decay": 0.1, "decay_biases": True},
     "AdamW", {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1}),
    ("sgd", {}, {"weight_decay": 0.1, "decay_biases": True}, "SGD", {"weight_decay": 0.1}),
    ("momentum", {"mu": 0.9}, {"momentum": "accumulate", "weight_decay": 0.1, "decay_biases": True},
     "SGD", {"momentum": 0.9, "weight_decay": 0.1}),
]


@pytest.mark.parametrize("opt,hp,conv,cls,kwargs", TORCH, ids=[f"{t[3]}-{i}" for i, t in enumerate(TORCH)])
@pytest.mark.parametrize("seed", [1, 2])
def test_against_torch(opt, hp, conv, cls, kwargs, seed):
    torch = pytest.importorskip("torch")
    raw = specs.table(rng=random.Random(seed), eta=0.1)
    o = Oracle(raw)
    params = {p: torch.tensor(raw["weights"][p], dtype=torch.float64, requires_grad=True) for p in o.params}
    optimizer = getattr(torch.optim, cls)(list(params.values()), lr=0.1, **kwargs)
    steps = 3
    sol = Exercise(specs.load(with_optimizer(raw, opt, steps, hp, conv))).solve()
    for k in range(1, steps + 1):
        grads = o.grad({p: t.item() for p, t in params.items()})
        for p, t in params.items():
            t.grad = torch.tensor(grads[p], dtype=torch.float64)
        optimizer.step()
        for p, t in params.items():
            name = f"{p}*" if k == 1 else f"{p}*[{k}]"
            assert sol.values[name] == pytest.approx(t.item(), rel=1e-9, abs=1e-12), (cls, name)


# --- training runs --------------------------------------------------------------------------

RUN_CASES = [c for c in CASES if c[0] in ("momentum", "adam", "rmsprop", "adagrad")
             or (c[0] == "nesterov" and c[2].get("nesterov") == "library")]


@pytest.mark.parametrize("opt,hp,conv", RUN_CASES)
def test_training_runs_carry_the_state(opt, hp, conv):
    """A run of n steps reports the loss before each step; the state and Adam's step number
    carry over, so the losses are those of the textbook's n steps."""

    raw = specs.table(rng=random.Random(11), eta=0.2)
    o = Oracle(raw)
    raw = with_optimizer(raw, opt, 2, hp, conv)
    raw["training"]["runs"] = [{"learning_rate": 0.2, "steps": 6}]
    sol = Exercise(specs.load(raw)).solve()
    (run,) = sol.runs
    w0 = {p: raw["weights"][p] for p in o.params}
    _, *after = textbook(o, w0, opt, 0.2, 6, hp, conv)
    assert list(run.losses) == pytest.approx([o.loss(w) for w in [w0] + after[:-1]], rel=1e-9)
    assert run.after == pytest.approx(o.loss(after[-1]), rel=1e-9)


@pytest.mark.parametrize("opt,hp,conv", [CASES[5], CASES[-4], CASES[-2]])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_several_examples(opt, hp, conv, reduction):
    """A batch of three examples: each step's gradient is the batch's, from its own pass."""
    raw = specs.table(rng=random.Random(3), n_examples=3, eta=0.2)
    raw["loss"] = dict(raw["loss"], examples=reduction)
    assert_matches(raw, opt, 3, hp, conv)
