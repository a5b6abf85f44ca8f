"""The symbolic derivation: every named quantity of the key and its formula.

Each quantity's formula is written in terms of the quantities it is computed from directly
(``h1 = a(h1_in)``, ``dL/dw7 = dL/dyhat · dyhat/dyhat_in · h1``, ``w7* = w7 − η dL/dw7``).
That one graph serves the key (symbolic and "numbers put in" forms), the numbers (compiled
once, see ``evaluate``), and the checker (a student's values put in for the inputs).

Gradients are the chain rule applied locally: each unit has its own local partials, and
a parameter's gradient is the product of the factors along each path from the loss down
to it, summed over paths. Where paths multiply (deep or wide networks) the key switches to
error terms δ, each defined once and reused, so the graph grows linearly with the network;
then every gradient is written through them, as the short chain ∂L/∂u_in · ∂u_in/∂w =
δ_u · (value at the source), so that one network's key reads one way throughout.
The composed loss is differentiated only in the tests, as the oracle.

Built once per network structure: the same Derivation serves every variant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable

import sympy as sp

from .activations import ACTIVATIONS, function_class
from .latex import latex_name, partial
from .losses import LOSSES
from .network import Layer, Network, Param
from .spec import LossSpec

# Stages, in the order the key presents them.
GIVEN, FORWARD, LOSS, LOCAL, DELTA, GRADIENT, UPDATE, FORWARD_AFTER, LOSS_AFTER = (
    "given", "forward", "loss", "local", "delta", "gradient", "updates", "forward_after", "loss_after",
)
CHAIN_PATH_LIMIT = 2  # "auto" writes out the chains when no parameter has more paths than this


@dataclass(frozen=True)
class Factor:
    """One factor of a chain-rule product: the partial it stands for and the quantity
    (or given value) that is its value."""

    partial: str  # LaTeX, e.g. \frac{\partial \hat{y}_{in}}{\partial h_1}
    symbol: sp.Expr  # a Symbol, or the number 1


@dataclass(frozen=True)
class Quantity:
    name: str
    symbol: sp.Symbol
    formula: sp.Expr | None  # None for given values
    stage: str
    example: int | None = None  # 1-based, when the exercise has several examples
    closed: sp.Expr | None = None  # a textbook form the key shows before the formula
    expanded: sp.Expr | None = None  # the function written out, e.g. 1/(1 + e^{-t})
    chain: tuple[tuple[Factor, ...], ...] = ()  # paths, for gradients written as chains
    by_delta: tuple[tuple[Factor, ...], ...] = ()  # or as δ_target · ∂target_in/∂w, one per target
    unit: str | None = None
    param: str | None = None
    note: str = ""

    @property
    def latex(self) -> str:
        return latex_name(self.name)


@dataclass(frozen=True)
class Derivation:
    network: Network
    loss: LossSpec
    n_examples: int
    quantities: tuple[Quantity, ...]
    chain_params: frozenset[str]
    uses_delta: bool
    cancels: bool  # dL/dŷ_in collapsed to ŷ − y (sigmoid + BCE, softmax + CE)
    online: bool = False  # parameters updated after each example, in order

    @cached_property
    def index(self) -> dict[str, int]:
        return {q.name: i for i, q in enumerate(self.quantities)}

    @cached_property
    def by_symbol(self) -> dict[sp.Symbol, int]:
        return {q.symbol: i for i, q in enumerate(self.quantities)}

    @cached_property
    def params(self) -> tuple[Param, ...]:
        """The network's parameters in the order the key lists them (``listed``)."""
        return listed(self.network)

    def __getitem__(self, name: str) -> Quantity:
        return self.quantities[self.index[name]]

    @cached_property
    def givens(self) -> tuple[Quantity, ...]:
        return tuple(q for q in self.quantities if q.formula is None)

    def stage(self, stage: str) -> tuple[Quantity, ...]:
        return tuple(q for q in self.quantities if q.stage == stage)

    @cached_property
    def inputs_of(self) -> dict[str, tuple[str, ...]]:
        """For each quantity, the names of the quantities its formula uses directly."""
        names = {q.symbol: q.name for q in self.quantities}
        return {
            q.name: tuple(sorted((names[s] for s in q.formula.free_symbols), key=self.index.get))
            if q.formula is not None else ()
            for q in self.quantities
        }

    def downstream(self, changed: frozenset[str]) -> set[str]:
        """The quantities whose value ``changed`` can reach: those, and every one computed
        from one of them."""
        inputs = self.inputs_of
        reached = set(changed)
        for q in self.quantities:  # in topological order: inputs come first
            if q.name not in reached and any(n in reached for n in inputs[q.name]):
                reached.add(q.name)
        return reached


