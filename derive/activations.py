"""Activation functions: one registry entry each.

An entry carries everything the rest of the tool needs to know about a function: its
explicit SymPy form (the oracle in the tests differentiates this), its textbook derivative
(what the key writes), its LaTeX name and definition, and plain-float versions for the
numbers. Adding an activation is adding one entry to ``ACTIVATIONS``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cache
from typing import Callable

import sympy as sp

from .latex import symbol_tex

T = sp.Symbol("t")


def _sigmoid(t: float) -> float:
    # Two branches so that neither exp() can overflow for large |t|.
    if t >= 0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)


@dataclass(frozen=True)
class Activation:
    key: str
    title: str
    symbol: str  # LaTeX name of the function, e.g. r"\sigma"
    definition_tex: str  # right-hand side of "f(t) = ..." in LaTeX
    derivative_tex: str  # right-hand side of "f'(t) = ..." in LaTeX
    explicit: Callable[[sp.Expr, float], sp.Expr]  # f(t) in SymPy, for the oracle
    numeric: Callable[[float, float], float]  # f(t) with floats
    numeric_prime: Callable[[float, float], float]  # f'(t) with floats
    # Textbook derivative written with the unit's own quantities: ``f`` is the applied
    # function class (so σ'(t) can be written σ(t)(1 − σ(t))), ``t`` the pre-activation,
    # ``a`` the activation.  ``by_input`` is what the key shows, ``by_output`` what a
    # student computes from the value already on the page (h1(1 − h1)).
    by_input: Callable[[type, sp.Expr, sp.Expr], sp.Expr]
    by_output: Callable[[type, sp.Expr, sp.Expr], sp.Expr]
    elementwise: bool = True
    written_out: bool = True  # the key writes f(number) out (1/(1 + e^{-2.2})); not for cases
    kinked: bool = False  # no derivative at t = 0 (a pre-activation there makes a poor exercise)
    has_slope: bool = False
    saturates: bool = False  # whether the derivative vanishes for large |t|
    # ``numeric`` of a function that has no slope, taking t alone: the evaluator calls it
    # directly, a call fewer for every unit of every training step of every draw.
    plain: Callable[[float], float] | None = None
    # ``plain`` written out as Python code of the variable ``{t}``, the same operations in the
    # same order (so the same value to the bit; ``exp`` is math.exp there), whose value is
    # a float whatever ``t`` is: compiled code evaluates it in place, without a call per
    # unit and step.
    inline: str | None = None


# The float versions keep NaN as NaN (a comparison with NaN is false both ways), so that
# the evaluator's check finds it: a ReLU must not turn a NaN into 0.

def _relu(t: float) -> float:
    return 0.0 if t <= 0 else t


def _relu_prime(t: float, slope: float) -> float:
    if t > 0:
        return 1.0
    return slope if t <= 0 else math.nan


ACTIVATIONS: dict[str, Activation] = {
    a.key: a
    for a in (
        Activation(
            key="identity",
            title="identity",
            symbol=r"\mathrm{id}",
            definition_tex="t",
            derivative_tex="1",
            explicit=lambda t, s: t,
            numeric=lambda t, s: t,
            numeric_prime=lambda t, s: 1.0,
            by_input=lambda f, t, a: sp.Integer(1),
            by_output=lambda f, t, a: sp.Integer(1),
        ),
        Activation(
            key="sigmoid",
            title="logistic sigmoid",
            symbol=r"\sigma",
            definition_tex=r"\frac{1}{1 + e^{-t}}",
            derivative_tex=r"\sigma(t)\,\bigl(1 - \sigma(t)\bigr)",
            # as written, not evaluated: SymPy's first evaluated sum imports its tensor and
            # combinatorics packages, a tenth of `derive solve`
            explicit=lambda t, s: sp.Pow(sp.Add(1, sp.exp(-t), evaluate=False), -1, evaluate=False),
            numeric=lambda t, s: _sigmoid(t),
            plain=_sigmoid,
            inline="1.0 / (1.0 + exp(-{t})) if {t} >= 0 else (e_ := exp({t})) / (1.0 + e_)",
            numeric_prime=lambda t, s: _sigmoid(t) * (1.0 - _sigmoid(t)),
            by_input=lambda f, t, a: sp.Mul(f(t), sp.Add(1, -f(t), evaluate=False), evaluate=False),
            by_output=lambda f, t, a: sp.Mul(a, sp.Add(1, -a, evaluate=False), evaluate=False),
            saturates=True,
        ),
        Activation(
            key="tanh",
            title="hyperbolic tangent",
            symbol=r"\tanh",
            definition_tex=r"\frac{e^{t} - e^{-t}}{e^{t} + e^{-t}}",
            derivative_tex=r"1 - \tanh^2(t)",
            explicit=lambda t, s: sp.Mul(sp.Add(sp.exp(t), -sp.exp(-t), evaluate=False),
                                         sp.Pow(sp.Add(sp.exp(t), sp.exp(-t), evaluate=False), -1, evaluate=False),
                                         evaluate=False),
            numeric=lambda t, s: math.tanh(t),
            plain=math.tanh,
            numeric_prime=lambda t, s: 1.0 - math.tanh(t) ** 2,
            by_input=lambda f, t, a: sp.Add(1, -sp.Pow(f(t), 2, evaluate=False), evaluate=False),
            by_output=lambda f, t, a: sp.Add(1, -sp.Pow(a, 2, evaluate=False), evaluate=False),
            written_out=False,  # tanh(0.5) is how one writes it; its exponentials add nothing
            saturates=True,
        ),
        Activation(
            key="relu",
            title="rectified linear unit",
            symbol=r"\mathrm{ReLU}",
            definition_tex=r"\max(0, t)",
            derivative_tex=r"\begin{cases} 1 & t > 0 \\ 0 & t \le 0 \end{cases}",
            explicit=lambda t, s: sp.Piecewise((t, t > 0), (0, True)),
            numeric=lambda t, s: _relu(t),
            plain=_relu,
            numeric_prime=lambda t, s: _relu_prime(t, 0.0),
            by_input=lambda f, t, a: prime_of(f)(t),
            by_output=lambda f, t, a: prime_of(f)(t),
            written_out=False,
            kinked=True,
        ),
        Activation(
            key="leaky_relu",
            title="leaky rectified linear unit",
            symbol=r"\mathrm{LReLU}",
            definition_tex=r"\begin{cases} t & t > 0 \\ \alpha t & t \le 0 \end{cases}",
            derivative_tex=r"\begin{cases} 1 & t > 0 \\ \alpha & t \le 0 \end{cases}",
            explicit=lambda t, s: sp.Piecewise((t, t > 0), (sp.Float(s) * t, True)),
            numeric=lambda t, s: t if t > 0 else s * t,  # NaN * s is NaN
            numeric_prime=_relu_prime,
            by_input=lambda f, t, a: prime_of(f)(t),
            by_output=lambda f, t, a: prime_of(f)(t),
            written_out=False,
            kinked=True,
            has_slope=True,
        ),
        Activation(
            key="softmax",
            title="softmax",
            symbol=r"\mathrm{softmax}",
            definition_tex=r"\frac{e^{t_k}}{\sum_j e^{t_j}}",
            # [k = j]: 1 if k = j, else 0 (an Iverson bracket: δ names the error terms)
            derivative_tex=r"s_k\,([k = j] - s_j) \text{ with } s = \mathrm{softmax}(t)",
            explicit=lambda t, s: t,  # vector function: composed in derivation
            numeric=lambda t, s: t,
            numeric_prime=lambda t, s: 1.0,
            by_input=lambda f, t, a: sp.Integer(1),
            by_output=lambda f, t, a: sp.Integer(1),
            elementwise=False,
        ),
    )
}


def argument(printer, arg: sp.Expr) -> str:
    """A function's argument: a number put in there needs no parentheses of its own."""
    bare = getattr(printer, "bare", None)
    return bare(arg) if bare else printer._print(arg)


