"""The one LaTeX printer, and how quantity names are written in the key.

Names follow the reference sheet (``h1_in`` is h_{1,in}, ``yhat`` is ŷ, ``dL/dw1`` is
∂L/∂w_1, ``w1*`` is w_1^*, ``h1'`` is h_1'); everything that turns a SymPy expression into
LaTeX goes through ``Printer`` so the whole key uses one notation.

For speed, an expression "with the numbers put in" is printed once per network structure
with a marker in place of every symbol, and each variant only fills the markers with its
numbers (``fill``): no SymPy printing happens per variant.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Callable, Mapping

import sympy as sp
from sympy.printing.latex import LatexPrinter

GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega",
}
MARK = "\x00"


@cache
def latex_name(name: str) -> str:
    """LaTeX for a quantity name (see the module docstring)."""
    m = re.fullmatch(r"d([^/]+)/d(.+)\[(\d+)\]", name)
    if m:  # a partial for example n: the example's mark goes on each per-example quantity
        top, bottom, e = m.groups()
        bottom = bottom if top == "L" else f"{bottom}[{e}]"  # L⁽ⁿ⁾ alone says which example
        return partial(f"{top}[{e}]", bottom)
    m = re.fullmatch(r"(.*)\[(\d+)\]", name)
    if m:  # per-example quantity: h1[2] is h_1^{(2)}; w1*[2] (online) is w_1^{*(2)}
        base, e = m.groups()
        if base.endswith("*"):
            return rf"{latex_name(base[:-1])}^{{*({e})}}"
        return rf"{latex_name(base)}^{{({e})}}"
    m = re.fullmatch(r"d([^/]+)/d(.+)", name)
    if m:
        return partial(m.group(1), m.group(2))
    if name.endswith("'"):
        return latex_name(name[:-1]) + "'"
    if name.endswith("*"):
        return latex_name(name[:-1]) + "^*"
    if name.startswith("delta_"):
        return rf"\delta_{{{latex_name(name[6:])}}}"
    if name.endswith("_in"):
        head, sub = _split(name[:-3])
        return f"{head}_{{{sub + ',' if sub else ''}\\mathrm{{in}}}}"
    head, sub = _split(name)
    return f"{head}_{{{sub}}}" if sub else head


def _split(name: str) -> tuple[str, str]:
    """Head and subscript of a plain name: h1 -> (h, 1), yhat2 -> (\\hat{y}, 2)."""
    if name == "L":
        return r"\mathcal{L}", ""
    if name.isdigit():  # units named by number, as in some textbooks: o_4
        return "o", name
    if "_" in name:  # h1_2 is h_{1,2}; b_h1 is b_{h_1}
        head, rest = name.split("_", 1)
        letters, digits = _split(head) if head else (head, "")
        inner = rest if rest.isdigit() else latex_name(rest)
        return letters, f"{digits},{inner}" if digits else inner
    m = re.fullmatch(r"([A-Za-z]+?)(\d*)", name)
    if not m:
        return rf"\mathrm{{{name}}}", ""
    letters, digits = m.groups()
    if letters == "yhat":
        head = r"\hat{y}"
    elif letters in GREEK:
        head = "\\" + letters
    elif len(letters) == 1:
        head = letters
    else:
        head = rf"\mathit{{{letters}}}"
    return head, digits


def partial(top: str, bottom: str) -> str:
    """∂top/∂bottom for two quantity names."""
    return rf"\frac{{\partial {latex_name(top)}}}{{\partial {latex_name(bottom)}}}"


class Printer(LatexPrinter):
    """SymPy's LaTeX printer with the sheet's names, sums and products in the order they
    were built, and ½ written in front of its factor."""

    def __init__(self, markers: Mapping[sp.Symbol, int] | None = None):
        super().__init__({"order": "none", "mul_symbol": "dot" if markers is not None else None})
        self.markers = markers

    def _print_Symbol(self, expr, style="plain"):
        if self.markers is not None and expr in self.markers:
            return f"{MARK}{self.markers[expr]}{MARK}"
        return latex_name(expr.name)

    def bare(self, expr) -> str:
        """A symbol standing alone (a function's argument): its number goes in without the
        parentheses a negative number gets inside a product."""
        if self.markers is not None and expr in self.markers:
            return f"{MARK}={self.markers[expr]}{MARK}"
        return self._print(expr)

    def _print_Mul(self, expr):
        first = expr.args[0]
        if isinstance(first, sp.Rational) and not first.is_Integer and len(expr.args) > 1:
            rest = sp.Mul(*expr.args[1:], evaluate=False)
            sep = r" \cdot " if self.markers is not None else " "
            body = self._print(rest)
            if isinstance(rest, sp.Add):
                body = rf"\left({body}\right)"
            return rf"\frac{{{first.p}}}{{{first.q}}}{sep}{body}"
        if self.markers is None and any(a.is_Symbol and latex_name(a.name).startswith(r"\mathit") for a in expr.args):
            # Names of several letters side by side would read as one (num invden): a dot between.
            plain, self._settings["mul_symbol_latex"] = self._settings["mul_symbol_latex"], r" \cdot "
            try:
                return super()._print_Mul(expr)
            finally:
                self._settings["mul_symbol_latex"] = plain
        return super()._print_Mul(expr)


def tex(expr: sp.Expr) -> str:
    """The symbolic form of an expression, in the key's notation."""
    return Printer().doprint(expr)


def numeric_template(expr: sp.Expr, index: Mapping[sp.Symbol, int]) -> str:
    """The expression printed with a marker for every symbol, to be filled per variant."""
    return Printer(index).doprint(expr)


_MARKER = re.compile(f"{MARK}(=?)(\\d+){MARK}")


def fill(template: str, shown: Callable[[int, bool], str]) -> str:
    """Put numbers into a template from ``numeric_template``; ``shown(i, bare)`` is the
    number for symbol ``i`` as the key writes it (``bare``: standing alone, no parentheses)."""
    return _MARKER.sub(lambda m: shown(int(m.group(2)), m.group(1) == "="), template)
