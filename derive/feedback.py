"""Feedback on a checked calculation: the terminal table, the ``--json`` data and the
feedback sheet, all from the notes the checker wrote (``derive.notes``)."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Sequence

from . import key_tables, solution as D  # the key's stages
from .check import VERDICTS, Report, Result
from .latex import Tex, escape_tex, latex_name
from .notes import number, plain
from .solution import ChainLine

TEMPLATE = "feedback.tex.j2"

# The parts of the calculation, as the key presents them; the feedback sheet groups by them.
PARTS = (
    ("Given values", (D.GIVEN,)),
    ("Forward pass", (D.FORWARD,)),
    ("Loss", (D.LOSS,)),
    ("Gradients", (D.LOCAL, D.DELTA, D.GRADIENT)),
    ("Updates", (D.UPDATE,)),
    ("After the update", (D.FORWARD_AFTER, D.LOSS_AFTER)),
)
# An optimizer exercise's later stages (derive/optimizer_graph.py): step k's pass and updates.
STEP = re.compile(r"(?:pass|optimizer)\[(\d+)\]")


def parts_of(der) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """PARTS, with an optimizer's steps, each a part of its own, before the part after them."""
    steps: dict[int, set[str]] = {}
    for q in der.quantities:
        m = STEP.fullmatch(q.stage)
        if m:
            steps.setdefault(int(m.group(1)), set()).add(q.stage)
    return (*PARTS[:-1], *((f"Step {k}", tuple(sorted(st))) for k, st in sorted(steps.items())), PARTS[-1])


def reasons(r: Result, report: Report) -> list[tuple[str, str]]:
    """The note on ``r`` as segments (see ``derive.notes``)."""
    return list(r.segments)


def text_of(segments: Sequence[tuple[str, str]]) -> str:
    return plain(segments)


def inline_name(name: str) -> Tex:
    """A quantity's LaTeX for running text and table cells: gradients with a slash
    (∂L/∂w_1), so that a row keeps the height of a line."""
    m = re.fullmatch(r"d([^/]+)/d(.+)", name)
    if m:
        return Tex(rf"\partial {latex_name(m.group(1))}/\partial {latex_name(m.group(2))}")
    return latex_name(name)


def tex_of(segments: Sequence[tuple[str, str]]) -> Tex:
    """Segments as LaTeX: names, numbers and formula bits joined into one math group."""
    out: list[str] = []
    math_run: list[str] = []

    def close() -> None:
        if math_run:
            out.append("$" + "".join(math_run) + "$")
            math_run.clear()

    for kind, s in segments:
        if kind == "n":
            math_run.append(inline_name(s))
        elif kind == "v":
            math_run.append(tex_number(s))
        elif kind == "x":
            math_run.append(s)
        else:
            close()
            out.append(rf"\textbf{{{escape_tex(s)}}}" if kind == "m" else escape_tex(s))
    close()
    return Tex("".join(out).strip())  # every piece above is escaped or made by the printer


def tex_number(text: str) -> Tex:
    """A number as written (untrusted: any digits Python's Decimal reads) for TeX math."""
    text = text.strip().replace("\u2212", "-")
    if re.fullmatch(r"[-+]?[0-9]*\.?[0-9]*(?:[eE][-+]?[0-9]+)?", text):
        return Tex(text)
    try:
        return Tex(format(Decimal(text), "f"))  # other scripts' digits, as ASCII
    except (InvalidOperation, ValueError):
        return Tex(rf"\text{{{escape_tex(text)}}}")


def key_line(report: Report, name: str) -> Tex:
    """The key's line for ``name`` in LaTeX: the formula with the numbers put in, and the
    value. A value that only renames another (ŷ' = ŷ'_in) quotes that one's numbers too."""
    der = report.solution.derivation
    lines = {line.name: line for line in (report.solution.sections.get(der[name].stage, ()) if name in der.index
                                          else report.solution.start)}
    line = lines.get(name)
    if line is None:
        return Tex("")
    if isinstance(line, ChainLine):
        return Tex(f"{inline_name(name)} = {''.join(line.numbers)} {line.relation} {line.value}")
    forms = [f for f in line.forms if f != line.value]
    formula = der[name].formula if name in der.index else None
    if formula is not None and formula.is_Symbol and formula.name in lines:
        inner = lines[formula.name]
        forms += [f for f in getattr(inner, "forms", ())[1:] if f != inner.value][-1:]
    return Tex(" = ".join([inline_name(name), *forms[-2:]]) + f" {line.relation} {line.value}")


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
             "misconceptions": list(r.misconceptions), "detail": r.detail, "note": r.note,
             "segments": [list(seg) for seg in r.segments], "recomputed": _finite(r.recomputed)}
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
        rows.append((r.name, r.given, number(r.expected, d, strip=False), r.verdict, r.note))
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
    der = s.derivation
    by = {r.name: r for r in report.results}

    def row(r: Result) -> dict:
        d = max(s.policy.decimals, report.written[r.name].decimals)
        return {
            "name": inline_name(r.name), "given": tex_number(r.given),
            "expected": number(r.expected, d, strip=False), "verdict": r.verdict, "why": tex_of(r.segments),
            "key": key_tables.breakable(key_line(report, r.name)) if r.verdict in ("wrong", "coarse") else "",
        }

    parts = []
    for title, stages in parts_of(der):
        rows = [row(by[q.name]) for q in der.quantities if q.name in by and q.stage in stages]
        if rows:
            parts.append({"title": title, "rows": rows})
    start = [row(by[name]) for name in s.start_values if name in by]  # online: as the key, last
    if start:
        parts.append({"title": "The loss at the starting parameters", "rows": start})
    return {
        "exercise": {"title": s.spec.title, "course": s.spec.course, "variant": s.variant, "seed": s.seed},
        "document": "Feedback on a hand calculation",
        "source": escape_tex(Path(report.source).name) if report.source else "",
        "allowance": f"{report.allowance:g}",
        "counts": report.counts(),
        "ok": report.ok,
        "roots": [inline_name(r.name) for r in report.results if r.verdict == "wrong"],
        "parts": parts,
    }
