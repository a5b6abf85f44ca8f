"""What the sheet and key of a computational-graph exercise receive: the gates in the order
the backward pass meets them, the rule each one follows, the table of all nodes, the
chain-rule check and the circuit figure.

The numbers all come from the Solution (the key's lines, its values); the figure's places
and every piece of LaTeX are made here once per graph, so templates only lay them out.
"""

from __future__ import annotations

import dataclasses

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from . import graph_optimizer_key
from .formula import compiled, g_abs, g_max, g_min, g_relu, g_sigmoid
from .graph import Graph, backward_order, composed, grad_name, terms
from .latex import Tex, latex_name, partial, tex
from .rounding import given_text

# --- the gates and their rules -------------------------------------------------------------


def _symbols_only(args) -> bool:
    return all(a.is_Symbol for a in args)


def rule(formula: sp.Expr) -> str:
    """Which backward-flow rule a gate follows, named for the key: add, subtract,
    multiply, scale, divide, max, min, function, power, or other."""
    if formula.is_Add:
        negated = [a for a in formula.args if a.is_Mul and a.args[0] == -1]
        plain = all(a.is_Symbol or a.is_Number or (a.is_Mul and a.args[0] == -1 and a.args[1].is_Symbol)
                    for a in formula.args)
        if plain:
            return "subtract" if negated else "add"
        return "other"
    if formula.is_Mul:
        args = formula.args
        if len(args) == 2 and args[1].is_Pow and args[1].exp == -1 and _symbols_only([args[0], args[1].base]):
            return "divide"
        if len(args) == 2 and _symbols_only(args):
            return "multiply"
        if len(args) == 2 and sum(a.is_Number for a in args) == 1 and any(a.is_Symbol for a in args):
            return "scale"
        return "other"
    if isinstance(formula, g_max):
        return "min" if isinstance(formula, g_min) else "max" if _symbols_only(formula.args) else "other"
    if formula.is_Pow:
        return "power" if formula.base.is_Symbol else "other"
    if formula.is_Function and len(formula.args) == 1 and formula.args[0].is_Symbol:
        return "function"
    return "other"


_GATE_SYMBOL = {"add": "+", "subtract": "-", "multiply": r"\times", "divide": r"\div"}


def gate_label(formula: sp.Expr) -> Tex:
    """What the box of a gate shows: its operation where it is one (+, ×, max, σ, exp),
    else the formula itself."""
    return Tex(_gate_label(formula))


def _gate_label(formula: sp.Expr) -> str:
    r = rule(formula)
    if r in _GATE_SYMBOL:
        return _GATE_SYMBOL[r]
    if r in ("max", "min"):
        return rf"\{r}"
    if r == "function":
        f = formula
        if isinstance(f, g_sigmoid):
            return r"\sigma"
        if isinstance(f, g_relu):
            return r"\mathrm{ReLU}"
        if isinstance(f, g_abs):
            return r"|\cdot|"
        return {sp.exp: r"\exp", sp.log: r"\log", sp.tanh: r"\tanh"}.get(f.func, tex(f))
    if r == "power" and formula.exp == sp.Rational(1, 2):
        return r"\sqrt{\cdot}"
    if r == "power" and formula.exp == -1:
        return r"1/(\cdot)"
    if r == "scale":
        c = next(a for a in formula.args if a.is_Number)
        return rf"\times {tex(c)}" if c >= 0 else rf"\times ({tex(c)})"
    return tex(formula)


@dataclass(frozen=True)
class Gate:
    node: str
    rule: str
    formula: str  # LaTeX
    locals_: tuple[str, ...]  # names of its local-gradient quantities
    gradients: tuple[str, ...]  # names of the gradients complete at this gate
    output: bool


def gates(graph: Graph) -> tuple[Gate, ...]:
    """The gates from the output back; each gradient is written at the last gate that
    contributes to it (the user that comes first in the forward order)."""
    f = graph.output
    complete_at: dict[str, str] = {}
    for name in backward_order(graph):
        complete_at[name] = min(graph.users(name), key=[n.name for n in graph.nodes].index)
    out = []
    for node in reversed(graph.nodes):
        locals_ = () if node.name == f else tuple(f"d{node.name}/d{m}" for m in node.inputs)
        grads = tuple(grad_name(f, m) for m in backward_order(graph) if complete_at[m] == node.name)
        out.append(Gate(node.name, rule(node.formula), tex(node.formula), locals_, grads, node.name == f))
    return tuple(out)


