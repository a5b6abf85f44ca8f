"""Where the network figure puts its units and weight labels (the template only draws).

Columns are layers; a layer's bias unit sits at the foot of the column before it, since
it feeds the next layer. Weight labels sit near the sending unit, where the fan of edges
is still open, so that crossing edges do not stack their labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from .latex import latex_name
from .network import Network

COLUMN_GAP = 3.6  # cm between layers
ROW_GAP = 1.7  # cm between units of a layer


@dataclass(frozen=True)
class Node:
    id: str  # TikZ node name
    label: str  # LaTeX
    x: float
    y: float
    kind: str  # input, bias, hidden, output


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str
    pos: float


@dataclass(frozen=True)
class Figure:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def _ident(name: str) -> str:
    return "n" + "".join(c if c.isalnum() else f"x{ord(c)}" for c in name)


def layout(net: Network) -> Figure:
    columns: list[list[tuple[str, str]]] = [[(u, "input") for u in net.inputs]]
    for i, layer in enumerate(net.layers):
        kind = "output" if i == len(net.layers) - 1 else "hidden"
        columns.append([(u, kind) for u in layer.units])
        if layer.bias_unit:
            columns[i].append((layer.bias_unit, "bias"))
    nodes = []
    for c, column in enumerate(columns):
        top = (len(column) - 1) * ROW_GAP / 2  # columns centred on one line
        for r, (name, kind) in enumerate(column):
            nodes.append(Node(_ident(name), latex_name(name), c * COLUMN_GAP, top - r * ROW_GAP, kind))
    edges = []
    for p in net.params:
        if p.source is None:
            continue
        for t in p.targets:
            edges.append(Edge(_ident(p.source), _ident(t), latex_name(p.name), 0.3))
    return Figure(tuple(nodes), tuple(edges))
