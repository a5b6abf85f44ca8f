"""A small feed-forward network worked by hand in plain Python, for the optimizer
students (tests/optim_students.py): the forward pass and backpropagation from the
student's own written outputs, the loss's and each activation's derivative taken as a
hand calculation takes them (σ′ as a(1 − a) from the unit's value). Only the structure
(names, connections, conventions) is read from derive; every number is computed here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from derive.solution import Exercise


def _activation(kind: str, t: float, slope: float) -> float:
    if kind == "sigmoid":
        return 1 / (1 + math.exp(-t))
    if kind == "tanh":
        return math.tanh(t)
    if kind in ("relu", "leaky_relu") and abs(t) < 0.05:
        # near the kink a student's rounding may pick the other branch: not drawn
        raise ValueError("a ReLU unit at its kink")
    if kind == "relu":
        return max(t, 0.0)
    if kind == "leaky_relu":
        return t if t > 0 else slope * t
    return t


def _slope(kind: str, t: float, a: float, slope: float) -> float:
    """The activation's derivative at t, from its value a as a hand calculation writes it."""
    if kind == "sigmoid":
        return a * (1 - a)
    if kind == "tanh":
        return 1 - a * a
    if kind == "relu":
        return 1.0 if t > 0 else 0.0
    if kind == "leaky_relu":
        return 1.0 if t > 0 else slope
    return 1.0


@dataclass(frozen=True)
class Net:
    """The structure of the exercise's network and loss (no numbers)."""

    inputs: tuple[str, ...]
    layers: tuple[tuple[tuple[str, ...], str, float, str | None], ...]  # units, activation, slope, bias unit
    params: tuple[tuple[str, str | None, tuple[str, ...], bool], ...]  # name, source, targets, is bias
    outputs: tuple[str, ...]
    targets: tuple[str, ...]
    loss: str
    half: bool
    mean_outputs: bool
    mean_examples: bool
    n_examples: int

    @classmethod
    def of(cls, ex: Exercise) -> "Net":
        net, loss = ex.network, ex.spec.loss
        return cls(tuple(net.inputs), tuple((tuple(layer.units), layer.activation, layer.slope or 0.0, layer.bias_unit)
                                            for layer in net.layers),
                   tuple((p.name, p.source, tuple(p.targets), p.is_bias) for p in net.params),
                   tuple(net.outputs), tuple(net.targets), loss.kind, bool(loss.half), loss.outputs == "mean",
                   loss.examples == "mean", len(ex.spec.examples))

    def suffix(self, e: int) -> str:
        return f"[{e}]" if self.n_examples > 1 else ""

    def forward(self, env: dict, at: dict[str, float], e: int) -> dict[str, tuple[float, float]]:
        """(pre-activation, activation) of every unit for example e with parameters ``at``."""
        sfx = self.suffix(e)
        value = {x: env[x + sfx] for x in self.inputs}
        out: dict[str, tuple[float, float]] = {}
        for units, act, slope, bias_unit in self.layers:
            if bias_unit:
                value[bias_unit] = env[bias_unit]
            for u in units:
                t = sum(at[name] * (value[src] if src is not None else 1.0)
                        for name, src, targets, _ in self.params if u in targets)
                a = _activation(act, t, slope)
                out[u] = (t, a)
                value[u] = a
        return out

    def loss_of(self, yhat: dict[str, float], env: dict, e: int) -> float:
        sfx = self.suffix(e)
        terms = []
        for o, y in zip(self.outputs, self.targets):
            p, t = yhat[o], env[y + sfx]
            if self.loss == "squared_error":
                terms.append((0.5 if self.half else 1.0) * (p - t) ** 2)
            else:
                terms.append(-(t * math.log(p) + (1 - t) * math.log(1 - p)))
        return sum(terms) / (len(terms) if self.mean_outputs else 1)

    def gradients(self, env: dict, at: dict[str, float], written_out: dict[int, dict[str, float]]) -> dict[str, float]:
        """∂L/∂p for every parameter: per example, backpropagated from the written outputs,
        then summed or averaged over the examples."""
        total = {name: 0.0 for name, *_ in self.params}
        for e in range(1, self.n_examples + 1):
            sfx = self.suffix(e)
            units = self.forward(env, at, e)
            value = {x: env[x + sfx] for x in self.inputs}
            for layer_units, _, _, bias_unit in self.layers:
                if bias_unit:
                    value[bias_unit] = env[bias_unit]
                value.update({u: units[u][1] for u in layer_units})
            value.update(written_out[e])
            k = len(self.outputs) if self.mean_outputs else 1
            delta: dict[str, float] = {}
            out_units, out_act, out_slope, _ = self.layers[-1]
            for o, y in zip(self.outputs, self.targets):
                p, t = value[o], env[y + sfx]
                if self.loss == "binary_cross_entropy":  # with the sigmoid output: ŷ − y
                    delta[o] = (p - t) / k
                else:
                    dl = (p - t) if self.half else 2 * (p - t)
                    delta[o] = dl / k * _slope(out_act, units[o][0], p, out_slope)
            for layer_units, act, slope, _ in reversed(self.layers[:-1]):
                for u in layer_units:
                    down = sum(at[name] * delta[t] for name, src, targets, _ in self.params if src == u
                               for t in targets)
                    delta[u] = down * _slope(act, units[u][0], value[u], slope)
            for name, src, targets, _ in self.params:
                total[name] += sum(delta[t] for t in targets) * (value[src] if src is not None else 1.0)
        n = self.n_examples if self.mean_examples else 1
        return {name: g / n for name, g in total.items()}