# --- the figure ----------------------------------------------------------------------------

ROW = 1.8  # cm between two gates in one column: a wire's labels above and below, the next gate's name
MAX_WIDTH = 18.5  # cm: the text width and part of the margins; a wider circuit is scaled down
CHANNEL = 0.25  # cm between the upright runs of two wires in one gap
LEAD = 0.35  # cm of level wire before a wire's first turn and before an arrowhead
STUB = 0.3  # cm: the short drop that carries a value on to a later row
LINK = 0.45  # cm of arrow from a value's name, in a later row, to its gate


def label_room(decimals: int) -> float:
    """cm of level wire a value's labels need: about 0.19 cm per character of a number in
    footnote size, and air on both sides."""
    return max(1.0, 0.19 * (decimals + 3)) + 0.3


def printed(latex: str) -> int:
    """Roughly how many characters a LaTeX formula prints."""
    text = re.sub(r"\\[a-zA-Z]+", "x", re.sub(r"\\(left|right|,)", "", latex))
    return len(re.sub(r"[{}^_ ]", "", text))


def box_width(label: str) -> float:
    """The width of a gate's box in cm, roughly: 0.2 cm per printed character."""
    return max(1.0, 0.2 * printed(label) + 0.4)


def port_step(inputs: int) -> float:
    """cm between the heights at which two neighbouring inputs meet a gate."""
    return 0.4 if inputs <= 2 else 0.3 if inputs == 3 else 0.2


def box_height(inputs: int) -> float:
    """The height of a gate's box in cm: 8 mm, where two inputs can move together 1 mm up or
    down (see ``_ports``); with more, room for each arrowhead 1 mm inside the box and for
    moving them 1.5 mm."""
    if inputs <= 2:
        return 0.8
    return round(max(0.8, port_step(inputs) * (inputs - 1) + 0.5), 2)


def name_width(name: str) -> float:
    """The width of a node's name in footnote size in cm, roughly."""
    return 0.17 * printed(name) + 0.1


CHECK_WIDTH = 60  # printed characters: a longer composed expression is not written out

Point = tuple[float, float]


@dataclass(frozen=True)
class GateBox:
    id: str
    name: str  # LaTeX of the node's name
    label: str  # LaTeX of the gate's operation; "" for an input
    x: float
    y: float
    width: float  # cm, the box's least width; 0 for an input
    height: float  # cm, the box's least height
    input: bool


@dataclass(frozen=True)
class Branch:
    points: tuple[Point, ...]  # from the end of the wire's labelled stretch through its turns
    target: str  # the box it enters at its last point's height; "" for the drop to a later row


@dataclass(frozen=True)
class Wire:
    source: str  # the box the value leaves
    node: str  # the quantity name whose value it carries
    name: str  # its LaTeX
    x_end: float  # where the labelled stretch ends and the branches begin
    y: float
    label_x: float  # the middle of the value above the stretch and the gradient below it
    branches: tuple[Branch, ...]
    dots: tuple[Point, ...]  # where branches part
    tag: tuple[float, float, str] | None  # x, y, anchor: its name where it leaves for a later row
    output: bool


@dataclass(frozen=True)
class Link:
    """A value arriving from an earlier row of the figure, written as its name."""

    id: str
    name: str
    x: float  # the name's right end, from which its arrow runs level into the gate
    y: float
    target: str


@dataclass(frozen=True)
class Circuit:
    boxes: tuple[GateBox, ...]
    wires: tuple[Wire, ...]
    links: tuple[Link, ...]
    width: float
    scale: bool  # wider than the page allows: scaled down


MIN_SCALE = 0.7  # below this the labels would be too small; the circuit wraps into rows instead
BAND_GAP = 1.2  # cm between two rows of a wrapped circuit, from the lowest label of one to the highest of the next