def sfx(example: int | None) -> str:
    return f"[{example}]" if example is not None else ""


@dataclass
class _Builder:
    net: Network
    loss: LossSpec
    n_examples: int
    chains: str | tuple[str, ...]
    online: bool = False
    out: list[Quantity] = field(default_factory=list)
    # The symbol each parameter has while an example is processed: w1 at first; in online
    # mode, after example n, the value updated by it (w1*[n]).
    current: dict[str, sp.Symbol] = field(default_factory=dict)
    # Every symbol made once: SymPy's own cache of symbols is far smaller than a large
    # network's tens of thousands of names.
    symbols: dict[str, sp.Symbol] = field(default_factory=dict)

    @property
    def listed(self) -> tuple[Param, ...]:
        return listed(self.net)

    def add(self, name: str, formula: sp.Expr | None, stage: str, **kw) -> sp.Symbol:
        sym = self.sym(name)
        self.out.append(Quantity(name, sym, formula, stage, **kw))
        return sym

    def sym(self, name: str) -> sp.Symbol:
        s = self.symbols.get(name)
        if s is None:
            s = self.symbols[name] = sp.Symbol(name)
        return s

    # --- structure helpers -------------------------------------------------------------

    def fn(self, layer: Layer) -> type:
        act = ACTIVATIONS[layer.activation]
        return function_class(layer.activation, layer.symbol or act.symbol, layer.slope)

    def examples(self) -> Iterable[int | None]:
        return [None] if self.n_examples == 1 else range(1, self.n_examples + 1)

    def value_of(self, source: str | None, e: int | None, after: bool) -> sp.Expr:
        """The symbol a parameter multiplies: a unit's activation, an input, a bias unit."""
        if source is None:
            return sp.Integer(1)
        if source in self.net.bias_units:
            return self.sym(source)
        if source in self.net.inputs:
            return self.sym(source + sfx(e))
        return self.sym(source + ("'" if after else "") + sfx(e))

    # --- the stages --------------------------------------------------------------------

    def givens(self) -> None:
        for e in self.examples():
            for x in self.net.inputs:
                self.add(x + sfx(e), None, GIVEN, example=e)
            for y in self.net.targets:
                self.add(y + sfx(e), None, GIVEN, example=e)
        for layer in self.net.layers:
            if layer.bias_unit:
                self.add(layer.bias_unit, None, GIVEN)
        for p in self.listed:
            self.add(p.name, None, GIVEN, param=p.name)
        self.add("eta", None, GIVEN)

    def forward(self, e: int | None, after: bool) -> None:
        tick = "'" if after else ""
        stage = FORWARD_AFTER if after else FORWARD
        for layer in self.net.layers:
            for u in layer.units:
                terms = []
                for p in self.net.incoming(u):
                    w = self.sym(p.name + "*") if after else self.current[p.name]
                    src = self.value_of(p.source, e, after)
                    terms.append(w if p.source is None else _product([src, w]))
                z = _sum(terms)
                self.add(f"{u}_in{tick}{sfx(e)}", z, stage, example=e, unit=u)
            f = self.fn(layer)
            act = ACTIVATIONS[layer.activation]
            zs = [self.sym(f"{u}_in{tick}{sfx(e)}") for u in layer.units]
            written = None  # the first unit's written-out form, renamed for the others
            for u, z in zip(layer.units, zs):
                if layer.activation == "softmax":
                    den = sp.Add(*[sp.exp(t) for t in zs], evaluate=False)
                    formula = sp.Mul(sp.exp(z), sp.Pow(den, -1, evaluate=False), evaluate=False)
                    self.add(f"{u}{tick}{sfx(e)}", formula, stage, example=e, unit=u)
                elif layer.activation == "identity":
                    self.add(f"{u}{tick}{sfx(e)}", z, stage, example=e, unit=u)
                else:
                    expanded = None
                    if act.written_out:
                        expanded = _renamed(written[1], written[0], z) if written else None
                        if expanded is None:
                            expanded = act.explicit(z, layer.slope)
                            written = (z, expanded)
                    self.add(f"{u}{tick}{sfx(e)}", f(z), stage, example=e, unit=u, expanded=expanded)

    def loss_of(self, e: int | None, after: bool) -> None:
        tick = "'" if after else ""
        entry = LOSSES[self.loss.kind]
        terms = [
            entry.term(sp.Symbol(f"{o}{tick}{sfx(e)}"), sp.Symbol(y + sfx(e)), self.loss.half)
            for o, y in zip(self.net.outputs, self.net.targets)
        ]
        total = sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0]
        if self.loss.outputs == "mean" and len(terms) > 1:
            total = sp.Mul(sp.Rational(1, len(terms)), total, evaluate=False)
        stage = LOSS_AFTER if after else LOSS
        self.add(f"L{tick}{sfx(e)}", total, stage, example=e)

    def total_loss(self, after: bool) -> None:
        if self.n_examples == 1:
            return
        tick = "'" if after else ""
        total = sp.Add(*[sp.Symbol(f"L{tick}[{e}]") for e in self.examples()], evaluate=False)
        if self.loss.examples == "mean":
            total = sp.Mul(sp.Rational(1, self.n_examples), total, evaluate=False)
        self.add(f"L{tick}", total, LOSS_AFTER if after else LOSS)

    def local(self, e: int | None) -> None:
        """Local partials: ∂L/∂ŷ and ∂ŷ/∂ŷ_in at the outputs (or ∂L/∂ŷ_in where they
        collapse), ∂h/∂h_in at every hidden unit."""
        entry = LOSSES[self.loss.kind]
        out = self.net.layers[-1]
        scale = sp.Rational(1, len(out.units)) if self.loss.outputs == "mean" and len(out.units) > 1 else None

        def scaled(expr):
            return sp.Mul(scale, expr, evaluate=False) if scale is not None else expr

        ys = {o: sp.Symbol(y + sfx(e)) for o, y in zip(out.units, out.targets)}
        os_ = {o: sp.Symbol(o + sfx(e)) for o in out.units}
        if self.cancels:
            for o in out.units:
                self.add(f"dL/d{o}_in{sfx(e)}", scaled(sp.Add(os_[o], -ys[o], evaluate=False)),
                         LOCAL, example=e, unit=o, note="cancel")
        else:
            for o in out.units:
                self.add(f"dL/d{o}{sfx(e)}", scaled(entry.gradient(os_[o], ys[o], self.loss.half)),
                         LOCAL, example=e, unit=o)
            if out.activation == "softmax":
                for k in out.units:
                    terms = [
                        sp.Mul(sp.Symbol(f"dL/d{j}{sfx(e)}"), os_[j],
                               sp.Add(int(j == k), -os_[k], evaluate=False), evaluate=False)
                        for j in out.units
                    ]
                    self.add(f"dL/d{k}_in{sfx(e)}", sp.Add(*terms, evaluate=False), LOCAL, example=e, unit=k)
            else:
                self.activation_partials(out, e)
        for layer in self.net.layers[:-1]:
            self.activation_partials(layer, e)

    def activation_partials(self, layer: Layer, e: int | None) -> None:
        f = self.fn(layer)
        act = ACTIVATIONS[layer.activation]
        for u in layer.units:
            t, a = sp.Symbol(f"{u}_in{sfx(e)}"), sp.Symbol(u + sfx(e))
            closed = act.by_input(f, t, a)
            formula = act.by_output(f, t, a)
            self.add(f"d{u}/d{u}_in{sfx(e)}", formula, LOCAL, example=e, unit=u,
                     closed=closed if closed != formula else None)

    @property
    def cancels(self) -> bool:
        return self.net.layers[-1].activation in LOSSES[self.loss.kind].cancels_with

    # --- chains and deltas -------------------------------------------------------------

    def paths(self, unit: str, e: int | None) -> list[list[Factor]]:
        """Every chain of local partials from the loss down to ``unit``'s pre-activation."""
        layer = self.net.layer_of(unit)
        s = sfx(e)
        if layer is self.net.layers[-1]:
            if self.cancels or layer.activation == "softmax":
                return [[Factor(latex_name(f"dL/d{unit}_in{s}"), sp.Symbol(f"dL/d{unit}_in{s}"))]]
            return [[Factor(latex_name(f"dL/d{unit}{s}"), sp.Symbol(f"dL/d{unit}{s}")),
                     Factor(latex_name(f"d{unit}/d{unit}_in{s}"), sp.Symbol(f"d{unit}/d{unit}_in{s}"))]]
        result = []
        for q in self.net.outgoing(unit):
            (v,) = q.targets
            for path in self.paths(v, e):
                result.append(path + [
                    Factor(partial(f"{v}_in{s}", f"{unit}{s}"), self.current[q.name]),
                    Factor(latex_name(f"d{unit}/d{unit}_in{s}"), sp.Symbol(f"d{unit}/d{unit}_in{s}")),
                ])
        return result

    def count_paths(self, unit: str, memo: dict | None = None) -> int:
        memo = {} if memo is None else memo
        if unit not in memo:
            layer = self.net.layer_of(unit)
            memo[unit] = 1 if layer is self.net.layers[-1] else sum(
                self.count_paths(q.targets[0], memo) for q in self.net.outgoing(unit))
        return memo[unit]

    def chain_params(self) -> frozenset[str]:
        if self.chains == "all":
            return frozenset(p.name for p in self.net.params)
        if self.chains == "none":
            return frozenset()
        if self.chains == "auto":
            # All or none: a key that writes some gradients as long chains and others
            # through δ reads as two methods (and the long ones are the easy ones).
            memo: dict = {}
            few = all(sum(self.count_paths(t, memo) for t in p.targets) <= CHAIN_PATH_LIMIT
                      for p in self.net.params)
            return frozenset(p.name for p in self.net.params) if few else frozenset()
        return frozenset(self.chains)

    def deltas(self, e: int | None) -> None:
        s = sfx(e)
        out = self.net.layers[-1]
        for o in out.units:
            (path,) = self.paths(o, e)
            self.add(f"delta_{o}{s}", _product([f.symbol for f in path]), DELTA, example=e, unit=o)
        for layer in reversed(self.net.layers[:-1]):
            for u in layer.units:
                back = [_product([self.current[q.name], self.sym(f"delta_{q.targets[0]}{s}")])
                        for q in self.net.outgoing(u)]
                total = _sum(back)
                self.add(f"delta_{u}{s}", _product([total, self.sym(f"d{u}/d{u}_in{s}")]),
                         DELTA, example=e, unit=u)

    def gradient(self, p: Param, e: int | None, chained: bool, by_delta: bool = False) -> None:
        s = sfx(e)
        src = self.value_of(p.source, e, after=False)
        if chained:
            paths = tuple(
                tuple(path + [Factor(partial(f"{t}_in{s}", p.name), src)])
                for t in p.targets for path in self.paths(t, e)
            )
            formula = _sum([_product([f.symbol for f in path]) for path in paths])
            self.add(f"dL/d{p.name}{s}", formula, GRADIENT, example=e, param=p.name, chain=paths)
        else:
            terms = [_product([self.sym(f"delta_{t}{s}")] + ([src] if p.source else [])) for t in p.targets]
            paths = tuple(
                (Factor(latex_name(f"dL/d{t}_in{s}"), self.sym(f"delta_{t}{s}")),
                 Factor(partial(f"{t}_in{s}", p.name), src))
                for t in p.targets) if by_delta else ()
            self.add(f"dL/d{p.name}{s}", _sum(terms), GRADIENT, example=e, param=p.name, by_delta=paths)

    def gradients(self, chain: frozenset[str], by_delta: bool = False) -> None:
        for e in self.examples():
            for p in self.listed:
                self.gradient(p, e, p.name in chain, by_delta)
        if self.n_examples > 1:
            for p in self.listed:
                total = _sum([sp.Symbol(f"dL/d{p.name}[{e}]") for e in self.examples()])
                if self.loss.examples == "mean":
                    total = sp.Mul(sp.Rational(1, self.n_examples), total, evaluate=False)
                self.add(f"dL/d{p.name}", total, GRADIENT, param=p.name)

    def updates(self, e: int | None = None) -> None:
        """w* = w − η ∂L/∂w for every parameter not held fixed. In online mode this runs
        after each example, from the parameters as that example left them."""
        eta = self.sym("eta")
        last = e is None or e == self.n_examples
        for p in self.listed:
            w = self.current[p.name]
            name = f"{p.name}*" if last else f"{p.name}*[{e}]"
            if p.name in self.net.frozen:
                self.add(name, w, UPDATE, param=p.name, example=e, note="frozen")
            else:
                step = _product([sp.S.NegativeOne, eta, self.sym(f"dL/d{p.name}{sfx(e)}")])
                self.add(name, _sum([w, step]), UPDATE, param=p.name, example=e)
            self.current[p.name] = self.sym(name)


