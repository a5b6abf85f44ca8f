"""Optimizers on a computational graph: minimise its output over inputs declared as parameters.

A ``[graph]`` spec with a ``[training]`` table becomes an optimization exercise: the inputs
named in ``graph.parameters`` (default: all) start at their given values, and ``steps``
steps of the optimizer (any of ``optimizers.OPTIMIZERS``, with every convention) move them
downhill on the output, e.g. the bowl f(x1, x2) = a·x1² + b·x2² or Rosenbrock's valley::

    [graph]
    inputs = { x1 = 1.5, x2 = -1 }
    nodes = [ { a = "x1^2" }, { b = "x2^2" }, { f = "0.5*a + 2*b" } ]
    parameters = ["x1", "x2"]

    [training]
    optimizer = "momentum"
    learning_rate = 0.1
    mu = 0.9
    steps = 3

The quantity graph is that of the network optimizer (``optimizer_graph``), with the graph's
own pass in place of the network's: step 1 uses the pass at the given inputs under their
usual names (``q``, ``dq/dx``, ``df/dx``); step k ≥ 2 the pass at the parameters step k − 1
left, its names marked with k − 1 primes (``q'``, ``dq'/dx``, ``df'/dx``); every step adds
the gradient with its decay term (``g_x1[k]``), the state (``m_x1[k]`` …), the step and the
new parameter (``x1*``, ``x1*[2]``); after the last step the forward pass gives the output
there (``f''``). So the key, ``check``, variants and the LMS writers work unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType

import sympy as sp

from . import derivation as D
from .derivation import Derivation, Quantity
from .optimizer_graph import (OptimizerDerivation, param_name, pass_stage, penalty_quantities, state_name,
                              step_quantities, step_stage)
from .optimizers import lookahead, parse

TRAINING_FIELDS = ("learning_rate",)


@dataclass(frozen=True)
class Parameter:
    """An input the optimizer moves (the step rules ask whether it is a bias: never)."""

    name: str
    is_bias: bool = False


def with_optimizer(graph, g, training):
    """The graph with the optimizer of ``[training]`` and its ``graph.parameters``;
    ``g`` and ``training`` are the spec's field readers of the two tables."""
    from .optimizers import FIELDS

    training.only(*TRAINING_FIELDS, *FIELDS)
    if "optimizer" not in training.table:
        raise training.fail("optimizer", 'expected the optimizer that minimises the output: "sgd", "momentum", '
                            '"nesterov", "adagrad", "rmsprop", "adam" or "adamw"')
    eta = training.number("learning_rate", positive=True)
    settings = parse(training, training.source)
    params = g.names("parameters", graph.inputs)
    for name in params:
        if name not in graph.inputs:
            raise g.fail("parameters", f"'{name}' is not an input of the graph; expected some of "
                         f"{', '.join(graph.inputs)}")
    params = tuple(x for x in graph.inputs if x in params)  # in the inputs' order
    for key in settings.state:
        if "_" in key and key.split("_", 1)[1] not in params:
            raise training.fail(f"state.{key}", f"no parameter named '{key.split('_', 1)[1]}'; the optimizer "
                                f"moves {', '.join(params)}")
    if (settings.optimizer == "nesterov" and settings.nesterov == "lookahead"
            and any(v != 0 for v in settings.state.values())):
        # Step 1's pass is the graph's own exercise, at the given inputs: that is the
        # look-ahead point only while the velocity starts at zero.
        raise training.fail("state", 'expected no initial velocity with Nesterov\'s look-ahead on a graph (step 1 '
                            'is then taken at the given inputs); or nesterov = "library"')
    values = dict(graph.values)
    values["eta"] = eta
    values.update(settings.hyper)
    if settings.weight_decay > 0:
        values["lambda"] = settings.weight_decay
    for x in params:
        for s in settings.entry.states:
            values[state_name(s, x, 0)] = settings.initial(s, x)
    return dataclasses.replace(graph, values=MappingProxyType(values), parameters=params, optimizer=settings)


def given_field(graph, name: str) -> str:
    """The spec field a given value of a graph exercise comes from."""
    if name in graph.inputs:
        return f"graph.inputs.{name}"
    if name == "eta":
        return "training.learning_rate"
    if name == "lambda":
        return "training.weight_decay"
    if name.endswith("[0]"):
        return "training.state"
    return f"training.{name}"


