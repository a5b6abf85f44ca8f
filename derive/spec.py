"""The exercise spec: what an instructor writes, read from TOML and checked whole on load.

Every section is parsed here into typed, frozen fields when the file is read: the network,
the loss, the examples, the weights, the training runs, the questions, the display and the
``[vary]`` section; then every name in it is checked against the network it describes.
A command therefore fails on a bad spec before it computes or writes anything. Every
problem is one ``SpecError`` naming the file, the field and what was expected; a setting
that does not apply (½ with cross-entropy, ``slope`` on a sigmoid layer) is refused, not
ignored. ``Spec.raw`` only echoes the spec into answers.json.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from . import limits, optimizers, vary as vary_mod
from .activations import ACTIVATIONS
from .errors import SpecError, did_you_mean, shown
from .latex import untypesettable
from .losses import ALIASES, LOSSES
from .network import build
from .vary import VarySpec

BIAS_CONVENTIONS = ("unit", "neuron", "layer", "none")
REDUCTIONS = ("sum", "mean")
UPDATE_MODES = ("batch", "online")
CARRY = ("full", "rounded")
QUESTIONS = ("nonlinearity", "vanishing", "calculation", "training")
DEFAULT_STEPS = 10
BUILTIN = "reference"

# Names reach file names, LaTeX and every answer format: a set that is safe in all of them.
NAME = re.compile(r"[A-Za-z0-9_]+")
NAME_RULE = f"ASCII letters, digits and _ only, at most {limits.NAME_CHARS} characters"
# How a layer's activation may be written in the key: one letter, or a Greek letter by its
# TeX name (η is the learning rate, so it is not offered).
GREEK = frozenset("""alpha beta gamma delta epsilon varepsilon zeta theta vartheta iota kappa
    lambda mu nu xi pi rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda
    Xi Pi Sigma Upsilon Phi Psi Omega""".split())
SYMBOL_RULE = "one ASCII letter such as \"a\", or a Greek letter's name such as \"sigma\" or \"phi\""


@dataclass(frozen=True)
class LayerSpec:
    units: tuple[str, ...]
    activation: str
    slope: float = 0.01  # leaky ReLU only
    symbol: str | None = None  # how the key writes the activation, as TeX ("a", r"\phi")
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
class RunSpec:
    learning_rate: float
    steps: int
    frozen: tuple[str, ...] = ()  # held fixed in this run, beside the network's own frozen set
    optimizer: Any = None  # optimizers.Settings: the run's own optimizer (None: the exercise's)


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
    runs: tuple[RunSpec, ...]  # [[training.runs]]; empty when the spec asks for none
    questions: tuple[str, ...]  # the questions the sheet asks, in the sheet's order
    vary: VarySpec | None  # None without a [vary] section
    raw: Mapping[str, Any] = field(repr=False)  # the table as written, echoed into answers.json
    optimizer: Any = None  # optimizers.Settings when [training] names an optimizer
    form: str = "auto"  # the key's form: "auto" (by size), "chains" (line by line) or "tables"


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

    def whole(self, key: str, default: int, low: int, high: int, what: str) -> int:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(key, f"expected a whole number of {what} from {low:,} to {high:,}, got {shown(value)}")
        return value

    def text(self, key: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str:
        value = self.table.get(key, default)
        if value is None:
            raise self.fail(key, "missing; expected a string")
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {shown(value)}")
        if choices and value not in choices:
            hint = did_you_mean(value, choices)
            raise self.fail(key, f"expected one of {', '.join(choices)}, got {shown(value)}{hint}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {shown(value)}")
        return value

    def names(self, key: str, default: tuple[str, ...] | None = None, nonempty: bool = True) -> tuple[str, ...]:
        value = self.table.get(key, default)
        if value is None:
            raise self.fail(key, "missing; expected a list of names")
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(key, f"expected a list of names, got {shown(value)}")
        if nonempty and not value:
            raise self.fail(key, "expected at least one name, got an empty list")
        return tuple(value)

    def new_names(self, key: str, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """Names the spec gives to units: each from the safe set."""
        names = self.names(key, default)
        for name in names:
            check_name(self.source, self.path(key), name)
        return names

    def table_at(self, key: str, required: bool = False) -> "Fields":
        value = self.table.get(key)
        if value is None:
            if required:
                raise self.fail(key, "missing; expected a table")
            value = {}
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a table, got {shown(value)}")
        return Fields(self.source, value, f"{self.path(key)}.")

    def tables(self, key: str, what: str) -> list["Fields"]:
        """An array of tables (``[[key]]``), possibly absent."""
        value = self.table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(t, Mapping) for t in value):
            raise self.fail(key, f"expected [[{self.path(key)}]] tables ({what}), got {shown(value)}")
        return [Fields(self.source, t, f"{self.path(key)}[{i}].") for i, t in enumerate(value)]


def check_name(source: str, where: str, name: str) -> None:
    if not NAME.fullmatch(name) or len(name) > limits.NAME_CHARS:
        raise SpecError(source, where, f"expected a name of {NAME_RULE}, got {shown(name)}")


def as_number(source: str, field_name: str, value: Any, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(source, field_name, f"expected a number, got {shown(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the float range
        number = math.inf
    if not math.isfinite(number):
        raise SpecError(source, field_name, "expected a finite number (at most about 1.8e308 in size), "
                        f"got {shown(value) if isinstance(value, float) else 'a larger integer'}")
    value = number
    if positive and value <= 0:
        raise SpecError(source, field_name, f"expected a positive number, got {value:g}")
    return value


def builtin_path(name: str = BUILTIN) -> Path:
    return Path(str(resources.files("derive.exercises").joinpath(f"{name}.toml")))


def load(path: str | Path | None = None) -> Spec:
    """Read and check a spec file; ``None`` is the built-in reference exercise."""
    path = Path(path) if path is not None else builtin_path()
    source = str(path)
    expected = "a TOML exercise spec"
    data = limits.read_bytes(path, limits.SPEC_BYTES, "file", expected)
    return parse(limits.decode(data, source, "file", expected), source)


def _typesettable(fields: Fields, key: str, default: str) -> str:
    """A free text that goes onto the sheet: any character pdflatex can typeset (accented
    Latin, Greek as math); anything else is refused here rather than by TeX later."""
    text = fields.text(key, default)
    bad = untypesettable(text)
    if bad is not None:
        raise fields.fail(key, f"the character {bad!r} (U+{ord(bad):04X}) cannot be typeset; expected "
                          "letters (accented Latin and Greek included), digits and punctuation")
    return text


def parse(text: str, source: str = "<spec>") -> Spec:
    return from_table(read_toml(text, source), source)


def read_toml(text: str, source: str) -> dict:
    """The table of a TOML text, every way it can fail told in one line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(source, "syntax", f"not valid TOML ({exc}){_single_brackets(text, str(exc))}") from None
    except RecursionError:
        raise SpecError(source, "syntax", "arrays or tables nested too deeply; expected a flat spec") from None
    except ValueError as exc:  # an integer with more digits than Python converts
        raise SpecError(source, "syntax", f"a number too long to read ({str(exc).split(':')[0]})") from None


