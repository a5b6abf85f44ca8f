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
import weakref
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from .derivation import FORWARD_AFTER, LOSS_AFTER
from .errors import DeriveError, SpecError
from .evaluate import Evaluator
from .latex import latex_name
from .network import Network
from .rounding import NumberPolicy, given_text
from .spec import Fields, Spec

DEFAULT_STEPS = 10
CONVERGING, OSCILLATING, DIVERGING = "converging", "oscillating", "diverging"
TABLE_ROWS = 20  # a longer run's table lists selected steps
SAME_END = 1e-3  # two runs ending this close (relative) end at practically the same loss
LOG_SPAN = 100.0  # the loss plot switches to a log axis when max/min exceeds this (two decades)


@dataclass(frozen=True)
class RunSpec:
    learning_rate: float
    steps: int
    frozen: tuple[str, ...] = ()  # held fixed in this run, beside the network's own frozen set


@dataclass(frozen=True)
class Run:
    learning_rate: float
    steps: int
    frozen: tuple[str, ...]  # every parameter held fixed, in the network's order
    losses: tuple[float, ...]  # the loss before each update; ends in inf where it could not be computed
    after: float  # the loss after the last update (inf if it could not be computed)
    overflow_at: int | None  # 1-based step whose loss (or update) could not be computed in floats
    verdict: str


# --- what is asked for ------------------------------------------------------------------


def _check_frozen(names: Sequence[str], network: Network, fail) -> tuple[str, ...]:
    known = [p.name for p in network.params]
    for name in names:
        if name not in known:
            raise fail(f"no parameter named '{name}'; the network has {', '.join(known)}")
    return tuple(dict.fromkeys(names))


def _steps(value: Any, fail) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise fail(f"expected a whole number of steps, at least 1, got {value!r}")
    return value


def spec_runs(spec: Spec, network: Network) -> tuple[RunSpec, ...]:
    """The runs ``[[training.runs]]`` asks for (none when the section is absent)."""
    training = spec.raw.get("training") or {}
    raw = training.get("runs") if isinstance(training, Mapping) else None
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise SpecError(spec.source, "training.runs",
                        "expected one or more [[training.runs]] tables (learning_rate, steps, frozen)")
    runs = []
    for i, table in enumerate(raw):
        where = f"training.runs[{i}]"
        if not isinstance(table, Mapping):
            raise SpecError(spec.source, where, f"expected a table, got {table!r}")
        f = Fields(spec.source, table, where + ".")
        f.only("learning_rate", "steps", "frozen")
        rate = f.number("learning_rate", spec.learning_rate, positive=True)
        steps = _steps(f.get("steps", DEFAULT_STEPS), lambda msg: f.fail("steps", msg))
        frozen = _check_frozen(f.names("frozen", (), nonempty=False), network,
                               lambda msg: f.fail("frozen", msg))
        runs.append(RunSpec(rate, steps, frozen))
    return tuple(runs)


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
            n = int(steps)
        except ValueError:
            raise fail("--steps")(f"expected a whole number of steps, at least 1, got '{steps}'") from None
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
    if rates:
        return tuple(RunSpec(r, n, frozen or ()) for r in rates)
    runs = spec_runs(spec, network) or (RunSpec(spec.learning_rate, DEFAULT_STEPS),)
    return tuple(RunSpec(r.learning_rate, n if steps is not None else r.steps,
                         frozen if frozen is not None else r.frozen) for r in runs)


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

    def __init__(self, evaluator: Evaluator):
        der = evaluator.derivation
        self.evaluator = evaluator
        self.network = der.network
        self.loss_slot = der.index["L"]
        self.star_slot = {p.name: der.index[f"{p.name}*"] for p in self.network.params}
        # online mode has one w*[e] per example before the final w*
        self.star_names = {
            p.name: [n for n in (*(f"{p.name}*[{e}]" for e in range(1, der.n_examples + 1)), f"{p.name}*")
                     if n in der.index]
            for p in self.network.params
        }

    def _values(self, givens: Mapping[str, float], fixed: Mapping[str, float]) -> list[float] | None:
        try:
            if fixed:
                return self.evaluator.recompute(givens, fixed)[0]
            return self.evaluator.evaluate(givens)
        except (OverflowError, ZeroDivisionError, ValueError):
            return None  # exp overflow, log of 0, division by 0: not computable in floats

    def run(self, givens: Mapping[str, float], run: RunSpec) -> Run:
        pinned = [p for p in run.frozen if p not in self.network.frozen]
        free = [p.name for p in self.network.params if p.name not in run.frozen]
        g = dict(givens)
        g["eta"] = run.learning_rate
        losses: list[float] = []
        failed_at = None
        # one evaluation more than steps: the last gives the loss after the last update
        for step in range(1, run.steps + 2):
            fixed = {name: g[p] for p in pinned for name in self.star_names[p]}
            values = self._values(g, fixed)
            loss = values[self.loss_slot] if values is not None else math.nan
            computable = math.isfinite(loss)  # an update gone to inf or nan shows in the next loss
            if step > run.steps:
                break
            if not computable:
                losses.append(math.inf)
                failed_at = step
                break
            losses.append(loss)
            for p in free:
                g[p] = values[self.star_slot[p]]
            self.carry(g, values)
        after = loss if failed_at is None and computable else math.inf
        return self._result(run, losses, after, failed_at)

    def carry(self, g: dict, values: list[float]) -> None:
        """What else a step hands to the next: nothing for gradient descent (an optimizer's
        state: derive/optimizer_runs.py)."""

    def _result(self, run: RunSpec, losses: list[float], after: float, overflow_at: int | None) -> Run:
        held = set(run.frozen) | set(self.network.frozen)
        frozen = tuple(p.name for p in self.network.params if p.name in held)
        return Run(run.learning_rate, run.steps, frozen, tuple(losses), after, overflow_at,
                   judge(losses, after))


