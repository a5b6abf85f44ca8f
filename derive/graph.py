"""Computational-graph exercises: a staged expression, forward and backward by hand.

A ``[graph]`` spec names the inputs with their values and the intermediate nodes in order,
each a formula of earlier names::

    [graph]
    inputs = { x = 3, y = -1, z = 2 }
    nodes = [ { q = "x + y" }, { f = "q * z" } ]
    output = "f"

Formulas are read by a parser of our own over Python's ``ast``: only numbers, names,
+ - * / ^ (or **), unary minus and the functions of ``FUNCTIONS`` pass; anything else
(attribute access, subscripts, lambdas, keywords, strings) is refused with the node and
the offending token. Nothing of the text is ever evaluated as code.

The graph becomes the same quantity graph as a network (``Derivation`` of ``Quantity``):
the inputs are given values, every node is a forward quantity, every gate's local partial
``du/dm`` a local quantity, and every node's and input's gradient ``df/dm`` the sum over its
users of upstream gradient times local gradient. So the key, the checker, variants and the
LMS export treat graphs like networks.
"""

from __future__ import annotations

import ast
import keyword
import math
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

import sympy as sp

from .activations import argument
from .derivation import FORWARD, GIVEN, GRADIENT, LOCAL, Derivation, Quantity
from .errors import SpecError, did_you_mean
from .latex import latex_name

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
MAX_LENGTH = 400  # characters of one formula: a gate of a hand exercise, not a program
MAX_DEPTH = 40  # nesting of one formula
MAX_NUMBER = 1e6  # numbers written in a formula
MAX_EXPONENT = 16  # |n| in a power x^n
MAX_NODES = 60


# --- the functions a formula may use -----------------------------------------------------
#
# Each is a SymPy function that prints as the key writes it, compiles to a float function
# for the evaluator (``numeric``) and knows its derivative (``fdiff``). Our own classes,
# not SymPy's Max or Abs: those need real symbols to differentiate, and the quantity graph
# uses plain ones.

def _sigmoid(t: float) -> float:
    if t >= 0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)


def _pick(i, *args) -> float:
    """1 where argument ``i`` is strictly the largest, else 0 (the max gate's routing)."""
    i = int(i)
    return 1.0 if all(args[i] > a for k, a in enumerate(args) if k != i) else 0.0


class _Fn(sp.Function):
    """Common printing of the graph's functions: ``symbol(args)`` in LaTeX, the float
    function by its class name in Python code."""

    symbol = ""

    @classmethod
    def _name(cls) -> str:
        return cls.__name__

    def _latex(self, printer, exp=None):
        body = rf"{self.symbol}({', '.join(argument(printer, a) for a in self.args)})"
        return body if exp is None else rf"\left({body}\right)^{{{exp}}}"

    def _pythoncode(self, printer):
        return f"{type(self).__name__}({', '.join(printer._print(a) for a in self.args)})"


class g_step(_Fn):
    """ReLU′: 1 for a positive argument, else 0."""
    nargs = 1
    numeric = staticmethod(lambda t: 1.0 if t > 0 else 0.0)

    def _latex(self, printer, exp=None):
        return rf"\mathbf{{1}}[{argument(printer, self.args[0])} > 0]"

    def _eval_rewrite_as_explicit(self, t, **kw):
        return sp.Piecewise((1, t > 0), (0, True))


class g_relu(_Fn):
    nargs = 1
    symbol = r"\mathrm{ReLU}"
    numeric = staticmethod(lambda t: t if t > 0 else 0.0)

    def fdiff(self, argindex=1):
        return g_step(self.args[0])

    def _eval_rewrite_as_explicit(self, t, **kw):
        return sp.Piecewise((t, t > 0), (0, True))


class g_sigmoid(_Fn):
    nargs = 1
    symbol = r"\sigma"
    numeric = staticmethod(_sigmoid)

    def fdiff(self, argindex=1):
        return sp.Mul(self, sp.Add(1, -self, evaluate=False), evaluate=False)

    def _eval_rewrite_as_explicit(self, t, **kw):
        return 1 / (1 + sp.exp(-t))


class g_sign(_Fn):
    nargs = 1
    symbol = r"\operatorname{sign}"
    numeric = staticmethod(lambda t: math.copysign(1.0, t) if t else 0.0)

    def _eval_rewrite_as_explicit(self, t, **kw):
        return sp.sign(t)


class g_abs(_Fn):
    nargs = 1
    numeric = staticmethod(abs)

    def _latex(self, printer, exp=None):
        body = rf"\left|{argument(printer, self.args[0])}\right|"
        return body if exp is None else rf"{body}^{{{exp}}}"

    def fdiff(self, argindex=1):
        return g_sign(self.args[0])

    def _eval_rewrite_as_explicit(self, t, **kw):
        return sp.Piecewise((t, t >= 0), (-t, True))