# The spec's arrays of tables, each table written [[name]], and what one table is.
ARRAYS = {"network.layers": "layer", "examples": "example", "training.runs": "run"}
_HEADER = re.compile(r"\s*\[([^\[\]]+)\]\s*(?:#.*)?")


def _single_brackets(text: str, message: str) -> str:
    """A hint for an array's table written [name]: TOML, meeting it beside the [[name]]
    of another, tells only that a value cannot be overwritten or a table declared twice."""
    if not message.startswith(("Cannot overwrite a value", "Cannot declare")):
        return ""
    for no, line in enumerate(text.splitlines(), start=1):
        m = _HEADER.fullmatch(line)
        name = re.sub(r"[\s\"']", "", m.group(1)) if m else ""
        if name in ARRAYS:
            return (f"; line {no} writes [{name}], a single table: write [[{name}]], with double brackets, "
                    f"for every {ARRAYS[name]}")
    return ""


TOP_LEVEL = ("title", "course", "network", "loss", "examples", "weights", "training",
             "display", "questions", "vary")


def from_table(raw: Mapping[str, Any], source: str) -> Spec:
    """The spec of a parsed TOML table, typed and checked against its network."""
    if "graph" in raw:  # hook: a computational-graph exercise is read by derive/graph.py
        from .graph import spec_from_table
        return spec_from_table(raw, source)
    spec = typed(raw, source)
    network = build(spec)  # checks the names of units and parameters, weights, frozen, chains
    params = [p.name for p in network.params]
    known = set(params)
    for i, run in enumerate(spec.runs):
        for name in run.frozen:
            if name not in known:
                raise SpecError(source, f"training.runs[{i}].frozen",
                                f"no parameter named {shown(name)}; the network has {', '.join(params)}")
    vary_raw = raw.get("vary")
    if vary_raw is None:
        return spec
    return replace(spec, vary=vary_mod.parse(spec, network, vary_raw))