@lru_cache(maxsize=64)
def figure(graph: Graph, decimals: int) -> Circuit:
    """Columns by depth (inputs first, each gate right of everything it uses), rows placed
    near the mean of their inputs; a circuit too deep for the page wraps into bands, a
    value crossing into a later band is written there by name.

    Every input of a gate meets its box at a height of its own. Wires run level and turn
    upright in the gaps between columns, each wire in an upright lane of its own, so no two
    wires share a stretch; one that skips columns passes them at a height free of their
    boxes and labels."""
    labels = {n.name: gate_label(n.formula) for n in graph.nodes}
    widths = {**{x: 0.0 for x in graph.inputs}, **{n: box_width(label) for n, label in labels.items()}}
    depth = {x: 0 for x in graph.inputs}
    for node in graph.nodes:
        depth[node.name] = 1 + max(depth[m] for m in node.inputs)
    columns_in_all = max(depth.values()) + 1
    tried = set()
    for fit in range(columns_in_all, 1, -1):  # the fewest rows that fit
        per_band = -(-columns_in_all // -(-columns_in_all // fit))  # rows of even length, not 9 and 1
        if per_band in tried:
            continue
        tried.add(per_band)
        circuit = _circuit(graph, labels, widths, depth, per_band, decimals)
        if circuit.width <= MAX_WIDTH / MIN_SCALE:
            break
    return circuit


def _heights(graph: Graph, names: list[str], band: dict, depth: dict, tall: dict) -> dict[str, float]:
    """Each gate's height in its band (each band from 0 down; see ``_circuit`` for the bands'
    places): near the mean of its inputs in the band, a row below the one above it."""
    y: dict[str, float] = {}
    for b in range(max(band.values()) + 1):
        columns: dict[int, list[str]] = {}
        for n in names:
            if band[n] == b:
                columns.setdefault(depth[n], []).append(n)
        for k in sorted(columns):
            col = columns[k]
            wanted = {}
            for i, n in enumerate(col):
                near = [y[m] for m in (graph.node(n).inputs if n not in graph.inputs else ()) if band[m] == b]
                wanted[n] = sum(near) / len(near) if near else -i * ROW
            placed: list[str] = []
            for n in sorted(col, key=lambda n: -wanted[n]):
                m = placed[-1] if placed else None
                y[n] = round(wanted[n] if m is None else min(wanted[n], y[m] - ROW - (tall[m] + tall[n]) / 2), 3)
                placed.append(n)
    return y


APART = 0.15  # cm: the least distance between two level wires that run side by side


def _ports(graph: Graph, band: dict, col: dict, y: dict, heights: dict, comes: dict,
           crowded: set) -> dict[tuple[str, str], float]:
    """The height at which each input meets its gate's left side: one of its own, in the
    order the wires come in, top to bottom (``comes``: the height a wire passes the column
    before at, where not its source's); a value from an earlier row comes just below the
    middle, where its name is written. The inputs move together a little up or down, within
    the box: level with a wire that would otherwise turn too little to see, and, at a
    ``crowded`` gate, clear of the wires leaving the column before that one would run beside."""
    leaving: dict[tuple[int, int], list[tuple[str, float]]] = {}
    for n in y:
        leaving.setdefault((band[n], col[n]), []).append((n, y[n]))
    port = {}
    for node in graph.nodes:
        u, ins = node.name, node.inputs
        height = {m: comes.get((m, u), y[m]) if band[m] == band[u] else y[u] - ROW / 4 for m in ins}
        step = port_step(len(ins))
        order = sorted(ins, key=lambda m: -height[m])
        at = {m: y[u] + step * ((len(ins) - 1) / 2 - i) for i, m in enumerate(order)}
        room = heights[u] / 2 - 0.1 - step * (len(ins) - 1) / 2
        others = leaving.get((band[u], col[u] - 1), [])

        def beside(shift: float) -> int:
            if u not in crowded:
                return 0
            return sum(abs(round(at[m] + shift - v, 3)) < APART for m in ins for n, v in others if n != m)

        def kinks(shift: float) -> int:  # wires that turn too little to see before they come in
            return sum(0 < abs(round(at[m] + shift - height[m], 3)) < 0.2 for m in ins if band[m] == band[u])

        # no move, one that puts an input just clear of a wire it would run beside, or level with its wire
        shifts = [0.0] + [round(v - at[m] + side * APART, 3) for m in ins for n, v in others for side in (-1, 1)]
        shifts += [round(height[m] - at[m], 3) for m in ins]
        shift = min((d for d in shifts if abs(d) <= room + 1e-9), key=lambda d: (beside(d), kinks(d), abs(d)))
        for m in ins:
            port[u, m] = round(at[m] + shift, 3)
    return port


def _run(n: str, u: str, p: float, names, band, col, y, tall, port, runs) -> float:
    """The height at which a wire passes the columns between its source and a gate further
    on: its own if that is free, else the free height that turns least. Free: away from each
    gate of those columns (its box, its name above, its wire's labels), from the gate's other
    inputs and from other wires passing the same columns."""
    k, t = col[n], col[u]
    here = [m for m in names if band[m] == band[n] and m not in (n, u)]
    # a gate passed: its box, its name above, its wire's labels and the drop below its wire;
    # in the source's column only the wires leaving it, in the gate's only those entering
    blocked = [(y[m] - 0.65 - tall[m] / 2, y[m] + 0.85 + tall[m] / 2) for m in here if k < col[m] < t]
    blocked += [(y[m] - 0.7, y[m] + 0.15) for m in here if col[m] == k]
    blocked += [(y[m] - 0.45 - tall[m] / 2, y[m] + 0.45 + tall[m] / 2) for m in here if col[m] == t]
    blocked += [(q - 0.15, q + 0.15) for (v, m), q in port.items() if v == u and m != n]
    blocked += [(r - 0.2, r + 0.2) for b, r, first, last, other in runs
                if b == band[n] and other != n and first <= t - 1 and k <= last]
    merged: list[list[float]] = []
    for lo, hi in sorted(blocked):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    candidates = [y[n], p] + [(a[1] + b[0]) / 2 for a, b in zip(merged, merged[1:])]
    if merged:
        candidates += [merged[0][0] - 0.3, merged[-1][1] + 0.3]
    free = [v for v in candidates if not any(lo < v < hi for lo, hi in merged)]

    def turns(v: float) -> float:  # how far the wire turns; a turn too small to see reads as a kink
        return sum(abs(d) + (0.5 if abs(d) < 0.2 else 0.0) for d in (v - y[n], p - v) if abs(d) > 1e-9)

    return round(min(free, key=lambda v: (turns(v), abs(v - y[n]))), 3)


def _order(turns: dict[str, list[tuple[float, float]]]) -> list[str]:
    """The upright lanes of one gap, left to right, in an order with few crossings. A wire
    crosses another's upright where it comes in left of it, or goes on right of it, at a
    height the upright spans; where it goes on, left of another's upright, at the height the
    other comes in at, the two would run side by side, which weighs more than any crossing.
    Each wire is moved to the place that helps most while one does."""
    span = {n: (min(min(t) for t in ts), max(max(t) for t in ts)) for n, ts in turns.items()}
    ins = {n: {a for a, _ in ts} for n, ts in turns.items()}
    outs = {n: {b for _, b in ts} for n, ts in turns.items()}

    def cost(a: str, b: str) -> int:  # a's upright left of b's
        crossed = sum(span[a][0] < v < span[a][1] for v in ins[b])
        crossed += sum(span[b][0] < v < span[b][1] for v in outs[a])
        along = sum(abs(round(v - w, 3)) < APART for v in outs[a] for w in ins[b])
        return crossed + 100 * along

    def total(order: list[str]) -> int:
        return sum(cost(a, b) for i, a in enumerate(order) for b in order[i + 1:])

    order = sorted(turns, key=lambda n: -span[n][1])
    best = total(order)
    moved = True
    while moved:
        moved = False
        for n in list(order):
            rest = [m for m in order if m != n]
            tries = [rest[:i] + [n] + rest[i:] for i in range(len(order))]
            better = min(tries, key=total)
            if total(better) < best:
                order, best, moved = better, total(better), True
    return order


def _circuit(graph: Graph, labels: dict, widths: dict, depth: dict, per_band: int, decimals: int) -> Circuit:
    """The circuit in bands of ``per_band`` columns: the heights in each band, the inputs'
    heights at their gates, the wires' turns and lanes, then the bands' places and the
    columns' (each gap as wide as what runs through it), then the points drawn."""
    names = [*graph.inputs, *(n.name for n in graph.nodes)]
    band = {n: depth[n] // per_band for n in names}
    col = {n: depth[n] % per_band for n in names}
    heights = {n: box_height(len(graph.node(n).inputs)) if n not in graph.inputs else 0.0 for n in names}
    tall = {n: max(0.0, h - 0.8) for n, h in heights.items()}  # beyond the usual 8 mm
    y = _heights(graph, names, band, depth, tall)
    tex_name = {n: latex_name(n) for n in names}
    near = {n: [u for u in graph.users(n) if band[u] == band[n]] for n in names}
    onward = {n: any(band[u] != band[n] for u in graph.users(n)) for n in names}

    # each branch as its turns: (gap, from height, to height); gap g lies between columns g and g + 1.
    # A wire that passes columns at another height than its own comes to its gate from there:
    # the gate's inputs are ordered again, and the passing heights found again for that order.
    # Where two wires would still run side by side, the gate they go into moves its inputs
    # clear of the wires leaving the column before, and all is laid again.
    comes: dict[tuple[str, str], float] = {}
    crowded: set[str] = set()
    for _ in range(4):
        port = _ports(graph, band, col, y, heights, comes, crowded)
        legs: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
        runs: list[tuple[int, float, int, int, str]] = []
        passing: dict[tuple[str, str], float] = {}
        for n in names:
            for u in near[n]:
                k, t, p = col[n], col[u], port[u, n]
                if t == k + 1:
                    turns = [(k, y[n], p)]
                else:
                    r = _run(n, u, p, names, band, col, y, tall, port, runs)
                    runs.append((band[n], r, k, t - 1, n))
                    passing[n, u] = r
                    turns = [(k, y[n], r), (t - 1, r, p)]
                legs[n, u] = [turn for turn in turns if turn[1] != turn[2]]
        uprights: dict[tuple[int, int], dict[str, list[tuple[float, float]]]] = {}
        into: dict[tuple[int, int, str, float], str] = {}  # the gate a wire goes on to from its upright
        for (n, u), turns in legs.items():
            for g, a, b in turns:
                uprights.setdefault((band[n], g), {}).setdefault(n, []).append((a, b))
                if g == col[u] - 1:
                    into[band[n], g, n, b] = u
        lane = {}
        beside = set()
        for (b, g), turns in uprights.items():
            order = _order(turns)
            for i, n in enumerate(order):
                lane[b, g, n] = i
                for m in order[i + 1:]:
                    beside |= {into[b, g, n, v] for _, v in turns[n] for w, _ in turns[m]
                               if abs(round(v - w, 3)) < APART and (b, g, n, v) in into}
        if passing == comes and beside <= crowded:
            break
        comes, crowded = passing, crowded | beside

    # the bands top to bottom, each clear of the one above with its wires that pass above or below its gates
    off: dict[int, float] = {}
    below = 0.0
    for b in range(max(band.values()) + 1):
        here = [n for n in names if band[n] == b]
        passing = [r for b2, r, *_ in runs if b2 == b]
        top = max([y[n] + max(heights[n] / 2, 0.4) + 0.4 for n in here] + [r + 0.2 for r in passing])
        bottom = min([y[n] - max(heights[n] / 2, 0.4) - 0.3 for n in here] + [r - 0.2 for r in passing])
        off[b] = 0.0 if b == 0 else below - BAND_GAP - top
        below = bottom + off[b]

    def at(n: str, v: float) -> float:  # a height in n's band, on the page
        return round(v + off[band[n]], 3)

    # the columns left to right, each gap as wide as its labels, turns and names need
    room = label_room(decimals)
    x, x_end, lane_x, link_x = {}, {}, {}, {}
    for b in range(max(band.values()) + 1):
        left = 0.0
        for k in range(per_band):
            here = [n for n in names if band[n] == b and col[n] == k]
            if not here:
                break
            far = [m for u in here if u not in graph.inputs for m in graph.node(u).inputs if band[m] != b]
            if k == 0 and far:
                link_x[b, k], left = 0.0, LINK
            wide = max(widths[n] for n in here)
            for n in here:
                x[n] = round(left + wide / 2, 3)
            stubbed = [name_width(tex_name[n]) / 2 for n in here if onward[n] and near[n]]
            ended = [name_width(tex_name[n]) for n in here if onward[n] and not near[n]]
            end = left + wide + room + max(stubbed, default=0.0)
            start = end + max([LEAD] + [w + 0.15 for w in stubbed] + [w + 0.25 for w in ended])
            count = sum(1 for (b2, g, _) in lane if (b2, g) == (b, k))
            for n in names:
                if (b, k, n) in lane:
                    lane_x[b, k, n] = round(start + lane[b, k, n] * CHANNEL, 3)
            x_end[b, k] = round(end, 3)
            left = start + (count - 1) * CHANNEL + LEAD if count else start
            coming = [name_width(tex_name[m]) for u in names if band[u] == b and col[u] == k + 1
                      and u not in graph.inputs for m in graph.node(u).inputs if band[m] != b]
            if coming:
                link_x[b, k + 1] = round((start + (count - 1) * CHANNEL + 0.2 if count else start) + max(coming), 3)
                left = max(left, link_x[b, k + 1] + LINK)

    index = {n: f"n{i}" for i, n in enumerate(names)}
    boxes, wires, links = [], [], []
    for n in names:
        b, k = band[n], col[n]
        yn = at(n, y[n])
        boxes.append(GateBox(index[n], tex_name[n], labels.get(n, ""), x[n], yn, round(widths[n], 2),
                             heights[n], n in graph.inputs))
        xe = x_end[b, k]
        branches = []
        for u in near[n]:
            points = [(xe, yn)]
            for g, lo, hi in legs[n, u]:
                points += [(lane_x[b, g, n], at(n, lo)), (lane_x[b, g, n], at(n, hi))]
            points.append((round(x[u] - widths[u] / 2, 3), at(n, port[u, n])))
            branches.append(Branch(_tidy(points), index[u]))
        tag, reserve = None, 0.0
        if onward[n] and branches:
            branches.append(Branch(((xe, yn), (xe, round(yn - STUB, 3))), ""))
            tag, reserve = (xe, round(yn - STUB, 3), "north"), name_width(tex_name[n]) / 2 + 0.1
        elif onward[n]:
            tag = (xe, yn, "west")
        label_x = round((x[n] + widths[n] / 2 + xe - reserve) / 2, 3)
        wires.append(Wire(index[n], n, tex_name[n], xe, yn, label_x, tuple(branches), _dots(branches), tag,
                          n == graph.output))
    for u in graph.nodes:
        for m in u.inputs:
            if band[m] != band[u.name]:
                links.append(Link(f"l{len(links)}", tex_name[m], link_x[band[u.name], col[u.name]],
                                  at(u.name, port[u.name, m]), index[u.name]))
    width = _width(boxes, wires, links)
    return Circuit(tuple(boxes), tuple(wires), tuple(links), width, width > MAX_WIDTH)


def _tidy(points: list[Point]) -> tuple[Point, ...]:
    """The points of a path without repeats and without points in the middle of a straight stretch."""
    out: list[Point] = []
    for p in points:
        p = (round(p[0], 3), round(p[1], 3))
        if out and p == out[-1]:
            continue
        if len(out) >= 2 and (out[-2][0] == out[-1][0] == p[0] or out[-2][1] == out[-1][1] == p[1]):
            out[-1] = p
        else:
            out.append(p)
    return tuple(out)


def _on(p: Point, a: Point, b: Point) -> bool:
    """p on the level or upright stretch from a to b."""
    return (min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])
            and (a[0] == b[0] == p[0] or a[1] == b[1] == p[1]))


