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

ROW = 1.5  # cm between two wires in one column
MAX_WIDTH = 18.5  # cm: the text width and part of the margins; a wider circuit is scaled down


def column_width(decimals: int, widest_box: float = 1.0) -> float:
    """cm from one column of gates to the next: a box, a wire long enough for its labels
    (about 0.19 cm per character of a number in footnote size), and room to bend."""
    return widest_box + max(1.0, 0.19 * (decimals + 3)) + 0.5


def printed(latex: str) -> int:
    """Roughly how many characters a LaTeX formula prints."""
    text = re.sub(r"\\[a-zA-Z]+", "x", re.sub(r"\\(left|right|,)", "", latex))
    return len(re.sub(r"[{}^_ ]", "", text))


def box_width(label: str) -> float:
    """The width of a gate's box in cm, roughly: 0.2 cm per printed character."""
    return max(1.0, 0.2 * printed(label) + 0.4)


CHECK_WIDTH = 60  # printed characters: a longer composed expression is not written out


@dataclass(frozen=True)
class GateBox:
    id: str
    name: str  # LaTeX of the node's name
    label: str  # LaTeX of the gate's operation; "" for an input
    x: float
    y: float
    input: bool


@dataclass(frozen=True)
class Wire:
    source: str  # the box the value leaves
    targets: tuple[str, ...]  # the boxes it feeds in the same row of the figure
    lanes: tuple[float | None, ...]  # per target: the height it passes gates in between at (None: direct)
    x_end: float  # where the labelled stretch ends
    y: float
    node: str  # the quantity name whose value it carries
    onward: bool  # it also feeds gates in a later row (drawn there as a named link)
    output: bool


@dataclass(frozen=True)
class Link:
    """A value arriving from an earlier row of the figure, written as its name."""

    id: str
    name: str
    x: float
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
BAND_GAP = 1.2  # cm between two rows of a wrapped circuit


@lru_cache(maxsize=64)
def figure(graph: Graph, decimals: int) -> Circuit:
    """Columns by depth (inputs first, each gate right of everything it uses), rows placed
    near the mean of their inputs; a circuit too deep for the page wraps into bands, a
    value crossing into a later band is written there by name."""
    labels = {n.name: gate_label(n.formula) for n in graph.nodes}
    column = column_width(decimals, max(box_width(label) for label in labels.values()))
    names = [*graph.inputs, *(n.name for n in graph.nodes)]
    depth = {x: 0 for x in graph.inputs}
    for node in graph.nodes:
        depth[node.name] = 1 + max(depth[m] for m in node.inputs)
    columns_in_all = max(depth.values()) + 1
    fit = max(2, int(MAX_WIDTH / MIN_SCALE / column))
    per_band = -(-columns_in_all // -(-columns_in_all // fit))  # rows of even length, not 9 and 1
    band = {n: depth[n] // per_band for n in names}
    y: dict[str, float] = {}
    top = 0.0
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
                wanted[n] = sum(near) / len(near) if near else top - i * ROW
            placed: list[float] = []
            for n in sorted(col, key=lambda n: -wanted[n]):
                pos = wanted[n] if not placed else min(wanted[n], placed[-1] - ROW)
                placed.append(pos)
                y[n] = pos
        top = min(y[n] for n in names if band[n] == b) - ROW - BAND_GAP
    index = {n: f"n{i}" for i, n in enumerate(names)}
    boxes, wires, links = [], [], []
    for n in names:
        x = (depth[n] % per_band) * column
        label = labels.get(n, "")
        boxes.append(GateBox(index[n], latex_name(n), label, round(x, 3), round(y[n], 3), n in graph.inputs))
        users = graph.users(n)
        same = [u for u in users if band[u] == band[n]]
        here = tuple(index[u] for u in same)
        lanes = tuple(_lane(n, u, names, band, depth, y) for u in same)
        wires.append(Wire(index[n], here, lanes, round(x + column - (0.9 if n == graph.output else 1.0), 3),
                          round(y[n], 3), n, len(here) < len(users), n == graph.output))
    for u in graph.nodes:
        far = [m for m in u.inputs if band[m] != band[u.name]]
        for i, m in enumerate(far):
            dy = -0.6 - 0.45 * i  # below the wire that comes in from the left
            links.append(Link(f"l{len(links)}", latex_name(m), round((depth[u.name] % per_band) * column - 0.8, 3),
                              round(y[u.name] + dy, 3), index[u.name]))
    width = min(max(depth.values()) + 1, per_band) * column
    return Circuit(tuple(boxes), tuple(wires), tuple(links), round(width, 2), width > MAX_WIDTH)


def _lane(n: str, u: str, names, band, depth, y) -> float | None:
    """A wire to a gate several columns on in the same row, with gates standing in between
    (num → f past den and invden), runs half a row below them instead of through them."""
    if y[n] != y[u]:
        return None  # a curve between two rows passes between the gates
    if any(band[m] == band[n] and depth[n] < depth[m] < depth[u] and abs(y[m] - y[n]) < ROW / 2 for m in names):
        return round(y[n] - ROW / 2, 3)
    return None


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
            wires.append({"source": w.source, "targets": list(w.targets), "lanes": list(w.lanes),
                          "x_end": w.x_end, "y": w.y,
                          "value": value, "gradient": grad, "split": len(w.targets) + w.onward > 1,
                          "onward": w.onward, "output": w.output})
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
