"""Spec tables for tests, built in code so that hypothesis can vary them."""

from __future__ import annotations

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