def _dots(branches: list[Branch]) -> tuple[Point, ...]:
    """Where the branches of one wire part: the last point two of them share."""
    corners = {p for br in branches for p in br.points}

    def walk(br: Branch) -> list[Point]:  # its points, with the other branches' corners that lie on it
        out = [br.points[0]]
        for a, b in zip(br.points, br.points[1:]):
            out += sorted((p for p in corners if p not in (a, b) and _on(p, a, b)),
                          key=lambda p: abs(p[0] - a[0]) + abs(p[1] - a[1]))
            out.append(b)
        return out

    walks = [walk(br) for br in branches]
    dots = set()
    for i, a in enumerate(walks):
        for b in walks[i + 1:]:
            j = 0
            while j + 1 < min(len(a), len(b)) and a[j + 1] == b[j + 1]:
                j += 1
            dots.add(a[j])
    return tuple(sorted(dots))


def _width(boxes, wires, links) -> float:
    """cm from the leftmost name to the rightmost, roughly."""
    lo = [b.x - 1.4 * name_width(b.name) for b in boxes if b.input] + [k.x - name_width(k.name) for k in links]
    hi = [b.x + b.width / 2 for b in boxes]
    for w in wires:
        hi.append(w.x_end + (name_width(w.name) if w.tag and w.tag[2] == "west" else 0.0))
        if w.output:
            hi.append(w.x_end + 0.5 + 1.4 * name_width(w.name))
    return round(max(hi) - min(lo + [0.0]), 2)


