"""Optimizers by hand: momentum, Nesterov, AdaGrad, RMSProp, Adam, AdamW, weight decay.

One registry entry per optimizer (``OPTIMIZERS``): its state variables, its
hyperparameters with their defaults and the source of each default, and ``rules``, which
writes the state updates and the parameter update of one step as SymPy expressions of the
gradient, the previous state, the parameter and the hyperparameters. The conventions on
which published sources disagree (the momentum form, where Nesterov takes its gradient, ε
inside or outside the root, bias correction, L2 or decoupled decay, descent or ascent) are
settings (``Settings``), stated in the key.

The spec asks for an optimizer with ``[training] optimizer = "adam"``; the exercise then
computes ``steps`` steps by hand (default 2). ``optimizer_steps`` (in ``optimizer_graph``)
turns this into the same kind of quantity graph as the single gradient-descent step: the
state is held in named quantities (``m_w1[1]``, ``v_w1[1]``, ``w1*``, ``w1*[2]``), so the
evaluator, the key, answers.json and ``check`` treat every step alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

import sympy as sp

from .errors import SpecError, did_you_mean

# --- the conventions ---------------------------------------------------------------------

MOMENTUM_FORMS = {
    # name: (the state update, the parameter update), in words for the key and README
    "velocity": "v ← μv − ηg, w ← w + v",
    "accumulate": "v ← μv + g, w ← w − ηv",
    "velocity_plus": "v ← μv + ηg, w ← w − v",
    "average": "v ← μv + (1 − μ)g, w ← w − ηv",
}
NESTEROV_FORMS = ("lookahead", "library")
NESTEROV_LIBRARY = "v ← μv + g, w ← w − η(g + μv)"  # nesterov = "library", in words as above
EPSILON_PLACES = ("outside", "inside", "hat")
DECAY_KINDS = ("l2", "decoupled")
DIRECTIONS = ("descent", "ascent")
DEFAULT_STEPS = 2


@dataclass(frozen=True)
class Hyper:
    name: str  # the quantity name (mu, rho, beta1, beta2, epsilon)
    default: float
    source: str  # where the default comes from
    below_one: bool = False  # a decay rate in [0, 1)


@dataclass(frozen=True)
class Settings:
    """One optimizer with its conventions and hyperparameters, as the spec set them."""

    optimizer: str
    steps: int = DEFAULT_STEPS
    hyper: Mapping[str, float] = field(default_factory=dict)  # mu, rho, beta1, beta2, epsilon
    momentum: str = "velocity"
    nesterov: str = "lookahead"
    epsilon: str = "outside"
    bias_correction: bool = True
    weight_decay: float = 0.0
    decay: str = "l2"
    decay_biases: bool = False
    direction: str = "descent"
    state: Mapping[str, float] = field(default_factory=dict)  # initial state: "m" or "m_w1" -> value

    @property
    def entry(self) -> "Optimizer":
        return OPTIMIZERS[self.optimizer]

    def decays(self, is_bias: bool) -> bool:
        return self.weight_decay > 0 and (self.decay_biases or not is_bias)

    def initial(self, state: str, param: str) -> float:
        return self.state.get(f"{state}_{param}", self.state.get(state, 0.0))


@dataclass(frozen=True)
class Rule:
    """What one step computes for one parameter, as SymPy expressions."""

    states: tuple[tuple[str, sp.Expr], ...]  # state name -> its new value, in order
    extras: tuple[tuple[str, sp.Expr], ...]  # derived values shown as their own line (m̂, v̂)
    step: sp.Expr | None  # the step Δ added to the parameter, for the adaptive optimizers
    update: sp.Expr  # the new parameter value


@dataclass(frozen=True)
class Symbols:
    """The symbols one step's rule is written in."""

    g: sp.Expr  # the gradient the optimizer uses (with the L2 term, if any)
    w: sp.Expr  # the parameter before the step
    prev: Mapping[str, sp.Expr]  # each state variable before the step
    new: Mapping[str, sp.Expr]  # each state variable after the step (its quantity)
    extra: Mapping[str, sp.Expr]  # each derived value (its quantity)
    step: sp.Expr  # the step's quantity
    k: sp.Expr  # the step's number (an integer, or a symbol for training runs)