def judge(losses: Sequence[float], after: float = math.nan) -> str:
    """Converging, oscillating or diverging, from the printed losses.

    Converging: the loss never rises, or it ends below its start and is falling at the end
    (a run that overshoots once and then settles). Diverging: a loss that overflows, one
    that only rises, or one that ends at a new high above its start. Anything else (up
    and down without settling below the start) is oscillating. A run of one step is judged
    with the loss after its update as the second point.
    """
    seq = list(losses) if len(losses) > 1 else [*losses, after]
    if not seq or not all(math.isfinite(v) for v in seq):
        return DIVERGING
    tol = 1e-12 * max(abs(v) for v in seq)  # rounding noise once the loss is near zero
    diffs = [b - a for a, b in zip(seq, seq[1:])]
    ups = sum(d > tol for d in diffs)
    downs = sum(d < -tol for d in diffs)
    if ups == 0:
        return CONVERGING
    if downs == 0 or (seq[-1] > seq[0] and seq[-1] > max(seq[:-1]) + tol):
        return DIVERGING
    if seq[-1] < seq[0] and diffs[-1] < -tol:
        return CONVERGING
    return OSCILLATING


def verdicts(derivation, givens: Mapping[str, float], runs: Sequence[RunSpec]) -> tuple[str, ...]:
    """How each run ends from these starting values (for variants that must behave alike)."""
    trainer = _trainer(derivation)
    return tuple(trainer.run(givens, r).verdict for r in runs)


def runs_for(solution, runs: Sequence[RunSpec] | None = None) -> tuple[Run, ...]:
    """The runs of one Solution (by default those its spec asks for), from its own values."""
    der = solution.derivation
    if runs is None:
        # the sheet, the key and answers.json all ask for the same runs: make them once
        hit = _RUNS.get(id(solution))
        if hit is not None and hit[0]() is solution:
            return hit[1]
        result = runs_for(solution, spec_runs(solution.spec, der.network))
        _RUNS[id(solution)] = (weakref.ref(solution), result)
        weakref.finalize(solution, _RUNS.pop, id(solution), None)
        return result
    trainer = _trainer(der)
    return tuple(trainer.run(solution.givens, r) for r in runs)


_RUNS: dict[int, tuple[weakref.ref, tuple[Run, ...]]] = {}


_COMPILED: dict[int, tuple[Any, Evaluator]] = {}


def _trainer(derivation) -> Trainer:
    if getattr(derivation, "settings", None) is not None:  # an optimizer (derive/optimizer_runs.py)
        from .optimizer_runs import OptimizerTrainer
        return OptimizerTrainer(derivation)
    return Trainer(_evaluator(derivation))


def _evaluator(derivation) -> Evaluator:
    """The graph up to the updates, compiled once per derivation (many variants share it).
    A step needs nothing after ``w*``, and leaving out the check pass keeps a step whose
    own loss is finite from failing because the loss after its update is not."""
    hit = _COMPILED.get(id(derivation))
    if hit is None or hit[0] is not derivation:
        step = replace(derivation, quantities=tuple(
            q for q in derivation.quantities if q.stage not in (FORWARD_AFTER, LOSS_AFTER)))
        hit = _COMPILED[id(derivation)] = (derivation, Evaluator(step))
    return hit[1]


# --- what the command line and the templates show ----------------------------------------


def describe(run: Run, online: bool = False) -> str:
    """The run's heading line: learning rate, steps (passes, online), and what is held fixed."""
    fixed = f", {_names_text(run.frozen)} held fixed" if run.frozen else ""
    unit = "pass" if online else "step"
    steps = f"1 {unit}" if run.steps == 1 else f"{run.steps} {unit}{'es' if online else 's'}"
    return f"eta = {given_text(run.learning_rate)}, {steps}{fixed}"


def verdict_line(run: Run, policy: NumberPolicy) -> str:
    if run.overflow_at is not None:
        return (f"verdict: diverging (at step {run.overflow_at} the loss could no longer be computed "
                f"in floating point: an activation saturated or a value overflowed)")
    return (f"verdict: {run.verdict} (loss {policy.text(run.losses[0])} at the first step, "
            f"{policy.text(run.losses[-1])} at the last)")


