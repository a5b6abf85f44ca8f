"""The exercise spec: what an instructor writes, read from TOML and checked field by field.

Every problem is reported as one ``SpecError`` naming the file, the field and what was
expected. Structural checks that need the whole network (a connection without a value,
a name used twice) happen when the network is built, with the same kind of message.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from .activations import ACTIVATIONS
from .errors import SpecError, did_you_mean
from .losses import ALIASES, LOSSES

BIAS_CONVENTIONS = ("unit", "neuron", "layer", "none")
REDUCTIONS = ("sum", "mean")
UPDATE_MODES = ("batch", "online")
CARRY = ("full", "rounded")
BUILTIN = "reference"


@dataclass(frozen=True)
class LayerSpec:
    units: tuple[str, ...]
    activation: str
    slope: float = 0.01  # leaky ReLU only
    symbol: str | None = None  # how the key writes the activation (the sheet writes "a")
    bias_unit: str | None = None  # bias convention "unit": the constant unit feeding this layer
    bias_value: float = 1.0
    targets: tuple[str, ...] = ()  # output layer only


@dataclass(frozen=True)
class LossSpec:
    kind: str
    half: bool = True
    outputs: str = "sum"
    examples: str = "mean"


@dataclass(frozen=True)
class Spec:
    source: str  # file name used in messages
    title: str
    course: str
    inputs: tuple[str, ...]
    layers: tuple[LayerSpec, ...]
    bias: str
    train_bias: bool
    names: Mapping[str, str]  # "x1 -> h1" (or "h1" for a bias parameter) -> parameter name
    loss: LossSpec
    examples: tuple[Mapping[str, float], ...]
    weights: Mapping[str, float]
    learning_rate: float
    frozen: tuple[str, ...]
    update: str
    decimals: int
    chains: str | tuple[str, ...]  # "auto", "all", "none" or the parameters to write out
    carry: str  # "full": values carried unrounded; "rounded": each rounded, as by hand
    raw: Mapping[str, Any] = field(repr=False)  # the whole table, for the sections other modules read


class Fields:
    """Typed access to one table of the spec, with messages that name the field."""

    def __init__(self, source: str, table: Mapping[str, Any], prefix: str = ""):
        self.source, self.table, self.prefix = source, table, prefix

    def path(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def fail(self, key: str, expected: str) -> SpecError:
        return SpecError(self.source, self.path(key), expected)

    def only(self, *allowed: str) -> None:
        for key in self.table:
            if key not in allowed:
                hint = did_you_mean(key, allowed)
                raise self.fail(key, f"unknown field{hint}; expected one of {', '.join(allowed)}")

    def get(self, key: str, default: Any = None) -> Any:
        return self.table.get(key, default)

    def number(self, key: str, default: float | None = None, positive: bool = False) -> float:
        if key not in self.table:
            if default is None:
                raise self.fail(key, "missing; expected a number")
            return default
        return as_number(self.source, self.path(key), self.table[key], positive)

    def text(self, key: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str:
        value = self.table.get(key, default)
        if value is None:
            raise self.fail(key, "missing; expected a string")
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {value!r}")
        if choices and value not in choices:
            hint = did_you_mean(value, choices)
            raise self.fail(key, f"expected one of {', '.join(choices)}, got '{value}'{hint}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {value!r}")
        return value

    def names(self, key: str, default: tuple[str, ...] | None = None, nonempty: bool = True) -> tuple[str, ...]:
        value = self.table.get(key, default)
        if value is None:
            raise self.fail(key, "missing; expected a list of names")
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(key, f"expected a list of names, got {value!r}")
        if nonempty and not value:
            raise self.fail(key, "expected at least one name, got an empty list")
        return tuple(value)

    def table_at(self, key: str, required: bool = False) -> "Fields":
        value = self.table.get(key)
        if value is None:
            if required:
                raise self.fail(key, "missing; expected a table")
            value = {}
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a table, got {value!r}")
        return Fields(self.source, value, f"{self.path(key)}.")


def as_number(source: str, field_name: str, value: Any, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(source, field_name, f"expected a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise SpecError(source, field_name, f"expected a finite number, got {value!r}")
    if positive and value <= 0:
        raise SpecError(source, field_name, f"expected a positive number, got {value:g}")
    return value


def builtin_path(name: str = BUILTIN) -> Path:
    return Path(str(resources.files("derive.exercises").joinpath(f"{name}.toml")))


def load(path: str | Path | None = None) -> Spec:
    """Read and check a spec file; ``None`` is the built-in reference exercise."""
    path = Path(path) if path is not None else builtin_path()
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(source, "file", "not found; expected a TOML exercise spec") from None
    except OSError as exc:
        raise SpecError(source, "file", f"cannot be read ({exc.strerror})") from None
    return parse(text, source)


def parse(text: str, source: str = "<spec>") -> Spec:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(source, "syntax", f"not valid TOML ({exc})") from None
    return from_table(raw, source)


TOP_LEVEL = ("title", "course", "network", "loss", "examples", "weights", "training",
             "display", "questions", "vary")


def from_table(raw: Mapping[str, Any], source: str) -> Spec:
    if "graph" in raw:  # hook: a computational-graph exercise is read by derive/graph.py
        from .graph import spec_from_table
        return spec_from_table(raw, source)
    top = Fields(source, raw)
    top.only(*TOP_LEVEL)

    net = top.table_at("network", required=True)
    net.only("inputs", "layers", "bias", "train_bias", "names")
    inputs = net.names("inputs")
    bias = net.text("bias", "unit", BIAS_CONVENTIONS)
    layers_raw = net.get("layers")
    if not isinstance(layers_raw, list) or not layers_raw:
        raise net.fail("layers", "expected at least one [[network.layers]] table")
    layers = tuple(
        _layer(Fields(source, t if isinstance(t, Mapping) else {}, f"network.layers[{i}]."),
               t, i, i == len(layers_raw) - 1, bias)
        for i, t in enumerate(layers_raw)
    )
    names_table = net.table_at("names")
    names = {}
    for conn, name in names_table.table.items():
        if not isinstance(name, str) or not name.strip():
            raise names_table.fail(conn, f"expected a parameter name, got {name!r}")
        names[conn] = name

    loss = _loss(top.table_at("loss", required=True))
    out_layer = layers[-1]
    allowed = LOSSES[loss.kind].outputs
    if allowed is not None and out_layer.activation not in allowed:
        raise SpecError(source, f"network.layers[{len(layers) - 1}].activation",
                        f"{LOSSES[loss.kind].title} needs output values in (0, 1): expected "
                        f"{' or '.join(sorted(allowed))}, got '{out_layer.activation}'")
    softmax_ce = out_layer.activation == "softmax" and "softmax" in LOSSES[loss.kind].cancels_with
    examples = _examples(source, raw.get("examples"), inputs, out_layer.targets, loss, softmax_ce)
    weights_t = top.table_at("weights", required=True)
    weights = {name: weights_t.number(name) for name in weights_t.table}

    training = top.table_at("training")
    training.only("learning_rate", "frozen", "update", "runs")
    display = top.table_at("display")
    display.only("decimals", "chains", "carry")
    decimals = display.get("decimals", 4)
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 12:
        raise display.fail("decimals", f"expected a whole number from 0 to 12, got {decimals!r}")
    chains = display.get("chains", "auto")
    if isinstance(chains, list):
        chains = display.names("chains", nonempty=False)
    elif chains not in ("auto", "all", "none"):
        raise display.fail("chains", f"expected \"auto\", \"all\", \"none\" or a list of parameter names, got {chains!r}")

    return Spec(
        source=source,
        title=top.text("title", "Backpropagation by hand"),
        course=top.text("course", ""),
        inputs=inputs,
        layers=layers,
        bias=bias,
        train_bias=net.flag("train_bias", True),
        names=MappingProxyType(names),
        loss=loss,
        examples=examples,
        weights=MappingProxyType(weights),
        learning_rate=training.number("learning_rate", positive=True),
        frozen=training.names("frozen", (), nonempty=False),
        update=training.text("update", "batch", UPDATE_MODES),
        decimals=decimals,
        chains=chains,
        carry=display.text("carry", "full", CARRY),
        raw=MappingProxyType(dict(raw)),
    )


def _layer(f: Fields, table: Any, index: int, is_output: bool, bias: str) -> LayerSpec:
    if not isinstance(table, Mapping):
        raise SpecError(f.source, f"network.layers[{index}]", f"expected a table, got {table!r}")
    f.only("units", "activation", "slope", "symbol", "bias_unit", "bias_value", "targets")
    units = f.names("units")
    activation = f.text("activation", None, tuple(ACTIVATIONS))
    if activation == "softmax" and not is_output:
        raise f.fail("activation", "softmax is only allowed on the output layer")
    targets: tuple[str, ...] = ()
    if is_output:
        default = ("y",) if len(units) == 1 else tuple(f"y_{u}" for u in units)
        targets = f.names("targets", default)
        if len(targets) != len(units):
            raise f.fail("targets", f"expected one target name per output unit ({len(units)}), got {len(targets)}")
    elif "targets" in f.table:
        raise f.fail("targets", "only the output layer (the last one) has targets")
    symbol = f.get("symbol")
    if symbol is not None and not isinstance(symbol, str):
        raise f.fail("symbol", f"expected a LaTeX name such as \"a\", got {symbol!r}")
    bias_unit = f.get("bias_unit", f"b{index + 1}" if bias == "unit" else None)
    if bias_unit is not None and not isinstance(bias_unit, str):
        raise f.fail("bias_unit", f"expected a unit name, got {bias_unit!r}")
    return LayerSpec(
        units=units,
        activation=activation,
        slope=f.number("slope", 0.01),
        symbol=symbol,
        bias_unit=bias_unit if bias == "unit" else None,
        bias_value=f.number("bias_value", 1.0),
        targets=targets,
    )


def _loss(f: Fields) -> LossSpec:
    f.only("kind", "half", "outputs", "examples")
    kind = f.text("kind", None, tuple(LOSSES) + tuple(ALIASES))
    implied: dict = {}
    if kind in ALIASES:
        kind, implied = ALIASES[kind]
    return LossSpec(
        kind=kind,
        half=f.flag("half", implied.get("half", True)),
        outputs=f.text("outputs", implied.get("outputs", "sum"), REDUCTIONS),
        examples=f.text("examples", "mean", REDUCTIONS),
    )


def _examples(source: str, raw: Any, inputs: tuple[str, ...], targets: tuple[str, ...],
              loss: LossSpec, softmax_ce: bool) -> tuple[Mapping[str, float], ...]:
    if not isinstance(raw, list) or not raw:
        raise SpecError(source, "examples", "expected at least one [[examples]] table with the inputs and targets")
    out = []
    for i, table in enumerate(raw):
        f = Fields(source, table if isinstance(table, Mapping) else {}, f"examples[{i}].")
        if not isinstance(table, Mapping):
            raise SpecError(source, f"examples[{i}]", f"expected a table, got {table!r}")
        f.only(*inputs, *targets)
        values = {name: f.number(name) for name in (*inputs, *targets)}
        if LOSSES[loss.kind].targets_in_unit_interval:
            for t in targets:
                if not 0.0 <= values[t] <= 1.0:
                    raise f.fail(t, f"expected a target in [0, 1] for {LOSSES[loss.kind].title}, got {values[t]:g}")
        if softmax_ce and abs(sum(values[t] for t in targets) - 1.0) > 1e-9:
            # ∂L/∂ŷ_in = ŷ − y, which the key shows, holds only for a distribution.
            raise SpecError(source, f"examples[{i}]", "expected softmax targets that sum to 1 for cross-entropy, "
                            f"got {' + '.join(format(values[t], 'g') for t in targets)}")
        out.append(MappingProxyType(values))
    return tuple(out)