def typed(raw: Mapping[str, Any], source: str) -> Spec:
    """Every section parsed into typed fields; names not yet checked against the network
    (and ``vary`` left out: its names are the network's given values)."""
    top = Fields(source, raw)
    top.only(*TOP_LEVEL)

    net = top.table_at("network", required=True)
    net.only("inputs", "layers", "bias", "train_bias", "names")
    inputs = net.new_names("inputs")
    bias = net.text("bias", "unit", BIAS_CONVENTIONS)
    layer_fields = net.tables("layers", "units, activation")
    if not layer_fields:
        raise net.fail("layers", "expected at least one [[network.layers]] table")
    layers = tuple(_layer(f, i, i == len(layer_fields) - 1, bias) for i, f in enumerate(layer_fields))
    _check_size(source, inputs, layers, bias)
    if bias == "none" and "train_bias" in net.table:
        raise net.fail("train_bias", "the network has no biases (bias = \"none\"); expected no train_bias")
    names_table = net.table_at("names")
    names = {}
    for conn, name in names_table.table.items():
        if not isinstance(name, str):
            raise names_table.fail(conn, f"expected a parameter name, got {shown(name)}")
        check_name(source, names_table.path(conn), name)
        names[conn] = name

    loss = _loss(top.table_at("loss", required=True))
    out_layer = layers[-1]
    allowed = LOSSES[loss.kind].outputs
    if allowed is not None and out_layer.activation not in allowed:
        raise SpecError(source, f"network.layers[{len(layers) - 1}].activation",
                        f"{LOSSES[loss.kind].title} needs output values in (0, 1): expected "
                        f"{' or '.join(sorted(allowed))}, got '{out_layer.activation}'")
    softmax_ce = out_layer.activation == "softmax" and "softmax" in LOSSES[loss.kind].cancels_with
    examples = _examples(top, inputs, out_layer.targets, loss, softmax_ce)
    weights_t = top.table_at("weights", required=True)
    weights = {name: weights_t.number(name) for name in weights_t.table}

    training = top.table_at("training")
    training.only("learning_rate", "frozen", "update", "runs", *optimizers.FIELDS)
    learning_rate = training.number("learning_rate", positive=True)
    runs = _runs(training, learning_rate)
    optimizer = optimizers.parse(training, source)  # optimizer settings (derive/optimizers.py)
    display = top.table_at("display")
    display.only("decimals", "chains", "carry", "form")
    decimals = display.whole("decimals", 4, 0, 12, "decimals")
    chains = display.get("chains", "auto")
    if isinstance(chains, list):
        chains = display.names("chains", nonempty=False)
    elif not isinstance(chains, str) or chains not in ("auto", "all", "none"):
        raise display.fail("chains", "expected \"auto\", \"all\", \"none\" or a list of parameter names, "
                           f"got {shown(chains)}")

    return Spec(
        source=source,
        title=_typesettable(top, "title", "Backpropagation by hand"),
        course=_typesettable(top, "course", ""),
        inputs=inputs,
        layers=layers,
        bias=bias,
        train_bias=net.flag("train_bias", True),
        names=MappingProxyType(names),
        loss=loss,
        examples=examples,
        weights=MappingProxyType(weights),
        learning_rate=learning_rate,
        frozen=training.names("frozen", (), nonempty=False),
        update=training.text("update", "batch", UPDATE_MODES),
        decimals=decimals,
        chains=chains,
        carry=display.text("carry", "full", CARRY),
        form=_form(display, len(examples), training.text("update", "batch", UPDATE_MODES), optimizer),
        runs=runs,
        questions=_questions(top.table_at("questions"), bool(runs)),
        vary=None,
        raw=MappingProxyType(dict(raw)),
        optimizer=optimizer,
    )