class g_top(_Fn):
    """∂max(a, b, …)/∂(argument i): 1 where that argument is the largest. Its first
    argument is i; ``g_bottom`` is the same for min."""

    numeric = staticmethod(_pick)
    relation = ">"

    def _latex(self, printer, exp=None):
        i = int(self.args[0])
        args = self.args[1:]
        mine = argument(printer, args[i])
        rest = [argument(printer, a) for k, a in enumerate(args) if k != i]
        other = rest[0] if len(rest) == 1 else rf"\{'max' if self.relation == '>' else 'min'}({', '.join(rest)})"
        return rf"\mathbf{{1}}[{mine} {self.relation} {other}]"

    def _eval_rewrite_as_explicit(self, i, *args, **kw):
        i = int(i)
        cond = sp.And(*[(args[i] > a) if self.relation == ">" else (args[i] < a)
                        for k, a in enumerate(args) if k != i])
        return sp.Piecewise((1, cond), (0, True))


class g_bottom(g_top):
    numeric = staticmethod(lambda i, *args: _pick(i, *(-a for a in args)))
    relation = "<"


class g_max(_Fn):
    symbol = r"\max"
    numeric = staticmethod(max)
    route = g_top

    def fdiff(self, argindex=1):
        return self.route(sp.Integer(argindex - 1), *self.args)

    def _eval_rewrite_as_explicit(self, *args, **kw):
        return sp.Max(*args)


class g_min(g_max):
    symbol = r"\min"
    numeric = staticmethod(min)
    route = g_bottom

    def _eval_rewrite_as_explicit(self, *args, **kw):
        return sp.Min(*args)


# name -> (number of arguments: an int, or None for two or more; the SymPy function)
FUNCTIONS: dict[str, tuple[int | None, Any]] = {
    "exp": (1, sp.exp),
    "log": (1, sp.log),
    "sqrt": (1, sp.sqrt),
    "abs": (1, g_abs),
    "max": (None, g_max),
    "min": (None, g_min),
    "sigmoid": (1, g_sigmoid),
    "tanh": (1, sp.tanh),
    "relu": (1, g_relu),
}
ALLOWED = "numbers, names, + - * / ^, unary minus and " + ", ".join(FUNCTIONS)


# --- the parser ----------------------------------------------------------------------------

class _Refused(Exception):
    """A formula outside the grammar; the message names the offending token."""


_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "^"}


def _describe(node: ast.AST, text: str) -> str:
    segment = ast.get_source_segment(text, node)
    what = {ast.Attribute: "attribute access", ast.Subscript: "subscript", ast.Lambda: "lambda",
            ast.Compare: "comparison", ast.BoolOp: "boolean operator", ast.IfExp: "conditional",
            ast.keyword: "keyword argument", ast.Starred: "starred argument",
            ast.JoinedStr: "string", ast.List: "list", ast.Tuple: "tuple", ast.Dict: "dict",
            ast.Set: "set", ast.NamedExpr: "assignment"}.get(type(node))
    if what is None and isinstance(node, ast.BinOp):
        what = "operator"
    if what is None and isinstance(node, ast.UnaryOp):
        what = "operator"
    if what is None:
        what = type(node).__name__.lower()
    return f"{what} '{segment}'" if segment else what


def parse_formula(text: str, known: Mapping[str, sp.Symbol]) -> sp.Expr:
    """The formula ``text`` as a SymPy expression over the symbols of ``known``.

    Raises ``_Refused`` with a one-line reason for anything outside the grammar, and
    ``LookupError`` (the unknown name) for a name that is not in ``known``.
    """
    if len(text) > MAX_LENGTH:
        raise _Refused(f"{len(text)} characters; expected a formula of at most {MAX_LENGTH}")
    source = text.replace("^", "**")  # ^ is the power, as written on paper (Python's xor is not allowed)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        offset = (exc.offset or 1) - 1
        token = source.strip()[offset:offset + 10] or "end of formula"
        raise _Refused(f"not a formula: unexpected '{token}'") from None
    except (RecursionError, MemoryError, ValueError):
        raise _Refused("nested too deeply") from None
    return _build(tree.body, source.strip(), known, 0)


