"""The network figure: every unit and weight drawn, labels on their edges, none overlapping."""

from __future__ import annotations

import itertools

import pytest

from derive import figure, pdf, render
from derive import spec as spec_mod
from derive.network import build, structure

from conftest import EXAMPLES


def spec_text(inputs, layers, bias="unit"):
    """A spec for a network of the given shape; every weight 0.1 (the figure ignores values)."""
    lines = ['title = "figure"', "[network]", f"inputs = {list(inputs)!r}", f'bias = "{bias}"']
    for units, act in layers:
        lines += ["[[network.layers]]", f"units = {list(units)!r}", f'activation = "{act}"']
    outs = layers[-1][0]
    targets = ["y"] if len(outs) == 1 else [f"y_{u}" for u in outs]
    lines += ["[loss]", 'kind = "squared_error"', "[[examples]]"]
    lines += [f"{x} = 0.5" for x in inputs] + [f"{t} = 0.5" for t in targets]
    lines += ["[training]", "learning_rate = 0.1", "[weights]"]
    return "\n".join(lines).replace("'", '"') + "\n"


def network(inputs, layers, bias="unit"):
    text = spec_text(inputs, layers, bias)
    _, params = structure(spec_mod.typed(spec_mod.read_toml(text, "figure.toml"), "figure.toml"))  # every parameter the network names
    text += "".join(f'"{p.name}" = 0.1\n' for p in params)
    return build(spec_mod.parse(text, "figure.toml"))


def units(prefix, n):
    return [f"{prefix}{i}" for i in range(1, n + 1)]


NETWORKS = {
    "3-4-4-2": (units("x", 3), [(units("h", 4), "sigmoid"), (units("g", 4), "tanh"), (units("o", 2), "identity")], "unit"),
    "per-neuron bias": (units("x", 2), [(units("h", 3), "sigmoid"), (["yhat"], "identity")], "neuron"),
    "shared bias": (units("x", 2), [(units("h", 2), "relu"), (["yhat"], "identity")], "layer"),
    "6-6-6-3": (units("x", 6), [(units("h", 6), "relu"), (units("g", 6), "relu"), (units("o", 3), "identity")], "unit"),
    "no bias": (units("x", 2), [(units("h", 2), "sigmoid"), (["yhat"], "sigmoid")], "none"),
}


def boxes(fig):
    return [figure.Box(e.x, e.y, figure.label_width(e.label) / 2, figure.LABEL_H / 2) for e in fig.edges if e.label]


@pytest.mark.parametrize("name", NETWORKS)
def test_every_weight_labelled_once_on_its_own_edge(name):
    net = network(*NETWORKS[name])
    fig = figure.layout(net)
    nodes = {n.id: n for n in fig.nodes}
    drawn = [e.label for e in fig.edges if e.label] + [p.label for p in fig.pins]
    from derive.latex import latex_name
    expected = [latex_name(p.name) for p in net.params for _ in p.targets]
    assert sorted(drawn) == sorted(expected)
    for e in fig.edges:
        a, b = nodes[e.source], nodes[e.target]
        # the label's centre lies on the segment between the two units, clear of both
        cross = (b.x - a.x) * (e.y - a.y) - (b.y - a.y) * (e.x - a.x)
        assert abs(cross) < 1e-2
        assert min(a.x, b.x) + figure.UNIT_R < e.x < max(a.x, b.x) - figure.UNIT_R


@pytest.mark.parametrize("name", NETWORKS)
def test_labels_do_not_overlap_each_other_or_units(name):
    fig = figure.layout(network(*NETWORKS[name]))
    labels = boxes(fig)
    for a, b in itertools.combinations(labels, 2):
        assert not a.overlaps(b), (a, b)
    for n in fig.nodes:
        r = figure.BIAS_R if n.kind == "bias" else figure.UNIT_R
        unit = figure.Box(n.x, n.y, r, r)
        assert not any(unit.overlaps(b) for b in labels), n
    assert fig.width < 16.0  # fits the text width of an A4 page with the sheet's margins


