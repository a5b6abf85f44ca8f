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

A graph with a ``[training]`` table (the examples graph_adam_parabola, graph_momentum_bowl,
graph_rosenbrock_nesterov, or a random graph with a random optimizer) is worked pass by
pass with the optimizer's steps in between (``optimizer_item``, the last section): the
graph's misconceptions at step 1's pass, where the registry places them, and the
optimizer's as tests/optim_students.py works them.
"""

from __future__ import annotations

import ast
import math
import random
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import optim_students as O
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


# --- graphs with optimizer steps ([training]) -------------------------------------------------
#
# The exercise minimises the graph's output over its parameters: step k works the graph's
# pass at the point step k − 1 left (its names marked with k − 1 primes: q', dq'/dx,
# df'/dx; an input keeps its name, its value is the parameter's x*, x*[2] or Nesterov's
# look-ahead x~[k]), then the optimizer's step from ∂f/∂x as tests/optim_students.py works
# it; after the last step the forward pass once more. A node's formula that is none of the
# gates above (0.1*a + 2*b, x2 - x1^2) is read with Python's ``ast`` and its local gradient
# worked with dual numbers (forward-mode differentiation), not symbolically.


class Dual:
    """a + b·ε with ε² = 0: a value and its derivative with respect to one input."""

    def __init__(self, v: float, d: float = 0.0):
        self.v, self.d = v, d

    @staticmethod
    def of(x) -> "Dual":
        return x if isinstance(x, Dual) else Dual(float(x))

    def __add__(self, o):
        o = Dual.of(o)
        return Dual(self.v + o.v, self.d + o.d)

    __radd__ = __add__

    def __neg__(self):
        return Dual(-self.v, -self.d)

    def __sub__(self, o):
        return self + -Dual.of(o)

    def __rsub__(self, o):
        return Dual.of(o) - self

    def __mul__(self, o):
        o = Dual.of(o)
        return Dual(self.v * o.v, self.d * o.v + self.v * o.d)

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = Dual.of(o)
        return Dual(self.v / o.v, (self.d * o.v - self.v * o.d) / o.v ** 2)

    def __rtruediv__(self, o):
        return Dual.of(o) / self

    def __pow__(self, n):
        if isinstance(n, Dual):
            raise ValueError("only constant exponents")
        return Dual(self.v ** n, n * self.v ** (n - 1) * self.d)


def _apply(fn: str, args):
    a = [Dual.of(x) for x in args]
    if fn == "exp":
        v = math.exp(a[0].v)
        return Dual(v, v * a[0].d)
    if fn == "sigmoid":
        v = 1 / (1 + math.exp(-a[0].v))
        return Dual(v, v * (1 - v) * a[0].d)
    if fn == "tanh":
        v = math.tanh(a[0].v)
        return Dual(v, (1 - v * v) * a[0].d)
    if fn in ("max", "min"):
        if a[0].v == a[1].v:
            raise ValueError("a tie at a max gate")
        pick = max if fn == "max" else min
        return pick(a, key=lambda x: x.v)
    raise ValueError(f"no function {fn}")


def _evaluate(tree, env: dict):
    """The formula's value over ``env`` (numbers or Duals)."""
    if isinstance(tree, ast.Expression):
        return _evaluate(tree.body, env)
    if isinstance(tree, ast.Constant):
        return float(tree.value)
    if isinstance(tree, ast.Name):
        return env[tree.id]
    if isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.USub):
        return -_evaluate(tree.operand, env)
    if isinstance(tree, ast.BinOp):
        a, b = _evaluate(tree.left, env), _evaluate(tree.right, env)
        ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b, ast.Div: lambda: a / b,
               ast.Pow: lambda: a ** b}
        return ops[type(tree.op)]()
    if isinstance(tree, ast.Call):
        return _apply(tree.func.id, [_evaluate(x, env) for x in tree.args])
    raise ValueError(f"cannot read {ast.dump(tree)}")


def _names_in(tree) -> list[str]:
    return list(dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                              and not any(isinstance(c, ast.Call) and c.func is n for c in ast.walk(tree))))


def _sign_places(tree) -> set[str]:
    """The names that enter subtracted (the right of a minus, a negation) or in a
    denominator: where the local gradient carries a minus that can slip."""
    out: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Sub, ast.Div)):
            out.update(_names_in(n.right))
        elif isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            out.update(_names_in(n.operand))
        elif isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow) and isinstance(n.right, ast.UnaryOp):
            out.update(_names_in(n.left))
    return out


