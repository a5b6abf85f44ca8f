"""The key of online updates in the order of the computation (examples/softmax_online.toml).

Example by example: forward pass, loss, error terms, gradients, update; then the loss of
the pass, the loss of all examples after the pass, and the loss at the starting parameters.
Both forms (line by line and tables) are read from the generated .tex; the losses are
recomputed here with mpmath (tanh, softmax and cross-entropy written out, gradients by
central differences), not with the program.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import mpmath
import pytest

from conftest import EXAMPLES, run_cli
from derive import spec as spec_mod
from derive.solution import Exercise

mpmath.mp.dps = 40
SPEC = EXAMPLES / "softmax_online.toml"
PARAMS = ["w1", "w2", "w3", "w4", "b_h1", "b_h2", "w5", "w6", "w7", "w8", "w9", "w10", "b_o1", "b_o2", "b_o3"]


def loss(p: dict, example: dict) -> mpmath.mpf:
    """Cross-entropy of the 2-2-3 tanh/softmax network, every weight at its edge as the
    spec's numbering puts it (w1 x1→h1, w2 x1→h2, w3 x2→h1, w4 x2→h2, w5…w7 h1→o1…o3,
    w8…w10 h2→o1…o3)."""
    x1, x2 = example["x1"], example["x2"]
    h1 = mpmath.tanh(x1 * p["w1"] + x2 * p["w3"] + p["b_h1"])
    h2 = mpmath.tanh(x1 * p["w2"] + x2 * p["w4"] + p["b_h2"])
    z = [h1 * p["w5"] + h2 * p["w8"] + p["b_o1"], h1 * p["w6"] + h2 * p["w9"] + p["b_o2"],
         h1 * p["w7"] + h2 * p["w10"] + p["b_o3"]]
    total = sum(mpmath.exp(v) for v in z)
    return -sum(example[f"y{k}"] * mpmath.log(mpmath.exp(z[k - 1]) / total) for k in (1, 2, 3))


def gradient(p: dict, example: dict) -> dict:
    out = {}
    for name in PARAMS:
        out[name] = mpmath.diff(lambda t: loss({**p, name: t}, example), p[name])
    return out


@pytest.fixture(scope="module")
def truth():
    spec = spec_mod.load(SPEC)
    p = {k: mpmath.mpf(repr(v)) for k, v in spec.weights.items()}
    examples = [{k: mpmath.mpf(repr(v)) for k, v in e.items()} for e in spec.examples]
    eta = mpmath.mpf(repr(spec.learning_rate))
    start = [loss(p, e) for e in examples]
    met, current = [], dict(p)
    for e in examples:  # online: each example meets the parameters the one before left
        met.append(loss(current, e))
        g = gradient(current, e)
        current = {k: current[k] - eta * g[k] for k in PARAMS}
    after = [loss(current, e) for e in examples]
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731 (loss.examples = "mean", the default)
    return {"start": start, "L0": mean(start), "L": mean(met), "L'": mean(after), "met": met, "after": after}


def shown(value, decimals: int = 4) -> str:
    return str(Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


def test_the_losses_against_mpmath(truth):
    sol = Exercise(spec_mod.load(SPEC)).solve()
    assert sol.start_loss == pytest.approx(float(truth["L0"]), rel=1e-12)
    assert sol.loss_before == sol.start_loss  # the yardstick is the loss at the starting parameters
    assert sol.values["L"] == pytest.approx(float(truth["L"]), rel=1e-12)
    assert sol.values["L'"] == pytest.approx(float(truth["L'"]), rel=1e-12)
    assert [l.name for l in sol.start] == ["L0[1]", "L0[2]", "L0"]
    for line, value in zip(sol.start, [*truth["start"], truth["L0"]]):
        assert line.value == shown(value)


@pytest.fixture(scope="module", params=["chains", "tables"])
def key(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    spec = tmp / "online.toml"
    spec.write_text(SPEC.read_text() + f'\n[display]\nform = "{request.param}"\n')
    r = run_cli("solve", spec, "--out", tmp / "out", "--no-pdf")
    assert r.returncode == 0, r.stderr
    text = (tmp / "out" / "solution.tex").read_text()
    return request.param, text[text.index("The calculation by hand"):]


def _at(text: str, needle: str, after: int = 0) -> int:
    i = text.find(needle, after)
    assert i >= 0, needle
    return i


def test_each_example_is_worked_to_its_update_before_the_next(key):
    form, text = key
    one = _at(text, r"\subsection*{Example 1")
    two = _at(text, r"\subsection*{Example 2", one)
    # example 1: forward pass, loss, gradients, update, in that order, before example 2
    pos = one
    for heading in ("Forward pass and loss", "Update"):
        pos = _at(text, heading, pos)
    assert pos < two
    # the first parameter updated by example 1 (w1*(1)) is written before example 2 uses it
    assert _at(text, r"w_{1}^{*(1)} &", one) < two
    assert text.find(r"w_{1}^{*(1)}", one) > one
    # everything of example 2 comes after its heading: its forward values use w*(1)
    assert text.find(r"h_{1,\mathrm{in}}^{(2)}") > two
    assert text.find(r"\mathcal{L}^{(2)} &") > two
    pass_loss = _at(text, r"\subsection*{The loss of the pass}", two)
    after = _at(text, r"\subsection*{After the pass}", pass_loss)
    start = _at(text, r"\subsection*{For comparison: the loss at the starting parameters}", after)
    assert _at(text, r"w_{1}^* &", two) < pass_loss  # example 2's update ends the pass
    assert _at(text, r"\mathcal{L} &", pass_loss) < after
    assert _at(text, r"\mathcal{L}' &", after) < start
    assert _at(text, r"\mathcal{L}_0 &", start) > start


def test_every_quantity_is_written_before_it_is_used(key):
    """Line by line: no line's right-hand side uses a quantity whose own line comes later."""
    form, text = key
    if form != "chains":
        pytest.skip("the table form works one unit per layer; its order is tested above")
    der = Exercise(spec_mod.load(SPEC)).derivation
    where = {}
    for q in der.quantities:
        if q.formula is not None:
            at = text.find(q.latex + " &=")  # a line's left-hand side (a use has no "&")
            if at >= 0:
                where[q.name] = at
    assert len(where) > 100
    for name, pos in where.items():
        for source in der.inputs_of[name]:
            if source in where:
                assert where[source] < pos, (source, name)


