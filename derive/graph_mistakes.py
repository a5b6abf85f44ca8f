"""Common mistakes in a backward pass through a computational graph, as entries of the
misconception registry (``misconceptions.MISCONCEPTIONS``, which takes them in).

Each entry swaps formulas of the graph's quantity graph, as the network's entries do; the
checker evaluates the swapped graph from the student's own values and names the mistake
whose numbers match. The graph's structure (which node uses which, what each gate is) is
read back from the derivation's forward formulas, so nothing but the Derivation is needed.
"""

from __future__ import annotations

from typing import Iterator

import sympy as sp

from .derivation import FORWARD, Derivation
from .formula import g_max, g_min
from .graph import Graph, Step, Term, gradient_formula, grad_name, local_formula
from .misconceptions import Swaps, described


def graph_of(der: Derivation) -> Graph | None:
    """The graph behind a derivation built by ``graph.derive``; None for a network's."""
    if der.network is not None:
        return None
    given = tuple(q.name for q in der.givens)
    nodes = tuple(Step(q.name, "", q.formula, tuple(sorted((s.name for s in q.formula.free_symbols), key=der.index.get)))
              for q in der.stage(FORWARD))
    used = {m for n in nodes for m in n.inputs}
    output = next(n.name for n in nodes if n.name not in used)
    return Graph(given, {}, nodes, output, False)


def _uses(g: Graph) -> dict[str, list[Term]]:
    out: dict[str, list[Term]] = {}
    for name in (*g.inputs, *(n.name for n in g.nodes)):
        for u in g.users(name):
            if u == g.output:
                out.setdefault(name, []).append(Term(u, sp.Integer(1), local_formula(g.node(u), name)))
            else:
                out.setdefault(name, []).append(Term(u, sp.Symbol(grad_name(g.output, u)), sp.Symbol(f"d{u}/d{name}")))
    return out


def _upstream_left_out(der: Derivation) -> Iterator[tuple[str, Swaps]]:
    g = graph_of(der)
    if g is None:
        return
    swaps = {}
    for name, ts in _uses(g).items():
        if any(t.upstream != 1 for t in ts):
            swaps[grad_name(g.output, name)] = gradient_formula([Term(t.user, sp.Integer(1), t.local) for t in ts])
    if swaps:
        yield "", swaps


def _multiply_pairs(g: Graph) -> Iterator[tuple[Step, str, str]]:
    """(gate, input, other input) for every gate that multiplies two different names."""
    for node in g.nodes:
        f = node.formula
        if f.is_Mul and len(f.args) == 2 and all(a.is_Symbol for a in f.args) and f.args[0] != f.args[1]:
            a, b = (s.name for s in f.args)
            yield node, a, b
            yield node, b, a


def _own_input_at_multiply(der: Derivation) -> Iterator[tuple[str, Swaps]]:
    """∂(a·b)/∂a taken as a (the input itself) instead of b (the other input)."""
    g = graph_of(der)
    if g is None:
        return
    swaps: Swaps = {}
    uses = _uses(g)
    for node, a, _ in _multiply_pairs(g):
        if node.name != g.output:
            swaps[f"d{node.name}/d{a}"] = sp.Symbol(a)
        else:
            ts = [Term(t.user, t.upstream, sp.Symbol(a)) if t.user == node.name else t for t in uses[a]]
            swaps[grad_name(g.output, a)] = gradient_formula(ts)
    if swaps:
        yield "", swaps


def _not_summed(der: Derivation) -> Iterator[tuple[str, Swaps]]:
    """A value used by several gates given the gradient of one use only (each use in turn)."""
    g = graph_of(der)
    if g is None:
        return
    uses = _uses(g)
    longest = max((len(ts) for ts in uses.values()), default=0)
    for k in range(longest if longest > 1 else 0):
        swaps = {grad_name(g.output, name): gradient_formula([ts[k]]) for name, ts in uses.items() if len(ts) > k and len(ts) > 1}
        if swaps:
            yield f"only use {k + 1}", swaps


def _sign_sensitive(node: Step, m: str) -> bool:
    """Whether m enters the gate subtracted or in a denominator, where signs slip."""
    sym = sp.Symbol(m)
    for part in sp.preorder_traversal(node.formula):
        if part.is_Mul and part.args[0] == -1 and sym in part.free_symbols:
            return True
        if part.is_Pow and part.exp.is_negative and sym in part.base.free_symbols:
            return True
    return False


def _sign_slip(der: Derivation) -> Iterator[tuple[str, Swaps]]:
    """The sign of the local gradient of a subtracted input or a denominator dropped:
    ∂(a − b)/∂b taken as 1, ∂(a/b)/∂b as a/b²."""
    g = graph_of(der)
    if g is None:
        return
    swaps: Swaps = {}
    uses = _uses(g)
    for node in g.nodes:
        for m in node.inputs:
            if not _sign_sensitive(node, m):
                continue
            if node.name != g.output:
                swaps[f"d{node.name}/d{m}"] = sp.Mul(-1, local_formula(node, m), evaluate=False)
            else:
                ts = [Term(t.user, t.upstream, sp.Mul(-1, t.local, evaluate=False)) if t.user == node.name else t
                      for t in uses[m]]
                swaps[grad_name(g.output, m)] = gradient_formula(ts)
    if swaps:
        yield "", swaps


def _max_to_both(der: Derivation) -> Iterator[tuple[str, Swaps]]:
    """A max (or min) gate's gradient passed to every input, as an add gate's is, instead of
    to the input that is the maximum only."""
    g = graph_of(der)
    if g is None:
        return
    swaps: Swaps = {}
    uses = _uses(g)
    for node in g.nodes:
        if not isinstance(node.formula, (g_max, g_min)):
            continue
        for m in node.inputs:
            if node.name != g.output:
                swaps[f"d{node.name}/d{m}"] = sp.Integer(1)
            else:
                ts = [Term(t.user, t.upstream, sp.Integer(1)) if t.user == node.name else t for t in uses[m]]
                swaps[grad_name(g.output, m)] = gradient_formula(ts)
    if swaps:
        yield "", swaps


GRAPH_MISCONCEPTIONS = (
    described("upstream_left_out", "upstream gradient left out",
              "the local gradient is taken as the whole gradient, without multiplying by the "
              "upstream gradient of the gate", _upstream_left_out),
    described("own_input_at_multiply", "multiply gate not swapped",
              "at a multiply gate the local gradient of an input is taken as that input itself "
              "instead of the other input (∂(a·b)/∂a = a instead of b)", _own_input_at_multiply),
    described("fork_not_summed", "gradients of a fork not summed",
              "a value used by several gates gets the gradient of one use only instead of the sum "
              "over all of them", _not_summed),
    described("sign_slip", "sign slip",
              "the minus sign of the local gradient of a subtracted value or of a denominator is "
              "lost (∂(a − b)/∂b = 1, ∂(a/b)/∂b = a/b²)", _sign_slip),
    described("max_to_both", "max gate gradient to both inputs",
              "a max (or min) gate passes the gradient to every input, as an add gate does, instead of "
              "routing it to the input that is the maximum alone", _max_to_both),
)
