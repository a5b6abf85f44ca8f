"""Optimizers on computational graphs (derive/graph_optimizer.py): the published numbers of
Dive into Deep Learning §12.6; every optimizer and convention against the plain-Python
textbook implementation of tests/test_optim.py, with gradients from sympy.diff of the
formula written out here (not the graph's backward pass), over random graphs and
hyperparameters; against torch.optim where its convention is the same; the checker (errors
carried through the steps, optimizer mistakes named); variants, the writers; bad input.
"""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import sys
import tomllib
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import sympy as sp

from derive import check as C
from derive import spec as spec_mod
from derive.errors import SpecError
from derive.solution import Exercise

from oracle import Objective
from test_optim import textbook

ROOT = Path(__file__).resolve().parent.parent
BOWL = ROOT / "examples" / "graph_momentum_bowl.toml"


def load(raw: dict) -> Exercise:
    return Exercise(spec_mod.from_table(raw, "<test>"))


def bowl(**training) -> dict:
    raw = tomllib.loads(BOWL.read_text())
    raw["training"] = {"learning_rate": 0.6, "steps": 10, **training}
    return raw


# --- the published numbers ----------------------------------------------------------------

def twenty_steps(raw: dict) -> tuple[float, float]:
    """Twenty steps as two exercises of ten (the spec allows ten at most): the second starts
    where the first ended, with its state given."""
    sol = load(raw).solve()
    v = sol.values
    second = json.loads(json.dumps(raw))
    second["graph"]["inputs"] = {"x1": v["x1*[10]"], "x2": v["x2*[10]"]}
    if "v_x1[10]" in v:
        second["training"]["state"] = {"v_x1": v["v_x1[10]"], "v_x2": v["v_x2[10]"]}
    w = load(second).solve().values
    return w["x1*[10]"], w["x2*[10]"]


@pytest.mark.parametrize("training,printed", [
    # Zhang, Lipton, Li & Smola, Dive into Deep Learning, §12.6.1: "epoch 20, x1: …, x2: …"
    ({"optimizer": "sgd", "learning_rate": 0.4}, (-0.943467, -0.000073)),
    ({"optimizer": "momentum", "momentum": "accumulate", "mu": 0.5}, (0.007188, 0.002553)),
    ({"optimizer": "momentum", "momentum": "accumulate", "mu": 0.25}, (-0.126340, -0.186632)),
])
def test_dive_into_deep_learning(training, printed):
    x1, x2 = twenty_steps(bowl(**training))
    assert (round(x1, 6), round(x2, 6)) == printed


def test_basran_adam_on_a_parabola():
    """G. Basran, "The Full Adam Algorithm" (2024): the printed numbers of two steps."""
    v = Exercise(spec_mod.load(str(ROOT / "examples" / "graph_adam_parabola.toml"))).solve().values
    printed = {"df/dtheta": 10, "m_theta[1]": 1, "v_theta[1]": 0.1, "mhat_theta[1]": 10, "vhat_theta[1]": 100,
               "theta*": 4.9, "df'/dtheta": 9.8}
    for name, number in printed.items():
        assert v[name] == pytest.approx(number, rel=1e-6), name


def test_rosenbrock_from_the_standard_start():
    """Moré, Garbow & Hillstrom (1981), problem 1, from its start (−1.2, 1): f there is
    2.2² + 100·0.44² = 24.2 and 0 at the stated minimum (1, 1); the example's steps against
    the textbook's Nesterov with gradients from sympy.diff."""
    path = ROOT / "examples" / "graph_rosenbrock_nesterov.toml"
    v = Exercise(spec_mod.load(str(path))).solve().values
    assert v["f"] == pytest.approx(24.2, rel=1e-12)
    o = GraphOracle("(1 - x1)**2 + 100*(x2 - x1**2)**2", ("x1", "x2"), {})
    assert o.loss({"x1": 1, "x2": 1}) == 0 and o.grad({"x1": 1, "x2": 1}) == {"x1": 0, "x2": 0}
    expected = textbook(o, {"x1": -1.2, "x2": 1.0}, "nesterov", 0.001, 3, {"mu": 0.9}, {})
    for k in (1, 2, 3):
        star = "*" if k == 1 else f"*[{k}]"
        assert v[f"x1{star}"] == pytest.approx(expected[k]["x1"], rel=1e-12)
        assert v[f"x2{star}"] == pytest.approx(expected[k]["x2"], rel=1e-12)
    assert v["f" + "'" * 3] == pytest.approx(o.loss(expected[3]), rel=1e-12)