def test_the_comparison_names_each_loss(key, truth):
    form, text = key
    tail = text[text.index(r"\subsection*{The loss of the pass}"):]
    assert "loss of the pass" in tail and "met at the parameters in force" in tail
    L, L1, L0 = shown(truth["L"]), shown(truth["L'"]), shown(truth["L0"])
    assert f"\\approx {L}" in tail and f"\\approx {L1}" in tail and f"\\approx {L0}" in tail
    change = (truth["L0"] - truth["L'"]) / truth["L0"] * 100
    assert (f"After the pass the loss of all examples is ${L1}$, against ${L0}$ at\nthe starting parameters: "
            f"the pass lowered it by {float(change):.1f}") in tail
    # the loss met during the pass is never compared with a loss at fixed parameters
    assert f"from ${L}$" not in text and "went down" not in tail


def test_three_examples_summed_and_carried_rounded(tmp_path):
    """The built-in network with three examples, their losses summed, every value carried
    rounded: the order holds, and the loss at the starting parameters is the sum of the
    examples' losses there (recomputed with mpmath from the rounded key's own inputs)."""
    text = (EXAMPLES / "reference.toml").read_text()
    text = text.replace("[[examples]]\nx1 = 1\nx2 = 1\ny = 1\n",
                        "[[examples]]\nx1 = 1\nx2 = 1\ny = 1\n\n[[examples]]\nx1 = 0.5\nx2 = -1\ny = 0\n\n"
                        "[[examples]]\nx1 = -1\nx2 = 2\ny = 2\n")
    text = text.replace("learning_rate = 0.2\n", 'learning_rate = 0.2\nupdate = "online"\n', 1)
    text = text.replace("decimals = 4\n", 'decimals = 4\ncarry = "rounded"\n')
    text = text.replace('half = true', 'half = true\nexamples = "sum"')
    text = text.replace('"calculation", "training"]', '"calculation"]')
    spec_path = tmp_path / "three.toml"
    spec_path.write_text(text)
    spec = spec_mod.load(spec_path)
    assert spec.update == "online" and len(spec.examples) == 3 and spec.carry == "rounded"
    sol = Exercise(spec).solve()

    def reference_loss(w, e):
        a = lambda t: 1 / (1 + mpmath.exp(-t))  # noqa: E731
        h1 = a(e["x1"] * w["w1"] + e["x2"] * w["w3"] + w["w5"])
        h2 = a(e["x1"] * w["w2"] + e["x2"] * w["w4"] + w["w6"])
        return (h1 * w["w7"] + h2 * w["w8"] + w["w9"] - e["y"]) ** 2 / 2

    w = {k: mpmath.mpf(repr(v)) for k, v in spec.weights.items()}
    start = [reference_loss(w, {k: mpmath.mpf(repr(v)) for k, v in e.items()}) for e in spec.examples]
    # carried rounded to 4 decimals: each loss close to the exact one, their sum within three such
    for line, exact in zip(sol.start, start):
        assert abs(float(line.value) - float(exact)) < 1e-3
    assert abs(sol.start_loss - float(sum(start))) < 3e-3
    assert sol.start_loss == pytest.approx(sum(float(l.value) for l in sol.start[:3]), abs=1e-12)
    r = run_cli("solve", spec_path, "--out", tmp_path / "out", "--no-pdf")
    assert r.returncode == 0, r.stderr
    key = (tmp_path / "out" / "solution.tex").read_text()
    positions = [key.index(rf"\subsection*{{Example {e}") for e in (1, 2, 3)]
    assert positions == sorted(positions) and positions[-1] < key.index(r"\subsection*{The loss of the pass}")
    assert "their sum is the loss of the pass" in " ".join(key.split())