def test_reference_layout_matches_the_sheet(reference_exercise):
    fig = figure.layout(reference_exercise.network)
    where = {n.label: (n.x, n.y, n.kind) for n in fig.nodes}
    # inputs, then the bias unit b1 below them; hidden units, then b2; the output alone
    assert [k for *_, k in where.values()] == ["input", "input", "bias", "hidden", "hidden", "bias", "output"]
    assert where["x_{1}"][0] == where["b_{1}"][0] < where["h_{1}"][0] == where["b_{2}"][0] < where[r"\hat{y}"][0]
    assert where["b_{1}"][1] < where["x_{2}"][1] < where["x_{1}"][1]
    assert not fig.pins and not fig.compact


def test_bias_per_neuron_is_an_arrow_into_each_unit():
    net = network(*NETWORKS["per-neuron bias"])
    fig = figure.layout(net)
    nodes = {n.id: n for n in fig.nodes}
    assert len(fig.pins) == 4 and not any(n.kind == "bias" for n in fig.nodes)
    for pin in fig.pins:
        unit = nodes[pin.target]
        assert pin.x == unit.x and pin.y > unit.y + figure.UNIT_R


def test_large_layer_is_drawn_compactly():
    net = network(units("x", 3), [(units("h", 10), "relu"), (units("o", 2), "identity")])
    fig = figure.layout(net)
    hidden = [n for n in fig.nodes if n.kind in ("hidden", "dots")]
    assert [n.label for n in hidden] == ["h_{1}", "h_{2}", "h_{3}", r"\vdots", "h_{9}", "h_{10}"]
    assert fig.compact == (figure.Compact(10, "h_{1}", "h_{10}"),)
    assert all(not e.label for e in fig.edges)  # named in the table of given values instead
    assert len(fig.edges) == (3 + 1) * 5 + (5 + 1) * 2


def test_label_width_grows_with_the_name():
    assert figure.label_width("w_{1}") < figure.label_width("w_{12}") < figure.label_width(r"\theta_{h_{1}}")


@pytest.mark.skipif(not pdf.available(), reason="TeX is not installed")
def test_figures_compile(tmp_path):
    env = render.environment()
    for i, name in enumerate(["3-4-4-2", "per-neuron bias"]):
        fig = figure.layout(network(*NETWORKS[name]))
        body = render.render(env, "network.tex.j2", {"figure": fig})
        tex = tmp_path / f"fig{i}.tex"
        tex.write_text("\\documentclass{article}\\usepackage{amsmath}\\usepackage{tikz}"
                       "\\usetikzlibrary{arrows.meta}\\begin{document}\n" + body + "\\end{document}\n")
        assert pdf.compile_one(tex).exists()


SUITE = [p for p in sorted(EXAMPLES.glob("*.toml")) if "[network]" in p.read_text()] + [
    EXAMPLES.parent / "tests" / "data" / "tanh_softmax_3_4_4_2.toml",
    EXAMPLES.parent / "tests" / "data" / "wide_4_16_16_4.toml",
]


def pin_boxes(fig):
    """A bias arrow's name sits above the arrow's start."""
    return [figure.Box(p.x, p.y + figure.LABEL_H / 2, figure.label_width(p.label) / 2, figure.LABEL_H / 2)
            for p in fig.pins]


@pytest.mark.parametrize("path", SUITE, ids=lambda p: p.stem)
def test_labels_of_the_suite_are_apart_and_each_on_its_own_edge_only(path):
    fig = figure.layout(build(spec_mod.load(path)))
    nodes = {n.id: n for n in fig.nodes}
    labels = [(e, figure.Box(e.x, e.y, figure.label_width(e.label) / 2, figure.LABEL_H / 2))
              for e in fig.edges if e.label]
    every = [b for _, b in labels] + pin_boxes(fig)
    for a, b in itertools.combinations(every, 2):
        assert not a.overlaps(b), (a, b)
    for n in fig.nodes:
        r = figure.BIAS_R if n.kind == "bias" else figure.UNIT_R
        unit = figure.Box(n.x, n.y, r, r)
        assert not any(unit.overlaps(b) for b in every), n
    for e, box in labels:  # no other edge passes through a label: it could be read as that edge's
        for other in fig.edges:
            if other is not e:
                a, b = nodes[other.source], nodes[other.target]
                assert not box.crossed_by(a.x, a.y, b.x, b.y), (e.label, other.source, other.target)
    assert fig.width < 15.0
