"""Computational-graph exercises: a staged expression, forward and backward by hand.

A ``[graph]`` spec names the inputs with their values and the intermediate nodes in order,
each a formula of earlier names::

    [graph]
    inputs = { x = 3, y = -1, z = 2 }
    nodes = [ { q = "x + y" }, { f = "q * z" } ]
    output = "f"

Formulas are read by the parser of ``formula`` (nothing of the text is ever evaluated as
code); here the graph around them is checked: names, order, cycles, reach, and that every
formula can be computed and differentiated at the given values.

The graph becomes the same quantity graph as a network (``Derivation`` of ``Quantity``):
the inputs are given values, every node is a forward quantity, every gate's local partial
``du/dm`` a local quantity, and every node's and input's gradient ``df/dm`` the sum over its
users of upstream gradient times local gradient. So the key, the checker, variants and the
LMS export treat graphs like networks.
"""

from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

import sympy as sp

from .derivation import FORWARD, GIVEN, GRADIENT, LOCAL, Derivation, Quantity
from .errors import SpecError, did_you_mean
from .formula import FUNCTIONS, DomainError, Refused, checked_value, parse_formula
from .latex import latex_name
from .vary import VarySpec

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
MAX_NODES = 60


# --- the graph -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    name: str
    text: str  # the formula as written
    formula: sp.Expr  # over the symbols of earlier names
    inputs: tuple[str, ...]  # the names it uses, in the order of the graph


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per spec, cached per structure
class Graph:
    inputs: tuple[str, ...]
    values: Mapping[str, float]  # the given input values
    nodes: tuple[Step, ...]
    output: str
    chain_check: bool  # the key also differentiates the composed expression
    # With [training]: the inputs the optimizer moves, and its settings (derive/graph_optimizer.py).
    # ``values`` then also holds η, the hyperparameters and the initial state.
    parameters: tuple[str, ...] = ()
    optimizer: Any = None

    def node(self, name: str) -> Step:
        return next(n for n in self.nodes if n.name == name)

    def users(self, name: str) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes if name in n.inputs)


@dataclass(frozen=True)
class GraphSpec:
    """A spec whose exercise is a computational graph (see ``spec.from_table``)."""

    source: str
    title: str
    course: str
    graph: Graph
    decimals: int
    carry: str
    asked: tuple[str, ...]  # "forward", "backward"
    raw: Mapping[str, Any]
    vary: VarySpec | None = None  # None without a [vary] section
    runs: tuple = ()  # a graph has no training runs
    optimizer: Any = None  # optimizers.Settings: steps of an optimizer on the inputs (graph.parameters)


TOP_LEVEL = ("title", "course", "graph", "display", "questions", "vary", "training")
PASSES = ("forward", "backward")


def spec_from_table(raw: Mapping[str, Any], source: str) -> GraphSpec:
    """Check a ``[graph]`` spec, read as a TOML table, field by field."""
    from .spec import CARRY, Fields, _typesettable  # the shared field reader; spec imports this module lazily

    top = Fields(source, raw)
    top.only(*TOP_LEVEL)
    g = top.table_at("graph", required=True)
    g.only("inputs", "nodes", "output", "chain_check", "parameters")
    graph = _graph(g)
    if "training" in raw:  # an optimizer minimises the output over some inputs
        from .graph_optimizer import with_optimizer
        graph = with_optimizer(graph, g, top.table_at("training"))
    elif "parameters" in raw["graph"]:
        raise g.fail("parameters", "needs a [training] table with the optimizer that moves them; "
                     'expected e.g. [training] optimizer = "sgd", learning_rate = 0.1')
    display = top.table_at("display")
    display.only("decimals", "carry")
    decimals = display.whole("decimals", 4, 0, 12, "decimals")  # as a network's display reads it
    questions = top.table_at("questions")
    questions.only("include")
    asked = questions.names("include", PASSES)
    for name in asked:
        if name not in PASSES:
            raise questions.fail("include", f"no question '{name}'{did_you_mean(name, PASSES)}; "
                                 f"expected some of {', '.join(PASSES)}")
    return GraphSpec(
        source=source,
        title=_typesettable(top, "title", "Backpropagation through a computational graph"),
        course=_typesettable(top, "course", ""),
        graph=graph,
        decimals=decimals,
        carry=display.text("carry", "full", CARRY),
        asked=tuple(p for p in PASSES if p in asked),
        raw=MappingProxyType(dict(raw)),
        vary=_vary(source, raw["vary"], list(graph.inputs), graph.optimizer) if "vary" in raw else None,
        optimizer=graph.optimizer,
    )


