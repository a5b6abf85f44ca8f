"""Randomized variants: which given values vary, how they are drawn, and what makes a draw
a good exercise.

The ``[vary]`` section of a spec names given values (or the groups ``weights``,
``inputs``, ``targets``, ``learning_rate``) and the grid each one is drawn from; a name
listed on its own overrides its group::

    [vary]
    weights = { from = -1.5, to = 1.5, step = 0.1 }
    w9 = { from = -0.5, to = 0.5, step = 0.1, exclude = [0] }
    x1 = [0.5, 1, 2]          # a list: drawn from exactly these values
    tries = 1000              # draws per variant before giving up

    [vary.constraints]
    max_preactivation = 4     # |pre-activation| of sigmoid/tanh units stays below this
    nonzero_gradients = true  # no gradient that rounds to zero at the display precision
    loss_decreases = true     # the loss goes down (visibly) after one step
    relu_nonzero = true       # no ReLU pre-activation that rounds to 0 (the kink)
    distinct = true           # no two variants with the same numbers

A variant is a pure function of (spec, seed): ``random.Random(seed)`` draws, never the
global generator, and a draw that breaks a constraint is redrawn from the same generator.
The seed of variant ``i`` (or of a student) is derived from the base seed with SHA-256, so
it never depends on the Python version, the process or the other variants.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Iterable, Mapping, Sequence

from . import derivation as D, render, training
from .activations import ACTIVATIONS
from .errors import DeriveError, SpecError, did_you_mean
from .losses import LOSSES
from .solution import Exercise

GROUPS = ("weights", "inputs", "targets", "learning_rate")
MAX_GRID = 100_000  # points per range: nobody computes 10^-6 steps by hand
DEFAULT_TRIES = 1000
DEFAULT_BOUND = 4.0  # σ'(4) ≈ 0.018: beyond this a sigmoid unit has all but stopped learning

# Constraint key -> what it means, in the words of the error messages and the stress report.
CONSTRAINTS: dict[str, str] = {
    "saturation": "no saturated unit (|pre-activation| below max_preactivation)",
    "zero_gradient": "no gradient that rounds to zero at the display precision",
    "loss": "the loss goes down after one step (visibly, at the display precision)",
    "relu_kink": "no ReLU pre-activation at 0",
    "tie": "no tie at a max or min gate and no ReLU or |·| argument at 0",  # computational graphs
    "targets_sum": "softmax targets that sum to 1 (for cross-entropy)",
    "verdicts": "the training runs end as in the original exercise (converging, oscillating, diverging)",
    "finite": "every value finite",
    "distinct": "all variants distinct",
}


@dataclass(frozen=True)
class Range:
    name: str  # a given value of the derivation: "w1", "x1", "x1[2]", "y", "eta"
    grid: tuple[float, ...]


@dataclass(frozen=True)
class Constraints:
    max_preactivation: float | None = DEFAULT_BOUND
    nonzero_gradients: bool = True
    loss_decreases: bool = True
    relu_nonzero: bool = True
    distinct: bool = True
    same_verdicts: bool = False  # every training run ends as in the original exercise


@dataclass(frozen=True)
class Vary:
    ranges: tuple[Range, ...]
    constraints: Constraints
    tries: int

    @property
    def combinations(self) -> int:
        return math.prod(len(r.grid) for r in self.ranges)


@dataclass(frozen=True)
class Variant:
    id: str
    seed: int
    overrides: Mapping[str, float]  # the drawn values, by given name
    tries: int  # draws it took (redraws for constraints and duplicates included)


class ConstraintError(DeriveError):
    """No draw met the constraints within the allowed number of tries."""

    def __init__(self, message: str, failures: Mapping[str, int]):
        super().__init__(message)
        self.failures = failures


def child_seed(base: int, key: str) -> int:
    """A 32-bit seed from the base seed and a key (a variant number or a student id)."""
    digest = hashlib.sha256(f"derive/{base}/{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big")


# --- the [vary] section ------------------------------------------------------------------

def parse(exercise: Exercise) -> Vary:
    """The ``[vary]`` section of the exercise's spec, checked against its given values."""
    if exercise.network is None:  # hook: a computational graph varies its inputs (derive/graph_variants.py)
        from .graph_variants import parse as parse_graph
        return parse_graph(exercise)
    spec = exercise.spec
    source = spec.source
    raw = spec.raw.get("vary")
    if raw is None:
        raise SpecError(source, "vary", "missing; expected a [vary] section naming the values to draw "
                        "(e.g. weights = { from = -1, to = 1, step = 0.1 })")
    if not isinstance(raw, Mapping):
        raise SpecError(source, "vary", f"expected a table, got {raw!r}")
    der = exercise.derivation
    net = exercise.network
    bias_units = set(net.bias_units)
    givens = [q.name for q in der.givens if q.name not in bias_units]
    params = [p.name for p in net.params]

    def base_name(name: str) -> str:
        return name.split("[", 1)[0]

    groups = {
        "weights": params,
        "inputs": [g for g in givens if base_name(g) in net.inputs],
        "targets": [g for g in givens if base_name(g) in net.targets],
        "learning_rate": ["eta"],
    }
    chosen: dict[str, tuple[float, ...]] = {}
    singles: dict[str, tuple[float, ...]] = {}
    tries, constraints = DEFAULT_TRIES, Constraints()
    for key, value in raw.items():
        if key == "tries":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SpecError(source, "vary.tries", f"expected a whole number of at least 1, got {value!r}")
            tries = value
        elif key == "constraints":
            constraints = _constraints(source, value)
        elif key in groups:
            grid = _grid(source, f"vary.{key}", value)
            for name in groups[key]:
                chosen[name] = grid
        elif key in givens:
            singles[key] = _grid(source, f"vary.{key}", value)
        else:
            options = list(GROUPS) + givens
            hint = did_you_mean(key, options)
            what = "a bias unit's value is fixed" if key in bias_units else "not a given value of this exercise"
            raise SpecError(source, f"vary.{key}", f"{what}{hint}; expected one of "
                            f"{', '.join(GROUPS)}, tries, constraints or a given value ({', '.join(givens)})")
    chosen.update(singles)
    if not chosen:
        raise SpecError(source, "vary", "names no value to vary; expected e.g. weights = { from = -1, to = 1, step = 0.1 }")
    unit_targets = LOSSES[spec.loss.kind].targets_in_unit_interval
    for name, grid in chosen.items():
        field = f"vary.{name if name in singles else _group_of(name, groups)}"
        if name == "eta" and min(grid) <= 0:
            raise SpecError(source, field, f"expected a positive learning rate, the grid reaches {min(grid):g}")
        if unit_targets and base_name(name) in net.targets and not (0 <= min(grid) and max(grid) <= 1):
            raise SpecError(source, field, f"expected targets in [0, 1] for {LOSSES[spec.loss.kind].title}")
    ranges = tuple(Range(name, chosen[name]) for name in givens if name in chosen)
    return Vary(ranges, constraints, tries)