H = {n: sp.Symbol(n) for n in ("eta", "mu", "rho", "beta1", "beta2", "epsilon", "lambda")}


def _mul(*factors) -> sp.Expr:
    return sp.Mul(*factors, evaluate=False)


def _add(*terms) -> sp.Expr:
    return sp.Add(*terms, evaluate=False)


def _neg(x) -> sp.Expr:
    return _mul(-1, x)


def _root(x, eps, place: str) -> sp.Expr:
    """√x + ε or √(x + ε): where ε goes is a convention."""
    if place == "inside":
        return sp.sqrt(_add(x, eps), evaluate=False)
    return _add(sp.sqrt(x, evaluate=False), eps)


def _ratio(num, den) -> sp.Expr:
    return _mul(num, sp.Pow(den, -1, evaluate=False))


def _momentum_rule(s: Settings, y: Symbols) -> tuple[sp.Expr, sp.Expr]:
    """(new velocity, new parameter) of one momentum step in the chosen form."""
    mu, eta = H["mu"], H["eta"]
    v, g, w, vn = y.prev["v"], y.g, y.w, y.new["v"]
    form = s.momentum
    if form == "velocity":
        return _add(_mul(mu, v), _neg(_mul(eta, g))), _add(w, vn)
    if form == "accumulate":
        return _add(_mul(mu, v), g), _add(w, _neg(_mul(eta, vn)))
    if form == "velocity_plus":
        return _add(_mul(mu, v), _mul(eta, g)), _add(w, _neg(vn))
    return _add(_mul(mu, v), _mul(_add(1, _neg(mu)), g)), _add(w, _neg(_mul(eta, vn)))


def lookahead(s: Settings, w: sp.Expr, v: sp.Expr) -> sp.Expr:
    """Nesterov's look-ahead point: where the momentum part of the step alone takes w
    (w + μv, w − μv, or w − ημv, by the momentum form)."""
    mu, eta = H["mu"], H["eta"]
    if s.momentum == "velocity":
        return _add(w, _mul(mu, v))
    if s.momentum == "velocity_plus":
        return _add(w, _neg(_mul(mu, v)))
    return _add(w, _neg(_mul(eta, mu, v)))


def _sgd(s: Settings, y: Symbols) -> Rule:
    return Rule((), (), None, _add(y.w, _neg(_mul(H["eta"], y.g))))


def _momentum(s: Settings, y: Symbols) -> Rule:
    v, w = _momentum_rule(s, y)
    return Rule((("v", v),), (), None, w)


def _nesterov(s: Settings, y: Symbols) -> Rule:
    if s.nesterov == "lookahead":  # the gradient was taken at the look-ahead point
        return _momentum(s, y)
    # PyTorch's SGD(nesterov=True): v ← μv + g, w ← w − η(g + μv)
    mu, eta = H["mu"], H["eta"]
    v = _add(_mul(mu, y.prev["v"]), y.g)
    return Rule((("v", v),), (), None, _add(y.w, _neg(_mul(eta, _add(y.g, _mul(mu, y.new["v"]))))))


def _adagrad(s: Settings, y: Symbols) -> Rule:
    r = _add(y.prev["r"], sp.Pow(y.g, 2, evaluate=False))
    step = _neg(_mul(H["eta"], _ratio(y.g, _root(y.new["r"], H["epsilon"], s.epsilon))))
    return Rule((("r", r),), (), step, _add(y.w, y.step))


def _rmsprop(s: Settings, y: Symbols) -> Rule:
    rho = H["rho"]
    r = _add(_mul(rho, y.prev["r"]), _mul(_add(1, _neg(rho)), sp.Pow(y.g, 2, evaluate=False)))
    step = _neg(_mul(H["eta"], _ratio(y.g, _root(y.new["r"], H["epsilon"], s.epsilon))))
    return Rule((("r", r),), (), step, _add(y.w, y.step))


