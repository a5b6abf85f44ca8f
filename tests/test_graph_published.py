"""Published worked examples of backpropagation through a computational graph, their
printed numbers checked against the key; and the key and sheet compiled for real.

Source of all three: Stanford CS231n, "Backpropagation, Intuitions" (course notes by
A. Karpathy, https://cs231n.github.io/optimization-2/). The printed values are copied from
the notes' code comments and circuit figures (two decimals in the figures).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from derive import render, spec as spec_mod
from derive.solution import Exercise
from tests.conftest import EXAMPLES


def solve(name: str):
    return Exercise(spec_mod.load(EXAMPLES / f"graph_{name}.toml")).solve()


def test_sum_times_z():
    # "Compound expressions with chain rule": x = -2, y = 5, z = -4; "q becomes 3",
    # "f becomes -12", "gradient on z becomes 3", "gradient on q becomes -4", and the
    # figure's -4 on x and y.
    v = solve("sum_product").values
    assert (v["q"], v["f"]) == (3, -12)
    assert (v["df/dz"], v["df/dq"], v["df/dx"], v["df/dy"]) == (3, -4, -4, -4)
    assert (v["dq/dx"], v["dq/dy"]) == (1, 1)


# The sigmoid neuron's circuit, left to right: value and gradient on each wire, as printed.
NEURON = {
    "w0": (2.00, -0.20), "x0": (-1.00, 0.39), "w1": (-3.00, -0.39), "x1": (-2.00, -0.59), "w2": (-3.00, 0.20),
    "p0": (-2.00, 0.20), "p1": (6.00, 0.20), "s": (4.00, 0.20), "d": (1.00, 0.20), "n": (-1.00, -0.20),
    "u": (0.37, -0.53), "v": (1.37, -0.53), "f": (0.73, 1.00),
}


@pytest.mark.parametrize("name", list(NEURON))
def test_sigmoid_neuron_gate_by_gate(name):
    # "Modularity: Sigmoid example": w = [2, -3, -3], x = [-1, -2].
    v = solve("sigmoid_neuron").values
    value, gradient = NEURON[name]
    assert round(v[name], 2) == value
    assert round(v[f"df/d{name}"], 2) == gradient if name != "f" else gradient == 1.00


def test_sigmoid_local_gradient_in_one_go():
    # "...the local gradient would simply be (1 - 0.73) * 0.73 ~= 0.2": the gradient on d,
    # the sigmoid's input, which the gate-by-gate circuit reaches through four gates.
    v = solve("sigmoid_neuron").values
    assert round(v["df/dd"], 1) == 0.2
    assert v["df/dd"] == pytest.approx((1 - v["f"]) * v["f"], rel=1e-12)


# "Patterns in backward flow": x = 3, y = -4, z = 2, w = -1, value and gradient per wire.
MAX_CIRCUIT = {"x": (3, -8), "y": (-4, 6), "z": (2, 2), "w": (-1, 0), "a": (-12, 2), "b": (2, 2), "c": (-10, 2)}


@pytest.mark.parametrize("name", list(MAX_CIRCUIT))
def test_add_multiply_max(name):
    v = solve("max").values
    assert (v[name], v[f"df/d{name}"]) == MAX_CIRCUIT[name]
    assert v["f"] == -20


# --- the documents, compiled -------------------------------------------------------------------

needs_tex = pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftotext") is None,
                               reason="needs pdflatex and pdftotext")


@needs_tex
@pytest.mark.parametrize("name", ["sum_product", "sigmoid_neuron", "max", "used_twice"])
def test_key_and_sheet_compile_without_overfull_lines(name, tmp_path):
    solution = solve(name)
    env = render.environment()
    texts = {}
    for template, document in ((render.KEY, "Answer key"), (render.SHEET, "Exercise sheet")):
        path = tmp_path / f"{template.split('.')[0]}.tex"
        path.write_text(render.render(env, template, render.context(solution, document)))
        proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", path.name],
                              cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-2000:]
        log = path.with_suffix(".log").read_text(errors="replace")
        assert "Overfull" not in log, re.findall(r"Overfull.*", log)
        texts[document] = subprocess.run(["pdftotext", path.with_suffix(".pdf").name, "-"], cwd=tmp_path,
                                         capture_output=True, text=True).stdout
    key, sheet = texts["Answer key"], texts["Exercise sheet"]
    # every gradient's value is in the key; the sheet, which asks for them, shows none
    for q in solution.derivation.quantities:
        if q.name.startswith("d") and "/" in q.name:
            shown = solution.policy.tex(solution.values[q.name]).replace("-", "−")
            if len(shown) > 2:  # 1, 0, 3 occur everywhere; longer numbers say something
                assert shown in key, q.name
                assert shown not in sheet or shown in _given_text(solution), q.name


def _given_text(solution) -> str:
    return " ".join(str(v) for v in solution.givens.values())
