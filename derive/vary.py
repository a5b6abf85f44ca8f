"""The ``[vary]`` section of a spec: which given values a variant draws, and from what.

Read with the rest of the spec when it is loaded (so a bad range fails every command,
not only ``derive variants``), and resolved against the network's given values: a group
(``weights``, ``inputs``, ``targets``, ``learning_rate``) stands for its members, and a
name listed on its own overrides its group. ``variants`` draws from the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from typing import Any, Mapping

from . import optimizers
from .errors import SpecError, did_you_mean, shown
from .losses import LOSSES

GROUPS = ("weights", "inputs", "targets", "learning_rate")
MAX_GRID = 100_000  # points per range: nobody computes 10^-6 steps by hand
DEFAULT_TRIES = 1000
MAX_TRIES = 1_000_000
DEFAULT_BOUND = 4.0  # σ'(4) ≈ 0.018: beyond this a sigmoid unit has all but stopped learning


@dataclass(frozen=True)
class Constraints:
    max_preactivation: float | None = DEFAULT_BOUND
    nonzero_gradients: bool = True
    loss_decreases: bool = True
    relu_nonzero: bool = True
    distinct: bool = True
    # Every training run ends as in the original exercise; [vary] turns it on by default
    # when the sheet compares runs (see ``compares_runs``).
    same_verdicts: bool = False


@dataclass(frozen=True)
class VarySpec:
    """Each varied given value (``w1``, ``x1[2]``, ``eta``) with its grid, in the order of
    the derivation's given values."""

    ranges: tuple[tuple[str, tuple[float, ...]], ...]
    constraints: Constraints
    tries: int


def given_names(spec, network) -> tuple[list[str], set[str], dict[str, list[str]]]:
    """The given values a variant may draw (as the derivation names them), the bias units
    (whose values are fixed), and the members of each group."""
    many = len(spec.examples) > 1
    examples = [f"[{e}]" if many else "" for e in range(1, len(spec.examples) + 1)]
    inputs = [x + s for s in examples for x in network.inputs]
    targets = [y + s for s in examples for y in network.targets]
    params = [p.name for p in network.params]
    givens = [g for s in examples for g in (*(x + s for x in network.inputs), *(y + s for y in network.targets))]
    givens += params + ["eta"] + optimizers.vary_names(spec.optimizer)  # mu, beta1, …, lambda
    groups = {"weights": params, "inputs": inputs, "targets": targets, "learning_rate": ["eta"]}
    return givens, set(network.bias_units), groups


def parse(spec, network, raw: Any) -> VarySpec:
    """``[vary]`` as written, checked against the network's given values."""
    source = spec.source
    if not isinstance(raw, Mapping):
        raise SpecError(source, "vary", f"expected a table, got {shown(raw)}")
    givens, bias_units, groups = given_names(spec, network)
    known = set(givens)
    chosen: dict[str, tuple[float, ...]] = {}
    singles: dict[str, tuple[float, ...]] = {}
    tries, constraints = DEFAULT_TRIES, Constraints(same_verdicts=compares_runs(spec))
    for key, value in raw.items():
        if key == "tries":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TRIES:
                raise SpecError(source, "vary.tries", f"expected a whole number from 1 to {MAX_TRIES:,}, got {shown(value)}")
            tries = value
        elif key == "constraints":
            constraints = _constraints(source, value, constraints)
        elif key in groups:
            grid = _grid(source, f"vary.{key}", value)
            for name in groups[key]:
                chosen[name] = grid
        elif key in known:
            singles[key] = _grid(source, f"vary.{key}", value)
        else:
            hint = did_you_mean(key, list(GROUPS) + givens)
            what = "a bias unit's value is fixed" if key in bias_units else "not a given value of this exercise"
            listed = ", ".join(givens[:12]) + (", …" if len(givens) > 12 else "")
            raise SpecError(source, f"vary.{key}", f"{what}{hint}; expected one of "
                            f"{', '.join(GROUPS)}, tries, constraints or a given value ({listed})")
    chosen.update(singles)
    if not chosen:
        raise SpecError(source, "vary", "names no value to vary; expected e.g. weights = { from = -1, to = 1, step = 0.1 }")
    unit_targets = LOSSES[spec.loss.kind].targets_in_unit_interval
    for name, grid in chosen.items():
        field = f"vary.{name if name in singles else _group_of(name, groups)}"
        if name == "eta" and min(grid) <= 0:
            raise SpecError(source, field, f"expected a positive learning rate, the grid reaches {min(grid):g}")
        if unit_targets and name in groups["targets"] and not (0 <= min(grid) and max(grid) <= 1):
            raise SpecError(source, field, f"expected targets in [0, 1] for {LOSSES[spec.loss.kind].title}")
        problem = optimizers.vary_problem(spec.optimizer, name, grid) if spec.optimizer is not None else None
        if problem:
            raise SpecError(source, field, problem)
    ranges = tuple((name, chosen[name]) for name in givens if name in chosen)
    return VarySpec(ranges, constraints, tries)


