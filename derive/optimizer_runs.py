"""Training runs with an optimizer: the state and the step number carried from step to step.

The run evaluates the one-step graph of the optimizer (``OptimizerDerivation.running``)
once per step, as ``training.Trainer`` does for gradient descent; after each step the new
state (``m_w1[1]``, …) becomes the next step's given state (``m_w1[0]``) and ``t`` counts
up, so Adam's bias correction and every momentum see the whole history.
"""

from __future__ import annotations

from typing import Mapping

from .training import Run, RunSpec, Trainer


class OptimizerTrainer(Trainer):
    def __init__(self, derivation):
        one = derivation.running
        super().__init__(derivation.running_evaluator)
        self.carried = tuple(
            (one.index[q.name], q.name[:-len("[1]")] + "[0]")
            for q in one.quantities if q.name.endswith("[1]") and f"{q.name[:-3]}[0]" in one.index
        )

    def run(self, givens: Mapping[str, float], run: RunSpec) -> Run:
        return super().run(dict(givens, t=1), run)

    def verdict(self, givens: Mapping[str, float], run: RunSpec) -> str:
        return self.run(givens, run).verdict  # the state goes from step to step: the whole run

    def carry(self, g: dict, values: list[float]) -> None:
        for slot, name in self.carried:
            g[name] = values[slot]
        g["t"] += 1
