"""The theory answers and the whole sheet: activations and their plots, the vanishing-gradient
table, the five questions in the sheet and the key, and templates an instructor overrides."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from decimal import ROUND_HALF_UP, Decimal

import mpmath as mp
import pytest
import sympy as sp

from derive import pdf, render, theory
from derive import spec as spec_mod
from derive.solution import Exercise

import specs

# Reference values (independent of the program): the reference network's hidden activations.
H1, H2 = 0.9002495109, 0.8021838886


def number(tex: str) -> float:
    """A number as the key writes it: 0.0625, 3.81 \\cdot 10^{-6}."""
    m = re.fullmatch(r"(-?[\d.]+)(?: \\cdot 10\^\{(-?\d+)\})?", tex.strip())
    assert m, tex
    return float(m.group(1)) * 10 ** int(m.group(2) or 0)


def points(coordinates: str) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in re.findall(r"\(([^,]+),([^)]+)\)", coordinates)]


def with_activation(hidden: str, output: str = "identity") -> Exercise:
    text = spec_mod.builtin_path().read_text()
    text = text.replace('activation = "sigmoid"\nsymbol = "a"', f'activation = "{hidden}"')
    text = text.replace('activation = "identity"', f'activation = "{output}"')
    return Exercise(spec_mod.parse(text, "variant.toml"))


def test_reference_activations(reference):
    acts = theory.context(reference)["activations"]
    assert [a["key"] for a in acts] == ["sigmoid", "identity", "relu"]
    sigmoid, identity, relu = acts
    assert sigmoid["symbol"] == "a" and sigmoid["units"] == ["h_{1}", "h_{2}"] and not sigmoid["contrast"]
    assert sigmoid["derivative"] == r"a(t)\,\bigl(1 - a(t)\bigr)"
    assert identity["units"] == [r"\hat{y}"]
    assert relu["contrast"] and relu["units"] == []
    t = sp.Symbol("t")
    assert float(sigmoid["max_slope"]) == float(sp.diff(1 / (1 + sp.exp(-t)), t).subs(t, 0))  # 1/4
    assert relu["max_slope"] == "1" and identity["max_slope"] == "1"


def test_plot_points_follow_the_functions(reference):
    t = sp.Symbol("t")
    sig = 1 / (1 + sp.exp(-t))
    oracle = {"sigmoid": (sig, sp.diff(sig, t)), "identity": (t, sp.Integer(1))}
    for a in theory.context(reference)["activations"]:
        if a["key"] == "relu":
            (f,) = a["plot"]["function"]
            assert all(y == max(0.0, x) for x, y in points(f))
            left, right = a["plot"]["derivative"]  # broken at the kink, no vertical line drawn
            assert {y for _, y in points(left)} == {0.0} and {y for _, y in points(right)} == {1.0}
            assert points(left)[-1][0] == 0.0 == points(right)[0][0]
            continue
        f, d = oracle[a["key"]]
        for curve, expr in ((a["plot"]["function"], f), (a["plot"]["derivative"], d)):
            (segment,) = curve
            pts = points(segment)
            assert len(pts) >= 33 and pts[0][0] == -4 and pts[-1][0] == 4
            for x, y in pts:
                assert y == pytest.approx(float(expr.subs(t, x)), abs=1e-4)


def test_other_networks_show_their_own_activations():
    acts = theory.activations(with_activation("tanh", "sigmoid").network)
    assert [a["key"] for a in acts] == ["tanh", "sigmoid", "relu"]
    assert acts[0]["max_slope"] == "1" and acts[0]["saturates"]
    acts = theory.activations(with_activation("relu").network)
    assert [a["key"] for a in acts] == ["relu", "identity"]  # no second ReLU for contrast
    assert not acts[0]["contrast"]
    leaky = theory.activations(with_activation("leaky_relu").network)[0]
    assert "0.01" in leaky["derivative"] and len(leaky["plot"]["derivative"]) == 2


def test_vanishing_gradient_table(reference):
    v = theory.context(reference)["vanishing"]
    assert [r["layers"] for r in v["rows"]] == list(range(1, 11))
    for r in v["rows"]:
        k = r["layers"]
        assert r["fraction"] == f"1/{4 ** k}"
        assert number(r["bound"]) == pytest.approx(0.25 ** k, rel=5e-3)
        assert r["exact"] == (k <= 2)  # 0.25 and 0.0625 are written in full
        assert r["relu"] == "1"
        # the largest hidden factor of this network is h2(1 - h2), from the reference value of h2
        assert number(r["network"]) == pytest.approx((H2 * (1 - H2)) ** k, rel=5e-3)
        # one format in the column: three significant digits, trailing zeros kept
        digits = r["network"].split(r" \cdot")[0].replace(".", "").lstrip("0")
        assert len(digits) == 3, r["network"]
    assert [f["value"] for f in v["factors"]] == [f"{H1 * (1 - H1):.4f}", f"{H2 * (1 - H2):.4f}"]
    assert v["largest"] == f"{H2 * (1 - H2):.4f}"


def test_significant():
    assert theory.significant(0.25) == "0.25"
    assert theory.significant(0.015625) == "0.0156"
    assert theory.significant(9.5367431640625e-07) == r"9.54 \cdot 10^{-7}"
    # a column of powers keeps three significant digits in every row: 0.94^6 = 0.68987…
    assert theory.significant(0.94 ** 6, zeros=True) == "0.690" and theory.significant(0.94, zeros=True) == "0.940"
    assert theory.significant(0.25, zeros=True) == "0.250"
    assert float(mp.mpf(1) / 4 ** 10) == 9.5367431640625e-07


def test_sheet_and_key_hold_the_questions_the_spec_asks(tmp_path, cli):
    result = cli("solve", "--no-pdf", "--out", tmp_path / "all")
    assert result.returncode == 0, result.stderr
    sheet = (tmp_path / "all" / "sheet.tex").read_text()
    key = (tmp_path / "all" / "solution.tex").read_text()
    assert sheet.count(r"\item \textbf{") == 5 + 4  # five questions, four parts of the third
    for n, title in enumerate(["What makes a network non-linear", "Vanishing gradients",
                               "The calculation by hand", r"Training with $\eta = 0.2$",
                               r"Training with $\eta = 1$"], start=1):
        assert rf"\section*{{Question {n}: {title}}}" in key
    assert "Held fixed in this run: $w_{5}, w_{6}$" in key
    assert r"holding $w_{5}, w_{6}$ fixed" in sheet

    text = spec_mod.builtin_path().read_text().replace(
        'include = ["nonlinearity", "vanishing", "calculation", "training"]', 'include = ["calculation"]')
    only = tmp_path / "only.toml"
    only.write_text(text)
    result = cli("solve", only, "--no-pdf", "--out", tmp_path / "only")
    assert result.returncode == 0, result.stderr
    key = (tmp_path / "only" / "solution.tex").read_text()
    assert re.findall(r"\\section\*\{Question[^}]*\}", key) == [r"\section*{Question 1: The calculation by hand}"]
    assert r"\begin{axis}" not in key  # no training or theory plots without their questions


def test_bad_questions_section(tmp_path, cli):
    bad = tmp_path / "bad.toml"
    bad.write_text(spec_mod.builtin_path().read_text().replace('"vanishing", ', '"vanish", '))
    result = cli("solve", bad, "--no-pdf", "--out", tmp_path / "out")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"derive: {bad}: questions.include: no question 'vanish' (did you mean 'vanishing'?); "
                                     "expected some of nonlinearity, vanishing, calculation, training")
    assert not (tmp_path / "out").exists()


def test_instructor_templates_override_the_answers(tmp_path, cli):
    mine = tmp_path / "templates"
    mine.mkdir()
    own = (render.builtin_templates() / "training.tex.j2").read_text()
    own = own.replace(r"\BLOCK{macro sentence(r)}", r"\BLOCK{macro sentence(r)}OUR COURSE SAYS \VAR{r.verdict}.")
    (mine / "training.tex.j2").write_text(own)
    result = cli("solve", "--no-pdf", "--templates", mine, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    key = (tmp_path / "out" / "solution.tex").read_text()
    assert "OUR COURSE SAYS converging." in key and "OUR COURSE SAYS oscillating." in key


@pytest.mark.skipif(not pdf.available() or not shutil.which("pdftotext"), reason="TeX or poppler missing")
def test_pdfs_hold_all_five_questions_and_the_sheets_losses(tmp_path, cli):
    result = cli("solve", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    key = subprocess.run(["pdftotext", "-layout", tmp_path / "solution.pdf", "-"],
                         capture_output=True, text=True).stdout
    for n in range(1, 6):
        assert f"Question {n}:" in key
    for loss in "0.0370 0.0813 0.1745 0.3822 0.7823 1.6351 2.6870 4.0413 1.7092 0.6663".split():
        assert loss in key
    # η = 0.2 reaches 10⁻⁷, so its table writes every loss with a power of ten; rounded to
    # four decimals they are the course sheet's
    shown = re.findall(r"^\s+(\d+)\s+(\d\.\d\d) · 10−(\d)\b", key[key.index("Question 4"):key.index("Question 5")], re.M)
    assert [k for k, _, _ in shown] == [str(k) for k in range(1, 11)]
    as_printed = [str(Decimal(m).scaleb(-int(e)).quantize(Decimal("0.0001"), ROUND_HALF_UP)) for _, m, e in shown]
    assert as_printed[1:5] == "0.0093 0.0024 0.0006 0.0002".split()
    assert "oscillates" in key and "converges" in key
    sheet = subprocess.run(["pdftotext", "-layout", tmp_path / "sheet.pdf", "-"],
                           capture_output=True, text=True).stdout
    assert "Vanishing gradients." in sheet and "Learning rate." in sheet


def variant_text(hidden: str, **weights) -> str:
    text = spec_mod.builtin_path().read_text().replace('activation = "sigmoid"\nsymbol = "a"', f'activation = "{hidden}"')
    for name, value in weights.items():
        text = re.sub(rf"^{name} = .*$", f"{name} = {value}", text, count=1, flags=re.M)
    return text


def key_of(tmp_path, cli, text: str) -> str:
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "v.toml"
    path.write_text(text)
    result = cli("solve", path, "--no-pdf", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    key = (tmp_path / "out" / "solution.tex").read_text()
    start = key.index("Vanishing gradients")
    return " ".join(key[start:key.index(r"\rowtable", start)].split())  # up to its table


# With x1 = x2 = 1 and w5 = w6 = 0 the hidden pre-activations are w1 + w3 = 2.2 and
# w2 + w4 = 1.4 (the reference weights).
def test_vanishing_with_tanh_hidden_units(tmp_path, cli):
    v = theory.vanishing(with_activation("tanh").solve())
    (h,) = v["hidden"]
    assert h["key"] == "tanh" and h["bound"] == "1" and h["all_below"]
    expected = [1 - mp.tanh(2.2) ** 2, 1 - mp.tanh(1.4) ** 2]  # about 0.0470 and 0.2233
    assert [number(f["value"]) for f in h["factors"]] == pytest.approx([float(e) for e in expected], abs=5e-5)
    assert number(v["largest"]) == pytest.approx(float(expected[1]), abs=5e-5)
    key = key_of(tmp_path, cli, variant_text("tanh"))
    assert r"derivative $1 - \tanh^2(t)$ is at most $1$" in key and r"all below $1$" in key
    assert r"bound $\tfrac{1}{4}$" not in key and "well below" not in key


def test_vanishing_with_relu_hidden_units(tmp_path, cli):
    v = theory.vanishing(with_activation("relu").solve())
    (h,) = v["hidden"]
    assert h["bound"] == "1" and h["none_below"] and [f["value"] for f in h["factors"]] == ["1", "1"]
    assert v["largest"] is None and all(r["network"] is None for r in v["rows"])  # 1^k says nothing
    key = key_of(tmp_path / "active", cli, variant_text("relu"))
    assert "every unit is active, so the gradient passes them undamped" in key and "below the bound" not in key
    # w1 = -3: h1_in = -3 + 1.5 = -1.5 < 0, so h1 is inactive and its factor is 0
    key = key_of(tmp_path / "mixed", cli, variant_text("relu", w1=-3))
    assert "the active units pass the gradient undamped, the inactive ones pass nothing" in key


def test_vanishing_with_sigmoid_hidden_units_names_the_quarter(tmp_path, cli):
    key = key_of(tmp_path, cli, spec_mod.builtin_path().read_text())
    assert r"are all below the bound $\tfrac{1}{4}$" in key


def test_each_sentence_names_the_hidden_layers_it_is_about(tmp_path, cli):
    raw = specs.table(hidden=(("h1", "h2"), ("g1", "g2"), ("f1", "f2")), hidden_act="relu", rng=random.Random(4))
    raw["network"]["layers"][1].update(activation="leaky_relu", slope=0.1)
    key = key_of(tmp_path / "mixed", cli, specs.to_toml(raw))
    assert "The units of hidden layers 1 and 3 are ReLUs:" in key
    assert "The units of hidden layer 2 are leaky ReLUs:" in key
    assert "hidden units of this network" not in key
    # one activation in every hidden layer: the sentence is about all of them
    raw = specs.table(hidden=(("h1", "h2"), ("g1", "g2")), hidden_act="relu", rng=random.Random(4))
    key = key_of(tmp_path / "alike", cli, specs.to_toml(raw))
    assert "The hidden units of this network are ReLUs:" in key and "hidden layer" not in key