def formula_gate(text: str) -> tuple[Gate, tuple[str, ...]]:
    """A node's formula as a gate of its own over the names it uses, in order."""
    tree = ast.parse(text.replace("^", "**"), mode="eval")
    names = tuple(_names_in(tree))

    def forward(args):
        return Dual.of(_evaluate(tree, dict(zip(names, args)))).v

    def local(k, args, value):
        env = {n: Dual(a, 1.0 if i == k else 0.0) for i, (n, a) in enumerate(zip(names, args))}
        return Dual.of(_evaluate(tree, env)).d

    body = tree.body
    multiply = (isinstance(body, ast.BinOp) and isinstance(body.op, ast.Mult) and len(names) == 2
                and all(isinstance(x, ast.Name) for x in (body.left, body.right)))
    is_max = isinstance(body, ast.Call) and body.func.id in ("max", "min") and len(names) == 2
    signs = _sign_places(tree)
    pattern = text
    for i, n in enumerate(names):
        pattern = re.sub(rf"\b{n}\b", f"{{{i}}}", pattern)
    return Gate("max" if is_max else text, len(names), pattern, forward, local,
                tuple(n in signs for n in names), multiply), names


def _node_of(name: str, text: str, known: set[str]) -> Node:
    for gate in GATES:
        pattern = re.escape(gate.text).replace(r"\{0\}", r"(\w+)").replace(r"\{1\}", r"(\w+)")
        m = re.fullmatch(pattern, text.strip())
        if m and all(a in known for a in m.groups()):
            return Node(name, gate, m.groups())
    gate, names = formula_gate(text)
    return Node(name, gate, names)


class Renamed:
    """A pass's values under the plain pass's names (``rename`` maps one to the other)."""

    def __init__(self, env: dict, rename):
        self.env, self.rename = env, rename

    def __getitem__(self, name):
        return self.env[self.rename(name)]


def tagged(name: str, tag: str, inputs, point: dict[str, str]) -> str:
    """The name of a plain pass's quantity in the pass marked ``tag`` whose parameters sit at
    ``point`` (x -> x*, x~[2] …): nodes and the top of a partial take the mark, an input
    at the bottom does not."""
    if name in inputs:
        return point.get(name, name)
    if name.startswith("d") and "/d" in name:
        top, bottom = name[1:].split("/d", 1)
        return f"d{top}{tag}/d{bottom}{'' if bottom in inputs else tag}"
    return f"{name}{tag}"


def _pass(g: Graph, k: int, tag: str, point: dict[str, str], locals_written: bool, backward: bool,
          backward_written: bool = True) -> list[S.Line]:
    inputs = set(g.inputs)
    out = []
    for line in program(g, locals_written):
        if line.group != "forward" and not backward:
            continue

        def fn(env, line=line):
            return line.fn(Renamed(env, lambda n: tagged(n, tag, inputs, point)))
        written = line.written and (line.group == "forward" or backward_written)
        out.append(S.Line(tagged(line.name, tag, inputs, point), f"{line.group}{k}", fn, written))
    return out


@dataclass
class OptimizerItem:
    exercise: Exercise
    graph: Graph
    opt: O.Opt
    params: tuple[str, ...]
    program: list[S.Line]
    givens: dict
    truth: dict
    own: dict  # (optimizer misconception, quantity) -> plain-Python wrong formula
    first_pass: list[S.Line]  # step 1's pass: where the graph's misconceptions are made


def opt_of(t: dict):
    """The [training] table as tests/optim_students.py's Opt (the defaults as the course
    notes state them: momentum v ← μv − ηg, x ← x + v; Nesterov's look-ahead; ε outside)."""
    hyper = {h: float(t[h]) for h in ("mu", "rho", "beta1", "beta2", "epsilon") if h in t}
    return O.Opt(t["optimizer"], t["steps"], hyper, momentum=t.get("momentum", "velocity"),
                 nesterov=t.get("nesterov", "lookahead"), epsilon=t.get("epsilon_at", "outside"),
                 bias_correction=t.get("bias_correction", True), decay=float(t.get("weight_decay", 0.0)),
                 decay_kind=t.get("decay", "l2"), decay_biases=t.get("decay_biases", False),
                 ascent=t.get("direction") == "ascent")