def _adam(s: Settings, y: Symbols) -> Rule:
    b1, b2, eta, eps = H["beta1"], H["beta2"], H["eta"], H["epsilon"]
    m = _add(_mul(b1, y.prev["m"]), _mul(_add(1, _neg(b1)), y.g))
    v = _add(_mul(b2, y.prev["v"]), _mul(_add(1, _neg(b2)), sp.Pow(y.g, 2, evaluate=False)))
    mn, vn = y.new["m"], y.new["v"]
    extras: tuple[tuple[str, sp.Expr], ...] = ()
    if s.epsilon == "hat":  # Kingma & Ba, end of §2: the correction folded into the rate
        rate = _ratio(_mul(eta, sp.sqrt(_add(1, _neg(sp.Pow(b2, y.k, evaluate=False))), evaluate=False)),
                      _add(1, _neg(sp.Pow(b1, y.k, evaluate=False))))
        extras = (("eta_t", rate),)
        step = _neg(_mul(y.extra["eta_t"], _ratio(mn, _root(vn, eps, "outside"))))
    else:
        if s.bias_correction:
            extras = (("mhat", _ratio(mn, _add(1, _neg(sp.Pow(b1, y.k, evaluate=False))))),
                      ("vhat", _ratio(vn, _add(1, _neg(sp.Pow(b2, y.k, evaluate=False))))))
            mn, vn = y.extra["mhat"], y.extra["vhat"]
        step = _neg(_mul(eta, _ratio(mn, _root(vn, eps, s.epsilon))))
    return Rule((("m", m), ("v", v)), extras, step, _add(y.w, y.step))


@dataclass(frozen=True)
class Optimizer:
    key: str
    title: str
    states: tuple[str, ...]  # state variables, one per parameter (v; r; m and v)
    hypers: tuple[Hyper, ...]
    rules: Callable[[Settings, Symbols], Rule]
    source: str  # the form the key uses by default, and where it is published
    decay: str = "l2"  # the default weight-decay kind
    epsilon: str = "outside"  # the default place of ε


_EPS_ADAM = Hyper("epsilon", 1e-8, "Kingma & Ba (2015), Algorithm 1")
OPTIMIZERS: dict[str, Optimizer] = {
    o.key: o for o in (
        Optimizer("sgd", "gradient descent", (), (), _sgd,
                  "Goodfellow, Bengio & Courville, Deep Learning (2016), Algorithm 8.1"),
        Optimizer("momentum", "gradient descent with momentum", ("v",),
                  (Hyper("mu", 0.9, "Goodfellow, Bengio & Courville (2016), §8.3.2", True),), _momentum,
                  "Goodfellow, Bengio & Courville, Deep Learning (2016), Algorithm 8.2"),
        Optimizer("nesterov", "Nesterov momentum", ("v",),
                  (Hyper("mu", 0.9, "Goodfellow, Bengio & Courville (2016), §8.3.2", True),), _nesterov,
                  "Goodfellow, Bengio & Courville, Deep Learning (2016), Algorithm 8.3"),
        Optimizer("adagrad", "AdaGrad", ("r",),
                  (Hyper("epsilon", 1e-7, "Goodfellow, Bengio & Courville (2016), Algorithm 8.4"),), _adagrad,
                  "Duchi, Hazan & Singer (2011); Goodfellow et al. (2016), Algorithm 8.4"),
        Optimizer("rmsprop", "RMSProp", ("r",),
                  (Hyper("rho", 0.9, "Hinton, Neural Networks for Machine Learning, lecture 6e (2012)", True),
                   Hyper("epsilon", 1e-6, "Goodfellow, Bengio & Courville (2016), Algorithm 8.5")), _rmsprop,
                  "Goodfellow, Bengio & Courville (2016), Algorithm 8.5", epsilon="inside"),
        Optimizer("adam", "Adam", ("m", "v"),
                  (Hyper("beta1", 0.9, "Kingma & Ba (2015), Algorithm 1", True),
                   Hyper("beta2", 0.999, "Kingma & Ba (2015), Algorithm 1", True), _EPS_ADAM), _adam,
                  "Kingma & Ba, Adam: A Method for Stochastic Optimization, ICLR 2015, Algorithm 1"),
        Optimizer("adamw", "AdamW", ("m", "v"),
                  (Hyper("beta1", 0.9, "Loshchilov & Hutter (2019), Algorithm 2", True),
                   Hyper("beta2", 0.999, "Loshchilov & Hutter (2019), Algorithm 2", True), _EPS_ADAM), _adam,
                  "Loshchilov & Hutter, Decoupled Weight Decay Regularization, ICLR 2019, Algorithm 2",
                  decay="decoupled"),
    )
}
HYPER_NAMES = ("mu", "rho", "beta1", "beta2", "epsilon")