def _vary(source: str, raw: Any, inputs: list[str], optimizer=None) -> VarySpec:
    """``[vary]`` of a graph: the inputs drawn, on grids, read with the spec; with an
    optimizer also ``learning_rate`` and its hyperparameters (``mu``, ``beta1``, …)."""
    from . import optimizers
    from . import vary as V  # its grids and constraints are the networks' own

    tuning = {"learning_rate": "eta", **{n: n for n in optimizers.vary_names(optimizer)}} if optimizer else {}
    if not isinstance(raw, Mapping):
        raise SpecError(source, "vary", f"expected a table, got {raw!r}")
    chosen: dict[str, tuple[float, ...]] = {}
    singles: dict[str, tuple[float, ...]] = {}
    tries, constraints = V.DEFAULT_TRIES, V.Constraints()
    for key, value in raw.items():
        if key == "tries":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= V.MAX_TRIES:
                raise SpecError(source, "vary.tries", f"expected a whole number from 1 to {V.MAX_TRIES:,}, got {value!r}")
            tries = value
        elif key == "constraints":
            constraints = V._constraints(source, value)
        elif key == "inputs":
            grid = V._grid(source, "vary.inputs", value)
            chosen.update({x: grid for x in inputs})
        elif key in inputs:
            singles[key] = V._grid(source, f"vary.{key}", value)
        elif key in tuning:
            grid = V._grid(source, f"vary.{key}", value)
            problem = ("expected a positive learning rate" if key == "learning_rate" and min(grid) <= 0
                       else optimizers.vary_problem(optimizer, key, grid) if key != "learning_rate" else None)
            if problem:
                raise SpecError(source, f"vary.{key}", problem)
            singles[tuning[key]] = grid
        else:
            hint = did_you_mean(key, ["inputs", *inputs, *tuning])
            raise SpecError(source, f"vary.{key}", f"not an input of this graph{hint}; expected inputs, tries, "
                            f"constraints or an input name ({', '.join([*inputs, *tuning])})")
    chosen.update(singles)
    if not chosen:
        raise SpecError(source, "vary", "names no input to vary; expected e.g. inputs = { from = -3, to = 3, step = 1 }")
    order = [*inputs, *tuning.values()]
    return V.VarySpec(tuple((x, chosen[x]) for x in order if x in chosen), constraints, tries)


def _check_name(f, field: str, name: Any) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise f.fail(field, f"name {name!r}: expected letters, digits and underscores, starting with a letter")
    if name in FUNCTIONS or keyword.iskeyword(name):
        raise f.fail(field, f"name '{name}' is reserved (a function or keyword); expected another name")
    return name


