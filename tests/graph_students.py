"""Synthetic students of computational-graph exercises (see tests/students.py).

Random graphs are drawn gate by gate from the gates the course sheets use (add, subtract,
multiply, divide, a constant factor, square, reciprocal, exp, sigmoid, tanh, max), written
as a ``[graph]`` spec, and worked here in plain Python: the forward values, every gate's
local gradient in the form a hand calculation writes it (σ′ as s(1 − s) from the gate's
own value, exp′ as the gate's value), and every gradient as the sum over the gate's users
of upstream gradient times local gradient, from the output back. derive's own numbers are
never used: the true values are this program's, and ``test_truth_is_independent`` checks
that derive's key agrees with them.

The graph's misconceptions are worked here too, as a student makes them at one value:

- ``upstream_left_out``: the gradient as the sum of the local gradients alone;
- ``own_input_at_multiply``: ∂(a·b)/∂a taken as a;
- ``fork_not_summed``: a value used by several gates given the term of one use only;
- ``sign_slip``: the local gradient of a subtracted value or a denominator without its minus;
- ``max_to_both``: a max gate's local gradient taken as 1 for every input, as an add gate's.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import students as S
from derive import spec as spec_mod
from derive.solution import Exercise


@dataclass(frozen=True)
class Gate:
    key: str
    arity: int
    text: str  # the spec's formula, {0} and {1} for the inputs
    forward: object  # (args) -> value
    local: object  # (k, args, value) -> ∂value/∂args[k], as written by hand
    sign: tuple[bool, ...] = ()  # per input: its local gradient carries a minus that can slip
    multiply: bool = False  # a product of two different names


def _scale(c: float) -> Gate:
    return Gate(f"times {c:g}", 1, f"{{0}} * {c:g}", lambda a: c * a[0], lambda k, a, v: c, (c == -1,))


GATES = (
    Gate("add", 2, "{0} + {1}", lambda a: a[0] + a[1], lambda k, a, v: 1.0),
    Gate("sub", 2, "{0} - {1}", lambda a: a[0] - a[1], lambda k, a, v: (1.0, -1.0)[k], (False, True)),
    Gate("mul", 2, "{0} * {1}", lambda a: a[0] * a[1], lambda k, a, v: a[1 - k], multiply=True),
    Gate("div", 2, "{0} / {1}", lambda a: a[0] / a[1], lambda k, a, v: (1 / a[1], -a[0] / a[1] ** 2)[k],
         (False, True)),
    _scale(2), _scale(3), _scale(-1), _scale(0.5),
    Gate("plus 1", 1, "{0} + 1", lambda a: a[0] + 1, lambda k, a, v: 1.0),
    Gate("square", 1, "{0}^2", lambda a: a[0] ** 2, lambda k, a, v: 2 * a[0]),
    Gate("recip", 1, "1 / {0}", lambda a: 1 / a[0], lambda k, a, v: -1 / a[0] ** 2, (True,)),
    Gate("exp", 1, "exp({0})", lambda a: math.exp(a[0]), lambda k, a, v: v),
    Gate("sigmoid", 1, "sigmoid({0})", lambda a: 1 / (1 + math.exp(-a[0])), lambda k, a, v: v * (1 - v)),
    Gate("tanh", 1, "tanh({0})", lambda a: math.tanh(a[0]), lambda k, a, v: 1 - v * v),
    Gate("max", 2, "max({0}, {1})", lambda a: max(a), lambda k, a, v: _route(k, a)),
)


def _route(k: int, args: list[float]) -> float:
    """∂max/∂args[k]: 1 where the maximum is; a tie (a slip can make one) has no gradient,
    and such a student is not drawn."""
    if args[0] == args[1]:
        raise ValueError("a tie at a max gate")
    return float(args[k] == max(args))
INPUTS = ("x", "y", "z", "w", "u")
NODES = ("a", "b", "c", "d", "g", "h", "k", "m", "n", "p", "q", "r", "s")


@dataclass(frozen=True)
class Node:
    name: str
    gate: Gate
    args: tuple[str, ...]  # in the gate's order

    @property
    def inputs(self) -> tuple[str, ...]:
        """The names it uses, each once (a multiply of a name by itself is a square)."""
        return tuple(dict.fromkeys(self.args))


@dataclass
class Graph:
    inputs: dict[str, float]
    nodes: list[Node]

    @property
    def output(self) -> str:
        return self.nodes[-1].name

    def order(self) -> dict[str, int]:
        return {n: i for i, n in enumerate([*self.inputs, *(n.name for n in self.nodes)])}

    def users(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.args]

    def spec(self, decimals: int, carry: str) -> str:
        inputs = ", ".join(f"{x} = {v:g}" for x, v in self.inputs.items())
        nodes = ", ".join(f'{{ {n.name} = "{n.gate.text.format(*n.args)}" }}' for n in self.nodes)
        return (f"[graph]\ninputs = {{ {inputs} }}\nnodes = [ {nodes} ]\noutput = \"{self.output}\"\n"
                f"[display]\ndecimals = {decimals}\ncarry = \"{carry}\"\n")


def random_graph(rng: random.Random) -> Graph:
    """A graph of 2–4 inputs and 2–8 gates in which every name leads to the output, with
    values away from the places where a gate is not smooth or not defined."""
    while True:
        inputs = {x: rng.choice((-1, 1)) * round(rng.uniform(0.3, 2.5), 1) for x in INPUTS[:rng.choice((2, 3, 3, 4))]}
        values = dict(inputs)
        unused = list(inputs)
        nodes: list[Node] = []
        target = rng.randint(2, 8)
        ok = True
        while len(nodes) < len(NODES):
            closing = len(nodes) >= target - 1
            if closing and len(unused) == 1 and len(nodes) >= 2:
                break
            names = list(values)
            for _ in range(40):
                gate = rng.choice(GATES)
                if closing and len(unused) >= 2 and gate.arity == 1:
                    continue
                pick = rng.sample(unused, min(gate.arity, len(unused))) if rng.random() < 0.7 or closing else []
                while len(pick) < gate.arity:
                    pick.append(rng.choice([n for n in names if n not in pick]))
                args = tuple(pick)
                if _fine(gate, [values[a] for a in args]):
                    break
            else:
                ok = False
                break
            name = NODES[len(nodes)]
            nodes.append(Node(name, gate, args))
            values[name] = gate.forward([values[a] for a in args])
            unused = [u for u in unused if u not in args] + [name]
        if not ok or len(unused) != 1 or len(nodes) < 2:
            continue
        # the output is called f, as the sheets call it
        last = nodes[-1]
        nodes[-1] = Node("f", last.gate, last.args)
        return Graph(inputs, nodes)


def _fine(gate: Gate, args: list[float]) -> bool:
    if gate.key in ("div",) and abs(args[1]) < 0.4 or gate.key == "recip" and abs(args[0]) < 0.4:
        return False
    if gate.key == "exp" and args[0] > 2.5:
        return False
    if gate.key == "max" and abs(args[0] - args[1]) < 0.3:
        return False
    if gate.key == "mul" and args[0] == args[1]:
        return False
    try:
        v = gate.forward(args)
        locals_ = [gate.local(k, args, v) for k in range(gate.arity)]
    except (ArithmeticError, ValueError):
        return False
    return abs(v) < 20 and all(abs(x) < 50 for x in locals_)


# --- the program: forward, local, gradient ----------------------------------------------------

def _local(node: Node, m: str):
    """∂node/∂m over the env: the sum over the gate's arguments that are m."""
    ks = [k for k, a in enumerate(node.args) if a == m]

    def fn(env, node=node, ks=ks):
        args = [env[a] for a in node.args]
        return sum(node.gate.local(k, args, env[node.name]) for k in ks)
    return fn