# The fields of [training] this module reads (spec.py lets them through).
FIELDS = ("optimizer", "steps", *HYPER_NAMES, "momentum", "nesterov", "epsilon_at", "bias_correction",
          "weight_decay", "decay", "decay_biases", "direction", "state")


# --- the spec ----------------------------------------------------------------------------

# The fields of a [[training.runs]] table this module reads: there ``steps`` is the run's length.
RUN_FIELDS = tuple(k for k in FIELDS if k != "steps")


def parse(training, source: str, run: bool = False) -> Settings | None:
    """The optimizer settings of ``[training]`` (a ``spec.Fields``), or None when the spec
    names no optimizer (then the exercise is the single gradient-descent step). ``run``:
    the table is one of ``[[training.runs]]``, whose ``steps`` are the run's own."""
    present = [k for k in (RUN_FIELDS if run else FIELDS) if k in training.table]
    if "optimizer" not in training.table:
        if present:
            raise training.fail(present[0], 'needs an optimizer; expected optimizer = "sgd", "momentum", '
                                "\"nesterov\", \"adagrad\", \"rmsprop\", \"adam\" or \"adamw\" in [training]")
        return None
    key = training.text("optimizer", None, tuple(OPTIMIZERS))
    entry = OPTIMIZERS[key]
    if training.get("update", "batch") == "online":
        raise training.fail("update", f'expected "batch" with optimizer = "{key}" (online updates '
                            "step through the examples without an optimizer state)")
    steps = DEFAULT_STEPS if run else training.get("steps", DEFAULT_STEPS)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 10:
        raise training.fail("steps", f"expected a whole number of steps from 1 to 10, got {steps!r}")
    used = {h.name: h for h in entry.hypers}
    hyper = {}
    for name in HYPER_NAMES:
        if name in training.table and name not in used:
            raise training.fail(name, f"not a hyperparameter of {entry.title}; expected "
                                f"{', '.join(used) or 'none'}")
    for h in entry.hypers:
        value = training.number(h.name, h.default)
        if h.below_one and not 0 <= value < 1:
            raise training.fail(h.name, f"expected a number in [0, 1), got {value:g}")
        if h.name == "epsilon" and value < 0:
            raise training.fail(h.name, f"expected a number ≥ 0, got {value:g}")
        hyper[h.name] = value

    def only_for(name: str, keys: tuple[str, ...]) -> None:
        if name in training.table and key not in keys:
            raise training.fail(name, f"does not apply to {entry.title}; it is a setting of "
                                f"{' and '.join(OPTIMIZERS[k].title for k in keys)}")

    only_for("momentum", ("momentum", "nesterov"))
    only_for("nesterov", ("nesterov",))
    only_for("epsilon_at", ("adagrad", "rmsprop", "adam", "adamw"))
    only_for("bias_correction", ("adam", "adamw"))
    momentum = training.text("momentum", "velocity", tuple(MOMENTUM_FORMS))
    nesterov = training.text("nesterov", "lookahead", NESTEROV_FORMS)
    if key == "nesterov" and nesterov == "library" and "momentum" in training.table and momentum != "accumulate":
        raise training.fail("momentum", 'expected "accumulate" with nesterov = "library" (the libraries\' '
                            f"recursion is v ← μv + g), got '{momentum}'")
    places = EPSILON_PLACES if key in ("adam", "adamw") else EPSILON_PLACES[:2]
    epsilon = training.text("epsilon_at", entry.epsilon, places)
    decay_t = training.number("weight_decay", 0.0)
    if decay_t < 0:
        raise training.fail("weight_decay", f"expected a number ≥ 0, got {decay_t:g}")
    state = _state(training, entry)
    return Settings(
        optimizer=key, steps=steps, hyper=MappingProxyType(hyper),
        momentum="accumulate" if key == "nesterov" and nesterov == "library" else momentum,
        nesterov=nesterov, epsilon=epsilon,
        bias_correction=training.flag("bias_correction", True),
        weight_decay=decay_t, decay=training.text("decay", entry.decay, DECAY_KINDS),
        decay_biases=training.flag("decay_biases", False),
        direction=training.text("direction", "descent", DIRECTIONS),
        state=MappingProxyType(state),
    )