def _names_text(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def context(solution, runs: Sequence[Run] | None = None) -> list[dict]:
    """What training.tex.j2 receives for each run (see the README, "Templates")."""
    if runs is None:
        runs = runs_for(solution)
    policy = solution.policy
    online = bool(solution.derivation.online)  # one step of a run is then a pass over the examples
    first = runs[0] if runs else None
    out = []
    for i, run in enumerate(runs):
        finite = [v for v in run.losses if math.isfinite(v)]
        peak = max(range(len(finite)), key=finite.__getitem__) if finite else 0
        curves = [_curve(run)] + ([_curve(first)] if i > 0 and first is not None else [])
        out.append({
            "index": i + 1,
            "eta": given_text(run.learning_rate),
            "steps": run.steps,
            "online": online,
            "unit": "pass" if online else "step",
            "units": "passes" if online else "steps",
            "frozen": [latex_name(n) for n in run.frozen],
            "losses": [{"step": k, "value": policy.tex(run.losses[k - 1])} for k in _table_steps(len(run.losses))],
            "all_steps": len(run.losses) <= TABLE_ROWS,
            "first": policy.tex(run.losses[0]),
            "last": policy.tex(run.losses[-1]),
            "after": policy.tex(run.after),
            "peak": policy.tex(finite[peak]) if finite else policy.tex(math.inf),
            "peak_step": peak + 1,
            "rises": sum(b > a for a, b in zip(finite, finite[1:])),
            "verdict": run.verdict,
            "overflow_at": run.overflow_at,
            "last_finite": policy.tex(finite[-1]) if finite else None,
            "plot": _plot(curves, run.steps),
            "versus": _versus(run, first, policy) if i > 0 and first is not None else None,
        })
    return out


def _end(run: Run) -> float:
    return run.after if run.overflow_at is None and math.isfinite(run.after) else math.inf


def _versus(run: Run, first: Run, policy: NumberPolicy) -> dict:
    """How a later run ends compared with the first: which reaches the lower loss after
    its last update, and by what factor; for runs that broke down, which broke down first.
    ``lower`` is "this", "first" or "same" (within SAME_END of each other)."""
    a, b = _end(run), _end(first)
    out = {"same_verdict": run.verdict == first.verdict, "larger": run.learning_rate > first.learning_rate,
           "end": policy.tex(a), "first_end": policy.tex(b), "lower": "same", "factor": None}
    if math.isinf(a) and math.isinf(b):
        out["lower"] = "same" if run.overflow_at == first.overflow_at else (
            "this" if run.overflow_at > first.overflow_at else "first")  # the later breakdown
        return out
    if math.isclose(a, b, rel_tol=SAME_END):
        return out
    out["lower"] = "this" if a < b else "first"
    lo, hi = min(a, b), max(a, b)
    if math.isfinite(hi) and lo > 0 and hi / lo >= 1.1:
        ratio = hi / lo
        out["factor"] = f"{ratio:.2g}" if ratio < 100 else rf"10^{{{round(math.log10(ratio))}}}"
    return out


def _table_steps(n: int) -> list[int]:
    """The steps the loss table lists: all of them for a short run; for a long one the
    first few and then evenly spaced ones up to the last, so the table fits the page."""
    if n <= TABLE_ROWS:
        return list(range(1, n + 1))
    head = list(range(1, 6))
    rest = TABLE_ROWS - len(head)
    return head + sorted({round(6 + (n - 6) * i / (rest - 1)) for i in range(rest)})


def _curve(run: Run) -> dict:
    return {"eta": given_text(run.learning_rate),
            "points": [(k, v) for k, v in enumerate(run.losses, 1) if math.isfinite(v)]}


def _plot(curves: list[dict], steps: int) -> dict:
    """Axis settings and coordinates for the loss curve: a log axis when the losses span
    more than two decades; zeros (and overflowed steps) are left out where a log axis
    cannot show them."""
    values = [v for c in curves for _, v in c["points"]]
    positive = [v for v in values if v > 0]
    log = bool(positive) and max(positive) / min(positive) > LOG_SPAN
    drawn = []
    for c in curves:
        pts = [(k, v) for k, v in c["points"] if v > 0 or not log]
        drawn.append({"eta": c["eta"],
                      "coordinates": " ".join(f"({k},{v:.6e})" for k, v in pts)})
    return {
        "log": log,
        "curves": drawn,
        "xmax": steps,
        "omitted": log and len(positive) < len(values),
        "empty": not any(c["coordinates"] for c in drawn),
    }


def answers(solution) -> list[dict]:
    """The runs as data for answers.json; a loss that could not be computed is null."""
    return [
        {"learning_rate": run.learning_rate, "steps": run.steps, "frozen": list(run.frozen),
         "losses": [v if math.isfinite(v) else None for v in run.losses],
         "verdict": run.verdict}
        for run in runs_for(solution)
    ]