@dataclass(frozen=True)
class GraphOptimizerDerivation(OptimizerDerivation):
    """The optimizer steps on a computational graph; ``graph`` is the graph they minimise."""

    graph: object = None

    def with_settings(self, settings) -> "GraphOptimizerDerivation":
        """The same exercise under other conventions (for the checker's mistakes)."""
        return optimizer_steps(dataclasses.replace(self.graph, optimizer=settings))


def output_gradient(graph, tag: str):
    """The name of ∂f/∂x in the pass marked ``tag``."""
    return lambda x, k: f"d{graph.output}{tag * (k - 1)}/d{x}"


def _tagged(name: str, tag: str, inputs: set[str]) -> str:
    """A pass quantity's name in the pass marked ``tag``: the node or the top of a partial
    takes the mark, the bottom too unless it is an input (x is the same name in every pass:
    its value there is the parameter's, x* or x*[2])."""
    if name.startswith("d") and "/d" in name:
        top, bottom = name[1:].split("/d", 1)
        return f"d{top}{tag}/d{bottom}{'' if bottom in inputs else tag}"
    return f"{name}{tag}"


def _pass(plain: Derivation, at: dict[str, sp.Expr], tag: str, stage: str | None, inputs: set[str],
          backward: bool = True) -> list[Quantity]:
    """The graph's pass (forward, local, gradient) at the points ``at``, renamed with ``tag``."""
    qs = [q for q in plain.quantities if q.formula is not None and (backward or q.stage == D.FORWARD)]
    names = {q.symbol: sp.Symbol(_tagged(q.name, tag, inputs)) for q in qs}
    names.update({sp.Symbol(x): v for x, v in at.items()})

    def move(e):
        # unevaluated, so that a later pass is written as the first one is (y x, not x y)
        if e is None:
            return None
        with sp.evaluate(False):
            return e.xreplace(names)

    out = []
    for q in qs:
        new = names[q.symbol]
        out.append(dataclasses.replace(q, name=new.name, symbol=new, formula=move(q.formula), closed=move(q.closed),
                                       stage=stage or q.stage))
    return out


def optimizer_steps(graph) -> GraphOptimizerDerivation:
    """The quantity graph of the optimizer's steps on ``graph`` (see the module text)."""
    from .graph import derive

    s = graph.optimizer
    plain = derive(dataclasses.replace(graph, optimizer=None))
    inputs = set(graph.inputs)
    params = [Parameter(x) for x in graph.parameters]
    out: list[Quantity] = [q for q in plain.quantities if q.formula is None]

    def given(name: str, **kw) -> None:
        out.append(Quantity(name, sp.Symbol(name), None, D.GIVEN, **kw))

    given("eta")
    for h in s.entry.hypers:
        given(h.name)
    if s.weight_decay > 0:
        given("lambda")
    for p in params:
        for st in s.entry.states:
            given(state_name(st, p.name, 0), param=p.name)
    look = s.optimizer == "nesterov" and s.nesterov == "lookahead"
    gradient = output_gradient(graph, "'")
    for k in range(1, s.steps + 1):
        at = {p.name: sp.Symbol(param_name(p.name, k - 1)) for p in params}
        if look:
            for p in params:
                name = f"{p.name}~[{k}]"
                la = lookahead(s, at[p.name], sp.Symbol(state_name("v", p.name, k - 1)))
                out.append(Quantity(name, sp.Symbol(name), la, step_stage(k), param=p.name, note="lookahead"))
                at[p.name] = sp.Symbol(name)
        if look and k == 1:  # x̃ = x with the state at zero: the graph's own pass, at the given inputs
            at = {}
        at = {x: v for x, v in at.items() if v != sp.Symbol(x)}
        tag = "'" * (k - 1)
        out.extend(_pass(plain, at, tag, None if k == 1 else pass_stage(k), inputs))
        # with L2 decay, R = λ/2·Σx² and J = f + R at the pass's point (step 1: first of its lines)
        out.extend(penalty_quantities(params, (), s, at, tag, pass_stage(k) if k > 1 else step_stage(1),
                                      f"{graph.output}{tag}"))
        out.extend(step_quantities(params, frozenset(), s, k, sp.Integer(k), gradient))
    final = {p.name: sp.Symbol(param_name(p.name, s.steps)) for p in params}
    out.extend(_pass(plain, final, "'" * s.steps, D.FORWARD_AFTER, inputs, backward=False))
    out.extend(penalty_quantities(params, (), s, final, "'" * s.steps, D.FORWARD_AFTER, f"{graph.output}{chr(39) * s.steps}"))
    return GraphOptimizerDerivation(None, None, 1, tuple(out), frozenset(), False, False, False, s, graph)
