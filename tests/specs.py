"""Spec tables for tests, built in code so that hypothesis can vary them."""

from __future__ import annotations

import json
import random

from derive import spec as spec_mod
from derive.network import structure


def table(inputs=("x1", "x2"), hidden=(("h1", "h2"),), outputs=("yhat",), hidden_act="sigmoid",
          output_act="identity", bias="unit", loss=None, n_examples=1, rng=None, slope=0.1,
          train_bias=True, frozen=(), eta=0.5) -> dict:
    """A complete spec table with values drawn from ``rng`` (seeded: reproducible)."""
    rng = rng or random.Random(0)
    def layer(units, act, **more):  # a slope only where the activation has one
        return {"units": list(units), "activation": act, **more, **({"slope": slope} if act == "leaky_relu" else {})}

    layers = [layer(h, hidden_act) for h in hidden]
    targets = ["y"] if len(outputs) == 1 else [f"y_{o}" for o in outputs]
    layers.append(layer(outputs, output_act, targets=targets))
    loss = loss or {"kind": "squared_error", "half": True}
    unit_interval = loss["kind"] != "squared_error"
    examples = []
    for _ in range(n_examples):
        ex = {x: round(rng.uniform(-1.5, 1.5), 3) for x in inputs}
        if unit_interval:
            hot = rng.randrange(len(targets))
            ex.update({t: float(i == hot) if output_act == "softmax" else round(rng.uniform(0.05, 0.95), 2)
                       for i, t in enumerate(targets)})
        else:
            ex.update({t: round(rng.uniform(-1, 1), 3) for t in targets})
        examples.append(ex)
    raw = {
        "network": {"inputs": list(inputs), "bias": bias, "layers": layers,
                    **({"train_bias": train_bias} if bias != "none" else {})},
        "loss": loss,
        "examples": examples,
        "weights": {},
        "training": {"learning_rate": eta, "frozen": list(frozen)},
    }
    # Name every parameter the network will have, then give each a value.
    _, params = structure(spec_mod.typed(dict(raw, weights={}), "<test>"))
    raw["weights"] = {p.name: round(rng.uniform(-1, 1), 3) for p in params}
    return raw


def load(raw: dict):
    return spec_mod.from_table(raw, "<test>")


def to_toml(raw: dict) -> str:
    """A spec table as TOML text: one ``key = value`` line per top-level key, values inline
    (TOML's inline tables and arrays read like JSON with ``=``)."""
    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"
        return "[" + ", ".join(value(x) for x in v) + "]"
    return "".join(f"{json.dumps(k)} = {value(v)}\n" for k, v in raw.items())


def units(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, n + 1))


def layout_specs() -> dict[str, dict]:
    """The generated specs of the layout suite (besides the examples and tests/data): the
    deep 8-32-32-32-4 network of the page budget, and one spec per loss the examples do
    not use (binary cross-entropy, the mean squared error without ½)."""
    deep = table(inputs=units("x", 8), hidden=(units("h", 32), units("g", 32), units("f", 32)),
                 outputs=units("o", 4), bias="neuron", rng=random.Random(8), eta=0.1)
    # weights of the size a 32-unit layer is started with (about 1/√32), so one step helps
    deep["weights"] = {k: round(v * 0.3, 3) for k, v in deep["weights"].items()}
    bce = table(inputs=units("x", 3), hidden=(units("h", 3),), outputs=("yhat",), hidden_act="relu",
                output_act="sigmoid", loss={"kind": "binary_cross_entropy"}, rng=random.Random(3))
    mse = table(inputs=units("x", 2), hidden=(units("h", 3),), outputs=units("o", 2), hidden_act="tanh",
                loss={"kind": "mse"}, rng=random.Random(2))
    deep["title"] = "A deep network (8-32-32-32-4)"
    bce["title"] = "A ReLU network with binary cross-entropy (3-3-1)"
    mse["title"] = "A tanh network with the mean squared error (2-3-2)"
    return {"deep_8_32_32_32_4": deep, "loss_binary_cross_entropy": bce, "loss_mse": mse}
