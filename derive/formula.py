"""The formula language of computational-graph exercises: its functions and a parser
that reads nothing else.

A formula is read with Python's ``ast`` and a whitelist of node types: numbers, names,
+ - * / ^ (or **), unary minus and the functions of ``FUNCTIONS``. Attribute access,
subscripts, lambdas, keywords, strings, comparisons and every other construct are refused
with a one-line reason naming the offending token; nothing of the text is ever evaluated
as code. Each function is a SymPy function of our own that prints as the key writes it,
compiles to a float function for the evaluator and knows its derivative.

``checked_value`` computes a formula with floats and says in words why it cannot be
computed or differentiated (log of a non-positive number, a tie at a max gate, …).
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any, Mapping

import sympy as sp

from .activations import argument
from .errors import did_you_mean

MAX_LENGTH = 400  # characters of one formula: a gate of a hand exercise, not a program
MAX_DEPTH = 40  # nesting of one formula
MAX_NUMBER = 1e6  # numbers written in a formula
MAX_EXPONENT = 16  # |n| in a power x^n


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
# Functions that are not the graph's under other names they go by; and functions of
# mathematics the graph does not have, for which a name close in letters (sin: min) is no
# hint: the message lists the allowed ones instead.
EQUIVALENT = {"ln": "log", "fabs": "abs", "expit": "sigmoid", "logistic": "sigmoid", "maximum": "max",
              "minimum": "min"}
OTHER_FUNCTIONS = frozenset(n for n in dir(math) if not n.startswith("_")) | {
    "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "sec", "csc", "cot", "sign", "sgn",
    "round", "heaviside", "softplus", "softmax", "gelu", "elu", "selu", "swish", "silu", "mish", "erfc",
}


def _function_hint(name: str | None) -> str:
    """What to add to the message that function ``name`` is not allowed."""
    if name is None:
        return ""
    meant = name.lower() if name.lower() in FUNCTIONS else EQUIVALENT.get(name.lower())
    if meant is not None:
        return f" (did you mean '{meant}'?)"
    if name.lower() == "pow":
        return " (write a power as a ^ b)"
    return "" if name.lower() in OTHER_FUNCTIONS else did_you_mean(name, FUNCTIONS)


# --- the parser ----------------------------------------------------------------------------

class Refused(Exception):
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

    Raises ``Refused`` with a one-line reason for anything outside the grammar, and
    ``LookupError`` (the unknown name) for a name that is not in ``known``.
    """
    if len(text) > MAX_LENGTH:
        raise Refused(f"{len(text)} characters; expected a formula of at most {MAX_LENGTH}")
    source = text.replace("^", "**")  # ^ is the power, as written on paper (Python's xor is not allowed)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        offset = (exc.offset or 1) - 1
        token = source.strip()[offset:offset + 10] or "end of formula"
        raise Refused(f"not a formula: unexpected '{token}'") from None
    except (RecursionError, MemoryError, ValueError):
        raise Refused("nested too deeply") from None
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
        raise Refused(f"nested more than {MAX_DEPTH} levels deep")
    sub = lambda n: _build(n, text, known, depth + 1)  # noqa: E731
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):
            raise Refused(f"{_describe(node, text)} is not allowed; expected {ALLOWED}")
        value = node.value
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            raise Refused(f"number '{ast.get_source_segment(text, node)}' is too large; expected at most {MAX_NUMBER:g}")
        return _sympy_number(value)
    if isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise Refused(f"'{node.id}' is a function; expected it called, as in {node.id}(x)")
        if node.id not in known:
            raise LookupError(node.id)
        return known[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _number(node)
        if value is not None:  # a negative number, not the negation of one
            if abs(value) > MAX_NUMBER:
                raise Refused(f"number '{ast.get_source_segment(text, node)}' is too large; expected at most {MAX_NUMBER:g}")
            return _sympy_number(value)
        inner = sub(node.operand)
        return sp.Mul(-1, inner, evaluate=False) if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = sub(node.left)
        if isinstance(node.op, ast.Pow):
            n = _number(node.right)
            if n is None:
                raise Refused(f"exponent '{ast.get_source_segment(text, node.right)}' is not allowed; "
                               "expected a number such as 2 or -1 (x^2, x^-1)")
            if abs(n) > MAX_EXPONENT:
                raise Refused(f"exponent {n:g} is too large; expected at most {MAX_EXPONENT} in size")
            return sp.Pow(left, _sympy_number(n), evaluate=False)
        right = sub(node.right)
        if isinstance(node.op, ast.Add):
            return sp.Add(left, right, evaluate=False)
        if isinstance(node.op, ast.Sub):
            return sp.Add(left, _negated(right), evaluate=False)
        if isinstance(node.op, ast.Mult):
            if right.is_Number and not left.is_Number:  # c * 2 is written 2c, as on paper (c 2 would not read)
                return sp.Mul(right, left, evaluate=False)
            return sp.Mul(left, right, evaluate=False)
        if left == 1:  # 1/v is the reciprocal gate, not a product with 1
            return sp.Pow(right, -1, evaluate=False)
        return sp.Mul(left, sp.Pow(right, -1, evaluate=False), evaluate=False)
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            shown = ast.get_source_segment(text, node.func)
            raise Refused(f"function '{shown}' is not allowed{_function_hint(name)}; "
                          f"expected one of {', '.join(FUNCTIONS)}")
        if node.keywords:
            raise Refused(f"{_describe(node.keywords[0], text)} is not allowed in {name}(...)")
        arity, fn = FUNCTIONS[name]
        if arity is not None and len(node.args) != arity:
            raise Refused(f"{name} takes {arity} argument, got {len(node.args)}")
        if arity is None and len(node.args) < 2:
            raise Refused(f"{name} takes two or more arguments, got {len(node.args)}")
        args = [sub(a) for a in node.args]
        return fn(*args, evaluate=False) if fn in (sp.exp, sp.log, sp.tanh) else fn(*args)
    raise Refused(f"{_describe(node, text)} is not allowed; expected {ALLOWED}")


def _negated(expr: sp.Expr) -> sp.Expr:
    if expr.is_Number:
        return -expr
    return sp.Mul(-1, expr, evaluate=False)


# --- numbers, with reasons ----------------------------------------------------------------

class DomainError(Exception):
    """Why a formula cannot be computed or differentiated at given values."""


def checked_value(expr: sp.Expr, env: Mapping[sp.Symbol, float]) -> float:
    """A formula's float value, refusing what a hand calculation cannot do (and what
    would make a gradient undefined: a kink or a tie exactly at the given values)."""
    if expr.is_Symbol:
        return env[expr]
    if expr.is_Number:
        return float(expr)
    args = [checked_value(a, env) for a in expr.args]
    try:
        if expr.is_Add:
            return math.fsum(args)
        if expr.is_Mul:
            return math.prod(args)
        if expr.is_Pow:
            base, n = args
            if base == 0 and n < 0:
                raise DomainError(f"division by zero in {shown(expr, env)}")
            if base < 0 and not float(n).is_integer():
                raise DomainError(f"a fractional power of a negative number in {shown(expr, env)}")
            if base == 0 and 0 < n < 1:
                raise DomainError(f"{shown(expr, env)} has no derivative at 0")
            return base ** n
        if isinstance(expr, sp.log):
            if args[0] <= 0:
                raise DomainError(f"log of a non-positive number: {shown(expr, env)}")
            return math.log(args[0])
        if isinstance(expr, sp.exp):
            return math.exp(args[0])
        if isinstance(expr, sp.tanh):
            return math.tanh(args[0])
        if isinstance(expr, (g_relu, g_abs)) and args[0] == 0:
            raise DomainError(f"{shown(expr, env)} is at its kink (no derivative at 0)")
        if isinstance(expr, g_max):
            best = min(args) if isinstance(expr, g_min) else max(args)
            if args.count(best) > 1:
                raise DomainError(f"{shown(expr, env)} is a tie (the gradient has no single route)")
        return float(type(expr).numeric(*args))
    except OverflowError:
        raise DomainError(f"{shown(expr, env)} overflows") from None


def shown(expr: sp.Expr, env: Mapping[sp.Symbol, float]) -> str:
    shown = {s: sp.Float(v, 6) if not float(v).is_integer() else sp.Integer(int(v)) for s, v in env.items()}
    with sp.evaluate(False):  # log(0) stays log(0), not SymPy's complex infinity
        text = str(expr.xreplace(shown))
    return re.sub(r"g_(\w+)", r"\1", text)


def compiled(expr: sp.Expr, symbols: list[sp.Symbol]):
    """A float function of ``symbols`` (positional) computing ``expr`` with the functions'
    own float versions. The symbols are renamed first: a user's name ("math", "g_max")
    must not shadow a name of the generated code."""
    safe = [sp.Symbol(f"_a{i}") for i in range(len(symbols))]  # names a user cannot choose
    body = expr.xreplace(dict(zip(symbols, safe)))
    functions = {type(f).__name__: type(f).numeric for f in body.atoms(sp.Function) if hasattr(type(f), "numeric")}
    return sp.lambdify(safe, body, modules=[functions, "math"])

