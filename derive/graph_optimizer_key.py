"""What the key and sheet of an optimizer on a computational graph receive
(templates/graph_optimizer.tex.j2): the rule with its conventions, each step's pass and
update lines, the trajectory as a table and as a figure on the contour lines of the output.

The numbers come from the Solution; the contour lines are computed here (derive/contour.py)
from the graph's composed output, once per variant, since they depend on the start.
"""

from __future__ import annotations

import math
import re

import sympy as sp

from . import contour
from .formula import compiled
from .graph import composed
from .latex import Tex, latex_name
from .optimizer_graph import param_name, pass_stage, step_stage
from .optimizer_key import settings_text
from .rounding import given_tex

FIGURE_WIDTH = 11.0  # cm: the axes' box, well inside the 16.6 cm text width
FIGURE_HEIGHT_MAX = 9.0  # cm
ASPECT = 1.6  # the box around the path is at most this much taller than wide, or wider than tall


def _as_x(rule: str) -> str:
    """The optimizer's rule as the key states it, with the parameter written x, not w."""
    return re.sub(r"(\\tilde )?\bw(?=_)", lambda m: (m.group(1) or "") + "x", rule)


def context(solution) -> dict | None:
    graph = solution.spec.graph
    s = graph.optimizer
    if s is None:
        return None
    der, values, policy = solution.derivation, solution.values, solution.policy
    sections = solution.sections
    f = graph.output
    look = s.optimizer == "nesterov" and s.nesterov == "lookahead"
    settings = settings_text(s, solution.givens)
    settings["rules"] = [Tex(_as_x(str(r))) for r in settings["rules"]]
    settings["eta"] = given_tex(solution.givens["eta"])
    backward_shown = "backward" in solution.spec.asked  # else step 1 works its own backward pass
    first_pass = [] if backward_shown else [*sections.get("local", ()), *sections.get("gradient", ())]
    steps = []
    for k in range(1, s.steps + 1):
        lines = list(sections.get(step_stage(k), ()))
        steps.append({
            "k": k,
            "pass": list(sections.get(pass_stage(k), ())) if k > 1 else first_pass,
            "lookahead": [l for l in lines if der[l.name].note == "lookahead"],
            "penalty": [l for l in lines if der[l.name].note in ("penalty", "objective")],  # step 1, L2 decay
            "lines": [l for l in lines if der[l.name].note not in ("lookahead", "penalty", "objective")],
            "at": [latex_name(param_name(x, k - 1)) for x in graph.parameters],
            "gradients": [{"lhs": Tex(rf"\partial {latex_name(f)}/\partial {latex_name(x)}"), "value": policy.tex(values[f"d{f}/d{x}"])}
                          for x in graph.parameters] if k == 1 else [],
        })
    outputs = [f"{f}{chr(39) * k}" for k in range(s.steps + 1)]
    trajectory = []
    for k in range(s.steps + 1):
        row = [given_tex(values[x]) if k == 0 else policy.tex(values[param_name(x, k)]) for x in graph.parameters]
        shown = not look or k == s.steps
        trajectory.append({"k": k, "cells": row,
                           "output": policy.tex(values[outputs[k]]) if shown else ""})
    return {
        "settings": settings,
        "parameters": [latex_name(x) for x in graph.parameters],
        "fixed": [{"tex": latex_name(x), "value": given_tex(values[x])} for x in graph.inputs
                  if x not in graph.parameters],
        "output": latex_name(f),
        "steps": steps,
        "after": list(sections.get("forward_after", ())),
        "outputs": [{"tex": latex_name(o), "value": policy.tex(values[o])} for o in outputs
                    if not look or o in (f, outputs[-1])],
        "trajectory": trajectory,
        "lookahead": look,
        "figure": figure(solution),
    }


