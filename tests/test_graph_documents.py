"""The documents of graph exercises: what the sheet shows per question, the optional
chain-rule check, hostile text in a title, and a twenty-gate circuit compiled for real."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from derive import render, spec as spec_mod
from derive.solution import Exercise
from tests.conftest import DATA

SMALL = '[graph]\ninputs = { x = 3, y = -1, z = 2 }\nnodes = [ { q = "x + y" }, { f = "q * z" } ]\n'


def documents(text: str) -> tuple[str, str, dict]:
    solution = Exercise(spec_mod.parse(text, "g.toml")).solve()
    env = render.environment()
    ctx = render.context(solution, "Exercise sheet")
    return (render.render(env, render.SHEET, ctx),
            render.render(env, render.KEY, dict(ctx, document="Answer key")), ctx)


def test_sheet_shows_nothing_when_both_passes_are_asked():
    sheet, key, ctx = documents(SMALL)
    assert all(w["value"] == "" and w["gradient"] == "" for w in ctx["figure"]["sheet"]["wires"])
    assert r"\node[val]" not in sheet and r"\node[val]" in key
    assert "Forward pass." in sheet and "Backward pass." in sheet


def test_sheet_shows_forward_values_when_only_the_backward_pass_is_asked():
    sheet, _, ctx = documents(SMALL + '[questions]\ninclude = ["backward"]\n')
    wires = {w["source"]: w for w in ctx["figure"]["sheet"]["wires"]}
    # x + y = 2, (x + y) z = 4, the hand results; no gradient on the sheet
    assert [w["value"] for w in wires.values()] == ["3", "-1", "2", "2", "4"]
    assert all(w["gradient"] == "" for w in wires.values())
    assert "Forward pass." not in sheet and "Backward pass." in sheet


def test_chain_rule_check_is_optional():
    _, key, ctx = documents(SMALL)
    assert "the chain rule in one go" in key and "Each agrees" in key
    # f = (x + y) z: ∂f/∂x = z = 2, ∂f/∂z = x + y = 2
    assert [r["value"] for r in ctx["check"]["rows"]] == ["2", "2", "2"]
    _, key, ctx = documents(SMALL.replace("[graph]\n", "[graph]\nchain_check = false\n"))
    assert ctx["check"] is None and "the chain rule in one go" not in key


def test_hostile_title_is_escaped():
    sheet, key, _ = documents('title = "\\\\input{/etc/passwd} & $x$ % #"\n' + SMALL)
    for doc in (sheet, key):
        assert r"\input{/etc/passwd}" not in doc
        assert r"\textbackslash{}input\{/etc/passwd\} \& \$x\$ \% \#" in doc


needs_tex = pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftotext") is None,
                               reason="needs pdflatex and pdftotext")


@needs_tex
def test_twenty_gates_compile_and_every_node_is_drawn(tmp_path):
    solution = Exercise(spec_mod.load(DATA / "graph_twenty.toml")).solve()
    ctx = render.context(solution, "Answer key")
    fig = ctx["figure"]["key"]
    assert len(fig["boxes"]) == len(solution.spec.graph.inputs) + len(solution.spec.graph.nodes) == 28
    assert fig["links"]  # deep enough to wrap into rows
    assert all(r["agrees"] for r in ctx["check"]["rows"]) and len(ctx["check"]["rows"]) == 8
    path = tmp_path / "key.tex"
    path.write_text(render.render(render.environment(), render.KEY, ctx))
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", path.name],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "Overfull" not in path.with_suffix(".log").read_text(errors="replace")


def test_forward_only_key_has_no_backward_pass():
    sheet, key, ctx = documents(SMALL + '[questions]\ninclude = ["forward"]\n')
    assert "Backward pass" not in key and "chain rule in one go" not in key
    assert all(w["gradient"] == "" for w in ctx["figure"]["key"]["wires"])
    assert "q = x + y" in key.replace("&", "") and "Backward pass." not in sheet


def test_names_of_several_letters_are_multiplied_with_a_dot():
    # num·invden written side by side would read as one name "numinvden"
    import sympy as sp

    from derive.latex import tex

    assert tex(sp.Symbol("num") * sp.Symbol("invden")) == r"\mathit{invden} \cdot \mathit{num}"
    assert tex(sp.Symbol("h1") * sp.Symbol("w7")) == "h_{1} w_{7}"  # the network's names: as the sheet writes them