def test_the_example_as_the_book_steps_it():
    """The example's three steps, by the book's own recursion written out here."""
    sol = Exercise(spec_mod.load(str(BOWL))).solve()
    x1, x2, v1, v2 = -5.0, -2.0, 0.0, 0.0
    for k in range(1, 4):
        v1, v2 = 0.5 * v1 + 0.2 * x1, 0.5 * v2 + 4 * x2
        x1, x2 = x1 - 0.6 * v1, x2 - 0.6 * v2
        star = "*" if k == 1 else f"*[{k}]"
        assert sol.values[f"x1{star}"] == pytest.approx(x1, rel=1e-12)
        assert sol.values[f"x2{star}"] == pytest.approx(x2, rel=1e-12)
        assert sol.values[f"v_x2[{k}]"] == pytest.approx(v2, rel=1e-12)
    assert sol.values["f'''"] == pytest.approx(0.1 * x1 ** 2 + 2 * x2 ** 2, rel=1e-12)


# --- random graphs and hyperparameters against the textbook ---------------------------------

GRAPHS = [
    # (nodes, the same function written out in one formula, inputs, parameters)
    ([{"a": "x1^2"}, {"b": "x2^2"}, {"f": "A*a + B*b"}], "A*x1**2 + B*x2**2", ("x1", "x2"), ("x1", "x2")),
    ([{"d": "C - x1"}, {"e": "x2 - x1^2"}, {"f": "d^2 + B*e^2"}], "(C - x1)**2 + B*(x2 - x1**2)**2",
     ("x1", "x2"), ("x1", "x2")),  # Rosenbrock's valley
    ([{"q": "w*x + c"}, {"s": "tanh(q)"}, {"f": "(s - y)^2"}], "(tanh(w*x + c) - y)**2",
     ("w", "c", "x", "y"), ("w", "c")),  # inputs x and y held at their values
    ([{"p": "x1*x2"}, {"u": "exp(A*p)"}, {"f": "u + x1^2 + B*x2^2"}], "exp(A*x1*x2) + x1**2 + B*x2**2",
     ("x1", "x2"), ("x1", "x2")),
]

