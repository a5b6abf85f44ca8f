"""Numbers: the quantity graph compiled once into plain Python, evaluated with floats.

SymPy never sees a number here. Each formula is printed as Python code once per network
structure; a variant, a training step or a checker's recomputation is then one call of
an ordinary function (microseconds for the reference network).
"""

from __future__ import annotations

import math
from typing import Mapping

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from .derivation import Derivation
from .rounding import NumberPolicy


class _Code(PythonCodePrinter):
    def __init__(self, slots: Mapping[sp.Symbol, int]):
        super().__init__({"fully_qualified_modules": True})
        self.slots = slots

    def _print_Symbol(self, expr):
        return f"v{self.slots[expr]}"


class Evaluator:
    """``evaluate(givens)`` returns every quantity's value, in the derivation's order.

    ``recompute(fixed)`` is the checker's view: quantities listed in ``fixed`` take the
    value given there, every other one is computed from its inputs as they stand, and the
    result also holds what each fixed quantity *would* be, computed from its inputs.

    With ``carry_decimals`` every computed value is rounded before it is used further, as
    in a calculation by hand that writes each intermediate result down rounded.
    """

    def __init__(self, derivation: Derivation, carry_decimals: int | None = None):
        self.derivation = derivation
        self.carry_decimals = carry_decimals
        qs = derivation.quantities
        printer = _Code(derivation.by_symbol)
        namespace: dict = {"math": math}
        for q in qs:
            if q.formula is not None:
                for f in q.formula.atoms(sp.Function):
                    cls = type(f)
                    if hasattr(cls, "numeric"):
                        namespace[cls.__name__] = cls.numeric
        code = {i: printer.doprint(q.formula) for i, q in enumerate(qs) if q.formula is not None}
        if carry_decimals is not None:
            policy = NumberPolicy(carry_decimals)
            namespace["carry"] = policy.round
            code = {i: f"carry({c})" for i, c in code.items()}
        given_slots = [i for i, q in enumerate(qs) if q.formula is None]
        self.given_names = tuple(qs[i].name for i in given_slots)
        n = len(qs)

        fast = ["def run(g):"]
        fast += [f"    v{i} = g[{k}]" for k, i in enumerate(given_slots)]
        fast += [f"    v{i} = {c}" for i, c in code.items()]
        fast.append(f"    return [{', '.join(f'v{i}' for i in range(n))}]")

        fixed = ["def run_fixed(g, fixed):"]
        fixed += [f"    c{i} = v{i} = fixed.get({i}, g[{k}])" for k, i in enumerate(given_slots)]
        for i, c in code.items():
            fixed.append(f"    c{i} = {c}")
            fixed.append(f"    v{i} = fixed.get({i}, c{i})")
        fixed.append(f"    return [{', '.join(f'v{i}' for i in range(n))}], "
                     f"[{', '.join(f'c{i}' for i in range(n))}]")
        exec(compile("\n".join(fast), "<derive:evaluate>", "exec"), namespace)
        exec(compile("\n".join(fixed), "<derive:recompute>", "exec"), namespace)
        self._run = namespace["run"]
        self._run_fixed = namespace["run_fixed"]

    def evaluate(self, givens: Mapping[str, float]) -> list[float]:
        return self._run([givens[name] for name in self.given_names])

    def recompute(self, givens: Mapping[str, float], fixed: Mapping[str, float]) -> tuple[list[float], list[float]]:
        index = self.derivation.index
        return self._run_fixed([givens[name] for name in self.given_names],
                               {index[name]: value for name, value in fixed.items()})