def optimizer_program(g: Graph, params, o, locals_written: bool = True, first_backward: bool = True):
    """The lines of the whole exercise in the key's order, the optimizer misconceptions'
    formulas, and step 1's pass."""
    lines: list[S.Line] = []
    own: dict = {}
    f = g.output
    look = o.key == "nesterov" and o.nesterov == "lookahead"

    def add(name, group, fn):
        lines.append(S.Line(name, group, fn))

    first: list[S.Line] = []
    for k in range(1, o.steps + 1):
        tag = "'" * (k - 1)
        if look:
            for p in params:
                add(f"{p}~[{k}]", f"lookahead{k}",
                    lambda env, p=p, k=k: O.lookahead(o, env[O.param_name(p, k - 1)], env[f"v_{p}[{k - 1}]"], env))
                if k > 1:
                    own[("state_not_carried", f"{p}~[{k}]")] = lambda env, p=p, k=k: \
                        O.lookahead(o, env[O.param_name(p, k - 1)], 0.0, env)
        # step 1's pass is at the given inputs (the look-ahead from a zero velocity is x itself)
        point = {p: f"{p}~[{k}]" if look and k > 1 else O.param_name(p, k - 1) for p in params}
        this = _pass(g, k, tag, point, locals_written, True, k > 1 or first_backward)
        lines.extend(this)
        first = first or this
        _penalty(lines, g, o, point, tag, k)
        O._step_lines(k, o, [(p, False) for p in params], add, own,
                      gradient=lambda p, k: f"d{f}{chr(39) * (k - 1)}/d{p}")
    final = {p: O.param_name(p, o.steps) for p in params}
    lines.extend(_pass(g, o.steps + 1, "'" * o.steps, final, True, False))
    _penalty(lines, g, o, final, "'" * o.steps, o.steps + 1)
    return lines, O.finish(lines, own), first


def _penalty(lines: list[S.Line], g: Graph, o, point: dict[str, str], tag: str, k: int) -> None:
    """With L2 decay, the penalty R = λ/2·Σx² at the pass's point and the objective J = f + R."""
    if not (o.decay > 0 and o.decay_kind == "l2"):
        return
    lines.append(S.Line(f"R{tag}", f"penalty{k}", lambda env: env["lambda"] / 2 * sum(env[x] ** 2 for x in point.values())))
    lines.append(S.Line(f"J{tag}", f"objective{k}", lambda env: env[f"{g.output}{tag}"] + env[f"R{tag}"]))


def optimizer_givens(g: Graph, params, t: dict, o) -> dict:
    out = dict(g.inputs)
    out["eta"] = float(t["learning_rate"])
    out.update(o.hyper)
    if o.decay > 0:
        out["lambda"] = o.decay
    out.update({f"{s}_{p}[0]": 0.0 for p in params for s in o.states})
    return out


def _graph_of(raw: dict) -> Graph:
    inputs = {k: float(v) for k, v in raw["inputs"].items()}
    known = set(inputs)
    nodes = []
    for item in raw["nodes"]:
        (name, text), = item.items()
        nodes.append(_node_of(name, text, known))
        known.add(name)
    return Graph(inputs, nodes)


def optimizer_item(text: str, source: str = "<graph>", locals_written: bool = True) -> OptimizerItem:
    """A graph exercise with [training], read with tomllib and worked by this module's program."""
    raw = tomllib.loads(text)
    g = _graph_of(raw["graph"])
    params = tuple(x for x in g.inputs if x in raw["graph"].get("parameters", list(g.inputs)))
    o = opt_of(raw["training"])
    # A sheet that asks the forward pass alone: step 1's backward pass stays in the calculator.
    asked = raw.get("questions", {}).get("include")
    first_backward = asked is None or any(q != "forward" for q in asked)
    lines, own, first = optimizer_program(g, params, o, locals_written, first_backward)
    givens = optimizer_givens(g, params, raw["training"], o)
    display = raw.get("display", {})
    carry = display["decimals"] if display.get("carry") == "rounded" else None
    ex = Exercise(spec_mod.parse(text, source))
    return OptimizerItem(ex, g, o, params, lines, givens, S.truth(lines, givens, carry), own, first)


