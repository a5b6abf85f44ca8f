"""Common mistakes in a backpropagation calculation, each recognised by its numbers.

One registry entry per mistake. An entry says which formulas of the quantity graph a
student who makes the mistake uses instead of the right ones (``swaps``); the checker
evaluates that swapped graph with the compiled Evaluator, from the student's own values,
and names the mistake when it gives the number the student wrote. ``explain`` says what
the student did at one quantity, in the network's own names (the names the wrong formula
takes, and the ones they stand in place of, come from comparing the two formulas). Adding
a mistake is adding one entry to ``MISCONCEPTIONS``; tests/test_misconceptions.py checks
each against hand-computed answers and tests/test_synthetic_students.py at every place.

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


Segment = tuple[str, str]  # ("t", text), ("n", a quantity name), ("x", LaTeX math)


@dataclass(frozen=True)
class Misconception:
    key: str
    title: str  # short, for the table: "σ′ missing"
    swaps: Callable[[Derivation], Iterator[tuple[str, Swaps]]]  # (detail, swaps); none: not applicable
    # What the student did at one quantity, in this network's names: (derivation, the
    # quantity, names the mistake took, names they stand in place of) -> segments.
    explain: Callable[[Derivation, str, tuple[str, ...], tuple[str, ...]], list[Segment]]
    explanation: str = ""  # in general words, where no quantity is at hand (LMS feedback)


def described(key: str, title: str, explanation: str,
              swaps: Callable[[Derivation], Iterator[tuple[str, Swaps]]]) -> Misconception:
    """A misconception whose feedback is the same sentence wherever it is made (the graph's
    and the optimizers' mistakes)."""
    return Misconception(key, title, swaps, lambda *_: [("t", explanation)], explanation)


def _names(names: tuple[str, ...]) -> list[Segment]:
    out: list[Segment] = []
    for k, n in enumerate(names):
        if k:
            out.append(("t", ", " if k < len(names) - 1 else " and "))
        out.append(("n", n))
    return out


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


def _factor_left_out(der: Derivation):
    """One factor of each chain product dropped, by its place in the product (the loss
    end first): ∂L/∂w1 without w7, without ∂h1/∂h1_in, without x1."""
    def drop(expr: sp.Expr, k: int) -> sp.Expr:
        if isinstance(expr, sp.Add):
            return sp.Add(*[drop(t, k) for t in expr.args], evaluate=False)
        if isinstance(expr, sp.Mul) and len(expr.args) > k and isinstance(expr.args[k], sp.Symbol):
            rest = expr.args[:k] + expr.args[k + 1:]
            return sp.Mul(*rest, evaluate=False) if len(rest) > 1 else rest[0]
        return expr

    longest = max((len(m.args) for q in _backward_formulas(der) for m in sp.preorder_traversal(q.formula)
                   if isinstance(m, sp.Mul)), default=0)
    for k in range(longest):
        swaps = {}
        for q in _backward_formulas(der):
            new = drop(q.formula, k)
            if new != q.formula:
                swaps[q.name] = new
        if swaps:
            yield f"factor {k + 1}", swaps


def _hidden_and_output_units(der: Derivation) -> dict[sp.Symbol, sp.Symbol]:
    """Each unit's activation symbol -> its pre-activation's, where they differ."""
    table = {}
    for q in der.quantities:
        if q.unit is not None and q.stage in (D.FORWARD, D.FORWARD_AFTER) and not q.name.startswith(f"{q.unit}_in"):
            if der.network.layer_of(q.unit).activation != "identity":
                table[q.symbol] = sp.Symbol(q.name.replace(q.unit, f"{q.unit}_in", 1))
    return table


def _preactivation(der: Derivation):
    table = _hidden_and_output_units(der)
    swaps = {}
    for q in der.quantities:
        if q.formula is None or q.stage in (D.GIVEN, D.UPDATE) or q.symbol in table:
            continue
        if q.stage == D.LOCAL and q.unit is not None and q.name.startswith(f"d{q.unit}/d"):
            continue  # σ′ written with the pre-activation is a slip of its own kind
        new = q.formula.xreplace(table)
        if new != q.formula:
            swaps[q.name] = new
    if swaps:
        yield "", swaps


def _target_output_swapped(der: Derivation):
    net = der.network
    swaps = {}
    for q in der.stage(D.LOCAL):
        if q.unit in net.outputs and q.name.startswith(f"dL/d{q.unit}"):
            e = q.name[q.name.index("[") :] if "[" in q.name else ""
            o, y = sp.Symbol(q.unit + e), sp.Symbol(net.targets[net.outputs.index(q.unit)] + e)
            new = q.formula.xreplace({o: y, y: o})
            if new != q.formula:
                swaps[q.name] = new
    if swaps:
        yield "", swaps


def _other_gradient(der: Derivation):
    """The update of each parameter with the gradient of the one listed before or after it."""
    groups: dict[int | None, list[Quantity]] = {}
    for q in _updates(der):
        groups.setdefault(q.example, []).append(q)
    for shift in (1, -1):
        swaps = {}
        for qs in groups.values():
            if len(qs) < 2:
                continue
            for i, q in enumerate(qs):
                before, grad = _update_parts(q)
                other = _update_parts(qs[(i + shift) % len(qs)])[1]
                swaps[q.name] = q.formula.xreplace({grad: other})
        if swaps:
            yield f"the gradient {'after' if shift == 1 else 'before'}", swaps


def _old_weights_after(der: Derivation):
    swaps = {}
    old = {}
    for q in der.stage(D.UPDATE):
        if q.example is None:
            old[q.symbol] = sp.Symbol(q.param)
    for q in der.quantities:
        if q.stage == D.FORWARD_AFTER:
            new = q.formula.xreplace(old)
            if new != q.formula:
                swaps[q.name] = new
        elif q.stage == D.LOSS_AFTER:
            swaps[q.name] = sp.Symbol(q.name.replace("L'", "L", 1))
    if swaps:
        yield "", swaps


# --- what each mistake says, in this network's names -----------------------------------------

def _param_parts(der: Derivation, name: str) -> tuple[str, str]:
    before, grad = _update_parts(der[name])
    return before.name, grad.name


def _explain_sign(der, name, took, instead):
    before, grad = _param_parts(der, name)
    return [("t", "the update adds "), ("x", r"\eta\,"), ("n", grad), ("t", " instead of subtracting it: "),
            ("n", name), ("x", " = "), ("n", before), ("x", r" + \eta\,"), ("n", grad)]


def _explain_eta(der, name, took, instead):
    before, grad = _param_parts(der, name)
    return [("t", "the learning rate is left out: "), ("n", name), ("x", " = "), ("n", before), ("x", " - "),
            ("n", grad), ("t", " instead of "), ("n", before), ("x", r" - \eta\,"), ("n", grad)]


def _explain_half(der, name, took, instead):
    return [("t", "the "), ("x", r"\frac{1}{2}"), ("t", " of the squared error is left out, so "), ("n", name),
            ("t", " comes out twice as large")]


def _explain_sigma_missing(der, name, took, instead):
    q = der[name]
    if q.stage == D.LOCAL:
        return [("t", "the derivative of the activation is taken as 1 ("), ("n", name), ("x", " = 1"), ("t", ")")]
    return [("t", "the derivative of a unit's activation is taken as 1 in the chain")]


def _explain_sigma_of_activation(der, name, took, instead):
    q = der[name]
    if q.stage == D.LOCAL and q.unit is not None:
        e = name[name.index("["):] if "[" in name else ""
        return [("t", "the derivative of the activation is evaluated at the activation "), ("n", q.unit + e),
                ("t", " instead of at the pre-activation "), ("n", f"{q.unit}_in{e}")]
    return [("t", "the derivative of an activation is evaluated at the activation instead of the pre-activation")]


def _explain_sequential(der, name, took, instead):
    return [("t", "the weights after it were updated first, and this value uses the new ")] + _names(took) + \
        [("t", " in place of ")] + _names(instead)


def _explain_bias(der, name, took, instead):
    before, _ = _param_parts(der, name)
    return [("n", name), ("t", " is left at the old value "), ("n", before), ("t", ": the bias is not updated")]


def _explain_connection(der, name, took, instead):
    return [("t", "a value from the wrong connection: ")] + _names(took) + [("t", " in place of ")] + _names(instead)


def _explain_factor(der, name, took, instead):
    if not instead:
        return [("t", "a factor of the chain is left out")]
    return [("t", "the factor ")] + _names(instead) + [("t", " is left out of the product")]


def _explain_preactivation(der, name, took, instead):
    return [("t", "the pre-activation ")] + _names(took) + [("t", " is used where the activation ")] + \
        _names(instead) + [("t", " belongs")]


def _explain_swapped(der, name, took, instead):
    q = der[name]
    e = name[name.index("["):] if "[" in name else ""
    y = der.network.targets[der.network.outputs.index(q.unit)] + e
    return [("t", "target "), ("n", y), ("t", " and output "), ("n", q.unit + e), ("t", " are swapped in "),
            ("n", name), ("t", " (the sign of every gradient after it flips)")]


def _explain_other_gradient(der, name, took, instead):
    return [("t", "the update uses the gradient of another parameter: ")] + _names(took) + \
        [("t", " in place of ")] + _names(instead)


def _explain_old_weights(der, name, took, instead):
    if der[name].stage == D.LOSS_AFTER:
        before = name.replace("L'", "L", 1)
        return [("n", name), ("t", " is the loss before the update ("), ("n", before),
                ("t", "): the forward pass was not repeated with the updated parameters")]
    return [("t", "computed with the old ")] + _names(took) + [("t", " in place of the updated ")] + _names(instead)


MISCONCEPTIONS: dict[str, Misconception] = {
    m.key: m
    for m in (
        Misconception("sign_flipped", "update sign flipped", _sign_flipped, _explain_sign, "the update adds η ∂L/∂w instead of subtracting it"),
        Misconception("eta_missing", "η left out", _eta_left_out, _explain_eta, "the update subtracts the gradient without the learning rate η"),
        Misconception("half_forgotten", "½ forgotten", _half_forgotten, _explain_half, "the ½ of the squared error is left out, so the value comes out twice as large"),
        Misconception("sigma_prime_missing", "σ′ missing", _sigma_missing, _explain_sigma_missing, "the derivative of the activation is taken as 1"),
        Misconception("sigma_prime_of_activation", "σ′ of the activation", _sigma_of_activation,
                      _explain_sigma_of_activation,
                      "the derivative of the activation is evaluated at the activation, not the pre-activation"),
        Misconception("sequential_update", "sequential update", _sequential, _explain_sequential, "later weights were updated first and their new values used here"),
        Misconception("bias_not_updated", "bias not updated", _bias_not_updated, _explain_bias, "the bias keeps its old value"),
        Misconception("wrong_connection", "wrong connection", _wrong_connection, _explain_connection, "a weight or value from the wrong connection"),
        Misconception("factor_left_out", "factor left out", _factor_left_out, _explain_factor, "one factor of the chain is left out"),
        Misconception("preactivation_for_activation", "pre-activation for activation", _preactivation,
                      _explain_preactivation, "the pre-activation is used where the activation belongs"),
        Misconception("target_output_swapped", "target and output swapped", _target_output_swapped,
                      _explain_swapped, "target and output are swapped in the loss's derivative"),
        Misconception("other_gradient", "gradient of another parameter", _other_gradient,
                      _explain_other_gradient, "the update uses the gradient of another parameter"),
        Misconception("old_weights_after", "old weights after the update", _old_weights_after,
                      _explain_old_weights, "the values after the update are computed with the old weights"),
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
OPTIMIZER_KEYS = frozenset(m.key for m in _OPTIMIZER_MISTAKES)  # for networks and graphs alike


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


def _by_part(der: Derivation, detail: str, swaps: Swaps) -> Iterator[tuple[str, Swaps]]:
    """The mistake made throughout, and, where it touches several stages, in each stage
    alone: a student who skips writing the error terms but drops a factor only in the
    gradient must still be recognised from the gradient."""
    if not swaps:
        return
    yield detail, swaps
    stages: dict[str, Swaps] = {}
    for name, formula in swaps.items():
        stages.setdefault(der[name].stage, {})[name] = formula
    if len(stages) > 1:
        for stage, part in stages.items():
            yield f"{detail} ({stage})".lstrip(), part


def alternatives(der: Derivation, carry_decimals: int | None = None) -> tuple[Alternative, ...]:
    """Every applicable misconception's graph for this structure, compiled (once per
    structure: ``Exercise.alternatives`` keeps them); with ``carry_decimals`` each computed
    value is rounded, as the exercise's own evaluator does when values are carried rounded."""
    out = []
    for m in MISCONCEPTIONS.values():
        if m.key not in OPTIMIZER_KEYS and (m.key in GRAPH_KEYS) != (der.network is None):  # hook: each kind its own
            continue
        for detail, swaps in m.swaps(der):
            for part, part_swaps in _by_part(der, detail, swaps):
                try:
                    alt = swapped(der, part_swaps)
                except ValueError:  # the mistake cannot happen in this structure's order
                    continue
                out.append(Alternative(m, part, alt, Evaluator(alt, carry_decimals)))
    return tuple(out)
