"""Variants of a computational-graph exercise: the inputs are drawn, the rest follows.

``[vary]`` names the group ``inputs`` or single inputs, with the same grids as a network's
(``{ from, to, step, exclude }`` or a list). Of ``[vary.constraints]`` two apply to graphs:

- ``nonzero_gradients``: no gradient that rounds to zero at the display precision without
  being zero (a max gate's unused input, exactly 0, is a lesson, 0.00004 is a trap);
- ``relu_nonzero``: no tie at a max or min gate and no ReLU or |·| argument at its kink, at
  the display precision (the gradient would have no single route).

``distinct`` and ``tries`` work as for networks; the network-only constraints are ignored.
"""

from __future__ import annotations

import math
from typing import Sequence

import sympy as sp

from . import variants as V
from .derivation import GRADIENT
from .formula import compiled, g_abs, g_max, g_relu


class GraphSampler(V.Sampler):
    """The network's Sampler with the graph's constraints (see the module text)."""

    def __init__(self, exercise, vary: V.Vary | None = None):
        self.exercise = exercise
        self.vary = vary or V.parse(exercise)
        der = exercise.derivation
        c = self.vary.constraints
        self.base = exercise.givens()
        self.policy = exercise.policy
        self.given_slots = [(q.name, i) for i, q in enumerate(der.quantities) if q.formula is None]
        self.gradients = [i for i, q in enumerate(der.quantities) if c.nonzero_gradients and q.stage == GRADIENT]
        symbols = [q.symbol for q in der.quantities]
        # each kink: the differences that must not round to 0 (max(a, b): a − b; relu(t): t)
        self.kinks = []
        for q in der.stage("forward") if c.relu_nonzero else ():
            for part in sp.preorder_traversal(q.formula):
                if isinstance(part, (g_relu, g_abs)):
                    self.kinks.append(compiled(part.args[0], symbols))
                elif isinstance(part, g_max):
                    for k, a in enumerate(part.args):
                        for b in part.args[k + 1:]:
                            self.kinks.append(compiled(sp.Add(a, -b), symbols))

    def failures(self, values: Sequence[float]) -> list[str]:
        if not all(map(math.isfinite, values)):
            return ["finite"]
        out = []
        rnd = self.policy.round
        if any(values[i] != 0 and rnd(values[i]) == 0 for i in self.gradients):
            out.append("zero_gradient")
        if any(rnd(kink(*values)) == 0 for kink in self.kinks):
            out.append("tie")
        return out