# --- the losses at the starting parameters by name: answers.json, answers.csv, derive check ------

CLASSIFIER = """title = "A 3-4-3-2 classifier, trained online"
[network]
inputs = ["x1", "x2", "x3"]
bias = "neuron"
[[network.layers]]
units = ["h1", "h2", "h3", "h4"]
activation = "relu"
[[network.layers]]
units = ["g1", "g2", "g3"]
activation = "leaky_relu"
slope = 0.1
[[network.layers]]
units = ["o1", "o2"]
activation = "softmax"
targets = ["y1", "y2"]
[loss]
kind = "cross_entropy"
[[examples]]
x1 = 1
x2 = -0.5
x3 = 2
y1 = 1
y2 = 0
[[examples]]
x1 = -1
x2 = 1.5
x3 = 0.5
y1 = 0
y2 = 1
[weights]
w1 = 0.2
w2 = -0.3
w3 = 0.4
w4 = -0.8
w5 = -0.5
w6 = 0.6
w7 = -0.5
w8 = 0.2
w9 = 0.9
w10 = -0.8
w11 = 0.6
w12 = -0.2
b_h1 = 0
b_h2 = 0
b_h3 = 0.2
b_h4 = 0.2
w13 = -0.5
w14 = -0.2
w15 = -0.5
w16 = 0.6
w17 = 0.4
w18 = -0.8
w19 = 0.9
w20 = -0.5
w21 = -0.2
w22 = 0.9
w23 = -0.8
w24 = 0.9
b_g1 = 0.2
b_g2 = 0
b_g3 = 0.1
w25 = -0.8
w26 = 0.6
w27 = -0.3
w28 = 0.1
w29 = 0.4
w30 = -0.3
b_o1 = 0
b_o2 = -0.1
[training]
learning_rate = 0.1
update = "online"
[display]
decimals = 4
"""


def _plain_start_losses() -> list[float]:
    """Each example's cross-entropy at the starting weights, by a plain forward pass in
    floats: w1… numbered source by source, a layer's biases after its weights."""
    import math
    import tomllib

    spec = tomllib.loads(CLASSIFIER)
    w = spec["weights"]
    sizes, k, layers = [3, 4, 3, 2], 1, []
    for n_in, n_out, bias in zip(sizes, sizes[1:], (("h1", "h2", "h3", "h4"), ("g1", "g2", "g3"), ("o1", "o2"))):
        matrix = [[0.0] * n_out for _ in range(n_in)]
        for i in range(n_in):
            for j in range(n_out):
                matrix[i][j] = w[f"w{k}"]
                k += 1
        layers.append((matrix, [w[f"b_{u}"] for u in bias]))
    losses = []
    for e in spec["examples"]:
        a = [e["x1"], e["x2"], e["x3"]]
        for depth, (matrix, biases) in enumerate(layers):
            t = [sum(a[i] * matrix[i][j] for i in range(len(a))) + biases[j] for j in range(len(biases))]
            if depth == 0:
                a = [max(0.0, v) for v in t]
            elif depth == 1:
                a = [v if v > 0 else 0.1 * v for v in t]
            else:
                total = sum(math.exp(v) for v in t)
                a = [math.exp(v) / total for v in t]
        losses.append(-(e["y1"] * math.log(a[0]) + e["y2"] * math.log(a[1])))
    return losses