@cache
def function_class(key: str, symbol: str, slope: float = 0.0) -> type:
    """The SymPy function that stands for this activation in formulas.

    It prints as ``symbol(arg)`` in LaTeX, compiles to the float version in Python code,
    and rewrites to the explicit form (``expr.rewrite("explicit")``) for the oracle.
    """
    act = ACTIVATIONS[key]
    tag = hashlib.sha1(f"{symbol}|{slope!r}".encode()).hexdigest()[:8]
    name = f"act_{key}_{tag}"  # one class per (function, symbol, slope); stable across runs

    def _latex(self, printer, exp=None):
        name_tex = symbol_tex(symbol)
        if exp is not None and name_tex in (r"\tanh", r"\sinh", r"\cosh"):  # tanh²(t), as the definitions write it
            return rf"{name_tex}^{{{exp}}}({argument(printer, self.args[0])})"
        body = rf"{name_tex}({argument(printer, self.args[0])})"
        return body if exp is None else rf"{body}^{{{exp}}}"

    def _pythoncode(self, printer):
        return f"{name}({printer._print(self.args[0])})"

    cls = type(
        name,
        (sp.Function,),
        {
            "nargs": 1,
            "_latex": _latex,
            "_pythoncode": _pythoncode,
            "_eval_rewrite_as_explicit": lambda self, t, **kw: act.explicit(t, slope),
            "_imp_": staticmethod(lambda t: act.numeric(float(t), slope)),
            "numeric": staticmethod(act.plain or (lambda t: act.numeric(t, slope))),
            "inline": act.inline if act.plain else None,
            "activation": act,
            "symbol": symbol,
            "slope": slope,
        },
    )
    return cls


@cache
def prime_of(f: type) -> type:
    """The derivative f' as a function of its own, for activations whose derivative is
    a case distinction (ReLU) rather than an expression in f."""
    act: Activation = f.activation
    slope = f.slope
    name = f"{f.__name__}_prime"

    def _latex(self, printer, exp=None):
        body = rf"{symbol_tex(f.symbol)}'({argument(printer, self.args[0])})"
        return body if exp is None else rf"{body}^{{{exp}}}"

    def _pythoncode(self, printer):
        return f"{name}({printer._print(self.args[0])})"

    def explicit(self, t, **kw):
        return sp.diff(act.explicit(T, slope), T).subs(T, t)

    return type(
        name,
        (sp.Function,),
        {
            "nargs": 1,
            "_latex": _latex,
            "_pythoncode": _pythoncode,
            "_eval_rewrite_as_explicit": explicit,
            "_imp_": staticmethod(lambda t: act.numeric_prime(float(t), slope)),
            "numeric": staticmethod(lambda t: act.numeric_prime(t, slope)),
        },
    )