def _group_of(name: str, groups: Mapping[str, list[str]]) -> str:
    return next((g for g, members in groups.items() if name in members), name)


def _number(source: str, field: str, value) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpecError(source, field, f"expected a number, got {value!r}")
    # Decimal of the shortest repr: 0.1 stays 0.1, so grid points print as the spec wrote them.
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _grid(source: str, field: str, value) -> tuple[float, ...]:
    if isinstance(value, list):
        if not value:
            raise SpecError(source, field, "empty list; expected at least one value")
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
            raise SpecError(source, f"{field}.step", f"the grid has {n} points; expected at most {MAX_GRID} (a coarser step)")
        points = [lo + k * step for k in range(n)]
        excl = value.get("exclude", [])
        if not isinstance(excl, list):
            raise SpecError(source, f"{field}.exclude", f"expected a list of numbers, got {excl!r}")
        exclude = {_number(source, f"{field}.exclude[{i}]", v) for i, v in enumerate(excl)}
    else:
        raise SpecError(source, field, f"expected a range {{ from, to, step }} or a list of values, got {value!r}")
    grid = tuple(sorted({float(p) for p in points if p not in exclude}))
    if not grid:
        raise SpecError(source, field, "no value left after exclude; expected a range with at least one point")
    return grid


def _constraints(source: str, value) -> Constraints:
    if not isinstance(value, Mapping):
        raise SpecError(source, "vary.constraints", f"expected a table, got {value!r}")
    fields = {f: getattr(Constraints(), f) for f in Constraints.__dataclass_fields__}
    out = {}
    for key, v in value.items():
        if key not in fields:
            hint = did_you_mean(key, fields)
            raise SpecError(source, f"vary.constraints.{key}", f"unknown constraint{hint}; expected one of {', '.join(fields)}")
        if key == "max_preactivation":
            if v is False:
                out[key] = None
            elif isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise SpecError(source, f"vary.constraints.{key}", f"expected a positive number or false, got {v!r}")
            else:
                out[key] = float(v)
        elif not isinstance(v, bool):
            raise SpecError(source, f"vary.constraints.{key}", f"expected true or false, got {v!r}")
        else:
            out[key] = v
    return Constraints(**out)