def test_the_losses_at_the_starting_parameters_have_names(tmp_path):
    from derive import export
    import csv
    import io
    import json

    start = _plain_start_losses()
    expected = {"L0[1]": start[0], "L0[2]": start[1], "L0": (start[0] + start[1]) / 2}
    spec = tmp_path / "classifier.toml"
    spec.write_text(CLASSIFIER)
    r = run_cli("solve", spec, "--out", tmp_path / "out", "--no-pdf")
    assert r.returncode == 0, r.stderr
    quantities = json.loads((tmp_path / "out" / "answers.json").read_text())["quantities"]
    assert list(quantities)[-3:] == ["L0[1]", "L0[2]", "L0"]  # last, as in the key
    for name, value in expected.items():
        assert quantities[name] == pytest.approx(value, rel=1e-12), name
    assert quantities["L0[1]"] == quantities["L[1]"]  # example 1 meets the starting parameters in the pass
    key = (tmp_path / "out" / "solution.tex").read_text()
    for tex, name in ((r"\mathcal{L}_0^{(1)}", "L0[1]"), (r"\mathcal{L}_0^{(2)}", "L0[2]"), (r"\mathcal{L}_0", "L0")):
        assert f"{tex} &=" in key and f"\\approx {shown(expected[name])}" in key
    sol = Exercise(spec_mod.load(spec)).solve()
    rows = list(csv.DictReader(io.StringIO(export.write_csv([sol]))))
    assert [float(rows[0][n]) for n in expected] == [quantities[n] for n in expected]

    # derive check: right at the key's four decimals
    answers = tmp_path / "answers.toml"
    answers.write_text("".join(f'"{n}" = {shown(v)}\n' for n, v in expected.items()))
    r = run_cli("check", spec, answers, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    by = {x["name"]: x for x in json.loads(r.stdout)["results"]}
    assert {n: by[n]["verdict"] for n in expected} == {n: "correct" for n in expected}
    assert all(by[n]["expected"] == pytest.approx(v, rel=1e-12) for n, v in expected.items())
    # a slip in example 2's loss there is wrong, and the mean of the student's own is carried
    slip = start[1] + 0.01
    answers.write_text(f'"L[1]" = {shown(start[0])}\n"L0[2]" = {shown(slip)}\nL0 = {shown((start[0] + slip) / 2)}\n')
    r = run_cli("check", spec, answers, "--json")
    assert r.returncode == 1
    by = {x["name"]: x for x in json.loads(r.stdout)["results"]}
    assert (by["L0[2]"]["verdict"], by["L0"]["verdict"], by["L0"]["because"]) == ("wrong", "carried", ["L0[2]"])
    # L0[1] follows the student's L[1], even a wrong one
    answers.write_text('"L[1]" = 1.6000\n"L0[1]" = 1.6000\n')
    by = {x["name"]: x for x in json.loads(run_cli("check", spec, answers, "--json").stdout)["results"]}
    assert (by["L[1]"]["verdict"], by["L0[1]"]["verdict"], by["L0[1]"]["because"]) == ("wrong", "carried", ["L[1]"])
    # the feedback sheet quotes the key's line of a wrong one
    from derive import check as check_mod, feedback

    answers.write_text("L0 = 1.6177\n")  # the sum, not the mean
    exercise = Exercise(spec_mod.load(spec))
    report = check_mod.check(exercise, sol, check_mod.read_answers(answers, check_mod.names(exercise)))
    (part,) = feedback.feedback_context(report)["parts"]
    assert part["title"] == "The loss at the starting parameters" and part["rows"][0]["verdict"] == "wrong"
    assert rf"\approx {shown(expected['L0'])}" in part["rows"][0]["key"]
    assert "L0" in check_mod.names(exercise) and "L0" not in check_mod.names(Exercise(spec_mod.load()))


def test_l0_is_reserved_and_in_the_readme(tmp_path):
    from derive.errors import SpecError

    text = CLASSIFIER.replace('units = ["g1", "g2", "g3"]', 'units = ["g1", "g2", "L0"]')
    with pytest.raises(SpecError, match="'L0' is reserved"):
        spec_mod.parse(text, "s.toml")
    readme = " ".join((SPEC.parent.parent / "README.md").read_text(encoding="utf-8").split())
    assert "`L0[1]`, `L0[2]`, … (ℒ₀⁽¹⁾, ℒ₀⁽²⁾: each example at the starting parameters; `L0[1]` equals `L[1]`)" \
           " and `L0` (ℒ₀, their mean or sum)" in readme