# --- the template data ---------------------------------------------------------------------

FUNCTIONS_USED = (
    (g_sigmoid, r"\sigma(t) = \frac{1}{1 + e^{-t}}", r"\sigma'(t) = \sigma(t)\,\bigl(1 - \sigma(t)\bigr)"),
    (g_relu, r"\mathrm{ReLU}(t) = \max(0, t)", r"\mathrm{ReLU}'(t) = \mathbf{1}[t > 0]"),
)


def slash(top: str, bottom: str) -> Tex:
    """∂top/∂bottom written on one line, for text and tables."""
    return Tex(rf"\partial {latex_name(top)}/\partial {latex_name(bottom)}")


def _functions(graph: Graph) -> list[dict]:
    used = set()
    for node in graph.nodes:
        used |= {type(a) for a in node.formula.atoms(sp.Function)}
    return [{"definition": Tex(d), "derivative": Tex(p)} for cls, d, p in FUNCTIONS_USED if cls in used]


def _line(solution, name: str) -> dict:
    """A line of the key as a dict (shallow: its texts are the printer's), to add to."""
    for lines in solution.sections.values():
        for line in lines:
            if line.name == name:
                return {"kind": line.kind, **{f.name: getattr(line, f.name) for f in dataclasses.fields(line)}}
    raise KeyError(name)