def _gradient(g: Graph, m: str, only: int | None = None, upstream: bool = True, slip: set | None = None,
              own_input: set | None = None, to_both: set | None = None):
    """∂f/∂m: the sum over m's users of upstream gradient times local gradient (the
    output's local gradient is computed in place). The other arguments make a mistake:
    ``only`` the term of one use, no upstream factor, a slipped sign at the users in
    ``slip``, m itself as its local gradient at the multiply gates in ``own_input``, 1 at
    the max gates in ``to_both``."""
    f = g.output
    users = g.users(m)

    def fn(env):
        total = 0.0
        for i, u in enumerate(users):
            if only is not None and i != only:
                continue
            if u.name == f:
                local = _local(u, m)(env)
            else:
                local = env[f"d{u.name}/d{m}"]
            if own_input and u.name in own_input and u.name == f:
                local = env[m]
            if slip and u.name in slip and u.name == f:
                local = -local
            if to_both and u.name in to_both and u.name == f:
                local = 1.0
            up = 1.0 if u.name == f or not upstream else env[f"d{f}/d{u.name}"]
            total += up * local
        return total
    return fn


def program(g: Graph, locals_written: bool = True) -> list[S.Line]:
    f = g.output
    out: list[S.Line] = []
    for node in g.nodes:
        out.append(S.Line(node.name, "forward",
                          lambda env, node=node: node.gate.forward([env[a] for a in node.args])))
    order = g.order()
    for node in g.nodes:
        if node.name == f:
            continue
        for m in sorted(node.inputs, key=order.get):
            out.append(S.Line(f"d{node.name}/d{m}", "local", _local(node, m), locals_written))
    for m in [n.name for n in reversed(g.nodes) if n.name != f] + list(g.inputs):
        out.append(S.Line(f"d{f}/d{m}", "gradient", _gradient(g, m)))
    return out


