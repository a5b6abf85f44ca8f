"""derive serve for computational-graph and optimizer exercises: the page shows the nodes,
the given inputs and the circuit, asks every quantity of the key, checks against the true
values and never holds one of them before the student typed it."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import tomllib
import warnings
import xml.etree.ElementTree as ET

import pytest
import sympy as sp
from markupsafe import escape

pytest.importorskip("starlette")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from conftest import ROOT  # noqa: E402
from derive import serve, web  # noqa: E402
from derive.misconceptions import MISCONCEPTIONS  # noqa: E402
from test_serve import leaks, verdicts  # noqa: E402

EXAMPLES = ROOT / "examples"
GRAPHS = ("graph_sum_product", "graph_sigmoid_neuron", "graph_used_twice", "graph_max")
SVG = "{http://www.w3.org/2000/svg}"


# --- an oracle independent of derive: SymPy on the spec's formulas --------------------------

def oracle(path) -> dict[str, float]:
    """Every value, local gradient and gradient of the graph in ``path``, by sympy.diff."""
    g = tomllib.loads(path.read_text())["graph"]
    return graph_values(g, g["inputs"])


def graph_values(g: dict, inputs: dict[str, float]) -> dict[str, float]:
    """Every value, local gradient and gradient of the graph ``g`` (a spec's [graph]) at
    ``inputs``. The gradient with respect to a quantity is that of f written as a function
    of it, every later node put in by its formula and every other quantity held at its value."""
    nodes = [next(iter(n.items())) for n in g["nodes"]]
    out_name = g.get("output", nodes[-1][0])
    sym = {n: sp.Symbol(n) for n in [*g["inputs"], *(n for n, _ in nodes)]}
    funcs = {"max": sp.Max, "min": sp.Min, "exp": sp.exp, "sigmoid": lambda t: 1 / (1 + sp.exp(-t))}
    exprs = {n: sp.sympify(f, locals={**sym, **funcs}) for n, f in nodes}
    values = {n: sp.Float(v, 30) for n, v in inputs.items()}
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


# --- optimizer steps on a graph --------------------------------------------------------------

GRAPH_OPTIMIZERS = ("graph_adam_parabola", "graph_momentum_bowl", "graph_rosenbrock_nesterov")


def _marked(name: str, tag: str, inputs) -> str:
    """A quantity of the pass after k steps, as the key names it: k primes on the node, and
    on the bottom of a partial unless that is an input (x1 is x1 in every pass)."""
    if name.startswith("d") and "/d" in name:
        top, bottom = name[1:].split("/d", 1)
        return f"d{top}{tag}/d{bottom}{'' if bottom in inputs else tag}"
    return name + tag


def _after(x: str, k: int) -> str:
    return x if k == 0 else f"{x}*" if k == 1 else f"{x}*[{k}]"


def steps_oracle(spec: dict) -> dict[str, float]:
    """Every value of a graph optimizer exercise: the graph's pass (sympy.diff, above) at
    each point the steps take their gradient at, and the steps in plain Python, written
    from the textbook rules: Adam (Kingma & Ba 2015, Algorithm 1); momentum as Dive into
    Deep Learning §12.6 writes it, v ← βv + g, x ← x − ηv; Nesterov with the look-ahead
    (Goodfellow et al. 2016, Algorithm 8.3): g at x + μv, v ← μv − ηg, x ← x + v."""
    g, t = spec["graph"], spec["training"]
    inputs = dict(g["inputs"])
    params = g.get("parameters", list(inputs))
    f = g.get("output", next(iter(g["nodes"][-1])))
    eta, opt = t["learning_rate"], t["optimizer"]
    out = {n: v for n, v in graph_values(g, inputs).items()}
    x = {p: float(inputs[p]) for p in params}
    m = {p: 0.0 for p in params}
    v = {p: 0.0 for p in params}
    for k in range(1, t["steps"] + 1):
        tag = "'" * (k - 1)
        at = dict(x)
        if opt == "nesterov":
            at = {p: x[p] + t["mu"] * v[p] for p in params}
            out.update({f"{p}~[{k}]": at[p] for p in params})
        if k > 1:
            out.update({_marked(n, tag, inputs): val for n, val in graph_values(g, {**inputs, **at}).items()})
        for p in params:
            grad = out[f"d{f}{tag}/d{p}"]
            out[f"g_{p}[{k}]"] = grad
            if opt == "adam":
                b1, b2 = t["beta1"], t["beta2"]
                m[p] = b1 * m[p] + (1 - b1) * grad
                v[p] = b2 * v[p] + (1 - b2) * grad ** 2
                mhat, vhat = m[p] / (1 - b1 ** k), v[p] / (1 - b2 ** k)
                step = -eta * mhat / (math.sqrt(vhat) + t["epsilon"])
                out.update({f"m_{p}[{k}]": m[p], f"v_{p}[{k}]": v[p], f"mhat_{p}[{k}]": mhat,
                            f"vhat_{p}[{k}]": vhat, f"Delta_{p}[{k}]": step})
                x[p] += step
            elif opt == "momentum":  # the accumulating form
                v[p] = t["mu"] * v[p] + grad
                out[f"v_{p}[{k}]"] = v[p]
                x[p] -= eta * v[p]
            elif opt == "nesterov":
                v[p] = t["mu"] * v[p] - eta * grad
                out[f"v_{p}[{k}]"] = v[p]
                x[p] += v[p]
            out[_after(p, k)] = x[p]
    nodes = [next(iter(n)) for n in g["nodes"]]
    last = graph_values(g, {**inputs, **x})
    out.update({n + "'" * t["steps"]: last[n] for n in nodes})
    return out


def load_spec(name: str) -> dict:
    return tomllib.loads((EXAMPLES / f"{name}.toml").read_text())


def test_the_steps_oracle_gives_the_published_numbers():
    # G. Basran (2024): g1 = 10, m1 = 1, v1 = 0.1, m̂1 = 10, v̂1 = 100, θ1 = 4.9, g2 = 9.8.
    a = steps_oracle(load_spec("graph_adam_parabola"))
    assert [a[n] for n in ("g_theta[1]", "m_theta[1]", "v_theta[1]")] == pytest.approx([10, 1, 0.1])
    assert [a[n] for n in ("mhat_theta[1]", "vhat_theta[1]", "theta*", "g_theta[2]")] == pytest.approx([10, 100, 4.9, 9.8])
    # Dive into Deep Learning §12.6.1, η = 0.6, β = 0.5: after 20 steps x1 = 0.007188, x2 = 0.002553.
    bowl = load_spec("graph_momentum_bowl")
    bowl["training"]["steps"] = 20
    b = steps_oracle(bowl)
    assert (round(b["x1*[20]"], 6), round(b["x2*[20]"], 6)) == (0.007188, 0.002553)
    # Rosenbrock at the start of Moré, Garbow & Hillstrom (1981): f(−1.2, 1) = 24.2.
    assert steps_oracle(load_spec("graph_rosenbrock_nesterov"))["f"] == pytest.approx(24.2)


@pytest.fixture(scope="module", params=GRAPH_OPTIMIZERS)
def descent(request):
    sources = serve.load([str(EXAMPLES / f"{request.param}.toml")])
    return load_spec(request.param), sources, TestClient(serve.app(sources), follow_redirects=False)


def legends(html: str) -> list[str]:
    return [re.sub(r"<math.*?</math>", "f", t, flags=re.S) for t in re.findall(r"<legend>(.*?)</legend>", html, re.S)]


def test_a_graph_optimizer_page_asks_every_value_in_the_order_of_the_computation(descent):
    spec, sources, client = descent
    page = client.get("/e/1").text
    values = steps_oracle(spec)
    exercise = sources[0].exercise
    fields = web.field_names(exercise)
    assert set(fields) == set(values) and len(fields) == len(set(fields))
    # the sheet states the rule: how many steps of which optimizer, the learning rate, the hyperparameters
    t, steps = spec["training"], spec["training"]["steps"]
    title = {"adam": "Adam", "momentum": "gradient descent with momentum", "nesterov": "Nesterov momentum"}[t["optimizer"]]
    assert f"the first {steps} steps of {title}" in page
    for h in ("learning_rate", "mu", "beta1", "beta2"):
        if h in t:
            assert re.search(rf"</math>&#8202;=&#8202;{re.escape(format(t[h], 'g'))}</span>", page), h
    # one group per step, then the output where the steps end
    asked = [k for k in ("Forward pass", "Gradients") if k == "Forward pass"
             or "include" not in spec.get("questions", {}) or "backward" in spec["questions"]["include"]]
    letter = "abc"[len(asked)]
    assert legends(page) == [f"({'ab'[i]}) {k}" for i, k in enumerate(asked)] + [
        f"({letter}) Minimising f: step {k} of {steps}" for k in range(1, steps + 1)] + [
        f"({letter}) Minimising f: after {steps} steps"]
    # within a step: the look-ahead point, the pass it takes its gradient from, then the update
    order = {n: i for i, n in enumerate(fields)}
    params = spec["graph"].get("parameters", list(spec["graph"]["inputs"]))
    for k in range(1, steps + 1):
        tag = "'" * (k - 1)
        for p in params:
            assert order[f"df{tag}/d{p}"] < order[f"g_{p}[{k}]"] < order[_after(p, k)] < order[f"f{tag}'"]
            if t["optimizer"] == "nesterov":
                assert order[f"{p}~[{k}]"] < order[f"f{tag}"] if k > 1 else order[f"{p}~[{k}]"] < order[f"df/d{p}"]


def test_the_true_steps_are_checked_correct_at_every_precision(descent):
    spec, sources, client = descent
    values = steps_oracle(spec)
    for digits in (4, 6):
        r = client.post("/e/1", data={n: f"{v:.{digits}f}" for n, v in values.items()})
        got = verdicts(r.text, sources[0].exercise)
        assert set(got) == set(values) and set(got.values()) == {"correct"}, (digits, {
            n: v for n, v in got.items() if v != "correct"})


def _hidden(spec: dict, values: dict[str, float]) -> dict[str, float]:
    """The answers that must not stand on a page: not a given value (inputs and
    hyperparameters are on the sheet) and not 0 or ±1, which stand in any page."""
    given = {float(v) for v in spec["graph"]["inputs"].values()}
    given |= {float(v) for v in spec["training"].values() if isinstance(v, (int, float))}
    return {n: v for n, v in values.items() if v not in given and v not in (0.0, 1.0, -1.0)}


def test_no_graph_optimizer_page_holds_an_answer_before_it_is_typed(descent):
    spec, sources, client = descent
    values = steps_oracle(spec)
    hidden = _hidden(spec, values)
    exercise = sources[0].exercise
    assert not leaks(client.get("/e/1").text, hidden)
    # step 1 typed: nothing of the later steps shows, right or wrong
    fields = web.field_names(exercise)
    first = [n for n in fields if n.endswith("[1]") or n.endswith("*") and "[" not in n]
    typed = {n: f"{values[n]:.4f}" for n in first}
    r = client.post("/e/1", data=typed)
    assert set(verdicts(r.text, exercise).values()) == {"correct"}
    assert not leaks(r.text, {n: v for n, v in hidden.items() if n not in first and round(v, 4) not in
                              {round(values[m], 4) for m in first}})
    wrong = {**typed, first[-1]: f"{values[first[-1]] + 0.37:.4f}"}
    r = client.post("/e/1", data=wrong)
    assert verdicts(r.text, exercise)[first[-1]] == "wrong"
    assert not leaks(r.text, {first[-1]: values[first[-1]]})


def test_a_wrong_step_is_named_and_what_follows_is_carried_forward():
    spec = load_spec("graph_adam_parabola")
    sources = serve.load([str(EXAMPLES / "graph_adam_parabola.toml")])
    client = TestClient(serve.app(sources))
    values = steps_oracle(spec)
    # m₁ with the rate and its complement swapped, β·g in place of (1 − β)·g: 0.9·10 = 9;
    # m̂₁, the step and θ₁ then computed from it.
    typed = {n: f"{values[n]:.4f}" for n in ("f", "df/dtheta", "g_theta[1]", "v_theta[1]", "vhat_theta[1]")}
    m1 = 0.9 * 10
    mhat = m1 / (1 - 0.9)
    step = -0.1 * mhat / (math.sqrt(values["vhat_theta[1]"]) + 1e-8)
    typed.update({"m_theta[1]": f"{m1:.4f}", "mhat_theta[1]": f"{mhat:.4f}", "Delta_theta[1]": f"{step:.4f}",
                  "theta*": f"{5 + step:.4f}"})
    r = client.post("/e/1", data=typed)
    got = verdicts(r.text, sources[0].exercise)
    assert got["m_theta[1]"] == "wrong" and got["v_theta[1]"] == "correct"
    assert {got[n] for n in ("mhat_theta[1]", "Delta_theta[1]", "theta*")} == {"carried"}
    assert MISCONCEPTIONS["rate_swapped"].title in r.text
    assert "1 wrong" in r.text and "3 carried forward" in r.text
    # m̂₁ = g₁ = 10 was typed for g₁: the other true values stand nowhere
    assert not leaks(r.text, {n: values[n] for n in ("m_theta[1]", "Delta_theta[1]", "theta*")})


def test_a_restarted_momentum_is_named_at_step_2():
    spec = load_spec("graph_momentum_bowl")
    sources = serve.load([str(EXAMPLES / "graph_momentum_bowl.toml")])
    values = steps_oracle(spec)
    # v₂ from zero again, v₂ = g₂, not β·v₁ + g₂; x₂ then from it
    typed = {n: f"{values[n]:.4f}" for n in ("g_x1[1]", "v_x1[1]", "x1*", "g_x1[2]")}
    typed.update({"v_x1[2]": f"{values['g_x1[2]']:.4f}", "x1*[2]": f"{values['x1*'] - 0.6 * values['g_x1[2]']:.4f}"})
    r = TestClient(serve.app(sources)).post("/e/1", data=typed)
    got = verdicts(r.text, sources[0].exercise)
    assert got["v_x1[2]"] == "wrong" and got["x1*[2]"] == "carried" and got["x1*"] == "correct"
    assert MISCONCEPTIONS["state_not_carried"].title in r.text


@pytest.mark.parametrize("text,status", [
    ("<script>alert(1)</script>", 422), ("</math><svg onload=alert(1)>", 422), ("\\input{/etc/passwd}", 422),
    ("$x^2$", 422), ("1e999999", 422), ("9" * 400, 422), ("1" * 5000, 422),
    ("-" + "9" * 39, 200),  # a number, only far off: checked, wrong
], ids=["script", "svg", "tex", "dollars", "overflow", "400-digits", "5000-digits", "huge"])
def test_hostile_values_on_a_graph_optimizer_page_are_escaped_or_refused(text, status):
    sources = serve.load([str(EXAMPLES / "graph_rosenbrock_nesterov.toml")])
    client = TestClient(serve.app(sources))
    r = client.post("/e/1", data={"x1~[1]": text, "x2*[3]": text, "f": "24.2000"})
    assert r.status_code == status
    assert "<script" not in r.text and "<svg onload" not in r.text and "Traceback" not in r.text
    assert str(escape(text[:web.MAX_TEXT])) in r.text  # echoed as typed, escaped
    assert text[:web.MAX_TEXT + 1] not in r.text or len(text) <= web.MAX_TEXT  # cut to the field's length
    got = verdicts(r.text, sources[0].exercise)
    assert got["f"] == "correct"
    if status == 200:
        assert got["x1~[1]"] == got["x2*[3]"] == "wrong"
    else:
        assert r.text.count('bad-input" id=') == 2 and "not a number" in r.text
    # a field the exercise does not ask for, named with markup or TeX, or a given value, is refused
    for name in ("<script>x</script>", "\\input{x}", "theta*[9]", "x1~[0]", "v_x1[0]", "eta", "mu"):
        bad = client.post("/e/1", data={name: "1"})
        assert bad.status_code == 400 and "<script>x" not in bad.text
    assert client.get("/e/1").status_code == 200


def test_graph_optimizer_variants_are_checked_against_their_own_start(tmp_path):
    spec_file = tmp_path / "bowl.toml"
    spec_file.write_text((EXAMPLES / "graph_momentum_bowl.toml").read_text()
                         + '\n[vary]\ninputs = { from = -4, to = 4, step = 1, exclude = [0] }\n', encoding="utf-8")
    out = tmp_path / "v"
    done = subprocess.run([sys.executable, "-m", "derive", "variants", str(spec_file), "--count", "3", "--seed", "5",
                           "--out", str(out), "--no-pdf", "--format", "json"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = json.loads((out / "answers.json").read_text())["variants"]
    sources = serve.load([str(out)])
    client = TestClient(serve.app(sources))
    assert "Your id" in client.get("/e/1").text
    base = load_spec("graph_momentum_bowl")
    checked = 0
    for record in records:
        vid, start = str(record["variant"]), record["given"]
        spec = {**base, "graph": {**base["graph"], "inputs": {x: start[x] for x in base["graph"]["inputs"]}}}
        values = steps_oracle(spec)
        page = client.get("/e/1", params={"id": vid}).text
        assert f"sheet {vid}" in page and "the first 3 steps of gradient descent with momentum" in page
        assert not leaks(page, _hidden(spec, values))
        r = client.post("/e/1", data={"id": vid, **{n: f"{v:.4f}" for n, v in values.items()}})
        assert set(verdicts(r.text, sources[0].exercise).values()) == {"correct"}
        if (start["x1"], start["x2"]) != (-5, -2):
            theirs = steps_oracle(base)
            r = client.post("/e/1", data={"id": vid, "x1*[3]": f"{theirs['x1*[3]']:.4f}"})
            assert verdicts(r.text, sources[0].exercise)["x1*[3]"] != "correct"
            checked += 1
    assert checked


SWEEP = """title = "Every convention"
[graph]
inputs = { x1 = 1.5, x2 = -1, c = 2 }
nodes = [ { a = "x1^2" }, { b = "x2^2" }, { f = "c*a + 2*b" } ]
parameters = ["x1", "x2"]
[training]
learning_rate = 0.1
steps = 2
"""


@pytest.mark.parametrize("training,says", [
    ('optimizer = "adam"\nweight_decay = 0.01\ndecay = "l2"\nepsilon_at = "hat"\ndirection = "ascent"',
     ["larger (gradient ascent)", "bias correction folded", "Weight decay,"]),
    ('optimizer = "adamw"\nweight_decay = 0.01\nbias_correction = false\nstate = { m_x1 = 0.5 }',
     ["without bias correction", "Decoupled weight decay", " except <span>", "AdamW:"]),
    ('optimizer = "nesterov"\nnesterov = "library"\nmu = 0.9', ["Nesterov momentum:"]),
    ('optimizer = "rmsprop"\nepsilon_at = "inside"', ["inside the square root", "RMSProp:"]),
    ('optimizer = "sgd"', ["Gradient descent:"]),
], ids=["adam-ascent-l2", "adamw-own-state", "nesterov-library", "rmsprop", "sgd"])
def test_every_convention_of_an_optimizer_on_a_graph_is_stated_and_asked(tmp_path, training, says):
    spec = tmp_path / "sweep.toml"
    spec.write_text(SWEEP + training + "\n", encoding="utf-8")
    sources = serve.load([str(spec)])
    page = TestClient(serve.app(sources)).get("/e/1")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    for words in [*says, "The other inputs stay at their values.", "the first 2 steps of"]:
        assert words in text, words
    der = sources[0].exercise.derivation
    assert set(web.field_names(sources[0].exercise)) == {q.name for q in der.quantities if q.formula is not None}