@lru_cache(maxsize=64)
def _checks(graph: Graph) -> tuple[str, tuple[tuple[str, str, object], ...]]:
    """The composed expression and each input's derivative of it: (LaTeX, compiled)."""
    f = composed(graph)
    rows = []
    for x in graph.inputs:
        d = sp.diff(f, sp.Symbol(x))
        fn = compiled(d, [sp.Symbol(v) for v in graph.inputs])
        shown = tex(d)
        rows.append((x, shown if printed(shown) <= CHECK_WIDTH else "", fn))
    shown = tex(f)
    return shown if printed(shown) <= CHECK_WIDTH else "", tuple(rows)


def context(solution, document: str) -> dict:
    """Everything the graph sheet and key templates receive (see their headers)."""
    spec = solution.spec
    graph: Graph = spec.graph
    policy = solution.policy
    values = solution.values
    f = graph.output
    uses = terms(graph)
    fig = figure(graph, policy.decimals)
    gate_list = []
    for g in gates(graph):
        grads = []
        for name in g.gradients:
            m = name.split("/d", 1)[1]
            grads.append(dict(_line(solution, name), users=[latex_name(t.user) for t in uses[m]],
                              summed=len(uses[m]) > 1, of=latex_name(m)))
        gate_list.append({
            "node": latex_name(g.node), "formula": g.formula, "rule": g.rule, "output": g.output,
            "upstream": slash(f, g.node), "upstream_value": policy.tex(values[grad_name(f, g.node)]) if not g.output else Tex("1"),
            "locals": [_line(solution, n) for n in g.locals_],
            "gradients": grads,
        })
    table = []
    for node in graph.nodes:
        table.append({
            "name": latex_name(node.name), "formula": tex(node.formula),
            "value": policy.tex(values[node.name]),
            "locals": [{"partial": slash(node.name, m), "value": policy.tex(values[f"d{node.name}/d{m}"])}
                       for m in node.inputs] if node.name != f else [],
            "gradient": "1" if node.name == f else policy.tex(values[grad_name(f, node.name)]),
        })
    for x in graph.inputs:
        table.append({"name": latex_name(x), "formula": "", "value": given_text(values[x]), "locals": [],
                      "gradient": policy.tex(values[grad_name(f, x)])})
    check = None
    if graph.chain_check:
        expression, rows = _checks(graph)
        args = [values[x] for x in graph.inputs]
        check = {"expression": expression, "arguments": Tex(", ".join(latex_name(x) for x in graph.inputs)),
                 "rows": []}
        for x, derivative, fn in rows:
            value = float(fn(*args))
            staged = values[grad_name(f, x)]
            check["rows"].append({"lhs": partial(f, x), "derivative": derivative,
                                  "value": policy.tex(value), "relation": policy.relation(value),
                                  "agrees": math.isclose(value, staged, rel_tol=1e-9, abs_tol=1e-12)})
    show = {"key": ("values", "gradients") if "backward" in spec.asked else ("values",),
            "sheet": ("values",) if spec.asked == ("backward",) else ()}
    return {
        "kind": "graph",
        "exercise": {"title": spec.title, "course": spec.course, "variant": solution.variant, "seed": solution.seed},
        "document": document,
        "asked": list(spec.asked),
        "decimals": policy.decimals,
        "carry": spec.carry,
        "output": latex_name(f),
        "inputs": [{"tex": latex_name(x), "value": given_text(solution.givens[x])} for x in graph.inputs],
        "nodes": [{"name": latex_name(n.name), "formula": tex(n.formula)} for n in graph.nodes],
        "functions": _functions(graph),
        "forward": [_line(solution, n.name) for n in graph.nodes],
        "gates": gate_list,
        "input_gradients": [{"lhs": slash(f, x), "relation": policy.relation(values[grad_name(f, x)]),
                             "value": policy.tex(values[grad_name(f, x)])} for x in graph.inputs],
        "table": table,
        "check": check,
        "figure": _figure_context(fig, solution, show),
        "optimizer": graph_optimizer_key.context(solution),  # steps of an optimizer, if the spec asks
    }


