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