FORMS = ("auto", "chains", "tables")


def _form(display: Fields, n_examples: int, update: str, optimizer) -> str:
    """display.form; tables are laid out for one example, or several updated online, and
    plain gradient descent."""
    form = display.text("form", "auto", FORMS)
    if form == "tables" and ((n_examples > 1 and update != "online") or optimizer is not None):
        raise display.fail("form", "\"tables\" lays out one example (or several with update = \"online\") "
                           "and gradient descent; "
                           "expected \"auto\" or \"chains\" for this spec")
    return form


def _layer(f: Fields, index: int, is_output: bool, bias: str) -> LayerSpec:
    f.only("units", "activation", "slope", "symbol", "bias_unit", "bias_value", "targets")
    units = f.new_names("units")
    activation = f.text("activation", None, tuple(ACTIVATIONS))
    if activation == "softmax" and not is_output:
        raise f.fail("activation", "softmax is only allowed on the output layer")
    targets: tuple[str, ...] = ()
    if is_output:
        default = ("y",) if len(units) == 1 else tuple(f"y_{u}" for u in units)
        targets = f.new_names("targets", default)
        if len(targets) != len(units):
            raise f.fail("targets", f"expected one target name per output unit ({len(units)}), got {len(targets)}")
    elif "targets" in f.table:
        raise f.fail("targets", "only the output layer (the last one) has targets")
    if "slope" in f.table and not ACTIVATIONS[activation].has_slope:
        raise f.fail("slope", f"only a leaky_relu layer has a slope; this layer's activation is {activation}")
    slope = f.number("slope", 0.01)
    if not 0 <= slope < 1:
        raise f.fail("slope", f"expected a number from 0 up to (not including) 1, got {slope:g}")
    for key in ("bias_unit", "bias_value"):
        if key in f.table and bias != "unit":
            raise f.fail(key, f"only the bias convention \"unit\" has bias units; this network's is \"{bias}\"")
    bias_unit = None
    if bias == "unit":
        bias_unit = f.text("bias_unit", f"b{index + 1}")
        check_name(f.source, f.path("bias_unit"), bias_unit)
    return LayerSpec(
        units=units,
        activation=activation,
        slope=slope,
        symbol=_symbol(f),
        bias_unit=bias_unit,
        bias_value=f.number("bias_value", 1.0),
        targets=targets,
    )


def _symbol(f: Fields) -> str | None:
    symbol = f.get("symbol")
    if symbol is None:
        return None
    name = symbol[1:] if isinstance(symbol, str) and symbol.startswith("\\") else symbol
    if isinstance(name, str) and re.fullmatch(r"[A-Za-z]", name) and name == symbol:
        return symbol
    if isinstance(name, str) and name in GREEK:
        return "\\" + name
    raise f.fail("symbol", f"expected {SYMBOL_RULE}, got {shown(symbol)}")


def _check_size(source: str, inputs: tuple[str, ...], layers: tuple[LayerSpec, ...], bias: str) -> None:
    """The network's size against the limits, counted before anything is built."""
    units = len(inputs) + sum(len(l.units) + (l.bias_unit is not None) for l in layers)
    limits.at_most(source, "network", units, limits.UNITS, "units")
    params, previous = 0, len(inputs)
    for l in layers:
        params += (previous + (l.bias_unit is not None)) * len(l.units)
        params += len(l.units) if bias == "neuron" else 1 if bias == "layer" else 0
        previous = len(l.units)
    limits.at_most(source, "network", params, limits.PARAMETERS, "parameters")