def _figure_context(fig: Circuit, solution, show: dict) -> dict:
    policy = solution.policy
    f = solution.spec.graph.output
    out = {}
    for document, what in show.items():
        wires = []
        for w in fig.wires:
            value = grad = ""
            if "values" in what:
                v = solution.values[w.node]
                value = given_text(v) if w.node in solution.givens else policy.tex(v)
            if "gradients" in what:
                grad = "1" if w.node == f else policy.tex(solution.values[grad_name(f, w.node)])
            wires.append({"source": w.source, "name": w.name, "x_end": w.x_end, "y": w.y, "label_x": w.label_x,
                          "branches": [{"points": [list(p) for p in br.points], "target": br.target}
                                       for br in w.branches],
                          "dots": [list(d) for d in w.dots], "tag": list(w.tag) if w.tag else None,
                          "value": value, "gradient": grad, "output": w.output})
        out[document] = {"boxes": [vars(b) for b in fig.boxes], "wires": wires,
                         "links": [vars(k) for k in fig.links], "scale": fig.scale, "max_width": MAX_WIDTH,
                         "output": latex_name(f)}
    return out


def answers(solution) -> dict:
    """answers.json of a graph exercise: the same record as a network's, with the graph's
    settings; quantities under the key's names (q, f, dq/dx, df/dq, df/dx)."""
    from .export import source_name
    from .optimizers import describe

    spec = solution.spec
    der = solution.derivation
    return {
        "exercise": spec.title,
        "source": source_name(spec),
        "variant": solution.variant,
        "seed": solution.seed,
        "settings": {"kind": "graph", "output": spec.graph.output, "decimals": spec.decimals, "carry": spec.carry,
                     **({"optimizer": describe(spec.graph.optimizer, solution.givens)}
                        if spec.graph.optimizer else {})},
        "given": {q.name: solution.givens[q.name] for q in der.givens},
        "quantities": {q.name: solution.values[q.name] for q in der.quantities if q.formula is not None},
    }