OPTIMIZERS = [
    ("sgd", {}, {}),
    ("sgd", {}, {"weight_decay": 0.1}),
    ("momentum", {"mu": 0.9}, {"momentum": "velocity"}),
    ("momentum", {"mu": 0.8}, {"momentum": "accumulate"}),
    ("momentum", {"mu": 0.7}, {"momentum": "velocity_plus", "direction": "ascent"}),
    ("momentum", {"mu": 0.5}, {"momentum": "average"}),
    ("nesterov", {"mu": 0.9}, {}),
    ("nesterov", {"mu": 0.6}, {"momentum": "accumulate"}),
    ("nesterov", {"mu": 0.9}, {"nesterov": "library"}),
    ("adagrad", {"epsilon": 0.01}, {}),
    ("adagrad", {"epsilon": 0.01}, {"epsilon_at": "inside"}),
    ("rmsprop", {"rho": 0.9, "epsilon": 1e-6}, {}),
    ("rmsprop", {"rho": 0.8, "epsilon": 1e-3}, {"epsilon_at": "outside", "state": {"r": 0.5}}),
    ("adam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, {}),
    ("adam", {"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-3}, {"bias_correction": False}),
    ("adam", {"beta1": 0.9, "beta2": 0.99, "epsilon": 1e-3}, {"epsilon_at": "hat"}),
    ("adam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-4}, {"epsilon_at": "inside", "weight_decay": 0.05}),
    ("adamw", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, {"weight_decay": 0.1}),
]


class GraphOracle(Objective):
    """The output and its gradient over the parameters, from sympy.diff of the formula as
    written out above, with the constants and the held inputs put in."""

    def __init__(self, formula: str, params, fixed: dict):
        super().__init__(sp.sympify(formula).subs({sp.Symbol(k): v for k, v in fixed.items()}), params)
        self.frozen, self.bias = set(), set()


def random_case(seed: int):
    rng = random.Random(seed)
    nodes, formula, inputs, params = rng.choice(GRAPHS)
    constants = {"A": rng.choice([0.1, 0.5, 1, 2]), "B": rng.choice([0.5, 1, 2, 5]), "C": rng.choice([1, 2])}
    if "exp" in formula:  # e^(A·x1·x2) grows fast: a gentle slope keeps every step finite
        constants["A"] = rng.choice([0.1, 0.2])
    nodes = [{k: _put(v, constants)} for n in nodes for k, v in n.items()]
    values = {x: rng.choice([-2, -1.5, -1, -0.5, 0.5, 1, 1.5, 2]) for x in inputs}
    opt, hp, conv = rng.choice(OPTIMIZERS)
    eta = rng.choice([0.01, 0.05, 0.1])
    steps = rng.randint(1, 4)
    raw = {"graph": {"inputs": values, "nodes": nodes, "parameters": list(params)},
           "training": {"optimizer": opt, "learning_rate": eta, "steps": steps, **hp, **conv}}
    fixed = {**constants, **{x: v for x, v in values.items() if x not in params}}
    return raw, GraphOracle(formula, params, fixed), opt, eta, steps, hp, conv


def _put(text: str, constants: dict) -> str:
    for k, v in constants.items():
        text = text.replace(k, str(v))
    return text


@pytest.mark.parametrize("seed", range(60))
def test_random_graphs_against_the_textbook(seed):
    raw, o, opt, eta, steps, hp, conv = random_case(seed)
    sol = load(raw).solve()
    start = {p: raw["graph"]["inputs"][p] for p in o.params}
    expected = textbook(o, start, opt, eta, steps, hp, conv)
    for k in range(1, steps + 1):
        for p in o.params:
            name = f"{p}*" if k == 1 else f"{p}*[{k}]"
            assert sol.values[name] == pytest.approx(expected[k][p], rel=1e-9, abs=1e-12), (opt, conv, name)
    f = raw_output(sol, steps)
    assert f == pytest.approx(o.loss(expected[steps]), rel=1e-9, abs=1e-12)


def raw_output(sol, steps: int) -> float:
    return sol.values["f" + "'" * steps]


def test_every_optimizer_is_drawn():
    from derive.optimizers import OPTIMIZERS as REGISTRY

    drawn = {random_case(seed)[2] for seed in range(60)}
    assert drawn == set(REGISTRY)


TORCH = [
    ("sgd", {}, {}, "SGD", {}),
    ("momentum", {"mu": 0.9}, {"momentum": "accumulate"}, "SGD", {"momentum": 0.9}),
    ("nesterov", {"mu": 0.9}, {"nesterov": "library"}, "SGD", {"momentum": 0.9, "nesterov": True}),
    ("adagrad", {"epsilon": 1e-10}, {}, "Adagrad", {"eps": 1e-10}),
    ("rmsprop", {"rho": 0.99, "epsilon": 1e-8}, {"epsilon_at": "outside"}, "RMSprop", {"alpha": 0.99, "eps": 1e-8}),
    ("adam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, {}, "Adam", {"betas": (0.9, 0.999), "eps": 1e-8}),
    ("adamw", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, {"weight_decay": 0.1}, "AdamW",
     {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1}),
]


@pytest.mark.parametrize("opt,hp,conv,cls,kwargs", TORCH, ids=[t[3] + str(i) for i, t in enumerate(TORCH)])
def test_rosenbrock_against_torch(opt, hp, conv, cls, kwargs):
    torch = pytest.importorskip("torch")
    raw = {"graph": {"inputs": {"x1": -1.5, "x2": 2}, "nodes": GRAPHS[1][0], "parameters": ["x1", "x2"]},
           "training": {"optimizer": opt, "learning_rate": 0.01, "steps": 5, **hp, **conv}}
    raw["graph"]["nodes"] = [{k: _put(v, {"B": 1, "C": 1}) for k, v in n.items()} for n in raw["graph"]["nodes"]]
    sol = load(raw).solve()
    x = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
    optimizer = getattr(torch.optim, cls)([x], lr=0.01, **kwargs)
    for k in range(1, 6):
        optimizer.zero_grad()
        ((1 - x[0]) ** 2 + (x[1] - x[0] ** 2) ** 2).backward()
        optimizer.step()
        star = "*" if k == 1 else f"*[{k}]"
        assert sol.values[f"x1{star}"] == pytest.approx(x[0].item(), rel=1e-9)
        assert sol.values[f"x2{star}"] == pytest.approx(x[1].item(), rel=1e-9)


# --- the checker --------------------------------------------------------------------------

def fmt(value: float) -> str:
    return str(Decimal(value).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def report(raw: dict, claimed: dict, tmp_path: Path) -> dict:
    ex = load(raw)
    path = tmp_path / "answers.toml"
    path.write_text("".join(f'"{k}" = {fmt(v)}\n' for k, v in claimed.items()))
    answers = C.read_answers(path, list(ex.derivation.index))
    return {r.name: r for r in C.check(ex, ex.solve(), answers).results}


def bowl3(**training) -> dict:
    return bowl(**{"steps": 3, **training})


def test_an_error_in_step_1_is_carried_into_step_2(tmp_path):
    # a slip in v_x2[1] (−7 instead of −8); the rest worked on from it, by the book's rule
    v1, x1 = -7.0, -2 - 0.6 * -7.0
    g2 = 4 * x1
    v2 = 0.5 * v1 + g2
    r = report(bowl3(optimizer="momentum", momentum="accumulate", mu=0.5),
               {"v_x2[1]": v1, "x2*": x1, "df'/dx2": g2, "v_x2[2]": v2, "x2*[2]": x1 - 0.6 * v2}, tmp_path)
    assert r["v_x2[1]"].verdict == "wrong"
    assert all(r[n].verdict == "carried" for n in ("x2*", "df'/dx2", "v_x2[2]", "x2*[2]")), \
        {n: r[n].verdict for n in r}


def test_state_not_carried_is_named(tmp_path):
    x1, v1 = -2 - 0.6 * -8, -8.0  # step 1 right
    g2 = 4 * x1
    r = report(bowl3(optimizer="momentum", momentum="accumulate", mu=0.5), {"v_x2[2]": g2}, tmp_path)
    assert r["v_x2[2]"].verdict == "wrong" and "state_not_carried" in r["v_x2[2]"].misconceptions
    assert abs(g2 - (0.5 * v1 + g2)) > 1


def test_bias_correction_forgotten_is_named(tmp_path):
    g = 0.2 * -5  # ∂f/∂x1 at the start
    m, v = 0.1 * g, 0.001 * g * g
    step = -0.1 * m / (math.sqrt(v) + 1e-8)
    r = report(bowl3(optimizer="adam", learning_rate=0.1), {"Delta_x1[1]": step}, tmp_path)
    assert "bias_correction_forgotten" in r["Delta_x1[1]"].misconceptions


def test_epsilon_misplaced_is_named(tmp_path):
    g = 4 * -2.0  # ∂f/∂x2 at the start
    step = -0.1 * g / math.sqrt(g * g + 0.5)  # ε inside, where the spec puts it outside
    r = report(bowl3(optimizer="adagrad", learning_rate=0.1, epsilon=0.5), {"Delta_x2[1]": step}, tmp_path)
    assert "epsilon_misplaced" in r["Delta_x2[1]"].misconceptions


# --- variants, writers, the page -------------------------------------------------------------

def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "derive", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_variants_carry_the_optimizer_state(tmp_path):
    spec = tmp_path / "bowl.toml"
    spec.write_text(BOWL.read_text() + '\n[vary]\ninputs = { from = -4, to = 4, step = 1, exclude = [0] }\n')
    out = tmp_path / "v"
    done = run("variants", str(spec), "--count", "3", "--seed", "5", "--out", str(out), "--no-pdf",
               "--format", "moodle", "--format", "csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    firsts = set()
    variants = json.loads((out / "answers.json").read_text())["variants"]
    assert len(variants) == 3
    for data in variants:
        q, g = data["quantities"], data["given"]
        firsts.add((g["x1"], g["x2"]))
        # the book's recursion from this variant's start
        x1, x2, v1, v2 = g["x1"], g["x2"], 0.0, 0.0
        for k in range(1, 4):
            v1, v2 = 0.5 * v1 + 0.2 * x1, 0.5 * v2 + 4 * x2
            x1, x2 = x1 - 0.6 * v1, x2 - 0.6 * v2
            assert q[f"v_x1[{k}]"] == pytest.approx(v1) and q[f"v_x2[{k}]"] == pytest.approx(v2)
        assert q["x1*[3]"] == pytest.approx(x1) and q["x2*[3]"] == pytest.approx(x2)
    assert len(firsts) >= 2
    text = "".join(p.read_text() for p in out.rglob("*") if p.suffix in (".xml", ".csv"))
    assert "v_x1[2]" in text or "v_{x_{1}}^{(2)}" in text


def test_the_key_compiles_with_its_figure(tmp_path):
    out = tmp_path / "k"
    done = run("solve", str(BOWL), "--out", str(out), cwd=tmp_path)
    if done.returncode != 0 and "pdflatex" in done.stderr:
        pytest.skip("no pdflatex")
    assert done.returncode == 0, done.stderr
    tex = (out / "solution.tex").read_text()
    assert tex.count(r"\addplot") > 5  # contour lines and the path (margins: tests/test_layout.py)
    text = subprocess.run(["pdftotext", str(out / "solution.pdf"), "-"], capture_output=True, text=True).stdout
    for number in ("−4.4", "2.8", "−3.572", "−1.52", "−2.7294", "−0.032"):
        assert number.replace("−", "-") in text.replace("−", "-"), number


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("change,field,expected", [
    ({"graph": {"parameters": ["x3"]}}, "graph.parameters", "not an input"),
    ({"training": {"optimizer": None}}, "training.optimizer", "expected the optimizer"),
    ({"training": {"steps": 11}}, "training.steps", "from 1 to 10"),
    ({"training": {"mu": 0.9}}, "training.mu", "not a hyperparameter"),
    ({"training": {"state": {"v_y": 1}}}, "training.state", "no parameter named 'y'"),
    ({"training": {"learning_rate": -1}}, "training.learning_rate", ""),
])
def test_bad_input(change, field, expected):
    raw = tomllib.loads(BOWL.read_text())
    raw["training"] = {"optimizer": "sgd", "learning_rate": 0.1}
    for table, fields in change.items():
        for k, v in fields.items():
            if v is None:
                raw[table].pop(k)
            else:
                raw[table][k] = v
    if "state" in change.get("training", {}):
        raw["training"]["optimizer"] = "momentum"
    with pytest.raises(SpecError) as info:
        load(raw)
    assert field in str(info.value) and expected in str(info.value)


def test_a_step_that_overflows_names_the_field(tmp_path):
    spec = tmp_path / "steep.toml"
    spec.write_text('[graph]\ninputs = { x = 3 }\nnodes = [ { f = "exp(x^2)" } ]\n'
                    '[training]\noptimizer = "sgd"\nlearning_rate = 10\nsteps = 2\n')
    done = run("solve", str(spec), "--out", str(tmp_path / "o"), "--no-pdf", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "steep.toml" in done.stderr, done.stderr


def test_lookahead_with_a_starting_velocity_is_refused():
    raw = tomllib.loads(BOWL.read_text())
    raw["training"] = {"optimizer": "nesterov", "learning_rate": 0.1, "state": {"v": 0.5}}
    with pytest.raises(SpecError, match="training.state"):
        load(raw)
    raw["training"]["nesterov"] = "library"  # the libraries' recursion takes g at x itself
    raw["training"]["momentum"] = "accumulate"
    assert load(raw).solve().values["v_x1[1]"] == pytest.approx(0.9 * 0.5 + 0.2 * -5)


def test_parameters_without_training_are_refused():
    raw = tomllib.loads(BOWL.read_text())
    del raw["training"]
    with pytest.raises(SpecError, match="graph.parameters"):
        load(raw)


# --- the contour lines --------------------------------------------------------------------

def test_contour_of_a_circle_is_one_closed_line_on_the_circle():
    from derive import contour

    window = contour.Window(-2, 2, -2, 2)
    grid = contour.grid_values(lambda x, y: x * x + y * y, window)
    lines = contour.lines(grid, window, 1.0)
    assert len(lines) == 1 and lines[0][0] == lines[0][-1]  # joined all the way round
    assert len(lines[0]) > 40
    for x, y in lines[0]:
        assert abs(math.hypot(x, y) - 1) < 0.01  # linear interpolation on a 1/16 grid


def test_every_point_of_the_path_gets_its_own_level():
    from derive import contour

    window = contour.Window(-3, 3, -3, 3)
    grid = contour.grid_values(lambda x, y: 0.1 * x * x + 2 * y * y, window)
    through = [10.5, 10.4, 0.75]
    chosen = contour.levels(grid, through)
    assert all(v in chosen for v in through)


def test_l2_decay_shows_the_penalty_and_objective_at_every_point():
    raw = {"graph": {"inputs": {"x1": -3, "x2": 2}, "nodes": [{"a": "x1^2"}, {"b": "x2^2"}, {"f": "0.5*a + 2*b"}]},
           "training": {"optimizer": "momentum", "learning_rate": 0.1, "mu": 0.8, "weight_decay": 0.2, "steps": 3}}
    v = load(raw).solve().values
    o = GraphOracle("0.5*x1**2 + 2*x2**2", ("x1", "x2"), {})
    points = textbook(o, {"x1": -3.0, "x2": 2.0}, "momentum", 0.1, 3, {"mu": 0.8}, {"weight_decay": 0.2})
    for k, w in enumerate([{"x1": -3.0, "x2": 2.0}] + points[1:]):
        tag = "'" * k
        r = 0.1 * (w["x1"] ** 2 + w["x2"] ** 2)
        assert v[f"R{tag}"] == pytest.approx(r, rel=1e-12)
        assert v[f"J{tag}"] == pytest.approx(o.loss(w) + r, rel=1e-12)


def test_every_pass_is_written_in_the_order_of_the_formulas():
    """Each node's formula and each gradient's chain in the order the spec writes them (y · x,
    y + p, 0.1 · a + 2 · b) and ∂f/∂node before ∂node/∂x, as a graph without an optimizer
    has them, in the first pass and in every pass after a step alike."""
    raw = {"graph": {"inputs": {"x": 1.5, "y": -2}, "nodes": [{"p": "y * x"}, {"q": "y + p"}, {"f": "0.1*q^2 + 2*p"}]},
           "training": {"optimizer": "momentum", "learning_rate": 0.1, "mu": 0.9, "steps": 2}}
    solution = load(raw).solve()
    plain = Exercise(spec_mod.from_table({"graph": raw["graph"]}, "<test>")).solve()
    written = {line.name: line.forms[0] for lines in plain.sections.values() for line in lines if line.kind == "line"}
    assert written["p"] == "y x" and written["q"] == "y + p" and written["f"].startswith("0.1 q^{2}")
    seen = set()
    for lines in solution.sections.values():
        for line in lines:
            bare = line.name.replace("'", "")
            if line.kind != "line" or bare not in written:
                continue
            form = re.sub(r"\^\{?\*(\(\d+\))?\}?", "", line.forms[0].replace("'", ""))
            form = re.sub(r"\\left\((\w+)\\right\)", r"\1", form)  # (x^*)^2 is x^2 without its star
            assert form == written[bare], line.name
            seen.add(line.name)
    assert {"p", "p'", "p''", "q'", "f''", "df'/dx", "df'/dy"} <= seen
