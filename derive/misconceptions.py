"""Common mistakes in a backpropagation calculation, each recognised by its numbers.

One registry entry per mistake. An entry says which formulas of the quantity graph a
student who makes the mistake uses instead of the right ones (``swaps``); the checker
evaluates that swapped graph with the compiled Evaluator, from the student's own values,
and names the mistake when it gives the number the student wrote. Adding a mistake is
adding one entry to ``MISCONCEPTIONS``.

A swap may make a quantity depend on one that used to come after it (the sequential
update makes ∂L/∂w1 use w7*), so a swapped graph is put back into topological order
before it is compiled.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, replace
from typing import Callable, Iterator

import sympy as sp

from . import derivation as D
from .activations import ACTIVATIONS
from .derivation import Derivation, Quantity
from .evaluate import Evaluator

Swaps = dict[str, sp.Expr]  # quantity name -> the formula the mistake uses instead


@dataclass(frozen=True)
class Misconception:
    key: str
    title: str  # short, for the table: "σ′ missing"
    explanation: str  # what the student did, for the feedback
    swaps: Callable[[Derivation], Iterator[tuple[str, Swaps]]]  # (detail, swaps); none: not applicable


# --- where each mistake touches the graph ------------------------------------------------

def _activation_partials(der: Derivation) -> Iterator[tuple[Quantity, str]]:
    """∂u/∂u_in of every unit whose activation has a derivative worth forgetting."""
    for q in der.stage(D.LOCAL):
        if q.unit is None or q.note == "cancel" or not q.name.startswith(f"d{q.unit}/d{q.unit}_in"):
            continue
        act = der.network.layer_of(q.unit).activation
        if act not in ("identity", "softmax"):
            yield q, act


def _sigma_missing(der: Derivation):
    swaps = {q.name: sp.Integer(1) for q, _ in _activation_partials(der)}
    if swaps:
        yield "", swaps


def _sigma_of_activation(der: Derivation):
    swaps = {}
    for q, act in _activation_partials(der):
        entry = ACTIVATIONS[act]
        if not entry.saturates:  # ReLU′ of h and of h_in agree: nothing to recognise
            continue
        suffix = q.name[len(f"d{q.unit}/d{q.unit}_in"):]
        a = sp.Symbol(q.unit + suffix)
        f = der[q.unit + suffix].formula.func  # the applied activation, e.g. a(t)
        swaps[q.name] = entry.by_input(f, a, a)
    if swaps:
        yield "", swaps


def _updates(der: Derivation) -> Iterator[Quantity]:
    for q in der.stage(D.UPDATE):
        if q.note != "frozen":
            yield q


def _update_parts(q: Quantity) -> tuple[sp.Expr, sp.Expr]:
    """(the value before the update, the gradient) of w* = w − η ∂L/∂w; in online mode the
    value before is the previous example's update, so it is read from the formula."""
    before, step = q.formula.args
    return before, next(f for f in step.args if isinstance(f, sp.Symbol) and f.name.startswith("dL/d"))


def _sign_flipped(der: Derivation):
    eta = sp.Symbol("eta")
    swaps = {}
    for q in _updates(der):
        before, grad = _update_parts(q)
        swaps[q.name] = sp.Add(before, sp.Mul(eta, grad, evaluate=False), evaluate=False)
    yield "", swaps


def _eta_left_out(der: Derivation):
    swaps = {}
    for q in _updates(der):
        before, grad = _update_parts(q)
        swaps[q.name] = sp.Add(before, sp.Mul(-1, grad, evaluate=False), evaluate=False)
    yield "", swaps


def _bias_not_updated(der: Derivation):
    bias = {p.name for p in der.network.params if p.is_bias}
    swaps = {q.name: _update_parts(q)[0] for q in _updates(der) if q.param in bias}
    if swaps:
        yield "", swaps


def _half_forgotten(der: Derivation):
    if der.loss.kind != "squared_error" or not der.loss.half:
        return
    swaps = {}
    for q in der.quantities:
        per_example = der.n_examples == 1 or q.example is not None  # the total follows from these
        if q.stage in (D.LOSS, D.LOSS_AFTER) and per_example:
            swaps[q.name] = sp.Mul(2, q.formula, evaluate=False)
        elif q.stage == D.LOCAL and q.unit in der.network.outputs and q.name.startswith(f"dL/d{q.unit}"):
            swaps[q.name] = sp.Mul(2, q.formula, evaluate=False)
    yield "", swaps


def _backward_formulas(der: Derivation) -> Iterator[Quantity]:
    return (q for q in der.quantities if q.stage in (D.GRADIENT, D.DELTA) and q.formula is not None)


def _sequential(der: Derivation):
    if der.online:  # each example already sees the previous one's updates: nothing to confuse
        return
    starred = {sp.Symbol(p.name): sp.Symbol(p.name + "*") for p in der.network.params}
    swaps = {q.name: q.formula.xreplace(starred) for q in _backward_formulas(der)
             if q.formula.free_symbols & starred.keys()}
    if swaps:
        yield "", swaps


def _shifted(groups: list[list[str]], shift: int) -> dict[str, str]:
    """Each name replaced by the one ``shift`` places on in its group (its neighbour)."""
    out = {}
    for g in groups:
        if len(g) > shift:
            out.update({name: g[(i + shift) % len(g)] for i, name in enumerate(g)})
    return out


