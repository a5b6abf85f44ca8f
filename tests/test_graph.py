"""Computational-graph exercises: every gradient against two independent oracles, on the
examples and on random graphs; the formula parser against hostile input; the spec's
structural checks.

The oracles start from the composed expression (every node's formula put into the next,
the graph's own functions written out explicitly with ``rewrite("explicit")``): SymPy
differentiates it, and mpmath differentiates it numerically at 50 digits. Neither uses the
graph's local gradients or its backward pass.
"""

from __future__ import annotations

import re

import mpmath
import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from derive import spec as spec_mod
from derive.errors import SpecError
from derive.graph import grad_name
from derive.solution import Exercise
from tests.conftest import EXAMPLES, run_cli

mpmath.mp.dps = 50
GRAPH_EXAMPLES = sorted(EXAMPLES.glob("graph_*.toml"))


def composed_wrt(graph, cut: str | None = None) -> sp.Expr:
    """The output as an expression of the inputs, or of the inputs and node ``cut`` (left
    as a symbol, its own formula not put in): ∂f/∂cut is then the gradient that flows into
    ``cut`` with everything else held."""
    subs: dict = {}
    for node in graph.nodes:
        if node.name == cut:
            continue
        subs[sp.Symbol(node.name)] = node.formula.xreplace(subs)
    return subs[sp.Symbol(graph.output)].rewrite("explicit")


def oracle_values(graph, values: dict[str, float]) -> dict[str, sp.Float]:
    """Every node's value at 60 digits, from its explicit formula."""
    env = {sp.Symbol(k): sp.Float(v, 60) for k, v in values.items()}
    for node in graph.nodes:
        env[sp.Symbol(node.name)] = node.formula.rewrite("explicit").xreplace(env).evalf(60)
    return env


