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
import operator
import random
from dataclasses import dataclass
from functools import cached_property, partial
from types import MappingProxyType
from typing import Callable, Iterable, Mapping, Sequence

from . import derivation as D
from .activations import ACTIVATIONS
from .errors import DeriveError, SpecError
from .solution import Exercise
from .training import CONVERGING, Trainer, judge_finite, likeliest_first
from .vary import Constraints


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


@dataclass(frozen=True)
class Draw:
    """A variant's draw under its own seed (plain dicts: it travels between processes)."""
    id: str
    key: str  # the seed key, from which the seeds of redraws are derived
    seed: int
    values: dict[str, float]
    tries: int
    failures: dict[str, int]  # the draws that broke a constraint, by constraint


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
    """The ``[vary]`` section of the exercise's spec (read and checked with the spec)."""
    spec = exercise.spec
    if spec.vary is None:
        raise SpecError(spec.source, "vary", "missing; expected a [vary] section naming the values to draw "
                        "(e.g. weights = { from = -1, to = 1, step = 0.1 })")
    ranges = tuple(Range(name, grid) for name, grid in spec.vary.ranges)
    return Vary(ranges, spec.vary.constraints, spec.vary.tries)


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
        self.runs = exercise.runs if c.same_verdicts else ()
        self.verdicts = exercise.verdicts(self.base, self.runs) if self.runs else ()
        self.given_slots = [(q.name, i) for i, q in enumerate(der.quantities) if q.formula is None]

    def failures(self, values: Sequence[float]) -> list[str]:
        """The constraints a set of evaluated values breaks (all of them, for the statistics):
        the values of a draw, whose given values are the spec's except those drawn."""
        return self._failures(values, False)

    def _failures(self, values: Sequence[float], own: bool) -> list[str]:
        """``failures``; ``own``: the values are what ``Evaluator.values`` gave (all finite,
        so not tested again), and the runs' first step is taken from them."""
        # a sum is finite only if every term is: one sum for the usual all-finite values
        if not own and not math.isfinite(sum(values)) and not all(map(math.isfinite, values)):
            return ["finite"]
        out = []
        saturating, gradients, kinked = self._pickers  # None: nothing to pick
        if saturating and max(map(abs, saturating(values))) >= self.vary.constraints.max_preactivation:
            out.append("saturation")
        if gradients and self._any_rounds_to_zero(gradients(values)):
            out.append("zero_gradient")
        if self.loss:
            before, after = values[self.loss[0]], values[self.loss[1]]
            # (a loss that falls by more than two units of the last decimal visibly falls)
            if not before - after > self._two_units and not self._loss_goes_down(before, after):
                out.append("loss")
        if kinked and self._any_rounds_to_zero(kinked(values)):
            out.append("relu_kink")
        if self.target_sums and any(abs(sum(values[i] for i in targets) - 1) > 1e-9 for targets in self.target_sums):
            out.append("targets_sum")
        # The runs cost most: they are run only for a draw that meets every other constraint.
        if self.runs and not out and not self._ends_as(values, own):
            out.append("verdicts")
        return out

    def _ends_as(self, values: Sequence[float], own: bool) -> bool:
        """``Trainer.ends_as`` of the given values among ``values``."""
        for verdict, wanted in self._own_verdicts if own else self._verdicts:
            if verdict(values) != wanted:
                return False
        return True

    @cached_property
    def _verdicts(self) -> list[tuple[Callable[[Sequence[float]], str], str]]:
        return self._verdicts_of_values(False)

    @cached_property
    def _own_verdicts(self) -> list[tuple[Callable[[Sequence[float]], str], str]]:
        return self._verdicts_of_values(True)

    def _verdicts_of_values(self, own: bool) -> list[tuple[Callable[[Sequence[float]], str], str]]:
        """Each run's verdict as a function of a draw's values (``own``: the evaluator's
        own), and the verdict it must have, in the order ``Trainer.ends_as`` tries them."""
        trainer, evaluator = self.exercise.trainer, self.exercise.evaluator
        drawn = {r.name for r in self.vary.ranges}
        fixed = {n: v for n, v in self.base.items() if n not in drawn and n in evaluator.given_names}
        out = []
        for i in likeliest_first(self.runs):
            run = self.runs[i]
            verdict = trainer.verdict_of_values(run, evaluator, fixed, own) or (
                lambda values, run=run: trainer.verdict({n: values[k] for n, k in self.given_slots}, run))
            out.append((verdict, self.verdicts[i]))
        return out

    # The display rounding (Decimal-exact) is what a constraint means, but most values are
    # far from where it could matter: a value of at least one unit of the last decimal
    # cannot round to zero, a loss that falls by two units visibly falls, one that rises
    # cannot (rounding never reverses an order). Only values near the edge are rounded.

    @cached_property
    def _unit(self) -> float:
        return float(f"1e{-self.policy.decimals}")

    @cached_property
    def _two_units(self) -> float:
        return 2 * self._unit

    def _any_rounds_to_zero(self, picked: Sequence[float]) -> bool:
        unit = self._unit
        return any(self.policy.round(v) == 0 for v in picked if -unit <= v <= unit)

    @cached_property
    def _pickers(self) -> tuple[Callable[[Sequence[float]], Sequence[float]] | None, ...]:
        """The values of the saturating pre-activations, the gradients and the kinked
        pre-activations, each picked out of all values at once (None: there are none)."""
        def picker(indices: Sequence[int]):
            if not indices:
                return None
            if len(indices) < 2:
                return lambda values: [values[i] for i in indices]
            return operator.itemgetter(*indices)

        return picker(self.saturating), picker(self.gradients), picker(self.kinked)

    def _loss_goes_down(self, before: float, after: float) -> bool:
        if after >= before:
            return False
        if before - after > 2 * self._unit:
            return True
        return self.policy.round(after) < self.policy.round(before)

    @cached_property
    def _drawing(self) -> tuple[list[float], list[tuple[str, int, tuple[float, ...], int, int]]]:
        """The spec's given values in the evaluator's order, and for each range its name,
        its place there, its grid, the grid's length and that length's bit length."""
        names = self.exercise.evaluator.given_names
        place = {n: k for k, n in enumerate(names)}
        return ([self.base[n] for n in names],
                [(r.name, place[r.name], r.grid, len(r.grid), len(r.grid).bit_length()) for r in self.vary.ranges])

    @cached_property
    def _numbers(self) -> Callable[[Callable[[int], int]], list[float]]:
        """``numbers(getrandbits)``: one try's given values in the evaluator's order, each
        range drawn in turn as randrange(len(grid)) draws: getrandbits(n.bit_length()) until
        a number below n comes up (tests/test_quick_verdict.py holds the two to the same
        numbers). Written out once, a few statements per range, without randrange's checks
        of its arguments and the loop over the ranges, which cost more than the drawing."""
        lines, given, namespace = self._numbers_code
        source = "\n".join(["def numbers(bits):", *lines, f"    return [{given}]"])
        exec(compile(source, "<derive:numbers>", "exec"), namespace)  # noqa: S102 (our own code)
        return namespace["numbers"]

    @cached_property
    def _numbers_code(self) -> tuple[list[str], str, dict]:
        """``numbers``'s lines that draw (``d0``, ``d1``, … from ``bits``), its given values
        as code, and what the lines read (the grids, the spec's given values)."""
        base, ranges = self._drawing
        drawn = {k: j for j, (_, k, *_) in enumerate(ranges)}
        lines = []
        for j, (_, _, _, n, width) in enumerate(ranges):
            lines += [f"    i = bits({width})", f"    while i >= {n}:", f"        i = bits({width})",
                      f"    d{j} = grid{j}[i]"]
        given = ", ".join(f"d{drawn[k]}" if k in drawn else f"base{k}" for k in range(len(base)))
        namespace = {**{f"grid{j}": r[2] for j, r in enumerate(ranges)}, **{f"base{k}": v for k, v in enumerate(base)}}
        return lines, given, namespace

    @cached_property
    def _attempt(self) -> Callable[[Callable[[int], int]], list | tuple] | None:
        """``attempt(getrandbits)``: one try in one call, what ``numbers``, ``values`` and
        ``_failures`` make of it written out as one function: the evaluated values (a
        list) when they break no constraint, else the constraints they break (a tuple of
        their keys), or (None, the drawn given values) where a run needs the careful path
        (then ``_failures`` decides). The drawing, the evaluation, the constraints and the
        runs are the very code of ``numbers``, ``Evaluator.values``, ``_failures`` and
        ``verdict_of_values``, so every value is the same to the bit, without a list of
        values and a call per constraint and run (tests/test_quick_verdict.py holds the
        two to the same outcome). None when some run is not a compiled one (a sampler's
        subclass has constraints of its own)."""
        if type(self) is not Sampler:
            return None
        ev = self.exercise.evaluator
        body, value, finite_if = ev.values_code
        c = self.vary.constraints
        drawing, given, numbers = self._numbers_code
        namespace = {**ev.namespace, **numbers, "arithmetic": (ArithmeticError, ValueError),
                     "rounds_to_zero": self._any_rounds_to_zero, "goes_down": self._loss_goes_down,
                     "judge": judge_finite}
        every = ", ".join(value)
        # (the bounds are arguments: a local variable is the quickest read)
        lines = ["def attempt(bits, isfinite=math.isfinite, unit=unit, minus_unit=minus_unit, two_units=two_units, "
                 "bound=bound, minus_bound=minus_bound):",
                 *drawing, f"    g = [{given}]",
                 "    try:", *(f"    {line}" for line in body),
                 "    except arithmetic:", "        return ('finite',)",
                 f"    if not isfinite({finite_if}) and not all(map(isfinite, ({every},))):",
                 "        return ('finite',)",
                 "    out = ()"]
        namespace.update(unit=self._unit, minus_unit=-self._unit, two_units=self._two_units, bound=c.max_preactivation,
                         minus_bound=None if c.max_preactivation is None else -c.max_preactivation)

        # Every value is finite here: -u <= v <= u is |v| <= u, and u < v < -u is |v| < u.
        def near(indices: Sequence[int]) -> str:  # some |value| within a unit of the last decimal
            return " or ".join(f"minus_unit <= {value[i]} <= unit" for i in indices)

        if self.saturating:
            lines += [f"    if not ({' and '.join(f'minus_bound < {value[i]} < bound' for i in self.saturating)}):",
                      "        out = ('saturation',)"]
        if self.gradients:
            lines += [f"    if ({near(self.gradients)}) and rounds_to_zero(({', '.join(value[i] for i in self.gradients)},)):",
                      "        out += ('zero_gradient',)"]
        if self.loss:
            before, after = (value[i] for i in self.loss)
            lines += [f"    if not {before} - {after} > two_units and not goes_down({before}, {after}):",
                      "        out += ('loss',)"]
        if self.kinked:
            lines += [f"    if ({near(self.kinked)}) and rounds_to_zero(({', '.join(value[i] for i in self.kinked)},)):",
                      "        out += ('relu_kink',)"]
        if self.target_sums:
            sums = " or ".join(f"abs(sum(({', '.join(value[i] for i in t)},)) - 1) > 1e-9" for t in self.target_sums)
            lines += [f"    if {sums}:", "        out += ('targets_sum',)"]
        lines += ["    if out:", "        return out"]
        if self.runs:
            trainer = self.exercise.trainer
            trainer = getattr(trainer, "base", trainer)  # the exercise's own (a RunTrainer's base)
            drawn = {r.name for r in self.vary.ranges}
            fixed = {n: v for n, v in self.base.items() if n not in drawn and n in ev.given_names}
            for i in likeliest_first(self.runs):
                run = self.runs[i]
                code = None if getattr(run, "optimizer", None) is not None or not isinstance(trainer, Trainer) else (
                    trainer.verdict_code(run, ev, fixed, value.__getitem__, "return (None, g)"))
                if code is None:
                    return None
                run_lines, losses = code
                # never up: what ``judge_finite`` tells first, without the list
                never_up = " >= ".join(losses)
                wanted = self.verdicts[i]
                lines += ["    try:", *(f"    {line}" for line in run_lines), "    except arithmetic:", "        return (None, g)",
                          f"    if ({CONVERGING!r} if {never_up} else judge([{', '.join(losses)}])) != {wanted!r}:",
                          "        return ('verdicts',)"]
        lines.append(f"    return [{every}]")
        exec(compile("\n".join(lines), "<derive:attempt>", "exec"), namespace)  # noqa: S102 (our own code)
        return namespace["attempt"]

    def draw(self, seed: int, failures: dict[str, int] | None = None) -> tuple[dict[str, float], int, list[float]]:
        """One variant's values for ``seed``: (drawn values, tries used, all evaluated values)."""
        bits = random.Random(seed).getrandbits
        failures = {} if failures is None else failures
        numbers, (_, ranges) = self._numbers, self._drawing
        attempt = self._attempt
        if attempt is not None:
            given = [(name, self.exercise.evaluator._given_slots[k]) for name, k, *_ in ranges]
            for tries in range(1, self.vary.tries + 1):
                broken = attempt(bits)
                if type(broken) is list:
                    return {name: broken[slot] for name, slot in given}, tries, broken
                if broken[0] is None:  # a run out of the ordinary: the careful path
                    g = broken[1]
                    values = self.exercise.evaluator.values(g)
                    broken = self._failures(values, True)
                    if not broken:
                        return {name: g[k] for name, k, *_ in ranges}, tries, values
                for key in broken:
                    failures[key] = failures.get(key, 0) + 1
            raise ConstraintError(self._give_up(seed, failures, self.vary.tries), MappingProxyType(failures))
        values_of = self.exercise.evaluator.values
        # the values are the evaluator's own (a graph's sampler has constraints of its own)
        failures_of = self.failures if type(self).failures is not Sampler.failures else partial(self._failures, own=True)
        for attempt in range(1, self.vary.tries + 1):
            g = numbers(bits)
            values = values_of(g)
            if values is None:  # log(0), exp overflow, a value not finite: not a usable exercise
                values = [math.nan]
                broken = self.failures(values)
            else:
                broken = failures_of(values)
            if not broken:
                return {name: g[k] for name, k, *_ in ranges}, attempt, values
            for key in broken:
                failures[key] = failures.get(key, 0) + 1
        raise ConstraintError(self._give_up(seed, failures, self.vary.tries), MappingProxyType(failures))

    def _give_up(self, seed: int, failures: Mapping[str, int], draws: int) -> str:
        worst = max(failures, key=failures.get)
        return (f"{self.exercise.spec.source}: vary: no draw met the constraints in {draws} tries "
                f"(seed {seed}); failing most: {CONSTRAINTS[worst]} ({failures[worst]} of {draws} draws); "
                "widen the ranges or relax [vary.constraints]")

    def check_room(self, count: int) -> None:
        """Refuse more distinct variants than the grids hold, before any is drawn."""
        if self.vary.constraints.distinct and count > self.vary.combinations:
            raise DeriveError(f"{self.exercise.spec.source}: vary: the ranges allow only "
                              f"{self.vary.combinations} different variants; expected at least {count} "
                              "(widen the ranges or ask for fewer)")

    def first(self, vid: str, key: str, base_seed: int) -> Draw:
        """A variant's draw under its own seed, before it is compared with the variants
        before it: the part of a variant that any process can make."""
        failures: dict[str, int] = {}
        seed = child_seed(base_seed, key)
        drawn, tries, _ = self.draw(seed, failures)
        return Draw(vid, key, seed, drawn, tries, failures)

    def settle(self, first: Draw, base_seed: int, seen: set[tuple[float, ...]]) -> Variant:
        """The variant of a first draw, given the signatures of the variants before it
        (``seen``, to which its own is added). A draw equal to an earlier variant's is
        redrawn under a new derived seed, so every variant stays a pure function of its own
        seed; the variant's ``tries`` then exceed the first draw's."""
        distinct = self.vary.constraints.distinct
        failures = dict(first.failures)
        seed, drawn, total = first.seed, first.values, first.tries
        for retry in range(self.vary.tries):
            if retry:
                drawn, tries, _ = self.draw(seed, failures)
                total += tries
            signature = tuple(drawn[r.name] for r in self.vary.ranges)
            if not distinct or signature not in seen:
                break
            failures["distinct"] = failures.get("distinct", 0) + 1
            seed = child_seed(base_seed, f"{first.key}#{retry + 1}")
        else:
            raise ConstraintError(self._give_up(seed, failures, total), MappingProxyType(failures))
        seen.add(signature)
        return Variant(first.id, seed, MappingProxyType(drawn), total)

    def draw_many(self, keys: Sequence[tuple[str, str]], base_seed: int,
                  progress: Callable[[int], None] | None = None) -> list[Variant]:
        """One variant per (id, seed key), in order (derive/workers.py draws them on every
        core, to the same variants and the same errors)."""
        self.check_room(len(keys))
        seen: set[tuple[float, ...]] = set()
        out = []
        for vid, key in keys:
            out.append(self.settle(self.first(vid, key, base_seed), base_seed, seen))
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