def _number(node: ast.AST) -> float | None:
    """A number literal, possibly negated; None for anything else."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _number(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    return None


def _sympy_number(value: float | int) -> sp.Expr:
    if isinstance(value, int) or float(value).is_integer():
        return sp.Integer(int(value))
    return sp.Float(repr(float(value)), 15)


def _build(node: ast.AST, text: str, known: Mapping[str, sp.Symbol], depth: int) -> sp.Expr:
    if depth > MAX_DEPTH:
        raise _Refused(f"nested more than {MAX_DEPTH} levels deep")
    sub = lambda n: _build(n, text, known, depth + 1)  # noqa: E731
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):
            raise _Refused(f"{_describe(node, text)} is not allowed; expected {ALLOWED}")
        value = node.value
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            raise _Refused(f"number '{ast.get_source_segment(text, node)}' is too large; expected at most {MAX_NUMBER:g}")
        return _sympy_number(value)
    if isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise _Refused(f"'{node.id}' is a function; expected it called, as in {node.id}(x)")
        if node.id not in known:
            raise LookupError(node.id)
        return known[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _number(node)
        if value is not None:  # a negative number, not the negation of one
            if abs(value) > MAX_NUMBER:
                raise _Refused(f"number '{ast.get_source_segment(text, node)}' is too large; expected at most {MAX_NUMBER:g}")
            return _sympy_number(value)
        inner = sub(node.operand)
        return sp.Mul(-1, inner, evaluate=False) if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = sub(node.left)
        if isinstance(node.op, ast.Pow):
            n = _number(node.right)
            if n is None:
                raise _Refused(f"exponent '{ast.get_source_segment(text, node.right)}' is not allowed; "
                               "expected a number such as 2 or -1 (x^2, x^-1)")
            if abs(n) > MAX_EXPONENT:
                raise _Refused(f"exponent {n:g} is too large; expected at most {MAX_EXPONENT} in size")
            return sp.Pow(left, _sympy_number(n), evaluate=False)
        right = sub(node.right)
        if isinstance(node.op, ast.Add):
            return sp.Add(left, right, evaluate=False)
        if isinstance(node.op, ast.Sub):
            return sp.Add(left, _negated(right), evaluate=False)
        if isinstance(node.op, ast.Mult):
            return sp.Mul(left, right, evaluate=False)
        if left == 1:  # 1/v is the reciprocal gate, not a product with 1
            return sp.Pow(right, -1, evaluate=False)
        return sp.Mul(left, sp.Pow(right, -1, evaluate=False), evaluate=False)
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            shown = ast.get_source_segment(text, node.func)
            hint = did_you_mean(name, FUNCTIONS) if name else ""
            raise _Refused(f"function '{shown}' is not allowed{hint}; expected one of {', '.join(FUNCTIONS)}")
        if node.keywords:
            raise _Refused(f"{_describe(node.keywords[0], text)} is not allowed in {name}(...)")
        arity, fn = FUNCTIONS[name]
        if arity is not None and len(node.args) != arity:
            raise _Refused(f"{name} takes {arity} argument, got {len(node.args)}")
        if arity is None and len(node.args) < 2:
            raise _Refused(f"{name} takes two or more arguments, got {len(node.args)}")
        args = [sub(a) for a in node.args]
        return fn(*args, evaluate=False) if fn in (sp.exp, sp.log, sp.tanh) else fn(*args)
    raise _Refused(f"{_describe(node, text)} is not allowed; expected {ALLOWED}")


def _negated(expr: sp.Expr) -> sp.Expr:
    if expr.is_Number:
        return -expr
    return sp.Mul(-1, expr, evaluate=False)


# --- the graph -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Node:
    name: str
    text: str  # the formula as written
    formula: sp.Expr  # over the symbols of earlier names
    inputs: tuple[str, ...]  # the names it uses, in the order of the graph


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per spec, cached per structure
class Graph:
    inputs: tuple[str, ...]
    values: Mapping[str, float]  # the given input values
    nodes: tuple[Node, ...]
    output: str
    chain_check: bool  # the key also differentiates the composed expression

    def node(self, name: str) -> Node:
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


TOP_LEVEL = ("title", "course", "graph", "display", "questions", "vary")
PASSES = ("forward", "backward")


def spec_from_table(raw: Mapping[str, Any], source: str) -> GraphSpec:
    """Check a ``[graph]`` spec, read as a TOML table, field by field."""
    from .spec import CARRY, Fields  # the shared field reader; spec imports this module lazily

    top = Fields(source, raw)
    top.only(*TOP_LEVEL)
    g = top.table_at("graph", required=True)
    g.only("inputs", "nodes", "output", "chain_check")
    graph = _graph(g)
    display = top.table_at("display")
    display.only("decimals", "carry")
    decimals = display.get("decimals", 4)
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 12:
        raise display.fail("decimals", f"expected a whole number from 0 to 12, got {decimals!r}")
    questions = top.table_at("questions")
    questions.only("include")
    asked = questions.names("include", PASSES)
    for name in asked:
        if name not in PASSES:
            raise questions.fail("include", f"no question '{name}'{did_you_mean(name, PASSES)}; "
                                 f"expected some of {', '.join(PASSES)}")
    return GraphSpec(
        source=source,
        title=top.text("title", "Backpropagation through a computational graph"),
        course=top.text("course", ""),
        graph=graph,
        decimals=decimals,
        carry=display.text("carry", "full", CARRY),
        asked=tuple(p for p in PASSES if p in asked),
        raw=MappingProxyType(dict(raw)),
    )


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
        except _Refused as exc:
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
        nodes.append(Node(name, text.strip(), formula, tuple(used)))

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

class _Domain(Exception):
    pass


def _value(expr: sp.Expr, env: Mapping[sp.Symbol, float]) -> float:
    """A formula's float value, refusing what a hand calculation cannot do (and what
    would make a gradient undefined: a kink or a tie exactly at the given values)."""
    if expr.is_Symbol:
        return env[expr]
    if expr.is_Number:
        return float(expr)
    args = [_value(a, env) for a in expr.args]
    try:
        if expr.is_Add:
            return math.fsum(args)
        if expr.is_Mul:
            return math.prod(args)
        if expr.is_Pow:
            base, n = args
            if base == 0 and n < 0:
                raise _Domain(f"division by zero in {_show(expr, env)}")
            if base < 0 and not float(n).is_integer():
                raise _Domain(f"a fractional power of a negative number in {_show(expr, env)}")
            if base == 0 and 0 < n < 1:
                raise _Domain(f"{_show(expr, env)} has no derivative at 0")
            return base ** n
        if isinstance(expr, sp.log):
            if args[0] <= 0:
                raise _Domain(f"log of a non-positive number: {_show(expr, env)}")
            return math.log(args[0])
        if isinstance(expr, sp.exp):
            return math.exp(args[0])
        if isinstance(expr, sp.tanh):
            return math.tanh(args[0])
        if isinstance(expr, (g_relu, g_abs)) and args[0] == 0:
            raise _Domain(f"{_show(expr, env)} is at its kink (no derivative at 0)")
        if isinstance(expr, g_max):
            best = min(args) if isinstance(expr, g_min) else max(args)
            if args.count(best) > 1:
                raise _Domain(f"{_show(expr, env)} is a tie (the gradient has no single route)")
        return float(type(expr).numeric(*args))
    except OverflowError:
        raise _Domain(f"{_show(expr, env)} overflows") from None


def _show(expr: sp.Expr, env: Mapping[sp.Symbol, float]) -> str:
    shown = {s: sp.Float(v, 6) if not float(v).is_integer() else sp.Integer(int(v)) for s, v in env.items()}
    with sp.evaluate(False):  # log(0) stays log(0), not SymPy's complex infinity
        text = str(expr.xreplace(shown))
    return re.sub(r"g_(\w+)", r"\1", text)


def domain_problem(graph: Graph, values: Mapping[str, float]) -> tuple[str, str] | None:
    """(field, reason) for the first node that cannot be computed or differentiated at these
    input values, or None."""
    env = {sp.Symbol(k): float(v) for k, v in values.items()}
    for i, node in enumerate(graph.nodes):
        try:
            env[sp.Symbol(node.name)] = _value(node.formula, env)
            for m in node.inputs:
                v = _value(local_closed(node, m), env)
                if not math.isfinite(v):
                    raise _Domain("its local gradient is not finite")
        except _Domain as exc:
            return f"nodes[{i}].{node.name}", f"cannot be computed at the given values: {exc}"
        except (ZeroDivisionError, ArithmeticError, ValueError) as exc:
            return f"nodes[{i}].{node.name}", f"cannot be computed at the given values ({exc})"
    return None


# --- the quantity graph --------------------------------------------------------------------

def grad_name(output: str, name: str) -> str:
    return f"d{output}/d{name}"


def local_closed(node: Node, m: str) -> sp.Expr:
    """∂node/∂m by differentiation, over the node's inputs."""
    f, sym = node.formula, sp.Symbol(m)
    if f.is_Function and f.args.count(sym) == 1 and all(a.is_Symbol or a.is_Number for a in f.args):
        return f.fdiff(f.args.index(sym) + 1)  # a gate of one function: its derivative as the textbook writes it
    return sp.diff(f, sym)


def local_formula(node: Node, m: str) -> sp.Expr:
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
    """The quantity graph of a computational graph: givens, forward, local, gradient."""
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
