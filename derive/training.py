"""Training runs: gradient descent repeated for a number of steps, and what the losses say.

A run is the compiled quantity graph evaluated once per step: the loss before the step,
the gradients, then the update ``w ← w − η ∂L/∂w`` for every parameter that is not held
fixed. No SymPy is involved, so a run of the reference network costs microseconds per step.

The spec asks for runs in ``[[training.runs]]`` (learning_rate, steps, frozen); the command
line can ask for others (``derive train --eta 1 --steps 10 --freeze w5``). A run whose loss
can no longer be computed in floating point (an overflow, or the log of a saturated 0 or 1)
stops there and is reported as diverging.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from . import limits
from .errors import DeriveError
from .evaluate import Evaluator, NotFinite
from .network import Network
from .rounding import NumberPolicy, given_text
from .spec import DEFAULT_STEPS, RunSpec, Spec

CONVERGING, OSCILLATING, DIVERGING = "converging", "oscillating", "diverging"
# The longest run that ``verdict_code`` writes out step by step (a draw's runs are short;
# a longer one would make a long function to compile).
WRITTEN_OUT = 20


@dataclass(frozen=True)
class Run:
    learning_rate: float
    steps: int
    frozen: tuple[str, ...]  # every parameter held fixed, in the network's order
    losses: tuple[float, ...]  # the loss before each update; ends in inf where it could not be computed
    after: float  # the loss after the last update (inf if it could not be computed)
    overflow_at: int | None  # 1-based step whose loss (or update) could not be computed in floats
    verdict: str
    settings: Any = None  # optimizers.Settings of the run (None: gradient descent; derive/optimizer_runs.py)


# --- what is asked for ------------------------------------------------------------------


def _check_frozen(names: Sequence[str], network: Network, fail) -> tuple[str, ...]:
    known = [p.name for p in network.params]
    for name in names:
        if name not in known:
            raise fail(f"no parameter named '{name}'; the network has {', '.join(known)}")
    return tuple(dict.fromkeys(names))


def _steps(value: Any, fail) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limits.STEPS:
        raise fail(f"expected a whole number of steps from 1 to {limits.STEPS:,}, got {value!r}")
    return value


def spec_runs(spec: Spec, network: Network) -> tuple[RunSpec, ...]:
    """The runs ``[[training.runs]]`` asks for (none when the section is absent); read and
    checked with the spec."""
    return spec.runs


def option_runs(spec: Spec, network: Network, etas: Sequence[str], steps: str | None,
                freeze: Sequence[str]) -> tuple[RunSpec, ...]:
    """The runs of ``derive train``: one per ``--eta`` (each with ``--steps`` and every
    ``--freeze``); without ``--eta`` the spec's runs, with ``--steps``/``--freeze`` replacing
    theirs; a spec without runs gives one run at its own learning rate."""

    def fail(option: str):
        return lambda msg: DeriveError(f"{spec.source}: {option}: {msg}")

    n = DEFAULT_STEPS
    if steps is not None:
        try:
            n = int(steps) if len(steps) <= 20 else limits.STEPS + 1
        except ValueError:
            raise fail("--steps")(f"expected a whole number of steps from 1 to {limits.STEPS:,}, got '{steps}'") from None
        _steps(n, fail("--steps"))
    frozen = _check_frozen(freeze, network, fail("--freeze")) if freeze else None
    rates = []
    for text in etas:
        try:
            rate = float(text)
        except ValueError:
            rate = math.nan
        if not (math.isfinite(rate) and rate > 0):
            raise fail("--eta")(f"expected a positive learning rate, got '{text}'")
        rates.append(rate)
    limits.at_most(spec.source, "--eta", len(rates), limits.RUNS, "runs")
    if rates:
        return tuple(RunSpec(r, n, frozen or ()) for r in rates)
    runs = spec_runs(spec, network) or (RunSpec(spec.learning_rate, DEFAULT_STEPS),)
    return tuple(RunSpec(r.learning_rate, n if steps is not None else r.steps,
                         frozen if frozen is not None else r.frozen, r.optimizer) for r in runs)


# --- running ------------------------------------------------------------------------------


class Trainer:
    """Runs gradient descent on one compiled derivation, from given starting values.

    One step is one evaluation of the graph: its loss ``L`` is the loss reported before
    the step, and its updated parameters ``w*`` start the next step. In batch mode ``L`` is
    the loss at the step's starting parameters; in online mode the graph goes through the
    examples in order, each seeing the parameters the one before left, so ``L`` is the
    loss of the pass as processed (what an online training loop prints) and ``w*`` the
    parameters after the whole pass. Parameters a run holds fixed beyond the network's own
    are pinned to their values wherever the graph updates them.
    """

    settings: Any = None  # an optimizer's (derive/optimizer_runs.py), named in each Run

    def __init__(self, evaluator: Evaluator):
        der = evaluator.derivation
        self.evaluator = evaluator
        self.network = der.network
        self.loss_slot = der.index["L"]
        self.star_slot = {p.name: der.index[f"{p.name}*"] for p in self.network.params}
        # online mode has one w*[e] per example before the final w*
        self.star_slots = {
            p.name: [der.index[n] for n in (*(f"{p.name}*[{e}]" for e in range(1, der.n_examples + 1)), f"{p.name}*")
                     if n in der.index]
            for p in self.network.params
        }

    def run(self, givens: Mapping[str, float], run: RunSpec) -> Run:
        """A value that is not finite ends the run as diverging: at this step when the
        loss itself could not be computed, at the next when only the update could not.

        A run whose every value is finite is the compiled run of ``verdict`` one step
        longer (the loss after the last update is that step's loss); any other is left to
        ``run_by_steps``, which finds where it broke."""
        quick = self._compiled(givens, run, run.steps + 1)
        if quick is None:
            return self.run_by_steps(givens, run)
        return self._result(run, quick[:-1], quick[-1], None)

    def run_by_steps(self, givens: Mapping[str, float], run: RunSpec) -> Run:
        """``run`` one evaluation of the graph at a time, with the bookkeeping of a breakdown."""
        pinned = [p for p in run.frozen if p not in self.network.frozen]
        free = [p.name for p in self.network.params if p.name not in run.frozen]
        g = dict(givens)
        g["eta"] = run.learning_rate
        losses: list[float] = []
        failed_at = None
        after = math.inf
        # one evaluation more than steps: the last gives the loss after the last update
        for step in range(1, run.steps + 2):
            fixed = {slot: g[p] for p in pinned for slot in self.star_slots[p]}
            try:
                values = self.evaluator.step(g, fixed)
            except NotFinite as exc:
                loss_known = exc.index > self.loss_slot
                if step > run.steps:
                    after = exc.values[self.loss_slot] if loss_known else math.inf
                    break
                if loss_known:  # the loss was fine; the update broke: the next loss cannot be had
                    losses.append(exc.values[self.loss_slot])
                    if step < run.steps:
                        losses.append(math.inf)
                        failed_at = step + 1
                else:
                    losses.append(math.inf)
                    failed_at = step
                break
            loss = values[self.loss_slot]
            if step > run.steps:
                after = loss
                break
            losses.append(loss)
            for p in free:
                g[p] = values[self.star_slot[p]]
            self.carry(g, values)
        return self._result(run, losses, after, failed_at)

    def carry(self, g: dict, values: list[float]) -> None:
        """What else a step hands to the next: nothing for gradient descent (an optimizer's
        state: derive/optimizer_runs.py)."""

    def verdicts(self, givens: Mapping[str, float], runs: Sequence[RunSpec]) -> tuple[str, ...]:
        """How each run ends from these starting values (for variants that must behave alike)."""
        return tuple(self.run(givens, r).verdict for r in runs)

    def ends_as(self, givens: Mapping[str, float], runs: Sequence[RunSpec], verdicts: Sequence[str]) -> bool:
        """Whether every run ends with its verdict in ``verdicts``: what a variant's draw is
        held to, thousands of times per sheet set. The runs with the largest learning
        rates, the likeliest to end otherwise, are tried first, and the first mismatch
        ends the test."""
        return all(self.verdict(givens, runs[i]) == verdicts[i] for i in likeliest_first(runs))

    def verdict(self, givens: Mapping[str, float], run: RunSpec) -> str:
        """``run(givens, run).verdict``, computed without what the verdict does not need
        (the loss after the last update, the bookkeeping of a breakdown): the whole run is
        one compiled function that returns its losses. Whatever is out of the ordinary (a
        value that is not finite, a run of one step) is left to ``run_by_steps``, so both
        always agree."""
        losses = self._compiled(givens, run, run.steps) if run.steps > 1 else None
        return self.run_by_steps(givens, run).verdict if losses is None else judge_finite(losses)

    def verdict_of_values(self, run: RunSpec, evaluator: Evaluator, fixed: Mapping[str, float] | None = None,
                          own: bool = False) -> Callable[[Sequence[float]], str] | None:
        """``verdict`` as a function of every quantity's value as ``evaluator`` gives them,
        the given values read straight out of them: what a variant's draw has at hand,
        thousands of times per sheet set. ``fixed``: given values that are the same in
        every call (those no range draws), compiled in as numbers with η, every other
        given value being a float (as a range draws them); ``own``: the values are the
        evaluator's own (at any η), and the first step takes what η does not reach from
        them. None when the run is not one of this trainer's compiled runs on that
        evaluator's graph."""
        ev = self.evaluator
        names, slots = ev.given_names, ev._given_slots
        if ev is not evaluator or run.steps < 2 or "eta" not in names or len(slots) < 2:
            return None
        losses_of, eta = self._losses_function(run.frozen, {**(fixed or {}), "eta": run.learning_rate}, own)
        pick = operator.itemgetter(*slots)
        n = len(slots) if slots == list(range(len(slots))) else 0  # the given values come first: one slice
        rate, steps = run.learning_rate, run.steps

        def verdict(values: Sequence[float]) -> str:
            g = values[:n] if n else list(pick(values))
            g[eta] = rate
            try:
                losses = losses_of(g, steps, values) if own else losses_of(g, steps)
            except (ArithmeticError, ValueError):
                losses = None
            if losses is None:
                return self.run_by_steps(dict(zip(names, pick(values))), run).verdict
            return judge_finite(losses)

        return verdict

    def _compiled(self, givens: Mapping[str, float], run: RunSpec, evaluations: int) -> list[float] | None:
        """The losses of the compiled run's first ``evaluations`` evaluations of the graph,
        or None where ``run_by_steps`` is needed (a value not finite, no η to set)."""
        names = self.evaluator.given_names
        if "eta" not in names:
            return None
        losses_of, eta = self._losses_function(run.frozen)
        g = [givens[n] for n in names]
        g[eta] = run.learning_rate
        try:
            return losses_of(g, evaluations)
        except (ArithmeticError, ValueError):  # an overflow or a log of 0: the careful path says where
            return None

    def _losses_function(self, frozen: tuple[str, ...], numbers: Mapping[str, float] | None = None,
                         own: bool = False):
        """The compiled run for these parameters held fixed (and these given values
        compiled in, every other one a float; with ``own``, its first step taken from the
        evaluator's values as far as η does not reach), and the place of η among the given
        values: what ``run`` does step by step, as ``Evaluator.losses_function`` takes it."""
        made = self.__dict__.setdefault("_losses_functions", {})
        key = (frozen, tuple(sorted((numbers or {}).items())), own)
        if key not in made:
            made[key] = (self.evaluator.losses_function(*self._losses_arguments(frozen, numbers, own)),
                         self.evaluator.given_names.index("eta"))
        return made[key]

    def _losses_arguments(self, frozen: tuple[str, ...], numbers: Mapping[str, float] | None, own: bool) -> tuple:
        """``Evaluator.losses_function``'s arguments for ``_losses_function``."""
        ev = self.evaluator
        slot = {n: ev._given_slots[k] for k, n in enumerate(ev.given_names)}
        pinned = {star: slot[p] for p in frozen if p not in self.network.frozen for star in self.star_slots[p]}
        moves = [(slot[p.name], self.star_slot[p.name]) for p in self.network.params if p.name not in frozen]
        carried, counter = self.carried_moves(slot)
        literal = {slot[n]: v for n, v in (numbers or {}).items()}
        fresh = [slot["eta"]] if own else None
        return self.loss_slot, moves + carried, pinned, counter, literal, fresh, numbers is not None

    def verdict_code(self, run: RunSpec, evaluator: Evaluator, fixed: Mapping[str, float],
                     first: Callable[[int], str], bail: str) -> tuple[list[str], list[str]] | None:
        """``verdict_of_values(run, evaluator, fixed, own=True)`` as lines of another
        generated function that holds the evaluator's values (``first(slot)``: one as code
        there) and its given values as ``g`` (``Evaluator.losses_code``), and the names of
        the losses they leave, ``bail`` where ``losses_function`` gives None. None where
        ``verdict_of_values`` is None, for η that is not a plain number, and for a run of
        more than ``WRITTEN_OUT`` steps."""
        ev = self.evaluator
        names, slots = ev.given_names, ev._given_slots
        rate = run.learning_rate
        if ev is not evaluator or run.steps < 2 or "eta" not in names or len(slots) < 2:
            return None
        if run.steps > WRITTEN_OUT or type(rate) not in (int, float) or not math.isfinite(rate):
            return None
        args = self._losses_arguments(run.frozen, {**fixed, "eta": rate}, True)
        lines, losses = ev.losses_code(*args, steps=run.steps, first=first, bail=bail)
        # after the given values, η is the run's (as ``verdict_of_values`` sets it)
        return [lines[0], f"    rv{slots[names.index('eta')]} = {rate!r}", *lines[1:]], losses

    def carried_moves(self, slot: Mapping[str, int]) -> tuple[list[tuple[int, int]], int | None]:
        """``carry`` for the compiled run: (given slot, value slot) of what else a step
        hands on, and the given slot that counts the steps (none for gradient descent)."""
        return [], None

    def _result(self, run: RunSpec, losses: list[float], after: float, overflow_at: int | None) -> Run:
        held = set(run.frozen) | set(self.network.frozen)
        frozen = tuple(p.name for p in self.network.params if p.name in held)
        return Run(run.learning_rate, run.steps, frozen, tuple(losses), after, overflow_at,
                   judge(losses, after), self.settings)


def likeliest_first(runs: Sequence[RunSpec]) -> list[int]:
    """The runs' places, the largest learning rates (the likeliest to end otherwise) first."""
    return sorted(range(len(runs)), key=lambda i: -runs[i].learning_rate)


def judge(losses: Sequence[float], after: float = math.nan) -> str:
    """Converging, oscillating or diverging, from the printed losses.

    Converging: the loss never rises, or it ends below its start and its last move was
    down (a run that overshoots once and then settles, or comes to rest at its floor). Diverging: a loss that overflows, one
    that only rises, or one that ends at a new high above its start. Anything else (up
    and down without settling below the start) is oscillating. A run of one step is judged
    with the loss after its update as the second point.
    """
    seq = list(losses) if len(losses) > 1 else [*losses, after]
    if not seq or not all(map(math.isfinite, seq)):
        return DIVERGING
    return judge_finite(seq)


def judge_finite(seq: list[float]) -> str:
    """``judge`` of a list of losses known to be finite (a compiled run's, at least two)."""
    # Written for speed (a variant's draw judges thousands of runs) with the rules above:
    # the largest and smallest move stand for "any move up" and "any move down".
    if sorted(seq, reverse=True) == seq:  # never up, whatever the tolerance (most runs of a draw)
        return CONVERGING
    tol = 1e-12 * max(max(seq), -min(seq))  # rounding noise once the loss is near zero (the largest |loss|)
    diffs = list(map(operator.sub, seq[1:], seq))
    if not diffs or not max(diffs) > tol:  # never up
        return CONVERGING
    last = seq[-1]
    if not min(diffs) < -tol or (last > seq[0] and last > max(seq[:-1]) + tol):  # never down, or a new high
        return DIVERGING
    if last < seq[0]:
        for d in reversed(diffs):  # the last move, a loss settled at its floor not moving
            if abs(d) > tol:
                return CONVERGING if d < 0 else OSCILLATING
    return OSCILLATING


# --- what the command line shows -------------------------------------------------------


def describe(run: Run, online: bool = False) -> str:
    """The run's heading line: learning rate, steps (passes, online), and what is held fixed."""
    fixed = f", {_names_text(run.frozen)} held fixed" if run.frozen else ""
    unit = "pass" if online else "step"
    steps = f"1 {unit}" if run.steps == 1 else f"{run.steps} {unit}{'es' if online else 's'}"
    from .optimizer_runs import label_text  # the run's optimizer, if it has one

    optimizer = label_text(run)
    return f"{optimizer + ', ' if optimizer else ''}eta = {given_text(run.learning_rate)}, {steps}{fixed}"


def verdict_line(run: Run, policy: NumberPolicy) -> str:
    if run.overflow_at is not None:
        return (f"verdict: diverging (at step {run.overflow_at} the loss could no longer be computed "
                f"in floating point: an activation saturated or a value overflowed)")
    return (f"verdict: {run.verdict} (loss {policy.text(run.losses[0])} at the first step, "
            f"{policy.text(run.losses[-1])} at the last)")


def _names_text(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
