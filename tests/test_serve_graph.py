"""derive serve for computational-graph and optimizer exercises: the page shows the nodes,
the given inputs and the circuit, asks every quantity of the key, checks against the true
values and never holds one of them before the student typed it."""

from __future__ import annotations

import math
import re
import tomllib
import warnings
import xml.etree.ElementTree as ET

import pytest
import sympy as sp

pytest.importorskip("starlette")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from conftest import ROOT  # noqa: E402
from derive import serve, web  # noqa: E402
from test_serve import leaks, verdicts  # noqa: E402

EXAMPLES = ROOT / "examples"
GRAPHS = ("graph_sum_product", "graph_sigmoid_neuron", "graph_used_twice", "graph_max")
SVG = "{http://www.w3.org/2000/svg}"


# --- an oracle independent of derive: SymPy on the spec's formulas --------------------------

def oracle(path) -> dict[str, float]:
    """Every value, local gradient and gradient of the graph in ``path``, by sympy.diff.
    The gradient with respect to a quantity is that of f written as a function of it, every
    later node put in by its formula and every other quantity held at its value."""
    g = tomllib.loads(path.read_text())["graph"]
    nodes = [next(iter(n.items())) for n in g["nodes"]]
    out_name = g.get("output", nodes[-1][0])
    sym = {n: sp.Symbol(n) for n in [*g["inputs"], *(n for n, _ in nodes)]}
    funcs = {"max": sp.Max, "min": sp.Min, "exp": sp.exp, "sigmoid": lambda t: 1 / (1 + sp.exp(-t))}
    exprs = {n: sp.sympify(f, locals={**sym, **funcs}) for n, f in nodes}
    values = {n: sp.Float(v, 30) for n, v in g["inputs"].items()}
    for n, _ in nodes:
        values[n] = exprs[n].subs(values).evalf(30)
    out = {n: float(v) for n, v in values.items() if n not in g["inputs"]}
    order = [*g["inputs"], *(n for n, _ in nodes)]
    for n, _ in nodes:
        for m in sorted(exprs[n].free_symbols, key=lambda s: order.index(s.name)):
            out[f"d{n}/d{m}"] = float(sp.diff(exprs[n], m).subs(values).evalf(30))
    for k, name in enumerate(order):
        if name == out_name:
            continue
        e = sym[out_name]
        for later, _ in reversed(nodes):
            if order.index(later) > k:
                e = e.subs(sym[later], exprs[later])
        others = {sym[m]: values[m] for m in order if m != name}
        out[f"d{out_name}/d{name}"] = float(sp.diff(e, sym[name]).subs(others).subs(sym[name], values[name]).evalf(30))
    return out


def test_the_oracle_gives_the_published_numbers():
    # CS231n, "Backpropagation, Intuitions": q = 3, f = -12, ∂f/∂q = -4, ∂f/∂z = 3, ∂f/∂x = ∂f/∂y = -4;
    # the sigmoid neuron: f = 0.73, ∂f/∂w0 = -0.20, ∂f/∂x0 = 0.39, ∂f/∂w1 = -0.39, ∂f/∂x1 = -0.59.
    v = oracle(EXAMPLES / "graph_sum_product.toml")
    assert (v["q"], v["f"], v["df/dq"], v["df/dz"], v["df/dx"], v["df/dy"]) == (3, -12, -4, 3, -4, -4)
    s = oracle(EXAMPLES / "graph_sigmoid_neuron.toml")
    assert [round(s[k], 2) for k in ("f", "df/dw0", "df/dx0", "df/dw1", "df/dx1")] == [0.73, -0.2, 0.39, -0.39, -0.59]


@pytest.fixture(scope="module", params=GRAPHS)
def graph(request):
    path = EXAMPLES / f"{request.param}.toml"
    sources = serve.load([str(path)])
    return path, sources, TestClient(serve.app(sources), follow_redirects=False)


def test_the_page_shows_nodes_inputs_circuit_and_asks_every_quantity(graph):
    path, sources, client = graph
    r = client.get("/e/1")
    assert r.status_code == 200
    g = tomllib.loads(path.read_text())["graph"]
    nodes = [next(iter(n)) for n in g["nodes"]]
    # the circuit: an SVG that parses, one box per gate and one label per input
    svg_text = re.search(r"<svg [^>]*class=\"circuit\".*?</svg>", r.text, re.S).group(0)
    root = ET.fromstring(svg_text)
    assert len(root.findall(f".//{SVG}rect")) == len(nodes)
    # the given inputs, each with its value
    for name, value in g["inputs"].items():
        assert re.search(rf"</math>&#8202;=&#8202;{re.escape(format(value, 'g'))}</span>", r.text), name
    # one field per quantity of the oracle (every value, local gradient and gradient but ∂f/∂f)
    fields = web.field_names(sources[0].exercise)
    assert set(fields) == set(oracle(path)) and len(fields) == len(set(fields))
    # the forward values come first, in the order of the nodes
    assert list(fields[:len(nodes)]) == nodes