def _state(training, entry: Optimizer) -> dict[str, float]:
    """``state = { m = 0, v_w1 = 0.01 }``: an initial value for every parameter, or one."""
    table = training.table_at("state")
    out = {}
    for name in table.table:
        head = name.split("_", 1)[0]
        if head not in entry.states:
            expected = ", ".join(f"{s} or {s}_<parameter>" for s in entry.states) or "nothing (no state)"
            raise table.fail(name, f"not a state of {entry.title}; expected {expected}")
        value = table.number(name)
        if entry.key in ("adagrad", "rmsprop", "adam", "adamw") and head in ("r", "v") and value < 0:
            raise table.fail(name, f"expected a number ≥ 0 (a sum of squares), got {value:g}")
        out[name] = value
    return out


def check_names(settings: Settings | None, network, source: str) -> None:
    """Parameter names in ``state`` must be the network's."""
    if settings is None:
        return
    if settings.weight_decay > 0 and settings.decay == "l2":  # the key's penalty R and objective J
        for unit in (u for layer in network.layers for u in layer.units):
            if unit in ("R", "J"):
                raise SpecError(source, "network.layers", f"unit '{unit}': with L2 weight decay the key names the "
                                "penalty R and the objective J; expected another unit name")
    names = [p.name for p in network.params]
    for key in settings.state:
        if "_" in key:
            param = key.split("_", 1)[1]
            if param not in names:
                raise SpecError(source, f"training.state.{key}",
                                f"no parameter named '{param}'{did_you_mean(param, names)}; the network has "
                                f"{', '.join(names)}")


def givens(settings: Settings | None, network) -> dict[str, float]:
    """The optimizer's given values: hyperparameters, λ, and the initial state."""
    if settings is None:
        return {}
    g = dict(settings.hyper)
    if settings.weight_decay > 0:
        g["lambda"] = settings.weight_decay
    for p in network.params:
        if p.name not in network.frozen:
            for s in settings.entry.states:
                g[f"{s}_{p.name}[0]"] = settings.initial(s, p.name)
    return g


def describe(settings: Settings, givens: Mapping[str, float]) -> dict[str, Any]:
    """The settings as data for answers.json: a variant's drawn hyperparameters and λ
    (``givens``) in place of the spec's."""
    hyper = {name: givens.get(name, value) for name, value in settings.hyper.items()}
    return {"optimizer": settings.optimizer, "steps": settings.steps, **hyper,
            "momentum": settings.momentum if settings.entry.states == ("v",) else None,
            "nesterov": settings.nesterov if settings.optimizer == "nesterov" else None,
            "epsilon_at": settings.epsilon if "epsilon" in settings.hyper else None,
            "bias_correction": settings.bias_correction if settings.optimizer in ("adam", "adamw") else None,
            "weight_decay": givens.get("lambda", settings.weight_decay), "decay": settings.decay,
            "decay_biases": settings.decay_biases, "direction": settings.direction}


# --- [vary] ------------------------------------------------------------------------------

def vary_names(settings: Settings | None) -> list[str]:
    """The optimizer's given values a variant may draw: its hyperparameters, and λ when the
    exercise has weight decay."""
    if settings is None:
        return []
    return [h.name for h in settings.entry.hypers] + (["lambda"] if settings.weight_decay > 0 else [])


def vary_problem(settings: Settings, name: str, grid) -> str | None:
    """Why drawing ``name`` from ``grid`` would leave an exercise that does not say what it
    should (None when it is fine): a decay rate of 0 makes the state a copy of the
    gradient, one of 1 never lets it change; a λ of 0 leaves its terms at zero."""
    lo, hi = min(grid), max(grid)
    if any(h.name == name and h.below_one for h in settings.entry.hypers) and not (0 < lo and hi < 1):
        return f"expected values strictly between 0 and 1 for a decay rate, the grid spans {lo:g} to {hi:g}"
    if name == "epsilon" and lo < 0:
        return f"expected values ≥ 0, the grid reaches {lo:g}"
    if name == "lambda" and lo <= 0:
        return f"expected a positive weight decay (λ = 0 leaves the penalty's terms at zero), the grid reaches {lo:g}"
    return None