# --- drawing -----------------------------------------------------------------------------

class Sampler:
    """Draws variants of one exercise; the derivation is compiled once and only evaluated."""

    def __new__(cls, exercise: Exercise, vary: Vary | None = None):
        if cls is Sampler and exercise.network is None:  # hook: a computational graph's constraints
            from .graph_variants import GraphSampler
            cls = GraphSampler
        return super().__new__(cls)

    def __init__(self, exercise: Exercise, vary: Vary | None = None):
        self.exercise = exercise
        self.vary = vary or parse(exercise)
        der, net = exercise.derivation, exercise.network
        c = self.vary.constraints
        self.base = exercise.givens()
        idx = der.index

        def pre(q) -> bool:
            return q.stage == D.FORWARD and q.unit is not None and q.name.startswith(q.unit + "_in")

        def act(q) -> str:
            return net.layer_of(q.unit).activation

        self.saturating = [idx[q.name] for q in der.quantities
                           if c.max_preactivation is not None and pre(q) and ACTIVATIONS[act(q)].saturates]
        self.kinked = [idx[q.name] for q in der.quantities if c.relu_nonzero and pre(q) and ACTIVATIONS[act(q)].kinked]
        self.gradients = [i for i, q in enumerate(der.quantities)  # per example in online mode
                          if c.nonzero_gradients and q.stage == D.GRADIENT and q.param not in net.frozen
                          and (der.online or q.example is None)]
        # Softmax with cross-entropy: ∂L/∂ŷ_in = ŷ − y needs targets that sum to 1.
        self.target_sums = [[idx[t + (f"[{e}]" if der.n_examples > 1 else "")] for t in net.targets]
                            for e in range(1, der.n_examples + 1)] if der.cancels and len(net.targets) > 1 else []
        self.loss = (idx["L"], idx["L'"]) if c.loss_decreases else None
        self.policy = exercise.policy
        # Questions 4 and 5 compare runs: a variant keeps the original runs' verdicts.
        self.runs = training.spec_runs(exercise.spec, net) if c.same_verdicts else ()
        self.verdicts = training.verdicts(der, self.base, self.runs) if self.runs else ()
        self.given_slots = [(q.name, i) for i, q in enumerate(der.quantities) if q.formula is None]

    def failures(self, values: Sequence[float]) -> list[str]:
        """The constraints a set of evaluated values breaks (all of them, for the statistics)."""
        if not all(map(math.isfinite, values)):
            return ["finite"]
        out = []
        bound = self.vary.constraints.max_preactivation
        if any(abs(values[i]) >= bound for i in self.saturating):
            out.append("saturation")
        rnd = self.policy.round
        if any(rnd(values[i]) == 0 for i in self.gradients):
            out.append("zero_gradient")
        if self.loss and not rnd(values[self.loss[1]]) < rnd(values[self.loss[0]]):
            out.append("loss")
        if any(rnd(values[i]) == 0 for i in self.kinked):
            out.append("relu_kink")
        if any(abs(sum(values[i] for i in targets) - 1) > 1e-9 for targets in self.target_sums):
            out.append("targets_sum")
        if self.runs and training.verdicts(self.exercise.derivation, {n: values[i] for n, i in self.given_slots},
                                           self.runs) != self.verdicts:
            out.append("verdicts")
        return out

    def evaluate(self, overrides: Mapping[str, float]) -> list[float]:
        givens = dict(self.base)
        givens.update(overrides)
        try:
            return self.exercise.evaluator.evaluate(givens)
        except (ArithmeticError, ValueError):  # log(0), exp overflow: not a usable exercise
            return [math.nan]

    def draw(self, seed: int, failures: dict[str, int] | None = None) -> tuple[dict[str, float], int, list[float]]:
        """One variant's values for ``seed``: (drawn values, tries used, all evaluated values)."""
        rng = random.Random(seed)
        failures = {} if failures is None else failures
        for attempt in range(1, self.vary.tries + 1):
            drawn = {r.name: r.grid[rng.randrange(len(r.grid))] for r in self.vary.ranges}
            values = self.evaluate(drawn)
            broken = self.failures(values)
            if not broken:
                return drawn, attempt, values
            for key in broken:
                failures[key] = failures.get(key, 0) + 1
        raise ConstraintError(self._give_up(seed, failures, self.vary.tries), MappingProxyType(failures))

    def _give_up(self, seed: int, failures: Mapping[str, int], draws: int) -> str:
        worst = max(failures, key=failures.get)
        return (f"{self.exercise.spec.source}: vary: no draw met the constraints in {draws} tries "
                f"(seed {seed}); failing most: {CONSTRAINTS[worst]} ({failures[worst]} of {draws} draws); "
                "widen the ranges or relax [vary.constraints]")

    def draw_many(self, keys: Sequence[tuple[str, str]], base_seed: int,
                  progress: Callable[[int], None] | None = None) -> list[Variant]:
        """One variant per (id, seed key). A draw equal to an earlier variant's is redrawn
        under a new derived seed, so every variant stays a pure function of its own seed."""
        distinct = self.vary.constraints.distinct
        if distinct and len(keys) > self.vary.combinations:
            raise DeriveError(f"{self.exercise.spec.source}: vary: the ranges allow only "
                              f"{self.vary.combinations} different variants; expected at least {len(keys)} "
                              "(widen the ranges or ask for fewer)")
        seen: set[tuple[float, ...]] = set()
        out = []
        for vid, key in keys:
            failures: dict[str, int] = {}
            seed, total = child_seed(base_seed, key), 0
            for retry in range(self.vary.tries):
                drawn, tries, _ = self.draw(seed, failures)
                total += tries
                signature = tuple(drawn[r.name] for r in self.vary.ranges)
                if not distinct or signature not in seen:
                    break
                failures["distinct"] = failures.get("distinct", 0) + 1
                seed = child_seed(base_seed, f"{key}#{retry + 1}")
            else:
                raise ConstraintError(self._give_up(seed, failures, total), MappingProxyType(failures))
            seen.add(signature)
            out.append(Variant(vid, seed, MappingProxyType(drawn), total))
            if progress:
                progress(1)
        return out


