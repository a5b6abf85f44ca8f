"""The circuit of a computational graph: every wire distinct, every arrowhead at a gate's input.

The figure's geometry (``graph_key.figure``) is checked as drawn: each wire is its labelled
stretch and its branches, point by point; a branch with a target ends in an arrowhead at
that gate's left side, one without is the drop that carries a value on to a later row.
"""

from __future__ import annotations

import itertools

import pytest

from derive import graph_key, render
from derive import spec as spec_mod
from derive.solution import Exercise

from conftest import DATA, EXAMPLES

SHAPES = {
    # the inputs a and b and the node q feed gates in two rows; q and r come into one gate there
    "staged": '''inputs = { a = 1.5, b = -2, c = 4 }
nodes = [ { p = "a * b" }, { q = "p + c" }, { r = "sigmoid(q)" }, { s = "q * r" },
          { t = "max(s, a / 3)" }, { u = "t + b^2" }, { f = "log(u)" } ]''',
    "used_three_times": '''inputs = { x = 2, y = -1 }
nodes = [ { h = "x * y" }, { a = "h + x" }, { b = "h * 2" }, { c = "sigmoid(h)" },
          { d = "a + b" }, { f = "d * c" } ]''',
    "long_chain": '''inputs = { x = 0.5, w = 2 }
nodes = [ { a = "x * w" }, { b = "a + 1" }, { c = "sigmoid(b)" }, { d = "c * 3" }, { e = "exp(d)" },
          { g = "e + x" }, { h = "log(g)" }, { k = "h * h" }, { m = "tanh(k)" }, { n = "m + w" },
          { p = "n^2" }, { f = "p * 0.5" } ]''',
    "two_inputs_reused": '''inputs = { x = 1, y = 2, z = -1 }
nodes = [ { a = "x + y" }, { b = "a * z" }, { c = "sigmoid(b)" }, { d = "c * x" }, { e = "d + y" },
          { f = "e * z" } ]''',
    "wide_fan_out": '''inputs = { x = 1.5, y = -0.5 }
nodes = [ { a = "x * y" }, { b = "x + y" }, { c = "x * 2" }, { d = "max(x, y)" }, { e = "a + b" },
          { g = "c * d" }, { f = "e + g" } ]''',
    # dense graphs drawn at random, for the rarer cases: two wires that each must pass the
    # other's upright in one gap, inputs that meet a gate close to the height of another
    # wire leaving the column before, and detours below one band and above the next
    "crossing_in_one_gap": '''inputs = { x0 = -2, x1 = 0.5, x2 = -2, x3 = 1 }
nodes = [ { n0 = "x0 * x3 * x1" }, { n1 = "n0^2" }, { n2 = "n1 - x2" }, { n3 = "x2 * n0" }, { n4 = "tanh(x3)" },
          { n5 = "x0 - n3" }, { n6 = "n2 * n1" }, { n7 = "sigmoid(n3)" }, { n8 = "n4 * 2" }, { n9 = "n5 - n1" },
          { n10 = "n6 + n8 + n7" }, { n11 = "n10 + n7" }, { n12 = "n9 + n7 + n11" }, { n13 = "max(n12, n10)" },
          { n14 = "sigmoid(n13)" }, { n15 = "n10 - n14" }, { n16 = "n8 * x1" }, { f = "max(n15, n5) + n16" } ]''',
    "inputs_between_rows": '''inputs = { x0 = -2, x1 = -2, x2 = 1 }
nodes = [ { n0 = "max(x0, x2)" }, { n1 = "n0 + x0" }, { n2 = "x0 * x1 * n0" }, { n3 = "max(n1, n2)" },
          { n4 = "n3 + n1 + n2" }, { n5 = "sigmoid(n2)" }, { n6 = "x0 - n5" }, { n7 = "n6 + n3" }, { n8 = "tanh(n4)" },
          { n9 = "max(n7, n3)" }, { n10 = "n4 * n5" }, { n11 = "n10 + n9 + n7" }, { n12 = "n8 + n4" },
          { n13 = "n11 * n7 * n10" }, { n14 = "n12 + n13 + n8" }, { f = "n14 * n12" } ]''',
    "detours_between_bands": '''inputs = { x0 = 1, x1 = 1, x2 = 1 }
nodes = [ { n0 = "tanh(x0)" }, { n1 = "x2 - x1" }, { n2 = "tanh(n0)" }, { n3 = "exp(n1)" }, { n4 = "n2 - x2" },
          { n5 = "n3 + x2 + x1" }, { n6 = "n1 + n5 + n2" }, { n7 = "tanh(n4)" }, { n8 = "n6 + n7 + n2" },
          { n9 = "n8 - n1" }, { n10 = "exp(n9)" }, { n11 = "n10 - n9" }, { n12 = "n11 * n6 * n7" },
          { n13 = "n11 * n3" }, { n14 = "exp(n12)" }, { n15 = "tanh(n13)" }, { f = "n14 - n10 + n15" } ]''',
}


