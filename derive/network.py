"""The network's structure: units, parameters and who feeds whom. No numbers.

Parameters are numbered the way the reference sheet numbers them (source by source, then
target by target, layer by layer); ``[network.names]`` in the spec renames any of them by
its connection ("x1 -> h1" = "w11") or by its default name ("w1" = "w11").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import SpecError, did_you_mean
from .latex import latex_name

if TYPE_CHECKING:  # the spec module builds a network to check a spec's names
    from .spec import Spec


@dataclass(frozen=True)
class Param:
    name: str
    source: str | None  # the unit whose value it multiplies; None for a bias parameter
    targets: tuple[str, ...]  # one unit, or every unit of a layer for a shared bias
    is_bias: bool
    connection: str  # "x1 -> h1", "bias -> h1", "bias -> layer 1"


@dataclass(frozen=True)
class Layer:
    index: int  # 1 for the first layer after the inputs
    units: tuple[str, ...]
    activation: str
    slope: float
    symbol: str | None
    bias_unit: str | None
    bias_value: float
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Network:
    inputs: tuple[str, ...]
    layers: tuple[Layer, ...]
    params: tuple[Param, ...]
    bias: str
    frozen: frozenset[str]

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.layers[-1].units

    @property
    def targets(self) -> tuple[str, ...]:
        return self.layers[-1].targets

    @property
    def bias_units(self) -> tuple[str, ...]:
        return tuple(layer.bias_unit for layer in self.layers if layer.bias_unit)

    def param(self, name: str) -> Param:
        return self._by_name[name]

    def incoming(self, unit: str) -> tuple[Param, ...]:
        return self._incoming[unit]

    def outgoing(self, unit: str) -> tuple[Param, ...]:
        return self._outgoing.get(unit, ())

    def layer_of(self, unit: str) -> Layer | None:
        return self._layer_of.get(unit)

    def __post_init__(self):
        by_name = {p.name: p for p in self.params}
        incoming: dict[str, list[Param]] = {u: [] for layer in self.layers for u in layer.units}
        outgoing: dict[str, list[Param]] = {}
        for p in self.params:
            for t in p.targets:
                incoming[t].append(p)
            if p.source is not None:
                outgoing.setdefault(p.source, []).append(p)
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_incoming", {u: tuple(ps) for u, ps in incoming.items()})
        object.__setattr__(self, "_outgoing", {u: tuple(ps) for u, ps in outgoing.items()})
        object.__setattr__(self, "_layer_of", {u: l for l in self.layers for u in l.units})


def build(spec: Spec) -> Network:
    """The network a spec describes, with every name and value checked."""
    layers, params = structure(spec)
    _check_values(spec, params, layers)
    frozen = set(spec.frozen)
    if not spec.train_bias:
        frozen |= {p.name for p in params if p.is_bias}
    return Network(spec.inputs, layers, params, spec.bias, frozenset(frozen))


def structure(spec: Spec) -> tuple[tuple[Layer, ...], tuple[Param, ...]]:
    """Layers and named parameters, before any value is looked at."""
    layers = tuple(
        Layer(i + 1, l.units, l.activation, l.slope, l.symbol, l.bias_unit, l.bias_value, l.targets)
        for i, l in enumerate(spec.layers)
    )
    _check_unit_names(spec, layers)

    default: list[Param] = []
    counter = 0
    previous = spec.inputs
    for layer in layers:
        sources = list(previous) + ([layer.bias_unit] if layer.bias_unit else [])
        for s in sources:
            for t in layer.units:
                counter += 1
                default.append(Param(f"w{counter}", s, (t,), s == layer.bias_unit, f"{s} -> {t}"))
        if spec.bias == "neuron":
            default.extend(Param(f"b_{t}", None, (t,), True, f"bias -> {t}") for t in layer.units)
        elif spec.bias == "layer":
            default.append(Param(f"b{layer.index}", None, layer.units, True, f"bias -> layer {layer.index}"))
        previous = layer.units
    return layers, _rename(spec, default)


def _check_unit_names(spec: Spec, layers: tuple[Layer, ...]) -> None:
    seen: dict[str, str] = {}

    def claim(name: str, where: str) -> None:
        if name in seen:
            raise SpecError(spec.source, where, f"the name '{name}' is already used by {seen[name]}")
        seen[name] = where

    for n in spec.inputs:
        claim(n, "network.inputs")
    for layer in layers:
        where = f"network.layers[{layer.index - 1}]"
        for u in layer.units:
            claim(u, f"{where}.units")
        if layer.bias_unit:
            claim(layer.bias_unit, f"{where}.bias_unit")
        for t in layer.targets:
            claim(t, f"{where}.targets")
    printed: dict[str, str] = {}
    for name, where in seen.items():
        _check_name(spec, name, where)
        other = printed.setdefault(latex_name(name), name)
        if other != name:  # the key could not tell them apart
            raise SpecError(spec.source, where, f"'{name}' and '{other}' would be written the same in the key; "
                            "choose names that differ in more than an underscore")


RESERVED = {"L", "L0", "eta"}  # the loss, the loss at the starting parameters (online) and the learning rate


def _check_name(spec: Spec, name: str, where: str) -> None:
    """Names the tool derives from others (h1_in, dL/dw1, w1*, h1', delta_h1, h1[2]) must
    not be given to a unit or a parameter, or two quantities would share one symbol."""
    if name in RESERVED:
        raise SpecError(spec.source, where, f"'{name}' is reserved (loss, loss at the starting parameters, "
                        "learning rate); choose another name")
    if name.endswith("_in") or name.startswith("delta_") or any(c in name for c in "*'/[]~ "):
        raise SpecError(spec.source, where, f"'{name}' looks like a derived name (…_in, delta_…, or with "
                        "* ' / [ ] ~ or a space); choose a plain name such as h1 or w7")


MISSING_LISTED = 200  # missing parameters named one by one; beyond, the first and the last


def missing_weights(missing: list[Param]) -> str:
    """Every missing name with its connection, in one line, so that one round of editing
    fixes the spec; past ``MISSING_LISTED`` (a network whose weights come from a script)
    the count, the first and last names, and where the numbering is told."""
    def named(p: Param) -> str:
        return f"{p.name} ({p.connection})"

    if len(missing) <= MISSING_LISTED:
        return f"missing {len(missing)} parameters; expected a number for each of {', '.join(map(named, missing))}"
    return (f"missing {len(missing):,} parameters, too many to list (more than {MISSING_LISTED}): "
            f"{', '.join(map(named, missing[:3]))}, … {named(missing[-1])}; expected a number for each, named "
            "source by source, then target by target, layer by layer, as README.md describes under \"Names\"")


def _rename(spec: Spec, default: list[Param]) -> tuple[Param, ...]:
    by_key = {p.connection.replace(" ", ""): p for p in default}
    by_key.update({p.name: p for p in default})
    new_name: dict[str, str] = {}
    for key, name in spec.names.items():
        p = by_key.get(key.replace(" ", ""))
        if p is None:
            hint = did_you_mean(key, [q.connection for q in default])
            raise SpecError(spec.source, f"network.names.{key}",
                            f"no such connection{hint}; expected 'source -> target' or a default name like 'w1'")
        if p.name in new_name:
            raise SpecError(spec.source, f"network.names.{key}", f"{p.connection} is named twice")
        new_name[p.name] = name
    params = tuple(
        Param(new_name.get(p.name, p.name), p.source, p.targets, p.is_bias, p.connection) for p in default
    )
    seen: dict[str, str] = {}
    units = set(spec.inputs) | {u for l in spec.layers for u in (*l.units, *l.targets)}
    units |= {l.bias_unit for l in spec.layers if l.bias_unit}
    for p in params:
        _check_name(spec, p.name, f"network.names ({p.connection})")
        if p.name in seen or p.name in units:
            raise SpecError(spec.source, "network.names",
                            f"the name '{p.name}' is used twice ({seen.get(p.name, 'a unit')} and {p.connection})")
        seen[p.name] = p.connection
    return params


def _check_values(spec: Spec, params: tuple[Param, ...], layers: tuple[Layer, ...]) -> None:
    names = [p.name for p in params]
    missing = [p for p in params if p.name not in spec.weights]
    if len(missing) == 1:
        p = missing[0]
        raise SpecError(spec.source, f"weights.{p.name}", f"missing; expected a number for the connection {p.connection}")
    if missing:
        raise SpecError(spec.source, "weights", missing_weights(missing))
    known = set(names)  # membership in a list would be quadratic in the parameters
    for name in spec.weights:
        if name not in known:
            hint = did_you_mean(name, names)
            raise SpecError(spec.source, f"weights.{name}", f"no such parameter{hint}; the network has {', '.join(names)}")
    for field, listed in (("training.frozen", spec.frozen),
                          ("display.chains", spec.chains if isinstance(spec.chains, tuple) else ())):
        for name in listed:
            if name not in known:
                raise SpecError(spec.source, field, f"no parameter named '{name}'; the network has {', '.join(names)}")