def question_html(solution, math_html, text) -> str:
    """The LMS question's paragraph on the optimizer (empty without one): what it
    minimises, its rule and conventions; the values are in the question's table."""
    graph = solution.spec.graph
    s = graph.optimizer
    if s is None:
        return ""
    o = settings_text(s, solution.givens)
    names = ", ".join(math_html(latex_name(x)) for x in graph.parameters)
    rules = " ".join(math_html(_as_x(str(r))) for r in o["rules"])
    steps = "one step" if s.steps == 1 else f"the first {s.steps} steps"
    goal = "larger (gradient ascent)" if o["ascent"] else "smaller"
    decay = ""
    if o["decay"]:
        decay = (" With weight decay: the gradient of the penalty λ/2·x² joins each gradient." if s.decay == "l2"
                 else " With decoupled weight decay: each parameter also shrinks by ηλx per step.")
    return (f"<p>Then {steps} of {text(o['title'])} ({text(o['source'])}) that move {names} to make "
            f"{math_html(latex_name(graph.output))} {goal}, each step's gradient taken at the parameters "
            f"before it: {rules}.{decay} Give each step's gradients, state and new parameters.</p>")


def figure(solution) -> dict | None:
    """The trajectory on the contour lines of the output (two parameters), or on the
    output's curve (one parameter); None for more."""
    graph = solution.spec.graph
    s, values = graph.optimizer, solution.values
    params = graph.parameters
    if len(params) > 2:
        return None
    fixed = {sp.Symbol(x): values[x] for x in graph.inputs if x not in params}
    fn = compiled(composed(graph).xreplace(fixed), [sp.Symbol(x) for x in params])
    path = [tuple(values[param_name(x, k)] for x in params) for k in range(s.steps + 1)]
    if not all(math.isfinite(v) for p in path for v in p):
        return None
    if len(params) == 1:
        return dict(_curve(fn, [p[0] for p in path]), xlabel=latex_name(params[0]), ylabel=latex_name(graph.output))
    box = contour.around(path, ratio=ASPECT)
    grid = contour.grid_values(fn, box)
    heights = []
    for p in path:
        try:
            heights.append(float(fn(*p)))
        except (ArithmeticError, ValueError):
            pass
    drawn = []
    for level in contour.levels(grid, heights):
        for line in contour.lines(grid, box, level):
            if len(line) > 1:
                drawn.append(_coordinates(line))
    w = box.x1 - box.x0
    h = box.y1 - box.y0
    equal = 1 / 3 <= h / w <= 3  # the level sets' true shape, unless the box is far from square
    height = min(FIGURE_HEIGHT_MAX, FIGURE_WIDTH * h / w) if equal else 7.0
    width = height * w / h if equal and FIGURE_WIDTH * h / w > FIGURE_HEIGHT_MAX else FIGURE_WIDTH
    return {
        "kind": "contour",
        "xlabel": latex_name(params[0]), "ylabel": latex_name(params[1]),
        "xmin": _n(box.x0), "xmax": _n(box.x1), "ymin": _n(box.y0), "ymax": _n(box.y1),
        "width": f"{width:.2f}", "height": f"{height:.2f}",
        "contours": drawn,
        "path": _coordinates(path),
        "labels": _labels(path),
    }


def _curve(fn, xs: list[float]) -> dict:
    """The curve around the points, wide enough to show its bend: at least half as wide
    as the points are far from 0."""
    lo, hi = min(xs), max(xs)
    half = max((hi - lo) / 2 * 1.5, 0.5 * max(abs(lo), abs(hi)), 0.5)
    mid = (lo + hi) / 2
    a, b = mid - half, mid + half
    curve = []
    for i in range(161):
        x = a + (b - a) * i / 160
        try:
            y = float(fn(x))
        except (ArithmeticError, ValueError):
            continue
        if math.isfinite(y):
            curve.append((x, y))
    path = [(x, float(fn(x))) for x in xs]
    return {"kind": "curve", "xlabel": "", "ylabel": "", "xmin": _n(a), "xmax": _n(b),
            "width": f"{FIGURE_WIDTH:.2f}", "height": "6.00",
            "contours": [_coordinates(curve)], "path": _coordinates(path), "labels": _labels(path)}


def _labels(path) -> list[dict]:
    """The step number beside each point, once per place (a point the trajectory returns
    to keeps its first label)."""
    out, seen = [], set()
    for k, p in enumerate(path):
        key = tuple(round(v, 3) for v in p)
        if key not in seen:
            seen.add(key)
            out.append({"k": k, "at": f"({_n(p[0])},{_n(p[1])})"})
    return out


def _n(v: float) -> str:
    return f"{v:.6g}"


def _coordinates(points) -> str:
    return " ".join(f"({_n(x)},{_n(y)})" for x, y in points)
