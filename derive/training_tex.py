"""What the key shows of training runs: loss tables, plots and how the runs compare.

The runs themselves are computed with the Solution (``training``, ``Exercise.solve``);
this module only turns them into what ``training.tex.j2`` lays out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .latex import Tex, latex_name
from .optimizer_runs import label_tex
from .rounding import LARGE, fixed, given_text, rounded, scientific

TABLE_ROWS = 20  # a longer run's table lists selected steps
SAME_END = 1e-3  # two runs ending this close (relative) end at practically the same loss
LOG_SPAN = 100.0  # the loss plot switches to a log axis when max/min exceeds this (two decades)


def context(solution) -> list[dict]:
    """What training.tex.j2 receives for each run of a Solution (see the README, "Templates").

    Every number of a run's text stands in its loss table, written as the table writes it:
    one format per table (``Column``)."""
    runs = solution.runs
    online = bool(solution.derivation.online)  # one step of a run is then a pass over the examples
    columns = [Column.of([*run.losses, run.after], solution.policy.decimals) for run in runs]
    first = runs[0] if runs else None
    named = any(r.settings is not None for r in runs)  # runs that compare optimizers name each one
    own = [_curve(run, named) for run in runs]  # a later run's plot shows the first run's curve too
    out = []
    for i, (run, column) in enumerate(zip(runs, columns)):
        col = _each_once(column)
        finite = [v for v in run.losses if math.isfinite(v)]
        peak = max(range(len(finite)), key=finite.__getitem__) if finite else 0
        curves = [own[i]] + ([own[0]] if i > 0 else [])
        moves = _moves(finite, col)
        out.append({
            "index": i + 1,
            "eta": given_text(run.learning_rate),
            "label": label_tex(run, named),  # $\eta = 0.1$, or the optimizer with its settings (derive/optimizer_runs.py)
            "heading": label_tex(run, named, capital=True),
            "optimizer": run.settings.entry.title if run.settings is not None else None,
            "steps": run.steps,
            "online": online,
            "unit": "pass" if online else "step",
            "units": "passes" if online else "steps",
            "frozen": [latex_name(n) for n in run.frozen],
            # a long run's table lists selected steps: those the text names among them
            "losses": [{"step": k, "value": col(run.losses[k - 1])}
                       for k in sorted({*_table_steps(len(run.losses)), peak + 1,
                                        *(m["step"] for m in moves if len(moves) <= MOVES)})],
            "all_steps": len(run.losses) <= TABLE_ROWS,
            "first": col(run.losses[0]),
            "last": col(run.losses[-1]),
            "after": col(run.after),
            "peak": col(finite[peak]) if finite else col(math.inf),
            "peak_step": peak + 1,
            "rises": sum(b > a for a, b in zip(finite, finite[1:])),
            "moves": moves if len(moves) <= MOVES else None,
            "moves_limit": MOVES - 1,
            "last_above": bool(finite) and column.shown(finite[-1]) > column.shown(finite[0]),
            "verdict": run.verdict,
            "overflow_at": run.overflow_at,
            "last_finite": col(finite[-1]) if finite else None,
            "plot": _plot(curves, run.steps),
            "versus": _versus(run, column, first, columns[0]) if i > 0 and first is not None else None,
        })
    return out


def _each_once(col: "Column"):
    """``col``, writing each value once: a table's loss is also its text's first, last or
    peak loss. (Zero is written each time: 0.0 and -0.0 are one key.)"""
    texts: dict[float, Tex] = {}

    def text(value: float) -> Tex:
        if value == 0:
            return col(value)
        written = texts.get(value)
        if written is None:
            written = texts[value] = col(value)
        return written
    return text


MOVES = 4  # a run whose loss changes direction more often is summed up, not told move by move
SIGNIFICANT = 3  # digits of a table written with powers of ten


@dataclass(frozen=True)
class Column:
    """One number format for a whole loss table: ``decimals`` places, trailing zeros kept
    (0.0370, 0.5000), or, when some value would keep fewer than two significant digits
    that way (0.0006) or is very large, every value with a power of ten (3.70 · 10^{-2})."""

    decimals: int
    scientific: bool

    @classmethod
    def of(cls, values, decimals: int) -> "Column":
        finite = [abs(v) for v in values if math.isfinite(v) and v != 0]
        small = 10.0 ** -(decimals - 1)  # below this a value keeps one significant digit
        return cls(decimals, any(v < small or v >= LARGE for v in finite))

    def __call__(self, value: float) -> Tex:
        if not math.isfinite(value):
            return Tex(r"\infty" if value > 0 else r"-\infty" if value < 0 else r"\mathrm{NaN}")
        if self.scientific:
            return Tex("0") if value == 0 else scientific(value, SIGNIFICANT)
        return Tex(fixed(value, -self.decimals))

    def shown(self, value: float) -> float:
        """The value as the table writes it."""
        return float(f"{value:.{SIGNIFICANT - 1}e}") if self.scientific else float(rounded(value, -self.decimals))


def _moves(losses: list[float], col) -> list[dict]:
    """The run told as it goes: each stretch of steps in one direction (rises, falls,
    stays), how many times, and the loss and step it reaches."""
    if len(losses) < 2:
        return []
    tol = 1e-12 * max(abs(v) for v in losses)  # the judge's rounding noise (training.judge)
    out: list[dict] = []
    for k, (a, b) in enumerate(zip(losses, losses[1:]), start=2):
        verb = "rises" if b - a > tol else "falls" if b - a < -tol else "stays"
        if out and out[-1]["verb"] == verb:
            out[-1]["count"] += 1
            out[-1]["step"] = k
        else:
            out.append({"verb": verb, "count": 1, "step": k, "to": None})
    for m in out:  # written once per stretch, at its end
        m["to"] = col(losses[m["step"] - 1])
        m["times"] = _times(m["count"])
    return out


def _times(n: int) -> str:
    words = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times",
             7: "seven times", 8: "eight times", 9: "nine times", 10: "ten times"}
    return words.get(n, f"{n} times")


def _end(run) -> float:
    return run.after if run.overflow_at is None and math.isfinite(run.after) else math.inf


def _versus(run, col: Column, first, first_col: Column) -> dict:
    """How a later run ends compared with the first: which reaches the lower loss after
    its last update, and by what factor (of the losses as the tables write them); for
    runs that broke down, which broke down first. ``lower`` is "this", "first" or "same"
    (within SAME_END of each other)."""
    a, b = _end(run), _end(first)
    out = {"same_verdict": run.verdict == first.verdict, "larger": run.learning_rate > first.learning_rate,
           "rate_only": run.settings == first.settings,  # else the runs compare optimizers
           "end": col(a), "first_end": first_col(b), "lower": "same", "factor": None}
    if math.isinf(a) and math.isinf(b):
        out["lower"] = "same" if run.overflow_at == first.overflow_at else (
            "this" if run.overflow_at > first.overflow_at else "first")  # the later breakdown
        return out
    if math.isclose(a, b, rel_tol=SAME_END):
        return out
    out["lower"] = "this" if a < b else "first"
    if math.isfinite(a) and math.isfinite(b):
        lo, hi = sorted((col.shown(a), first_col.shown(b)))
        if lo > 0 and hi / lo >= 1.1:
            ratio = hi / lo
            out["factor"] = Tex(f"{ratio:.2g}" if ratio < 100 else _power(ratio))
    return out


def _power(x: float) -> str:
    """A large ratio with two significant digits, 4.7·10⁵ (rounding to a power of ten
    would call 4.7·10⁵ "10⁶")."""
    mantissa, exponent = f"{x:.1e}".split("e")
    return rf"{mantissa} \cdot 10^{{{int(exponent)}}}"


def _table_steps(n: int) -> list[int]:
    """The steps the loss table lists: all of them for a short run; for a long one the
    first few and then evenly spaced ones up to the last, so the table fits the page."""
    if n <= TABLE_ROWS:
        return list(range(1, n + 1))
    head = list(range(1, 6))
    rest = TABLE_ROWS - len(head)
    return head + sorted({round(6 + (n - 6) * i / (rest - 1)) for i in range(rest)})


def _curve(run, named: bool = False) -> dict:
    return {"eta": given_text(run.learning_rate), "label": label_tex(run, named, short=True),
            "points": [(k, v) for k, v in enumerate(run.losses, 1) if math.isfinite(v)],
            "coordinates": {}}  # by whether the axis is logarithmic: written once for every plot


def _plot(curves: list[dict], steps: int) -> dict:
    """Axis settings and coordinates for the loss curve: a log axis when the losses span
    more than two decades; zeros (and overflowed steps) are left out where a log axis
    cannot show them."""
    values = [v for c in curves for _, v in c["points"]]
    positive = [v for v in values if v > 0]
    log = bool(positive) and max(positive) / min(positive) > LOG_SPAN
    drawn = []
    for c in curves:
        if log not in c["coordinates"]:
            c["coordinates"][log] = " ".join(f"({k},{v:.6e})" for k, v in c["points"] if v > 0 or not log)
        drawn.append({"eta": c["eta"], "label": c["label"], "coordinates": c["coordinates"][log]})
    return {
        "log": log,
        "curves": drawn,
        "xmax": steps,
        "omitted": log and len(positive) < len(values),
        "empty": not any(c["coordinates"] for c in drawn),
    }