def _graphs():
    for path in sorted(EXAMPLES.glob("graph_*.toml")) + [DATA / "graph_twenty.toml"]:
        yield path.stem, spec_mod.load(path)
    for name, nodes in SHAPES.items():
        yield name, spec_mod.parse(f'title = "{name}"\n[graph]\n{nodes}\n[display]\ndecimals = 4\n', "g.toml")


GRAPHS = dict(_graphs())


@pytest.fixture(scope="module", params=sorted(GRAPHS))
def drawn(request):
    spec = GRAPHS[request.param]
    return spec.graph, graph_key.figure(spec.graph, spec.decimals), spec


def segments(fig: graph_key.Circuit):
    """(wire, start, end) of every straight piece drawn: stretches, branches and links."""
    boxes = {b.id: b for b in fig.boxes}
    for w in fig.wires:
        src = boxes[w.source]
        yield w.source, (src.x + src.width / 2, w.y), (w.x_end, w.y)
        for br in w.branches:
            for a, b in zip(br.points, br.points[1:]):
                yield w.source, a, b
    for k in fig.links:
        target = boxes[k.target]
        yield k.id, (k.x, k.y), (target.x - target.width / 2, k.y)


def arrowheads(fig: graph_key.Circuit):
    """(wire, target, tip) of every arrowhead but the output's."""
    boxes = {b.id: b for b in fig.boxes}
    for w in fig.wires:
        for br in w.branches:
            if br.target:
                yield w.source, br.target, br.points[-1]
    for k in fig.links:
        target = boxes[k.target]
        yield k.id, k.target, (target.x - target.width / 2, k.y)


def box_of(graph, fig) -> dict:
    """The box id of each input and node (the figure lists them inputs first, in order)."""
    return dict(zip([*graph.inputs, *(s.name for s in graph.nodes)], (b.id for b in fig.boxes)))


def _span(a, b, axis: int) -> tuple[float, float]:
    return min(a[axis], b[axis]), max(a[axis], b[axis])


def _overlap(one: tuple[float, float], other: tuple[float, float]) -> float:
    return min(one[1], other[1]) - max(one[0], other[0])


def test_no_two_wires_share_or_touch_a_stretch(drawn):
    _, fig, _ = drawn
    pieces = [s for s in segments(fig) if s[1] != s[2]]
    for (w1, a1, b1), (w2, a2, b2) in itertools.combinations(pieces, 2):
        level1, level2 = a1[1] == b1[1], a2[1] == b2[1]
        if w1 == w2 or level1 != level2:
            continue
        along = 0 if level1 else 1
        apart = abs(a1[1 - along] - a2[1 - along])
        assert not (apart < 0.15 - 1e-6 and _overlap(_span(a1, b1, along), _span(a2, b2, along)) > 0.01), \
            (w1, a1, b1, w2, a2, b2)


def test_every_arrowhead_ends_at_a_gate_input_and_nothing_touches_it(drawn):
    graph, fig, _ = drawn
    boxes = {b.id: b for b in fig.boxes}
    heads = list(arrowheads(fig))
    for wire, target, tip in heads:
        box = boxes[target]
        assert not box.input and tip[0] == pytest.approx(box.x - box.width / 2, abs=1e-3)
        assert abs(tip[1] - box.y) <= box.height / 2 - 0.1 + 1e-9, (wire, target)  # the head inside its side
    # each input of each gate arrives once, at a height of its own
    for node in graph.nodes:
        tips = sorted(tip[1] for _, target, tip in heads if target == box_of(graph, fig)[node.name])
        assert len(tips) == len(node.inputs), node.name
        assert all(b - a >= 0.2 - 1e-6 for a, b in zip(tips, tips[1:])), node.name
    # the last stretch before a head is level and long enough for it, and no other wire comes near it
    for w in fig.wires:
        for br in w.branches:
            if br.target:
                a, b = br.points[-2:]
                assert a[1] == b[1] and b[0] - a[0] >= 0.3, (w.node, br)
    for wire, target, tip in heads:
        for other, a, b in segments(fig):
            near = (_overlap(_span(a, b, 0), (tip[0] - 0.3, tip[0])) >= 0
                    and _overlap(_span(a, b, 1), (tip[1] - 0.1, tip[1] + 0.1)) >= 0)
            assert other == wire or not near, (wire, tip, other, a, b)