def _wrong_connection(der: Derivation):
    net = der.network
    # Weights into the same unit from different sources: w7 and w8 both feed ŷ.
    weight_groups: dict[tuple[str, ...], list[str]] = {}
    for p in net.params:
        if not p.is_bias:
            weight_groups.setdefault(p.targets, []).append(p.name)
    longest = max((len(g) for g in weight_groups.values()), default=1)
    for shift in range(1, longest):
        names = _shifted(list(weight_groups.values()), shift)
        table = {sp.Symbol(a): sp.Symbol(b) for a, b in names.items()}
        swaps = {q.name: q.formula.xreplace(table) for q in _backward_formulas(der)
                 if q.formula.free_symbols & table.keys()}
        if swaps:
            yield f"weights shifted by {shift}", swaps
    # Values of the same layer: x2 in place of x1 in ∂h1_in/∂w1, h2 in place of h1.
    layers = [list(net.inputs)] + [list(layer.units) for layer in net.layers[:-1]]
    for shift in range(1, max(len(g) for g in layers)):
        names = _shifted(layers, shift)
        swaps = {}
        for q in der.stage(D.GRADIENT):
            p = net.param(q.param) if q.param else None
            if p is None or p.source not in names or q.formula is None:
                continue
            suffix = q.name[len(f"dL/d{p.name}"):]
            old = sp.Symbol(p.source + suffix)
            if old in q.formula.free_symbols:
                swaps[q.name] = q.formula.xreplace({old: sp.Symbol(names[p.source] + suffix)})
        if swaps:
            yield f"values shifted by {shift}", swaps


MISCONCEPTIONS: dict[str, Misconception] = {
    m.key: m
    for m in (
        Misconception("sign_flipped", "update sign flipped",
                      "the update adds η ∂L/∂w instead of subtracting it (w* = w + η ∂L/∂w)",
                      _sign_flipped),
        Misconception("eta_missing", "η left out",
                      "the update subtracts the gradient without the learning rate (w* = w − ∂L/∂w)",
                      _eta_left_out),
        Misconception("half_forgotten", "½ forgotten",
                      "the ½ of the squared error is dropped, so the loss and its gradient come out doubled",
                      _half_forgotten),
        Misconception("sigma_prime_missing", "σ′ missing",
                      "the derivative of the activation is left out of the chain (∂h/∂h_in taken as 1)",
                      _sigma_missing),
        Misconception("sigma_prime_of_activation", "σ′ of the activation",
                      "σ′ is evaluated at the activation h instead of the pre-activation h_in "
                      "(σ(h)(1 − σ(h)) instead of h(1 − h))",
                      _sigma_of_activation),
        Misconception("sequential_update", "sequential update",
                      "the output weights are updated first and the hidden gradients then use the "
                      "new weights (w7*, w8*) instead of the old ones",
                      _sequential),
        Misconception("bias_not_updated", "bias not updated",
                      "the bias weights are left at their old values", _bias_not_updated),
        Misconception("wrong_connection", "wrong connection",
                      "a factor of the chain is taken from the wrong connection (another weight or "
                      "another unit's value)", _wrong_connection),
    )
}


# --- optimizer mistakes (derive/optimizer_mistakes.py) -------------------------------------
from .optimizer_mistakes import MISTAKES as _OPTIMIZER_MISTAKES  # noqa: E402  (needs Misconception)

MISCONCEPTIONS.update({m.key: m for m in _OPTIMIZER_MISTAKES})

# Computational graphs: their own mistakes, in derive/graph_mistakes.py (imported here so
# that the one registry holds every kind's entries).
from .graph_mistakes import GRAPH_MISCONCEPTIONS  # noqa: E402

MISCONCEPTIONS.update((m.key, m) for m in GRAPH_MISCONCEPTIONS)
GRAPH_KEYS = frozenset(m.key for m in GRAPH_MISCONCEPTIONS)


# --- swapped graphs, compiled once per structure ------------------------------------------

@dataclass(frozen=True)
class Alternative:
    """The quantity graph as a student with one misconception computes it."""

    misconception: Misconception
    detail: str
    derivation: Derivation
    evaluator: Evaluator


def swapped(der: Derivation, swaps: Swaps) -> Derivation:
    """The derivation with some formulas replaced, in topological order again."""
    qs = [replace(q, formula=swaps[q.name]) if q.name in swaps else q for q in der.quantities]
    return replace(der, quantities=_topological(qs))


def _topological(qs: list[Quantity]) -> tuple[Quantity, ...]:
    """Dependencies first; otherwise the original order (a stable Kahn sort)."""
    index = {q.symbol: i for i, q in enumerate(qs)}
    needs = [{index[s] for s in q.formula.free_symbols} if q.formula is not None else set() for q in qs]
    users: list[list[int]] = [[] for _ in qs]
    for i, deps in enumerate(needs):
        for d in deps:
            users[d].append(i)
    waiting = [len(d) for d in needs]
    ready = [i for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        i = heapq.heappop(ready)
        out.append(qs[i])
        for u in users[i]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    if len(out) != len(qs):
        raise ValueError("a swapped formula made the quantity graph cyclic")
    return tuple(out)


def alternatives(der: Derivation) -> tuple[Alternative, ...]:
    """Every applicable misconception's graph for this structure, compiled (once per
    structure: ``Exercise.alternatives`` keeps them)."""
    out = []
    for m in MISCONCEPTIONS.values():
        if (m.key in GRAPH_KEYS) != (der.network is None):  # hook: each kind its own mistakes
            continue
        for detail, swaps in m.swaps(der):
            if swaps:
                try:
                    alt = swapped(der, swaps)
                except ValueError:  # the mistake cannot happen in this structure's order
                    continue
                out.append(Alternative(m, detail, alt, Evaluator(alt)))
    return tuple(out)
