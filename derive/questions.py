"""Which questions a sheet asks: ``[questions] include = [...]`` in the spec.

The full sheet asks all of them in this order: what makes a network non-linear, vanishing
gradients, the calculation by hand (forward pass, gradients, update, check), and the
training runs. An instructor who wants only the calculation writes
``include = ["calculation"]``. Without the section, every question whose material the
spec provides is asked (the training runs only when ``[[training.runs]]`` names some).
"""

from __future__ import annotations

from .spec import QUESTIONS, Spec  # noqa: F401 (QUESTIONS: the sheet's order, read from here)


def included(spec: Spec) -> tuple[str, ...]:
    """The questions the sheet asks, in the sheet's order (read and checked with the spec)."""
    return spec.questions


def context(spec: Spec, runs: int) -> dict:
    """The questions in the order the sheet numbers them. The training runs make two
    questions when there are several: the first run, then the others compared with it."""
    parts: list[str] = []
    for q in included(spec):
        parts.append(q)
        if q == "training" and runs > 1:
            parts.append("comparison")
    return {"asked": parts, "number": {q: i for i, q in enumerate(parts, 1)}}
