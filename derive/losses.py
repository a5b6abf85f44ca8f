"""Loss functions: one registry entry each.

A loss is written per output unit, ``term(ŷ, y)``, and then reduced over the outputs and
over the examples by the convention the spec names (sum or mean); those reductions live in
the derivation, not here. ``gradient`` is the textbook ∂term/∂ŷ the key writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp


def _half(half: bool, expr: sp.Expr) -> sp.Expr:
    return sp.Mul(sp.Rational(1, 2), expr, evaluate=False) if half else expr


def _diff(yhat: sp.Expr, y: sp.Expr) -> sp.Expr:
    return sp.Add(yhat, sp.Mul(-1, y, evaluate=False), evaluate=False)


@dataclass(frozen=True)
class Loss:
    key: str
    title: str
    term: Callable[[sp.Expr, sp.Expr, bool], sp.Expr]
    gradient: Callable[[sp.Expr, sp.Expr, bool], sp.Expr]
    # Output activations with which dL/dŷ_in collapses to ŷ − y (the key says so).
    cancels_with: frozenset[str] = frozenset()
    targets_in_unit_interval: bool = False
    uses_half: bool = False
    # Output activations whose values the loss can take (a logarithm needs 0 < ŷ < 1).
    outputs: frozenset[str] | None = None  # None: any


LOSSES: dict[str, Loss] = {
    loss.key: loss
    for loss in (
        Loss(
            key="squared_error",
            title="squared error",
            term=lambda yhat, y, half: _half(half, sp.Pow(_diff(yhat, y), 2, evaluate=False)),
            gradient=lambda yhat, y, half: (
                _diff(yhat, y) if half else sp.Mul(2, _diff(yhat, y), evaluate=False)
            ),
            uses_half=True,
        ),
        Loss(
            key="binary_cross_entropy",
            title="binary cross-entropy",
            term=lambda yhat, y, half: sp.Mul(
                -1,
                sp.Add(
                    sp.Mul(y, sp.log(yhat), evaluate=False),
                    sp.Mul(sp.Add(1, -y, evaluate=False), sp.log(sp.Add(1, -yhat, evaluate=False)), evaluate=False),
                    evaluate=False,
                ),
                evaluate=False,
            ),
            gradient=lambda yhat, y, half: sp.Mul(
                _diff(yhat, y),
                sp.Pow(sp.Mul(yhat, sp.Add(1, -yhat, evaluate=False), evaluate=False), -1, evaluate=False),
                evaluate=False,
            ),
            cancels_with=frozenset({"sigmoid"}),
            targets_in_unit_interval=True,
            outputs=frozenset({"sigmoid"}),
        ),
        Loss(
            key="cross_entropy",
            title="categorical cross-entropy",
            term=lambda yhat, y, half: sp.Mul(-1, y, sp.log(yhat), evaluate=False),
            gradient=lambda yhat, y, half: sp.Mul(
                -1, y, sp.Pow(yhat, -1, evaluate=False), evaluate=False
            ),
            cancels_with=frozenset({"softmax"}),
            targets_in_unit_interval=True,
            outputs=frozenset({"softmax", "sigmoid"}),
        ),
    )
}

# Names instructors use for the same thing; each maps to (key, settings it implies).
ALIASES: dict[str, tuple[str, dict]] = {
    "mse": ("squared_error", {"half": False, "outputs": "mean"}),
    "mean_squared_error": ("squared_error", {"half": False, "outputs": "mean"}),
    "bce": ("binary_cross_entropy", {}),
    "categorical_cross_entropy": ("cross_entropy", {}),
    "cce": ("cross_entropy", {}),
}