def _loss(f: Fields) -> LossSpec:
    f.only("kind", "half", "outputs", "examples")
    kind = f.text("kind", None, tuple(LOSSES) + tuple(ALIASES))
    implied: dict = {}
    if kind in ALIASES:
        kind, implied = ALIASES[kind]
    half = f.flag("half", implied.get("half", True))
    if half and "half" in f.table and not LOSSES[kind].uses_half:
        raise f.fail("half", f"the ½ belongs to the squared error; {LOSSES[kind].title} has none (expected no half)")
    return LossSpec(
        kind=kind,
        half=half,
        outputs=f.text("outputs", implied.get("outputs", "sum"), REDUCTIONS),
        examples=f.text("examples", "mean", REDUCTIONS),
    )


def _examples(top: Fields, inputs: tuple[str, ...], targets: tuple[str, ...],
              loss: LossSpec, softmax_ce: bool) -> tuple[Mapping[str, float], ...]:
    tables = top.tables("examples", "the inputs and targets")
    if not tables:
        raise top.fail("examples", "expected at least one [[examples]] table with the inputs and targets")
    limits.at_most(top.source, "examples", len(tables), limits.EXAMPLES, "examples")
    out = []
    for i, f in enumerate(tables):
        f.only(*inputs, *targets)
        values = {name: f.number(name) for name in (*inputs, *targets)}
        if LOSSES[loss.kind].targets_in_unit_interval:
            for t in targets:
                if not 0.0 <= values[t] <= 1.0:
                    raise f.fail(t, f"expected a target in [0, 1] for {LOSSES[loss.kind].title}, got {values[t]:g}")
        if softmax_ce and abs(sum(values[t] for t in targets) - 1.0) > 1e-9:
            # ∂L/∂ŷ_in = ŷ − y, which the key shows, holds only for a distribution.
            raise SpecError(top.source, f"examples[{i}]", "expected softmax targets that sum to 1 for cross-entropy, "
                            f"got {' + '.join(format(values[t], 'g') for t in targets)}")
        out.append(MappingProxyType(values))
    return tuple(out)


def _runs(training: Fields, learning_rate: float) -> tuple[RunSpec, ...]:
    if "runs" in training.table and not training.table["runs"]:
        raise training.fail("runs", "expected one or more [[training.runs]] tables (learning_rate, steps, frozen)")
    tables = training.tables("runs", "learning_rate, steps, frozen")
    limits.at_most(training.source, "training.runs", len(tables), limits.RUNS, "runs")
    runs = []
    for f in tables:
        f.only("learning_rate", "steps", "frozen", *optimizers.RUN_FIELDS)  # a run may compare optimizers
        rate = f.number("learning_rate", learning_rate, positive=True)
        steps = f.whole("steps", DEFAULT_STEPS, 1, limits.STEPS, "steps")
        optimizer = optimizers.parse(f, f.source, run=True)
        if optimizer is not None and training.get("update", "batch") == "online":
            raise f.fail("optimizer", 'expected no optimizer with update = "online" (online updates step through '
                         "the examples without an optimizer state)")
        runs.append(RunSpec(rate, steps, tuple(dict.fromkeys(f.names("frozen", (), nonempty=False))), optimizer))
    return tuple(runs)


def _questions(f: Fields, has_runs: bool) -> tuple[str, ...]:
    """``[questions] include``; without it, every question whose material the spec provides."""
    f.only("include")
    if "include" not in f.table:
        return tuple(q for q in QUESTIONS if q != "training" or has_runs)
    names = f.names("include")
    for name in names:
        if name not in QUESTIONS:
            raise f.fail("include", f"no question {shown(name)}{did_you_mean(name, QUESTIONS)}; "
                         f"expected some of {', '.join(QUESTIONS)}")
    if "training" in names and not has_runs:
        raise f.fail("include", "the training question needs at least one [[training.runs]] table")
    return tuple(q for q in QUESTIONS if q in names)