def numbered(count: int) -> list[tuple[str, str]]:
    """Ids 001, 002, … and their seed keys. The key is the plain number, so the first
    variants of a longer run are the same as those of a shorter one."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise DeriveError(f"--count: expected a whole number of at least 1, got {count}")
    width = max(3, len(str(count)))
    return [(f"{i:0{width}d}", str(i)) for i in range(1, count + 1)]


def for_students(ids: Iterable[str]) -> list[tuple[str, str]]:
    """A student's seed depends only on the base seed and the id, never on the roster order."""
    return [(sid, f"id:{sid}") for sid in ids]


# --- documents ---------------------------------------------------------------------------

SHEETS, KEYS = "sheets", "keys"


def documents(solutions: Sequence, env) -> dict[str, str]:
    """Every variant's sheet and key, by path inside the output folder."""
    files = {}
    for s in solutions:
        # The two documents differ only in their heading: one context serves both.
        sheet = render.context(s, "Exercise sheet")
        files[f"{SHEETS}/sheet-{s.variant}.tex"] = render.render(env, render.SHEET, sheet)
        files[f"{KEYS}/key-{s.variant}.tex"] = render.render(env, render.KEY, dict(sheet, document="Answer key"))
    return files


def stale(out: Path, files: Mapping[str, str]) -> list[Path]:
    """Sheets and keys an earlier run left in ``out`` that this run does not make (a
    shorter roster, a smaller count): they would pass for current ones."""
    keep = {Path(name).with_suffix("") for name in files}
    old = []
    for folder, prefix in ((SHEETS, "sheet-"), (KEYS, "key-")):
        for path in sorted((out / folder).glob(f"{prefix}*")):
            if path.suffix in (".tex", ".pdf") and path.relative_to(out).with_suffix("") not in keep:
                old.append(path)
    return old
