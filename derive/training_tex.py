"""What the key shows of training runs: loss tables, plots and how the runs compare.

The runs themselves are computed with the Solution (``training``, ``Exercise.solve``);
this module only turns them into what ``training.tex.j2`` lays out.
"""

from __future__ import annotations

import math

from .latex import Tex, latex_name
from .optimizer_runs import label_tex
from .rounding import NumberPolicy, given_text

TABLE_ROWS = 20  # a longer run's table lists selected steps
SAME_END = 1e-3  # two runs ending this close (relative) end at practically the same loss
LOG_SPAN = 100.0  # the loss plot switches to a log axis when max/min exceeds this (two decades)


def context(solution) -> list[dict]:
    """What training.tex.j2 receives for each run of a Solution (see the README, "Templates")."""
    runs = solution.runs
    policy = solution.policy
    online = bool(solution.derivation.online)  # one step of a run is then a pass over the examples
    first = runs[0] if runs else None
    named = any(r.settings is not None for r in runs)  # runs that compare optimizers name each one
    out = []
    for i, run in enumerate(runs):
        finite = [v for v in run.losses if math.isfinite(v)]
        peak = max(range(len(finite)), key=finite.__getitem__) if finite else 0
        curves = [_curve(run, named)] + ([_curve(first, named)] if i > 0 and first is not None else [])
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


def _end(run) -> float:
    return run.after if run.overflow_at is None and math.isfinite(run.after) else math.inf


def _versus(run, first, policy: NumberPolicy) -> dict:
    """How a later run ends compared with the first: which reaches the lower loss after
    its last update, and by what factor; for runs that broke down, which broke down first.
    ``lower`` is "this", "first" or "same" (within SAME_END of each other)."""
    a, b = _end(run), _end(first)
    out = {"same_verdict": run.verdict == first.verdict, "larger": run.learning_rate > first.learning_rate,
           "rate_only": run.settings == first.settings,  # else the runs compare optimizers
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
        drawn.append({"eta": c["eta"], "label": c["label"],
                      "coordinates": " ".join(f"({k},{v:.6e})" for k, v in pts)})
    return {
        "log": log,
        "curves": drawn,
        "xmax": steps,
        "omitted": log and len(positive) < len(values),
        "empty": not any(c["coordinates"] for c in drawn),
    }