def compares_runs(spec) -> bool:
    """Whether the sheet asks to compare training runs (the training question with more
    than one run): then a variant whose runs ended otherwise than the original's (both
    converging, say) would leave nothing to compare."""
    return "training" in spec.questions and len(spec.runs) > 1


def _group_of(name: str, groups: Mapping[str, list[str]]) -> str:
    return next((g for g, members in groups.items() if name in members), name)


def _number(source: str, field: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not math.isfinite(value)) or (
            isinstance(value, int) and abs(value) > 10**300):
        raise SpecError(source, field, f"expected a finite number, got {shown(value)}")
    # Decimal of the shortest repr: 0.1 stays 0.1, so grid points print as the spec wrote them.
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _grid(source: str, field: str, value: Any) -> tuple[float, ...]:
    if isinstance(value, list):
        if not value:
            raise SpecError(source, field, "empty list; expected at least one value")
        if len(value) > MAX_GRID:
            raise SpecError(source, field, f"{len(value):,} values; expected at most {MAX_GRID:,}")
        points = [_number(source, f"{field}[{i}]", v) for i, v in enumerate(value)]
        exclude: set[Decimal] = set()
    elif isinstance(value, Mapping):
        for k in value:
            if k not in ("from", "to", "step", "exclude"):
                raise SpecError(source, f"{field}.{k}", "unknown field; expected from, to, step, exclude")
        for k in ("from", "to", "step"):
            if k not in value:
                raise SpecError(source, f"{field}.{k}", "missing; expected a number")
        lo, hi, step = (_number(source, f"{field}.{k}", value[k]) for k in ("from", "to", "step"))
        if lo > hi:
            raise SpecError(source, field, f"empty range: from ({lo}) is above to ({hi})")
        if step <= 0:
            raise SpecError(source, f"{field}.step", f"expected a positive number, got {step}")
        n = int((hi - lo) / step) + 1
        if n > MAX_GRID:
            raise SpecError(source, f"{field}.step", f"the grid has {n:,} points; expected at most {MAX_GRID:,} (a coarser step)")
        points = [lo + k * step for k in range(n)]
        excl = value.get("exclude", [])
        if not isinstance(excl, list) or len(excl) > MAX_GRID:
            raise SpecError(source, f"{field}.exclude", f"expected a list of numbers, got {shown(excl)}")
        exclude = {_number(source, f"{field}.exclude[{i}]", v) for i, v in enumerate(excl)}
    else:
        raise SpecError(source, field, f"expected a range {{ from, to, step }} or a list of values, got {shown(value)}")
    grid = tuple(sorted({float(p) for p in points if p not in exclude}))
    if not grid:
        raise SpecError(source, field, "no value left after exclude; expected a range with at least one point")
    if not all(math.isfinite(p) for p in grid):
        raise SpecError(source, field, "a value beyond the float range; expected finite numbers")
    return grid


def _constraints(source: str, value: Any, default: Constraints = Constraints()) -> Constraints:
    if not isinstance(value, Mapping):
        raise SpecError(source, "vary.constraints", f"expected a table, got {shown(value)}")
    known = [f.name for f in fields(Constraints)]
    out: dict[str, Any] = {}
    for key, v in value.items():
        field = f"vary.constraints.{key}"
        if key not in known:
            raise SpecError(source, field, f"unknown constraint{did_you_mean(key, known)}; expected one of {', '.join(known)}")
        if key == "max_preactivation":
            if v is False:
                out[key] = None
                continue
            try:
                bound = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan
            except OverflowError:
                bound = math.inf
            if not (math.isfinite(bound) and bound > 0):
                raise SpecError(source, field, f"expected a positive number or false, got {shown(v)}")
            out[key] = bound
        elif not isinstance(v, bool):
            raise SpecError(source, field, f"expected true or false, got {shown(v)}")
        else:
            out[key] = v
    return replace(default, **out)