def _graph(f) -> Graph:
    from .spec import as_number

    src = f.source
    raw_inputs = f.get("inputs")
    if not isinstance(raw_inputs, Mapping) or not raw_inputs:
        raise f.fail("inputs", "expected a table of input names and values, e.g. { x = 3, y = -1 }")
    values = {}
    for name, value in raw_inputs.items():
        _check_name(f, f"inputs.{name}", name)
        values[name] = as_number(src, f.path(f"inputs.{name}"), value)
    raw_nodes = f.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise f.fail("nodes", 'expected a list of nodes in order, e.g. [ { q = "x + y" }, { f = "q * z" } ]')
    if len(raw_nodes) > MAX_NODES:
        raise f.fail("nodes", f"{len(raw_nodes)} nodes; expected at most {MAX_NODES}")
    texts: list[tuple[str, str, str]] = []  # (name, formula text, field)
    seen = dict.fromkeys(values, "graph.inputs")
    for i, item in enumerate(raw_nodes):
        field = f"nodes[{i}]"
        if not isinstance(item, Mapping) or len(item) != 1:
            raise f.fail(field, f'expected one name = "formula" pair such as {{ q = "x + y" }}, got {item!r}')
        (name, text), = item.items()
        _check_name(f, field, name)
        if name in seen:
            raise f.fail(f"{field}.{name}", f"name '{name}' is defined twice (also in {seen[name]}); expected each name once")
        seen[name] = f.path(field)
        if not isinstance(text, str) or not text.strip():
            raise f.fail(f"{field}.{name}", f'expected a formula as a string, such as "x + y", got {text!r}')
        texts.append((name, text, f"{field}.{name}"))
    _check_printing(f, list(seen))

    symbols = {n: sp.Symbol(n) for n in seen}
    order = {n: k for k, n in enumerate(seen)}
    nodes = []
    for name, text, field in texts:
        try:
            formula = parse_formula(text, symbols)
        except Refused as exc:
            raise f.fail(field, str(exc)) from None
        except LookupError as exc:
            unknown = exc.args[0]
            raise f.fail(field, f"unknown name '{unknown}'{did_you_mean(unknown, seen)}; expected an input or an earlier node") from None
        used = sorted({s.name for s in formula.free_symbols}, key=order.get)
        if name in used or any(order[u] > order[name] for u in used):
            cycle = _cycle(name, {n: {s.name for s in parse_formula(t, symbols).free_symbols} for n, t, _ in texts})
            if cycle:
                raise f.fail(field, f"cycle {' -> '.join(cycle)}; expected each node to use only inputs and earlier nodes")
            later = next(u for u in used if order[u] > order[name])
            raise f.fail(field, f"uses '{later}' before it is defined; expected the nodes in order, each after the names it uses")
        if not used:
            raise f.fail(field, "uses no input or node; expected a formula of earlier names")
        nodes.append(Step(name, text.strip(), formula, tuple(used)))

    output = f.get("output", nodes[-1].name)
    if output not in symbols or output in values:
        known = [n.name for n in nodes]
        hint = did_you_mean(str(output), known)
        raise f.fail("output", f"expected the name of a node{hint} ({', '.join(known)}), got {output!r}")
    graph = Graph(tuple(values), MappingProxyType(values), tuple(nodes), output, f.flag("chain_check", True))
    _check_reach(f, graph)
    problem = domain_problem(graph, values)
    if problem:
        raise f.fail(*problem)
    return graph


def _check_printing(f, names: list[str]) -> None:
    """Two names the key would print alike (x1 and x_1) would make it ambiguous."""
    printed: dict[str, str] = {}
    for name in names:
        tex = latex_name(name)
        if tex in printed:
            raise f.fail("nodes", f"names '{printed[tex]}' and '{name}' print alike in the key; expected distinct names")
        printed[tex] = name


def _cycle(start: str, deps: Mapping[str, set[str]]) -> list[str] | None:
    """A path start -> … -> start through the formulas, if there is one."""
    stack = [(start, [start])]
    visited = set()
    while stack:
        name, path = stack.pop()
        for d in sorted(deps.get(name, ())):
            if d == start:
                return path + [start]
            if d not in visited:
                visited.add(d)
                stack.append((d, path + [d]))
    return None


def _check_reach(f, graph: Graph) -> None:
    """Every input and node lies on the way to the output (else its gradient is 0 by
    construction and the exercise says nothing about it)."""
    needed = {graph.output}
    for node in reversed(graph.nodes):
        if node.name in needed:
            needed.update(node.inputs)
    for name in (*graph.inputs, *(n.name for n in graph.nodes)):
        if name not in needed:
            raise f.fail("output", f"'{name}' does not lead to the output '{graph.output}'; "
                         "expected every input and node to be used on the way to it")


# --- numbers at given values, with reasons -------------------------------------------------

def domain_problem(graph: Graph, values: Mapping[str, float]) -> tuple[str, str] | None:
    """(field, reason) for the first node that cannot be computed or differentiated at these
    input values, or None."""
    env = {sp.Symbol(k): float(v) for k, v in values.items()}
    for i, node in enumerate(graph.nodes):
        try:
            env[sp.Symbol(node.name)] = checked_value(node.formula, env)
            for m in node.inputs:
                v = checked_value(local_closed(node, m), env)
                if not math.isfinite(v):
                    raise DomainError("its local gradient is not finite")
        except DomainError as exc:
            return f"nodes[{i}].{node.name}", f"cannot be computed at the given values: {exc}"
        except (ZeroDivisionError, ArithmeticError, ValueError) as exc:
            return f"nodes[{i}].{node.name}", f"cannot be computed at the given values ({exc})"
    return None


