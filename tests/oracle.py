"""Independent oracles for gradients.

Both start from the composed loss: the forward formulas substituted into each other down
to the given values, the activations written out explicitly. The derivation's own chain
rule, local partials and δ terms are not used.

- ``sympy_gradient``: ``sympy.diff`` of the composed loss, evaluated at 50 digits;
- ``finite_difference``: mpmath's numerical derivative (high-precision central
  differences) of the composed loss as a function of one parameter.
"""

from __future__ import annotations

import mpmath
import sympy as sp

from derive.derivation import FORWARD, LOSS, Derivation

mpmath.mp.dps = 50


def composed_loss(der: Derivation, name: str = "L") -> sp.Expr:
    subs: dict = {}
    for q in der.quantities:
        if q.stage in (FORWARD, LOSS) and q.formula is not None:
            subs[q.symbol] = q.formula.xreplace(subs)
    return subs[der[name].symbol].rewrite("explicit")


def _exact(givens: dict[str, float]) -> dict:
    return {sp.Symbol(k): sp.Float(v, 60) for k, v in givens.items()}


def sympy_gradient(loss: sp.Expr, param: str, givens: dict[str, float]) -> float:
    d = sp.diff(loss, sp.Symbol(param))
    return float(d.xreplace(_exact(givens)).evalf(50))


def finite_difference(loss: sp.Expr, param: str, givens: dict[str, float]) -> float:
    p = sp.Symbol(param)
    others = {k: v for k, v in _exact(givens).items() if k != p}
    f = sp.lambdify(p, loss.xreplace(others), modules="mpmath")
    return float(mpmath.diff(f, mpmath.mpf(givens[param])))


def loss_value(loss: sp.Expr, givens: dict[str, float]) -> float:
    return float(loss.xreplace(_exact(givens)).evalf(50))


class Objective:
    """An expression of the parameters as plain functions: its value (``loss``) and its
    gradient from ``sympy.diff`` (``grad``), both of a dict of parameter values."""

    def __init__(self, expr: sp.Expr, params):
        self.params = list(params)
        syms = [sp.Symbol(p) for p in self.params]
        self._value = sp.lambdify(syms, expr, "math")
        self._grad = sp.lambdify(syms, [sp.diff(expr, s) for s in syms], "math")

    def loss(self, w: dict) -> float:
        return self._value(*(w[p] for p in self.params))

    def grad(self, w: dict) -> dict:
        return dict(zip(self.params, self._grad(*(w[p] for p in self.params))))