def listed(net: Network) -> tuple[Param, ...]:
    """The parameters in the order the key lists them: layer by layer, and in a layer by
    the numbers in their names (w1, w2, w3, w4, then the layer's own bias parameters),
    whatever order the connections they are named by come in."""
    def key(p: Param):
        layer = net.layer_of(p.targets[0]).index
        return layer, p.source is None, [int(c) if c.isdigit() else c for c in re.split(r"(\d+)", p.name)]
    return tuple(sorted(net.params, key=key))


# ``Mul(*factors, evaluate=False)`` and ``Add(*terms, evaluate=False)`` of SymPy
# expressions, made directly: the same objects without the argument checks and the cache
# look-up of SymPy's constructor (a 22k-parameter network builds some 130,000 of them).
# The derivation's expressions are commutative (plain symbols, numbers and functions of them).

def _product(factors: list[sp.Expr]) -> sp.Expr:
    return sp.Mul._from_args(factors, True) if len(factors) > 1 else factors[0]


def _sum(terms: list[sp.Expr]) -> sp.Expr:
    return sp.Add._from_args(terms, True) if len(terms) > 1 else terms[0]


def _renamed(expr: sp.Expr, old: sp.Symbol, new: sp.Symbol) -> sp.Expr | None:
    """``expr`` with the symbol ``old`` replaced by ``new``, each node rebuilt as it stands
    rather than evaluated again: the written-out activation of one unit made from
    another's (SymPy's evaluation of 1/(1 + e^{-t}) costs a millisecond per unit, and
    comes out the same for any one symbol). None for a node of another kind than sums,
    products, powers, functions, symbols and numbers."""
    if expr.is_Symbol:
        return new if expr == old else expr
    if expr.is_Number:
        return expr
    args = []
    for a in expr.args:
        a = _renamed(a, old, new)
        if a is None:
            return None
        args.append(a)
    if expr.is_Add or expr.is_Mul:
        return type(expr)._from_args(args, expr.is_commutative)
    if expr.is_Pow:
        return sp.Pow(*args, evaluate=False)
    if isinstance(expr, sp.Function):
        return expr.func(*args, evaluate=False)
    return None