def test_no_graph_page_holds_an_answer_before_it_is_typed(graph):
    path, sources, client = graph
    values = oracle(path)
    # the given inputs may stand on the page; a true value equal to one of them is no leak
    given = {float(v) for v in tomllib.loads(path.read_text())["graph"]["inputs"].values()}
    hidden = {n: v for n, v in values.items() if v not in given and v not in (0.0, 1.0, -1.0)}
    for url in ("/e/1", "/page.css"):
        assert not leaks(client.get(url).text, hidden), url
    first = web.field_names(sources[0].exercise)[0]
    wrong = values[first] + 0.37
    r = client.post("/e/1", data={first: f"{wrong:.2f}"})
    assert r.status_code == 200
    assert verdicts(r.text, sources[0].exercise) == {first: "wrong"}
    assert not leaks(r.text, hidden)


def test_the_true_values_are_checked_correct(graph):
    path, sources, client = graph
    values = oracle(path)
    typed = {n: f"{v:.4f}" for n, v in values.items()}
    r = client.post("/e/1", data=typed)
    got = verdicts(r.text, sources[0].exercise)
    assert set(got) == set(values) and set(got.values()) == {"correct"}


def test_backward_only_sheet_gives_the_forward_values_and_asks_the_gradients(tmp_path):
    spec = tmp_path / "backward.toml"
    spec.write_text((EXAMPLES / "graph_sum_product.toml").read_text()
                    + '\n[questions]\ninclude = ["backward"]\n', encoding="utf-8")
    sources = serve.load([str(spec)])
    page = TestClient(serve.app(sources)).get("/e/1").text
    fields = web.field_names(sources[0].exercise)
    assert "q" not in fields and "f" not in fields and "df/dx" in fields
    assert "Forward pass." not in page and "Backward pass." in page
    svg_text = re.search(r"<svg [^>]*class=\"circuit\".*?</svg>", page, re.S).group(0)
    assert "<tspan>3</tspan>" in svg_text and "<tspan>-12</tspan>" in svg_text  # q and f above their wires
    assert not leaks(page, {k: v for k, v in oracle(spec).items() if k.startswith("df/")})


def test_a_hostile_title_is_text_in_the_page_and_the_figure(tmp_path):
    spec = tmp_path / "hostile.toml"
    text = (EXAMPLES / "graph_sum_product.toml").read_text()
    spec.write_text(text.replace('title = "Backpropagation through a circuit: (x + y) z"',
                                 'title = "A \\" onload=\\"alert(1) <script>x</script> & </svg>"'), encoding="utf-8")
    page = TestClient(serve.app(serve.load([str(spec)]))).get("/e/1").text
    assert "<script>" not in page and 'onload="alert' not in page
    svg_text = re.search(r"<svg [^>]*class=\"circuit\".*?</svg>", page, re.S).group(0)
    ET.fromstring(svg_text)  # still one well-formed element


# --- optimizer steps -------------------------------------------------------------------------

def adam_oracle() -> dict[str, float]:
    """Two Adam steps on L = θ² from θ = 5 (α = 0.1, β1 = 0.9, β2 = 0.999, ε = 1e-8), as
    printed by G. Basran (see examples/optim_adam_quadratic.toml): g1 = 10, m1 = 1,
    v1 = 0.1, m̂1 = 10, v̂1 = 100, θ1 = 4.9, g2 = 9.8."""
    theta, m, v, out = 5.0, 0.0, 0.0, {}
    for t in (1, 2):
        g = 2 * theta
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        mh, vh = m / (1 - 0.9 ** t), v / (1 - 0.999 ** t)
        theta = theta - 0.1 * mh / (math.sqrt(vh) + 1e-8)
        out.update({f"g_theta[{t}]": g, f"m_theta[{t}]": m, f"v_theta[{t}]": v, f"mhat_theta[{t}]": mh,
                    f"vhat_theta[{t}]": vh, "theta*" if t == 1 else "theta*[2]": theta})
    return out


def test_an_optimizer_page_asks_and_checks_every_step():
    sources = serve.load([str(EXAMPLES / "optim_adam_quadratic.toml")])
    client = TestClient(serve.app(sources))
    page = client.get("/e/1").text
    values = adam_oracle()
    assert round(values["theta*"], 4) == 4.9 and values["g_theta[2]"] == pytest.approx(9.8)
    fields = web.field_names(sources[0].exercise)
    assert set(values) <= set(fields)
    assert "2 steps of Adam" in page and "one step of gradient descent" not in page
    hidden = {n: v for n, v in values.items() if n not in ("g_theta[1]", "mhat_theta[1]", "vhat_theta[1]")}
    assert not leaks(page, hidden)  # 10 and 100 are no answers one could tell from the page
    r = client.post("/e/1", data={n: f"{v:.4f}" for n, v in values.items()})
    assert set(verdicts(r.text, sources[0].exercise).values()) == {"correct"}
