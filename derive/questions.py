"""Which questions a sheet asks: ``[questions] include = [...]`` in the spec.

The full sheet asks all of them in this order: what makes a network non-linear, vanishing
gradients, the calculation by hand (forward pass, gradients, update, check), and the
training runs. An instructor who wants only the calculation writes
``include = ["calculation"]``. Without the section, every question whose material the
spec provides is asked (the training runs only when ``[[training.runs]]`` names some).
"""

from __future__ import annotations

from typing import Mapping

from .errors import SpecError
from .spec import Fields, Spec

QUESTIONS = ("nonlinearity", "vanishing", "calculation", "training")


def _has_runs(spec: Spec) -> bool:
    training = spec.raw.get("training")
    return isinstance(training, Mapping) and bool(training.get("runs"))


def included(spec: Spec) -> tuple[str, ...]:
    """The questions the sheet asks, in the sheet's order."""
    table = spec.raw.get("questions")
    if table is None:
        return tuple(q for q in QUESTIONS if q != "training" or _has_runs(spec))
    if not isinstance(table, Mapping):
        raise SpecError(spec.source, "questions", f"expected a table, got {table!r}")
    f = Fields(spec.source, table, "questions.")
    f.only("include")
    names = f.names("include", QUESTIONS)
    for name in names:
        if name not in QUESTIONS:
            raise f.fail("include", f"no question '{name}'; expected some of {', '.join(QUESTIONS)}")
    if "training" in names and not _has_runs(spec):
        raise f.fail("include", "the training question needs at least one [[training.runs]] table")
    return tuple(q for q in QUESTIONS if q in names)


def context(spec: Spec, runs: int) -> dict:
    """The questions in the order the sheet numbers them. The training runs make two
    questions when there are several: the first run, then the others compared with it."""
    parts: list[str] = []
    for q in included(spec):
        parts.append(q)
        if q == "training" and runs > 1:
            parts.append("comparison")
    return {"asked": parts, "number": {q: i for i, q in enumerate(parts, 1)}}