def misconception_spots(g: Graph, lines: list[S.Line]) -> list[S.Mistake]:
    """Every (misconception, written value) where the graph's mistakes change the formula,
    each with its plain-Python wrong formula."""
    f = g.output
    written = {line.name for line in lines if line.written}
    spots: list[S.Mistake] = []
    for node in g.nodes:
        for k, m in enumerate(node.args):
            if node.args.count(m) > 1:
                continue
            name = f"d{node.name}/d{m}" if node.name != f else f"d{f}/d{m}"
            if name not in written:
                continue
            if node.gate.multiply:
                if node.name != f:
                    spots.append(S.Mistake("own_input_at_multiply", name, lambda env, m=m: env[m]))
                else:
                    spots.append(S.Mistake("own_input_at_multiply", name, _gradient(g, m, own_input={f})))
            if node.gate.key == "max":
                spots.append(S.Mistake("max_to_both", name, (lambda env: 1.0) if node.name != f
                                       else _gradient(g, m, to_both={f})))
            if node.gate.sign and node.gate.sign[k]:
                if node.name != f:
                    spots.append(S.Mistake("sign_slip", name, lambda env, fn=_local(node, m): -fn(env)))
                else:
                    spots.append(S.Mistake("sign_slip", name, _gradient(g, m, slip={f})))
    for m in [*g.inputs, *(n.name for n in g.nodes if n.name != f)]:
        users = g.users(m)
        name = f"d{f}/d{m}"
        if any(u.name != f for u in users):
            spots.append(S.Mistake("upstream_left_out", name, _gradient(g, m, upstream=False)))
        if len(users) > 1:
            for i in range(len(users)):
                spots.append(S.Mistake("fork_not_summed", name, _gradient(g, m, only=i)))
    return spots


@dataclass
class Item:
    exercise: Exercise
    graph: Graph
    program: list[S.Line]
    givens: dict
    truth: dict


def from_spec(path) -> Item:
    """A published example (examples/graph_*.toml) read gate by gate into this module's
    gates, to be worked by the same plain-Python program."""
    import re
    import tomllib

    raw = tomllib.loads(Path(path).read_text())["graph"]
    inputs = {k: float(v) for k, v in raw["inputs"].items()}
    known = set(inputs)
    nodes = []
    for item in raw["nodes"]:
        (name, text), = item.items()
        for gate in GATES:
            pattern = re.escape(gate.text).replace(r"\{0\}", r"(\w+)").replace(r"\{1\}", r"(\w+)")
            m = re.fullmatch(pattern, text.strip())
            if m and all(a in known for a in m.groups()):
                nodes.append(Node(name, gate, m.groups()))
                break
        else:
            raise ValueError(f"no gate for {text!r}")
        known.add(name)
    g = Graph(inputs, nodes)
    ex = Exercise(spec_mod.load(path))
    lines = program(g)
    carry = ex.evaluator.carry_decimals
    return Item(ex, g, lines, dict(inputs), S.truth(lines, dict(inputs), carry))


def random_item(rng: random.Random) -> Item:
    g = random_graph(rng)
    decimals = rng.choice((2, 3, 3, 4, 4))
    carry = rng.choice(("full", "rounded"))
    ex = Exercise(spec_mod.parse(g.spec(decimals, carry), "<graph>"))
    lines = program(g, locals_written=rng.random() < 0.75)
    true = S.truth(lines, dict(g.inputs), decimals if carry == "rounded" else None)
    return Item(ex, g, lines, dict(g.inputs), true)


def population(seed: int, n: int, mistakes: int = 1, graphs: int = 40):
    rng = random.Random(seed)
    pool = [random_item(rng) for _ in range(graphs)]
    spots = {id(i): misconception_spots(i.graph, i.program) for i in pool}
    items = [(i.exercise, i.program, i.givens, i.truth) for i in pool]
    by_ex = {id(i.exercise): spots[id(i)] for i in pool}
    yield from S.program_population(seed + 1, n, mistakes, items, lambda item: by_ex[id(item[0])])
