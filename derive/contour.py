"""Contour lines of a function of two variables, for the trajectory figure of an optimizer
on a computational graph (templates/graph_optimizer.tex.j2 draws them with pgfplots).

Marching squares on a grid: each cell whose corners lie on both sides of a level gets a
segment between the crossings on its edges, placed by linear interpolation; segments are
then joined end to end into polylines, so pgfplots draws a few smooth lines instead of
thousands of pieces. The saddle case (two opposite corners above) is split by the value at
the cell's centre. Plain floats; no NumPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

GRID = 64  # cells per side: smooth at the size the key prints, quick in pure Python


@dataclass(frozen=True)
class Window:
    x0: float
    x1: float
    y0: float
    y1: float


def around(points: Sequence[tuple[float, float]], margin: float = 0.25, least: float = 1.0,
           ratio: float = 1.6) -> Window:
    """A box around the trajectory with room on every side, at least ``least`` wide (a
    short trajectory still shows the shape of the level sets) and no side more than
    ``ratio`` times the other (a path straight up still shows the lines beside it)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    wide = max(max(xs) - min(xs), max(ys) - min(ys)) / ratio

    def span(lo: float, hi: float) -> tuple[float, float]:
        mid, half = (lo + hi) / 2, max((hi - lo) / 2 * (1 + 2 * margin), least / 2, wide / 2 * (1 + 2 * margin))
        return mid - half, mid + half

    (x0, x1), (y0, y1) = span(min(xs), max(xs)), span(min(ys), max(ys))
    return Window(x0, x1, y0, y1)


def grid_values(fn: Callable[[float, float], float], box: Window, n: int = GRID) -> list[list[float]]:
    """fn on an (n + 1) × (n + 1) grid, row j at y = y0 + j·dy; nan where it cannot be
    computed (a log of a negative number off the trajectory)."""
    out = []
    for j in range(n + 1):
        y = box.y0 + (box.y1 - box.y0) * j / n
        row = []
        for i in range(n + 1):
            x = box.x0 + (box.x1 - box.x0) * i / n
            try:
                v = float(fn(x, y))
            except (ArithmeticError, ValueError):
                v = math.nan
            row.append(v if math.isfinite(v) else math.nan)
        out.append(row)
    return out


def levels(values: list[list[float]], through: Sequence[float], count: int = 9) -> list[float]:
    """The levels to draw: one through each point of the trajectory (each iterate lies on
    its own line), and ``count`` more spread over the box, closer together near the lowest
    value (where a bowl's lines would otherwise be few)."""
    flat = sorted(v for row in values for v in row if not math.isnan(v))
    if not flat:
        return []
    lo, hi = flat[0], flat[-1]
    spread = (hi - lo) or 1.0
    extra = [flat[min(len(flat) - 1, int(len(flat) * ((k / (count + 1)) ** 2)))] for k in range(1, count + 1)]
    out = sorted({v for v in through if lo < v < hi})  # every point's own line, however close
    for v in sorted(extra):  # the others only where they would not print as one thick line
        if all(abs(v - u) > spread / 100 for u in out):
            out.append(v)
    return sorted(out)
    return out


def lines(values: list[list[float]], box: Window, level: float) -> list[list[tuple[float, float]]]:
    """The contour of one level as polylines of (x, y) points."""
    n = len(values) - 1
    dx, dy = (box.x1 - box.x0) / n, (box.y1 - box.y0) / n

    def cross(a: tuple[int, int], b: tuple[int, int]) -> tuple[float, float]:
        va, vb = values[a[1]][a[0]], values[b[1]][b[0]]
        t = (level - va) / (vb - va)
        return (round(box.x0 + (a[0] + t * (b[0] - a[0])) * dx, 6), round(box.y0 + (a[1] + t * (b[1] - a[1])) * dy, 6))

    segments: list[tuple[tuple[float, float], tuple[float, float]]] = []
    for j in range(n):
        for i in range(n):
            corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)]
            vs = [values[c[1]][c[0]] for c in corners]
            if any(math.isnan(v) for v in vs):
                continue
            above = [v > level for v in vs]
            if all(above) or not any(above):
                continue
            edges = [(corners[k], corners[(k + 1) % 4]) for k in range(4) if above[k] != above[(k + 1) % 4]]
            points = [cross(a, b) for a, b in edges]
            if len(points) == 2:
                if points[0] != points[1]:  # a level through a grid point: no segment of length 0
                    segments.append((points[0], points[1]))
            else:  # a saddle: pair the crossings so the centre's side stays connected
                centre_above = sum(vs) / 4 > level
                if centre_above == above[0]:
                    segments += [(points[0], points[3]), (points[1], points[2])]
                else:
                    segments += [(points[0], points[1]), (points[2], points[3])]
    return _join(segments)


def _join(segments) -> list[list[tuple[float, float]]]:
    """Segments joined where they share an end, into as few polylines as possible."""
    ends: dict[tuple[float, float], list[int]] = {}
    for k, (a, b) in enumerate(segments):
        ends.setdefault(a, []).append(k)
        ends.setdefault(b, []).append(k)
    used = [False] * len(segments)
    out = []
    for k in range(len(segments)):
        if used[k]:
            continue
        used[k] = True
        line = list(segments[k])
        for forward in (True, False):
            while True:
                tip = line[-1] if forward else line[0]
                nxt = next((m for m in ends.get(tip, ()) if not used[m]), None)
                if nxt is None:
                    break
                used[nxt] = True
                a, b = segments[nxt]
                point = b if a == tip else a
                line.append(point) if forward else line.insert(0, point)
        out.append(line)
    return out