# --- the quantity graph --------------------------------------------------------------------

def grad_name(output: str, name: str) -> str:
    return f"d{output}/d{name}"


def local_closed(node: Step, m: str) -> sp.Expr:
    """∂node/∂m by differentiation, over the node's inputs."""
    f, sym = node.formula, sp.Symbol(m)
    if f.is_Function and f.args.count(sym) == 1 and all(a.is_Symbol or a.is_Number for a in f.args):
        return f.fdiff(f.args.index(sym) + 1)  # a gate of one function: its derivative as the textbook writes it
    return sp.diff(f, sym)


def local_formula(node: Step, m: str) -> sp.Expr:
    """∂node/∂m as a hand calculation writes it: the node's own value put in where its
    derivative repeats the function (σ(t)(1 − σ(t)) is s(1 − s), e^t is q)."""
    closed = local_closed(node, m)
    if node.formula.is_Function or node.formula.is_Pow:
        return closed.xreplace({node.formula: sp.Symbol(node.name)})
    return closed


@dataclass(frozen=True)
class Term:
    """One use of a name: the user node, its upstream gradient (1 at the output) and the
    local gradient (a quantity's symbol, or at the output the local formula itself)."""

    user: str
    upstream: sp.Expr
    local: sp.Expr


def terms(graph: Graph) -> dict[str, tuple[Term, ...]]:
    """For every input and node below the output, one term per node that uses it."""
    f = graph.output
    out: dict[str, tuple[Term, ...]] = {}
    for name in (*graph.inputs, *(n.name for n in graph.nodes)):
        found = []
        for u in graph.users(name):
            if u == f:
                found.append(Term(u, sp.Integer(1), local_formula(graph.node(u), name)))
            else:
                found.append(Term(u, sp.Symbol(grad_name(f, u)), sp.Symbol(f"d{u}/d{name}")))
        if found:
            out[name] = tuple(found)
    return out


def gradient_formula(ts: tuple[Term, ...] | list[Term]) -> sp.Expr:
    parts = [t.local if t.upstream == 1 else sp.Mul(t.upstream, t.local, evaluate=False) for t in ts]
    return parts[0] if len(parts) == 1 else sp.Add(*parts, evaluate=False)


def backward_order(graph: Graph) -> list[str]:
    """Inputs and nodes in the order their gradients are complete: from the output back."""
    order = [n.name for n in reversed(graph.nodes) if n.name != graph.output]
    return order + list(graph.inputs)


def derive(graph: Graph) -> Derivation:
    """The quantity graph of a computational graph: givens, forward, local, gradient (and,
    with an optimizer, its steps: derive/graph_optimizer.py)."""
    if graph.optimizer is not None:
        from .graph_optimizer import optimizer_steps
        return optimizer_steps(graph)
    f = graph.output
    qs: list[Quantity] = [Quantity(x, sp.Symbol(x), None, GIVEN) for x in graph.inputs]
    for node in graph.nodes:
        qs.append(Quantity(node.name, sp.Symbol(node.name), node.formula, FORWARD, unit=None))
    for node in graph.nodes:
        if node.name == f:
            continue  # the output's local gradients are its inputs' gradients (upstream 1)
        for m in node.inputs:
            closed, formula = local_closed(node, m), local_formula(node, m)
            name = f"d{node.name}/d{m}"
            qs.append(Quantity(name, sp.Symbol(name), formula, LOCAL, closed=closed if closed != formula else None))
    uses = terms(graph)
    for name in backward_order(graph):
        ts = uses[name]
        closed = None
        if len(ts) == 1 and ts[0].user == f:
            local = local_closed(graph.node(f), name)
            closed = local if local != ts[0].local else None
        g = grad_name(f, name)
        qs.append(Quantity(g, sp.Symbol(g), gradient_formula(ts), GRADIENT, closed=closed,
                           note="sum" if len(ts) > 1 else ""))
    return Derivation(None, None, 1, tuple(qs), frozenset(), False, False)


def composed(graph: Graph) -> sp.Expr:
    """The output as one expression of the inputs (for the chain-rule check and the tests)."""
    subs: dict = {}
    for node in graph.nodes:
        subs[sp.Symbol(node.name)] = node.formula.xreplace(subs)
    return subs[sp.Symbol(graph.output)]