def test_a_value_for_a_later_row_ends_in_its_name_not_an_arrowhead(drawn):
    graph, fig, _ = drawn
    box = box_of(graph, fig)
    for w in fig.wires:
        here = {br.target for br in w.branches if br.target}
        later = [u for u in graph.users(w.node) if box[u] not in here]
        drops = [br for br in w.branches if not br.target]
        assert bool(later) == bool(w.tag), w.node
        if later and here:  # a dot, a short drop below it and the name under that
            assert [br.points for br in drops] == [((w.x_end, w.y), (w.x_end, w.tag[1]))]
            assert w.tag[2] == "north" and (w.x_end, w.y) in w.dots
        else:  # the name at the wire's end
            assert not drops and (not later or w.tag == (w.x_end, w.y, "west"))
        # the value comes in again by its name, once at each gate of a later row that uses it
        for u in later:
            assert [k.name for k in fig.links if k.target == box[u]].count(w.name) == 1, (w.node, u)


def test_a_dot_where_branches_part_and_nowhere_else(drawn):
    _, fig, _ = drawn
    for w in fig.wires:
        assert bool(w.dots) == (len(w.branches) > 1), w.node
        for dot in w.dots:  # on two branches or more
            on = [br for br in w.branches
                  if any(_overlap(_span(a, b, 0), (dot[0], dot[0])) >= 0
                         and _overlap(_span(a, b, 1), (dot[1], dot[1])) >= 0 for a, b in zip(br.points, br.points[1:]))]
            assert len(on) >= 2, (w.node, dot)


def test_no_wire_crosses_a_box_or_a_label(drawn):
    _, fig, spec = drawn
    room = 0.19 * (spec.decimals + 3) / 2  # half a number's width in footnote size
    areas = []
    for b in fig.boxes:
        if not b.input:
            top, bottom = b.y + b.height / 2, b.y - b.height / 2
            areas.append((b.id, b.x - b.width / 2, b.x + b.width / 2, bottom, top))  # the box
            half = graph_key.name_width(b.name) / 2
            areas.append((b.id, b.x - half, b.x + half, top, top + 0.3))  # its name above
    for w in fig.wires:
        areas.append((w.source, w.label_x - room, w.label_x + room, w.y + 0.05, w.y + 0.4))  # the value
        areas.append((w.source, w.label_x - room, w.label_x + room, w.y - 0.4, w.y - 0.05))  # the gradient
    for wire, a, b in segments(fig):
        (lo_x, hi_x), (lo_y, hi_y) = _span(a, b, 0), _span(a, b, 1)
        for owner, x0, x1, y0, y1 in areas:
            inside = lo_x < x1 - 0.02 and hi_x > x0 + 0.02 and lo_y < y1 - 0.02 and hi_y > y0 + 0.02
            assert owner == wire or not inside, (wire, a, b, owner)  # a wire's own labels sit on it


def test_boxes_stand_apart(drawn):
    _, fig, _ = drawn
    gates = [b for b in fig.boxes if not b.input]
    for a, b in itertools.combinations(gates, 2):
        apart_x = abs(a.x - b.x) - (a.width + b.width) / 2
        apart_y = abs(a.y - b.y) - (a.height + b.height) / 2
        assert apart_x >= 1.0 or apart_y >= 0.9, (a.name, b.name)


def test_the_tikz_draws_one_arrowhead_per_gate_input_and_one_for_the_output():
    spec = spec_mod.parse(f'title = "t"\n[graph]\n{SHAPES["staged"]}\n', "g.toml")
    solution = Exercise(spec).solve()
    ctx = render.context(solution, "Answer key")
    key = render.render(render.environment(), render.KEY, dict(ctx, document="Answer key"))
    circuit = key[key.index(r"\begin{tikzpicture}"):key.index(r"\end{tikzpicture}")]
    inputs = sum(len(n.inputs) for n in spec.graph.nodes)
    assert circuit.count(r"\draw[into]") == inputs + 1
    # in the second row q and r come into s, a into t, b into u, each by its name; a, b and q
    # leave the first row by a drop with the name under it, r by its name at the wire's end
    assert circuit.count(r"\node[nodename, anchor=east]") == 4
    assert circuit.count(r"\node[nodename, anchor=north]") == 3
    assert circuit.count(r"\node[nodename, anchor=west]") == 1
    assert "with respect to that value. A name at\nthe end of a wire" in key  # the reader is told so
