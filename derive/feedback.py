"""Feedback on a checked calculation: the same reasons as terminal text, TeX and data.

A reason is a list of segments (text, a quantity name, a number), so that the terminal,
``--json`` and the feedback sheet say the same thing, each in its own notation.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Sequence

from .check import VERDICTS, Report, Result, truncated
from .latex import latex_name
from .misconceptions import MISCONCEPTIONS
from .render import escape_tex
from .rounding import fixed, rounded

TEMPLATE = "feedback.tex.j2"


def number(value: float, decimals: int, strip: bool = True) -> str:
    """A computed value for the feedback: ``decimals`` places (trailing zeros dropped
    unless ``strip`` is false); a value too small for them keeps two significant digits."""
    if not math.isfinite(value):
        return str(value)
    if value != 0 and rounded(value, -decimals) == 0:
        return f"{value:.2g}"
    text = fixed(value, -decimals)
    return text.rstrip("0").rstrip(".") or "0" if strip and "." in text else text


def reasons(r: Result, report: Report) -> list[tuple[str, str]]:
    """Why a value got its verdict, as segments: ("t", text), ("n", quantity name),
    ("v", number). Empty for a value that is simply right."""
    w = report.written[r.name]
    d = max(report.solution.policy.decimals, w.decimals + 1)

    def values(names: Sequence[str]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for k, n in enumerate(names):
            out += [("t", ", " if k else ""), ("n", n), ("t", " = "), ("v", report.written[n].text)]
        return out

    if r.verdict == "correct" and r.rounding:
        return [("t", "follows from your rounded ")] + values(r.because) + [("t", "; the exact value is "),
                                                                           ("v", number(r.expected, d))]
    if r.verdict == "coarse":
        places = max(1, -math.floor(math.log10(abs(r.expected))))
        return [("t", "too few digits to show the value "), ("v", number(r.expected, d)),
                ("t", f"; write {places} decimals or more")]
    if r.verdict == "carried":
        lead = "follows from your rounded " if r.rounding else "follows from your "
        return [("t", lead)] + values(r.because) + [("t", ": your values give "), ("v", number(r.recomputed, d)),
                                                   ("t", "; the exact value is "), ("v", number(r.expected, d))]
    if r.verdict != "wrong":
        return []
    out: list[tuple[str, str]] = []
    if r.misconception:
        m = MISCONCEPTIONS[r.misconception]
        out += [("m", m.title), ("t", f": {m.explanation}")]
        for k, pair in enumerate(r.detail.split(", ") if r.detail else []):
            took, instead = pair.split(" in place of ")
            out += [("t", "; " if k == 0 else ", "), ("n", took), ("t", " in place of "), ("n", instead)]
        out.append(("t", "; "))
    elif r.recomputed is not None and truncated(w, r.recomputed):
        return out + [("t", "cut off instead of rounded: "), ("v", number(r.recomputed, d)),
                      ("t", " rounds to "), ("v", fixed(r.recomputed, w.exponent))]
    at_digits = fixed(r.expected, w.exponent)
    useful = at_digits != r.given and (float(at_digits) != 0 or r.expected == 0)  # not "should be 0.0"
    out += [("t", "should be "), ("v", at_digits if useful else number(r.expected, d))]
    if r.recomputed is not None and not w.accepts(r.recomputed) and abs(r.recomputed - r.expected) > 0.5 * w.unit:
        out += [("t", "; your own values give "), ("v", number(r.recomputed, d))]
    return out


def text_of(segments: Sequence[tuple[str, str]]) -> str:
    return "".join(s for _, s in segments).strip()


def inline_name(name: str) -> str:
    """A quantity's LaTeX for running text and table cells: gradients with a slash
    (∂L/∂w_1), so that a row keeps the height of a line."""
    m = re.fullmatch(r"d([^/]+)/d(.+)", name)
    if m:
        return rf"\partial {latex_name(m.group(1))}/\partial {latex_name(m.group(2))}"
    return latex_name(name)


def tex_of(segments: Sequence[tuple[str, str]]) -> str:
    out = []
    for kind, s in segments:
        if kind == "n":
            out.append(f"${inline_name(s)}$")
        elif kind == "v":
            out.append(f"${s}$")
        else:
            out.append(rf"\textbf{{{escape_tex(s)}}}" if kind == "m" else escape_tex(s))
    return "".join(out).strip()


def as_data(report: Report) -> dict:
    """The report as JSON data (``--json``)."""
    return {
        "exercise": report.solution.spec.title,
        "variant": report.solution.variant,
        "allowance": report.allowance,
        "summary": report.counts(),
        "results": [
            {"name": r.name, "given": r.given, "expected": _finite(r.expected), "verdict": r.verdict,
             "because": list(r.because), "misconception": r.misconception,
             "note": text_of(reasons(r, report)), "recomputed": _finite(r.recomputed)}
            for r in report.results
        ],
    }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None  # JSON has no NaN


def table(report: Report) -> str:
    """The terminal table: root errors first."""
    policy = report.solution.policy
    rows = [("name", "given", "expected", "verdict", "note")]
    for r in report.results:
        d = max(policy.decimals, report.written[r.name].decimals)
        rows.append((r.name, r.given, number(r.expected, d, strip=False), r.verdict, text_of(reasons(r, report))))
    widths = [max(len(row[k]) for row in rows) for k in range(4)]
    lines = ["  ".join(c.ljust(wd) for c, wd in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    counts = report.counts()
    lines.append("")
    variant = f"variant {report.solution.variant}: " if report.solution.variant is not None else ""
    lines.append(variant + ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v])
                 + f" (allowance {report.allowance:g} unit of the last digit written)")
    return "\n".join(line.rstrip() for line in lines)


def feedback_context(report: Report) -> dict:
    """What templates/feedback.tex.j2 receives (see the comment at its top)."""
    s = report.solution
    rows = []
    for r in report.results:
        d = max(s.policy.decimals, report.written[r.name].decimals)
        rows.append({
            "name": inline_name(r.name), "given": escape_tex(r.given), "expected": number(r.expected, d, strip=False),
            "verdict": r.verdict, "why": tex_of(reasons(r, report)),
            "misconception": MISCONCEPTIONS[r.misconception].title if r.misconception else "",
        })
    return {
        "exercise": {"title": s.spec.title, "course": s.spec.course, "variant": s.variant, "seed": s.seed},
        "document": "Feedback on a hand calculation",
        "source": escape_tex(Path(report.source).name) if report.source else "",
        "allowance": f"{report.allowance:g}",
        "counts": report.counts(),
        "ok": report.ok,
        "rows": rows,
    }