def optimizer_spots(item: OptimizerItem) -> list[S.Mistake]:
    """The graph's misconceptions at step 1's pass, and the optimizer's at its steps,
    each where it changes a written value, with its plain-Python formula."""
    written = {line.name for line in item.program if line.written}
    spots = [m for m in misconception_spots(item.graph, item.first_pass) if m.name in written]
    return spots + [S.Mistake(kind, name, fn) for (kind, name), fn in item.own.items() if name in written]


def later_pass_spots(item: OptimizerItem) -> list[S.Mistake]:
    """The graph's misconceptions in the passes of steps 2 and later (a student who drops a
    sign in step 1 drops it again): the registry does not place them there (it names the
    graph's mistakes in step 1's pass, as it names a network's in the first pass)."""
    g, o = item.graph, item.opt
    look = o.key == "nesterov" and o.nesterov == "lookahead"
    written = {line.name for line in item.program if line.written}
    out = []
    for k in range(2, o.steps + 1):
        point = {p: f"{p}~[{k}]" if look else O.param_name(p, k - 1) for p in item.params}

        def rename(n, tag="'" * (k - 1), point=point):
            return tagged(n, tag, set(g.inputs), point)
        for m in misconception_spots(g, program(g)):
            if rename(m.name) in written:
                out.append(S.Mistake(m.kind, rename(m.name), lambda env, fn=m.detail, r=rename: fn(Renamed(env, r))))
    return out


def random_optimizer_item(rng: random.Random) -> OptimizerItem:
    """A random graph minimised by a random optimizer (every convention of
    tests/optim_students.py), away from kinks and ties at every pass; now and then one of
    the examples with steps as its sheet asks it."""
    if rng.random() < 0.1:
        path = rng.choice(("graph_adam_parabola", "graph_momentum_bowl", "graph_rosenbrock_nesterov"))
        return optimizer_item((O.EXAMPLES / f"{path}.toml").read_text(), f"{path}.toml",
                              locals_written=rng.random() < 0.75)
    while True:
        g = random_graph(rng)
        training, o = O.random_settings(rng)
        training["learning_rate"] = rng.choice((0.1, 0.05, 0.2))
        params = list(g.inputs)
        if rng.random() < 0.3 and len(params) > 1:
            params = sorted(rng.sample(params, len(params) - 1), key=params.index)
        spec = g.spec(rng.choice((3, 4, 4)), rng.choice(("full", "rounded"))).replace("[display]", f"parameters = {params!r}\n[display]".replace("'", '"'))
        spec += "[training]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in training.items())
        if rng.random() < 0.2:  # a sheet that asks the forward pass alone before the steps
            spec += '[questions]\ninclude = ["forward"]\n'
        try:
            item = optimizer_item(spec, locals_written=rng.random() < 0.75)
        except (ArithmeticError, ValueError):
            continue
        values = [v for n, v in item.truth.items() if n not in item.givens]
        if all(math.isfinite(v) and abs(v) < 100 for v in values) and _fine_at_every_pass(item):
            return item


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return f'"{v}"' if isinstance(v, str) else repr(v)


def _fine_at_every_pass(item: OptimizerItem) -> bool:
    """Every gate away from its kinks and poles at every pass (a student's rounding must
    not decide which input a max routes to)."""
    g, t = item.graph, item.truth
    look = item.opt.key == "nesterov" and item.opt.nesterov == "lookahead"
    for k in range(1, item.opt.steps + 2):
        tag = "'" * (k - 1)
        point = {p: f"{p}~[{k}]" if look and 1 < k <= item.opt.steps else O.param_name(p, k - 1)
                 for p in item.params}
        env = Renamed(t, lambda n: tagged(n, tag, set(g.inputs), point))
        if not all(_fine(n.gate, [env[a] for a in n.args]) for n in g.nodes):
            return False
    return True


def optimizer_population(seed: int, n: int, mistakes: int = 1, exercises: int = 40):
    rng = random.Random(seed)
    pool = [random_optimizer_item(rng) for _ in range(exercises)]
    by_ex = {id(i.exercise): optimizer_spots(i) for i in pool}
    items = [(i.exercise, i.program, i.givens, i.truth) for i in pool]
    yield from S.program_population(seed + 1, n, mistakes, items, lambda item: by_ex[id(item[0])])
