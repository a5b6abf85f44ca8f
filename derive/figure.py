"""Where the network figure puts its units and weight labels (the template only draws).

Columns are layers; a layer's bias unit sits at the foot of the column before it, since
it feeds the next layer. A bias parameter per neuron (or one shared per layer) is drawn as
a short arrow into the top of each unit, with its name.

Weight labels sit on their edges. Where many edges cross, a label placed at a fixed
fraction of every edge stacks on its neighbours, so each label gets its own spot: edges
into the same unit spread their labels along the edge, and each label takes the position
nearest its preferred one whose box overlaps no other label, unit or bias arrow, and which
no other edge passes through or close by (a label that another edge touches reads as that
edge's). If a strip has no such spot for some label, the columns move apart, up to a
width that still fits the page; only then may a label touch another edge. Layers of more
than ``MAX_UNITS`` units are drawn compactly (first and last units, an ellipsis between)
and their edges carry no labels; the table of given values names them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .latex import Tex, latex_name
from .network import Network

COLUMN_GAP = 3.4  # cm between layers, at least
MAX_GAP = 6.4  # cm; beyond this the labels are placed as well as they go
MAX_WIDTH = 14.0  # cm between the outer columns' centres: the figure stays inside the text width
CLEAR = 0.08  # cm around a label that no other edge may enter
ROW_GAP = 1.7  # cm between units of a layer
PIN_ROW_GAP = 2.1  # more room when every unit carries a bias arrow on top
ROW_STEP, MAX_ROW_STEPS = 0.3, 5  # rows move apart by this, at most this often, to clear labels
MAX_UNITS = 6  # larger layers are drawn with an ellipsis
HEAD, TAIL = 3, 2  # units drawn before and after the ellipsis
UNIT_R, BIAS_R = 0.45, 0.35  # half sizes of the node boxes, cm
LABEL_H = 0.42  # height of a weight label (footnotesize, with a subscript), cm
PIN_LEN = 0.4  # length of a bias arrow, cm
MARGIN = 0.04


@dataclass(frozen=True)
class Node:
    id: str  # TikZ node name
    label: str  # LaTeX
    x: float
    y: float
    kind: str  # input, bias, hidden, output, dots


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str  # LaTeX; empty for an edge of a compact layer
    x: float  # where the label's centre sits, on the edge
    y: float


@dataclass(frozen=True)
class Pin:
    """A bias parameter drawn as an arrow into the top of its unit."""

    target: str
    label: str
    x: float
    y: float  # where the arrow starts; the label sits above it


@dataclass(frozen=True)
class Compact:
    """A layer drawn with an ellipsis: how many units it has, the first and the last."""

    units: int
    first: str
    last: str


@dataclass(frozen=True)
class Figure:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    pins: tuple[Pin, ...] = ()
    compact: tuple[Compact, ...] = ()
    width: float = 0.0  # cm, from the leftmost to the rightmost node centre


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    hw: float  # half width
    hh: float  # half height

    def overlaps(self, other: "Box") -> bool:
        return (abs(self.x - other.x) < self.hw + other.hw + MARGIN
                and abs(self.y - other.y) < self.hh + other.hh + MARGIN)

    def crossed_by(self, x0: float, y0: float, x1: float, y1: float) -> bool:
        """Whether the segment passes through the box (Liang-Barsky clipping)."""
        t0, t1 = 0.0, 1.0
        dx, dy = x1 - x0, y1 - y0
        for p, q in ((-dx, x0 - (self.x - self.hw)), (dx, self.x + self.hw - x0),
                     (-dy, y0 - (self.y - self.hh)), (dy, self.y + self.hh - y0)):
            if p == 0:
                if q < 0:
                    return False
                continue
            t = q / p
            if p < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
            if t0 > t1:
                return False
        return True


def _ident(name: str) -> str:
    return "n" + "".join(c if c.isascii() and c.isalnum() else f"x{ord(c)}" for c in name)


def label_width(tex: str) -> float:
    """Estimated width (cm) of a label in \\footnotesize math: subscripts are smaller."""
    plain = re.sub(r"\\(mathrm|mathit|hat|mathcal)\b", "", tex)
    sub = 0
    for m in re.finditer(r"_\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}|_(\w)", plain):
        sub += len(re.sub(r"[\\{}]|mathrm|mathit", "", m.group(1) or m.group(2)))
    base = len(re.sub(r"_\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}|_\w|[\\{}^*',]", "", plain))
    return 0.2 * max(base, 1) + 0.14 * sub + 0.12


def _shown(units: tuple[str, ...]) -> tuple[list[str | None], bool]:
    """The units a column draws (``None`` is the ellipsis) and whether it is compact."""
    if len(units) <= MAX_UNITS:
        return list(units), False
    return [*units[:HEAD], None, *units[-TAIL:]], True


def layout(net: Network) -> Figure:
    """Where every unit and label goes; rows move apart (a little at a time, up to
    ``MAX_ROW_STEPS`` times) while some label finds no spot clear of other edges."""
    base = PIN_ROW_GAP if net.bias in ("neuron", "layer") else ROW_GAP
    for step in range(MAX_ROW_STEPS + 1):
        fig, clear = _layout(net, base + ROW_STEP * step)
        if clear:
            break
    return fig


def _layout(net: Network, row_gap: float) -> tuple[Figure, bool]:
    """The figure with this gap between rows, and whether every label is clear of other edges."""
    layers_units = [net.inputs] + [layer.units for layer in net.layers]
    columns: list[list[tuple[str, str]]] = []  # (name or "", kind)
    compact_cols, compact = [], []
    for c, units in enumerate(layers_units):
        shown, is_compact = _shown(units)
        kind = "input" if c == 0 else ("output" if c == len(layers_units) - 1 else "hidden")
        columns.append([(u, kind) if u is not None else (f"dots{c}", "dots") for u in shown])
        compact_cols.append(is_compact)
        if is_compact:
            compact.append(Compact(len(units), latex_name(units[0]), latex_name(units[-1])))
    for i, layer in enumerate(net.layers):
        if layer.bias_unit:
            columns[i].append((layer.bias_unit, "bias"))

    # Vertical positions: each column centred on one line.
    pos: dict[str, tuple[float, str]] = {}
    for c, column in enumerate(columns):
        top = (len(column) - 1) * row_gap / 2
        for r, (name, kind) in enumerate(column):
            pos[name] = (top - r * row_gap, kind)

    pin_params = [p for p in net.params if p.source is None]
    drawn = {name for column in columns for name, kind in column}

    # Horizontal: place the strips between columns one by one, widening where needed.
    xs = [0.0]
    labels: dict[tuple[str, str], tuple[float, float]] = {}
    clear = True
    for c in range(len(columns) - 1):
        strip = [(p, t) for p in net.params if p.source is not None and p.source in drawn
                 and any(s == p.source for s, _ in columns[c]) for t in p.targets if t in drawn]
        with_labels = not (compact_cols[c] or compact_cols[c + 1])
        gap = COLUMN_GAP
        widest = max(COLUMN_GAP, min(MAX_GAP, MAX_WIDTH - xs[c] - COLUMN_GAP * (len(columns) - 2 - c)))
        while True:
            placed = _place(strip, columns, c, xs[c], xs[c] + gap, pos, pin_params, row_gap) if with_labels else {}
            if placed is not None or gap >= widest:
                break
            gap += 0.4
        if placed is None:
            clear = False
            placed = _place(strip, columns, c, xs[c], xs[c] + gap, pos, pin_params, row_gap, force=True)
        labels.update(placed)
        xs.append(xs[c] + gap)

    nodes = []
    for c, column in enumerate(columns):
        for name, kind in column:
            label = Tex(r"\vdots") if kind == "dots" else latex_name(name)
            nodes.append(Node(_ident(name), label, round(xs[c], 3), round(pos[name][0], 3), kind))
    edges = []
    for p in net.params:
        if p.source is None or p.source not in drawn:
            continue
        for t in p.targets:
            if t not in drawn:
                continue
            lx, ly = labels.get((p.name, t), (0.0, 0.0))
            label = latex_name(p.name) if (p.name, t) in labels else ""
            edges.append(Edge(_ident(p.source), _ident(t), label, round(lx, 3), round(ly, 3)))
    column_of = {name: c for c, column in enumerate(columns) for name, _ in column}
    pins = tuple(
        Pin(_ident(t), latex_name(p.name), round(xs[column_of[t]], 3),
            round(pos[t][0] + UNIT_R + PIN_LEN, 3))
        for p in pin_params for t in p.targets if t in drawn
    )
    return Figure(tuple(nodes), tuple(edges), pins, tuple(compact), round(xs[-1], 3)), clear


def _obstacles(columns, c: int, x0: float, x1: float, pos, pin_params, row_gap) -> list[Box]:
    boxes = []
    for x, column in ((x0, columns[c]), (x1, columns[c + 1])):
        for name, kind in column:
            r = BIAS_R if kind == "bias" else UNIT_R
            boxes.append(Box(x, pos[name][0], r, r))
    targets_with_pins = {t for p in pin_params for t in p.targets}
    for x, column in ((x0, columns[c]), (x1, columns[c + 1])):
        for name, _ in column:
            if name in targets_with_pins:
                y = pos[name][0] + UNIT_R + PIN_LEN / 2 + LABEL_H / 2
                boxes.append(Box(x, y, 0.35, (PIN_LEN + LABEL_H) / 2))
    return boxes


def _place(strip, columns, c, x0, x1, pos, pin_params, row_gap, force: bool = False):
    """Label positions for every edge of one strip, or None if some label finds no room."""
    obstacles = _obstacles(columns, c, x0, x1, pos, pin_params, row_gap)
    targets = [name for name, kind in columns[c + 1] if kind != "dots"]
    segments = [(x0, pos[p.source][0], x1, pos[t][0]) for p, t in strip]
    placed: dict[tuple[str, str], tuple[float, float]] = {}
    boxes: list[Box] = []
    # Fractions of the edge: the usual spots first, finer ones (and nearer the ends) if none is clear.
    coarse = [0.16 + 0.04 * k for k in range(18)]  # 0.16 … 0.84
    fine = [0.12 + 0.02 * k for k in range(39)]  # 0.12 … 0.88
    order = sorted(range(len(strip)), key=lambda k: (targets.index(strip[k][1]), strip[k][0].name))
    for k in order:
        p, t = strip[k]
        j, n = targets.index(t), len(targets)
        preferred = 0.3 if n == 1 else 0.2 + 0.45 * j / (n - 1)
        ya, yb = pos[p.source][0], pos[t][0]
        hw = label_width(latex_name(p.name)) / 2
        best, best_cost = None, None
        for grid in (coarse, fine):
            for q in grid:
                box = Box(x0 + q * (x1 - x0), ya + q * (yb - ya), hw, LABEL_H / 2)
                if any(box.overlaps(b) for b in obstacles) or any(box.overlaps(b) for b in boxes):
                    continue
                # A label on or by another edge hides it and reads as belonging to it.
                near = Box(box.x, box.y, box.hw + CLEAR, box.hh + CLEAR)
                crossings = sum(near.crossed_by(*s) for i, s in enumerate(segments) if i != k)
                if crossings and not force:
                    continue
                cost = 10 * crossings + abs(q - preferred)
                if best_cost is None or cost < best_cost:
                    best, best_cost = box, cost
            if best is not None:
                break
        if best is None:
            if not force:
                return None
            best = Box(x0 + preferred * (x1 - x0), ya + preferred * (yb - ya), hw, LABEL_H / 2)
        boxes.append(best)
        placed[(p.name, t)] = (best.x, best.y)
    return placed