def derive(net: Network, loss: LossSpec, n_examples: int = 1,
           chains: str | tuple[str, ...] = "auto", update: str = "batch") -> Derivation:
    """Build the quantity graph for one network structure."""
    online = update == "online" and n_examples > 1
    b = _Builder(net, loss, n_examples, chains, online)
    b.current = {p.name: b.sym(p.name) for p in net.params}
    chain = b.chain_params()
    uses_delta = len(chain) < len(net.params)
    b.givens()
    if online:
        # Example by example: each one sees the parameters the previous one left.
        for e in b.examples():
            b.forward(e, after=False)
            b.loss_of(e, after=False)
            b.local(e)
            if uses_delta:
                b.deltas(e)
            for p in b.listed:
                b.gradient(p, e, p.name in chain, by_delta=uses_delta)
            b.updates(e)
        b.total_loss(after=False)
    else:
        for e in b.examples():
            b.forward(e, after=False)
            b.loss_of(e, after=False)
        b.total_loss(after=False)
        for e in b.examples():
            b.local(e)
            if uses_delta:
                b.deltas(e)
        b.gradients(chain, by_delta=uses_delta)
        b.updates()
    for e in b.examples():
        b.forward(e, after=True)
        b.loss_of(e, after=True)
    b.total_loss(after=True)
    return Derivation(net, loss, n_examples, tuple(b.out), chain, uses_delta, b.cancels, online)