def check_against_oracles(exercise: Exercise, values: dict[str, float] | None = None) -> None:
    graph = exercise.spec.graph
    solution = exercise.solve(values)
    given = {x: solution.givens[x] for x in graph.inputs}
    env = oracle_values(graph, given)
    f = graph.output
    assert solution.values[f] == pytest.approx(float(env[sp.Symbol(f)]), rel=1e-12, abs=1e-12)
    for name in (*graph.inputs, *(n.name for n in graph.nodes)):
        if name == f:
            continue
        expr = composed_wrt(graph, cut=name if name not in graph.inputs else None)
        sym = sp.Symbol(name)
        point = {s: env[s] for s in expr.free_symbols | {sym}}  # sym may cancel out (n - n)
        exact = float(sp.diff(expr, sym).xreplace(point).evalf(50))
        others = {s: v for s, v in point.items() if s != sym}
        fn = sp.lambdify(sym, expr.xreplace(others), modules="mpmath")
        numeric = float(mpmath.diff(fn, mpmath.mpf(str(point[sym]))))
        got = solution.values[grad_name(f, name)]
        assert got == pytest.approx(exact, rel=1e-9, abs=1e-12), name
        assert got == pytest.approx(numeric, rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("path", GRAPH_EXAMPLES, ids=lambda p: p.stem)
def test_examples_against_both_oracles(path):
    check_against_oracles(Exercise(spec_mod.load(path)))


# --- random graphs ---------------------------------------------------------------------------

UNARY = ["sigmoid({a})", "tanh({a})", "exp({a} / 4)", "{a}^2", "sqrt(1 + {a}^2)", "log(1 + {a}^2)",
         "relu({a})", "abs({a})", "-{a}", "{a} * 3", "1 / (2 + {a}^2)"]
BINARY = ["{a} + {b}", "{a} - {b}", "{a} * {b}", "max({a}, {b})", "min({a}, {b})", "{a} / (1 + {b}^2)",
          "sigmoid({a} * {b})", "{a} * {a} + {b}"]


@st.composite
def graphs(draw):
    n_inputs = draw(st.integers(1, 3))
    inputs = {f"x{i}": draw(st.sampled_from([-2, -1.5, -1, -0.5, 0.5, 1, 1.5, 2, 2.5])) for i in range(n_inputs)}
    names = list(inputs)
    nodes = []
    for k in range(draw(st.integers(1, 6))):
        if len(names) > 1 and draw(st.booleans()):
            a, b = draw(st.permutations(names))[:2]
            formula = draw(st.sampled_from(BINARY)).format(a=a, b=b)
        else:
            formula = draw(st.sampled_from(UNARY)).format(a=draw(st.sampled_from(names)))
        nodes.append({f"n{k}": formula})
        names.append(f"n{k}")
    # every input and node leads to the output: a last node adds whatever is still unused
    loose = [n for n in names[:-1] if not any(re.search(rf"\b{n}\b", v) for node in nodes for v in node.values())]
    nodes.append({"f": " + ".join([names[-1], *loose])})
    return {"graph": {"inputs": inputs, "nodes": nodes, "output": "f"}}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(graphs())
def test_random_graphs_against_both_oracles(table):
    try:
        spec = spec_mod.from_table(table, "random.toml")
    except SpecError as exc:
        # A tie or a kink exactly at the drawn values is refused; so is a name used by nothing.
        assume("tie" not in str(exc) and "kink" not in str(exc) and "does not lead" not in str(exc))
        raise
    check_against_oracles(Exercise(spec))


# --- the parser against hostile formulas -----------------------------------------------------

ATTACKS = {
    "__import__('os').system('echo hi')": "function '__import__('os').system' is not allowed",
    "__import__('os')": "function '__import__' is not allowed",
    "x.real": "attribute access 'x.real'",
    "x.__class__.__bases__": "attribute access",
    "(lambda: 1)()": "function 'lambda: 1' is not allowed",
    "lambda y: y": "lambda",
    "9**9**9": "exponent",
    "x ^ y": "exponent 'y' is not allowed",
    "x**1000": "exponent 1000 is too large",
    "(" * 300 + "x" + ")" * 300: "expected a formula of at most 400",
    "(x + " * 60 + "x" + ")" * 60: "nested more than 40 levels deep",
    "-" * 500 + "x": "expected a formula of at most 400",
    "-" * 100 + "x": "nested more than 40 levels deep",
    "exp(" * 60 + "x" + ")" * 60: "nested more than 40 levels deep",
    "x if y else 1": "conditional",
    "[x, y]": "list",
    "x[0]": "subscript",
    "x == y": "comparison",
    "x and y": "boolean operator",
    "x // y": "operator 'x // y'",
    "x % y": "operator",
    "~x": "operator",
    "exp(x, y)": "exp takes 1 argument",
    "max(x)": "max takes two or more arguments",
    "exp(x=1)": "keyword argument",
    "open('f')": "function 'open' is not allowed",
    "eval('1')": "function 'eval' is not allowed",
    "sigmod(x)": "did you mean 'sigmoid'",
    "1e400": "too large",
    "10000000 * x": "too large",
    "True + x": "constant 'True'",
    "x; y": "not a formula",
    "x y": "not a formula",
    "exp": "'exp' is a function",
    "z + x": "unknown name 'z'",
}


@pytest.mark.parametrize("formula", list(ATTACKS), ids=lambda f: f[:30])
def test_parser_refuses(formula):
    text = f"[graph]\ninputs = {{ x = 1, y = 2 }}\nnodes = [ {{ f = {_toml_string(formula)} }} ]\n"
    with pytest.raises(SpecError) as info:
        spec_mod.parse(text, "attack.toml")
    message = str(info.value)
    assert message.startswith("attack.toml: graph.nodes[0].f: ")
    assert ATTACKS[formula] in message
    assert "\n" not in message and len(message) < 400


@pytest.mark.parametrize("formula,hint", [
    ("sin(x)", None), ("cos(x)", None), ("arctan(x)", None), ("floor(x)", None), ("softplus(x)", None),
    ("ln(x)", "did you mean 'log'?"), ("tahn(x)", "did you mean 'tanh'?"), ("Exp(x)", "did you mean 'exp'?"), ("ReLU(x)", "did you mean 'relu'?"),
    ("sigmod(x)", "did you mean 'sigmoid'?"), ("pow(x, 2)", "write a power as a ^ b"),
])
def test_a_function_not_allowed_gets_a_hint_only_where_one_is_meant(formula, hint):
    text = f"[graph]\ninputs = {{ x = 1, y = 2 }}\nnodes = [ {{ f = {_toml_string(formula)} }} ]\n"
    with pytest.raises(SpecError) as info:
        spec_mod.parse(text, "f.toml")
    message = str(info.value)
    assert f"function '{formula.split('(')[0]}' is not allowed" in message
    assert "expected one of exp, log, sqrt, abs, max, min, sigmoid, tanh, relu" in message
    if hint is None:
        assert "(" not in message.split("is not allowed", 1)[1].split(";")[0], message
    else:
        assert f"is not allowed ({hint});" in message


def test_parentheses_alone_nest_nothing():
    # Python's parser drops redundant parentheses, so 150 of them are still one addition.
    text = "[graph]\ninputs = { x = 1, y = 2 }\nnodes = [ { f = '" + "(" * 150 + "x + y" + ")" * 150 + "' } ]\n"
    assert Exercise(spec_mod.parse(text, "p.toml")).solve().values["f"] == 3


def _toml_string(text: str) -> str:
    return "'" + text + "'" if "'" not in text else '"' + text.replace('"', '\\"') + '"'


def test_attack_through_the_command_line(tmp_path):
    spec = tmp_path / "attack.toml"
    marker = tmp_path / "pwned"
    spec.write_text(f"[graph]\ninputs = {{ x = 1 }}\nnodes = [ {{ f = \"__import__('os').system('touch {marker}')\" }} ]\n")
    out = tmp_path / "out"
    result = run_cli("solve", spec, "--out", out, "--no-pdf")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "graph.nodes[0].f" in result.stderr and "'__import__('os').system' is not allowed" in result.stderr
    assert not marker.exists() and not out.exists()


# --- structural checks -----------------------------------------------------------------------

STRUCTURE = {
    'inputs = { x = 1 }\nnodes = [ { q = "f + x" }, { f = "q * 2" } ]':
        "graph.nodes[0].q: cycle q -> f -> q",
    'inputs = { x = 1 }\nnodes = [ { f = "f + x" } ]': "graph.nodes[0].f: cycle f -> f",
    'inputs = { x = 1 }\nnodes = [ { q = "x + y" }, { f = "q" } ]': "graph.nodes[0].q: unknown name 'y'",
    'inputs = { x = 1 }\nnodes = [ { q = "x + 1" }, { q = "x * 2" } ]': "graph.nodes[1].q: name 'q' is defined twice",
    'inputs = { x = 1 }\nnodes = [ { x = "x + 1" } ]': "name 'x' is defined twice",
    'inputs = { "x-1" = 1 }\nnodes = [ { f = "x" } ]': "graph.inputs.x-1: name 'x-1': expected letters, digits and underscores",
    'inputs = { x = 1 }\nnodes = [ { "f(x)" = "x" } ]': "name 'f(x)'",
    'inputs = { x = 1 }\nnodes = [ { exp = "x" } ]': "name 'exp' is reserved",
    'inputs = { x = 1 }\nnodes = [ { lambda = "x" } ]': "name 'lambda' is reserved",
    'inputs = { x = 0 }\nnodes = [ { f = "log(x)" } ]': "log of a non-positive number",
    'inputs = { x = -1 }\nnodes = [ { f = "log(x)" } ]': "log of a non-positive number",
    'inputs = { x = 2 }\nnodes = [ { q = "x - 2" }, { f = "1 / q" } ]': "graph.nodes[1].f: cannot be computed at the given values: division by zero",
    'inputs = { x = 2, y = 0 }\nnodes = [ { f = "x / y" } ]': "division by zero",
    'inputs = { x = -4 }\nnodes = [ { f = "sqrt(x)" } ]': "fractional power of a negative number",
    'inputs = { x = 0 }\nnodes = [ { f = "sqrt(x)" } ]': "no derivative at 0",
    'inputs = { x = 1, y = 1 }\nnodes = [ { f = "max(x, y)" } ]': "is a tie",
    'inputs = { x = 0 }\nnodes = [ { f = "relu(x)" } ]': "at its kink",
    'inputs = { x = 800 }\nnodes = [ { f = "exp(x)" } ]': "overflows",
    'inputs = { x = 1, y = 2 }\nnodes = [ { q = "x * 2" }, { f = "y + 1" } ]': "'x' does not lead to the output 'f'",
    'inputs = { x = 1 }\nnodes = [ { f = "x + 1" } ]\noutput = "g"': "graph.output: expected the name of a node",
    'inputs = { x = 1 }\nnodes = [ { f = "x + 1" } ]\noutput = "x"': "graph.output: expected the name of a node",
    'inputs = { x = 1 }\nnodes = [ { f = "3" } ]': "uses no input or node",
    'inputs = { x = 1 }\nnodes = [ { f = 3 } ]': "expected a formula as a string",
    'inputs = { x = 1 }\nnodes = [ "f = x" ]': 'expected one name = "formula" pair',
    'inputs = { x = 1, x_1 = 2 }\nnodes = [ { x1 = "x + x_1" } ]': "print alike",
    'inputs = { x = "one" }\nnodes = [ { f = "x" } ]': "graph.inputs.x: expected a number",
    'inputs = {}\nnodes = [ { f = "x" } ]': "graph.inputs: expected a table of input names",
    'inputs = { x = 1 }\nnodes = []': "graph.nodes: expected a list of nodes",
    'inputs = { x = 1 }\nnode = [ { f = "x" } ]': "graph.node: unknown field (did you mean 'nodes'?)",
}


@pytest.mark.parametrize("body", list(STRUCTURE), ids=lambda b: b.splitlines()[-1][:40])
def test_structure_refused(body):
    with pytest.raises(SpecError) as info:
        spec_mod.parse(f"[graph]\n{body}\n", "g.toml")
    assert STRUCTURE[body] in str(info.value)
    assert str(info.value).startswith("g.toml: ")


def test_unknown_top_level_field():
    with pytest.raises(SpecError, match=r"g.toml: loss: unknown field"):
        spec_mod.parse('[graph]\ninputs = { x = 1 }\nnodes = [ { f = "x" } ]\n[loss]\nkind = "mse"\n', "g.toml")


def test_bad_spec_through_the_command_line(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('[graph]\ninputs = { x = 0 }\nnodes = [ { q = "x + 1" }, { f = "log(x) * q" } ]\n')
    result = run_cli("solve", spec, "--out", tmp_path / "out", "--no-pdf")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"derive: {spec}: graph.nodes[1].f: cannot be computed at the given "
                                     "values: log of a non-positive number: log(0)")
    assert not (tmp_path / "out").exists()


# --- the quantity graph ----------------------------------------------------------------------

def test_names_and_answers_json(tmp_path):
    result = run_cli("solve", EXAMPLES / "graph_sum_product.toml", "--out", tmp_path, "--no-pdf")
    assert result.returncode == 0, result.stderr
    import json

    data = json.loads((tmp_path / "answers.json").read_text())
    assert data["given"] == {"x": -2.0, "y": 5.0, "z": -4.0}
    # names as the key writes them: nodes, local gradients, gradients of the output
    assert set(data["quantities"]) == {"q", "f", "dq/dx", "dq/dy", "df/dq", "df/dz", "df/dx", "df/dy"}
    assert data["settings"]["kind"] == "graph"


def test_node_used_twice_sums(tmp_path):
    exercise = Exercise(spec_mod.load(EXAMPLES / "graph_used_twice.toml"))
    der = exercise.derivation
    # x feeds num, sigx and xpy: three terms, one per use
    assert len(der["df/dx"].formula.args) == 3
    assert der["df/dx"].note == "sum"