def question_html(solution, groups, field, image: str = "") -> str:
    """The LMS question of a graph exercise: the nodes as formulas, the given inputs and
    the blanks; the same parts as a network's question (see ``lms.question_html``)."""
    import html

    from .lms import _table, math_html, numbers_rule, text

    spec = solution.spec
    course = f" ({text(spec.course)})" if spec.course else ""
    nodes = "".join(f"<li>{math_html(latex_name(n.name) + ' = ' + tex(n.formula))}</li>" for n in spec.graph.nodes)
    parts = [
        f"<p><em>{text(spec.title)}</em>{course}: the forward and the backward pass, by hand, through the "
        f"computational graph described here; the gradients are those of its output "
        f"{math_html(latex_name(spec.graph.output))}.</p>",
        f"<p>The nodes, in order:</p><ul>{nodes}</ul>",
        image,
        f"<ul><li>{numbers_rule(solution)}</li></ul>",
        graph_optimizer_key.question_html(solution, math_html, text),
        "<h4>Given values</h4>",
        _table([f"<tr><td>{math_html(latex_name(q.name))}</td><td>{given_text(solution.givens[q.name])}</td></tr>"
                for q in solution.derivation.givens]),
    ]
    for heading, group in groups:
        parts.append(f"<h4>{html.escape(heading)}</h4>")
        parts.append(_table([f"<tr><td>{math_html(b.tex)}</td><td>{field(b)}</td></tr>" for b in group]))
    return "\n".join(parts)
