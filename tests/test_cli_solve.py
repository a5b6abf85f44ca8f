"""`derive solve` through the real entry point: files, numbers, PDFs, and bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import EXAMPLES, ROOT, run_cli
from test_reference import PUBLISHED
from derive import lms
from derive import spec as spec_mod
from derive.solution import Exercise

REFERENCE = (EXAMPLES / "reference.toml").read_text()


def test_solve_writes_sheet_key_and_answers(tmp_path):
    out = tmp_path / "ref"
    r = run_cli("solve", "--out", out, "--no-pdf")
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} == {"sheet.tex", "solution.tex", "answers.json"}
    data = json.loads((out / "answers.json").read_text())
    for name, value in PUBLISHED.items():
        assert data["quantities"][name] == pytest.approx(value, abs=6e-11)
    # Every quantity of the key is there, under the names of the key.
    for name in ["h1_in", "h2_in", "yhat_in", "h1'", "h2'", "L'", *(f"w{i}*" for i in range(1, 10))]:
        assert name in data["quantities"]
    assert data["settings"]["learning_rate"] == 0.2
    assert data["settings"]["loss"] == {"kind": "squared_error", "half": True, "outputs": "sum", "examples": "mean"}


def test_the_example_file_is_the_builtin_exercise(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("solve", "--out", a, "--no-pdf").returncode == 0
    assert run_cli("solve", EXAMPLES / "reference.toml", "--out", b, "--no-pdf").returncode == 0
    assert (a / "solution.tex").read_text() == (b / "solution.tex").read_text()


def test_default_folder_is_under_output(tmp_path):
    r = run_cli("solve", "--no-pdf", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "output" / "reference" / "solution.tex").exists()


@pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftotext") is None,
                    reason="needs TeX Live and poppler-utils")
def test_pdfs_compile_and_show_the_right_numbers(tmp_path):
    r = run_cli("solve", "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    text = subprocess.run(["pdftotext", "-layout", tmp_path / "solution.pdf", "-"],
                          capture_output=True, text=True, check=True).stdout
    # The reference values rounded to the key's 4 decimals.
    for shown in ["0.9002", "0.8022", "1.2719", "0.0370", "0.0171", "0.0345", "0.2448", "0.2181",
                  "0.2719", "-0.0034", "0.7564", "-0.0544", "1.1354", "0.0092"]:
        assert shown in text.replace("−", "-"), shown
    assert "0.0042" not in text
    sheet = subprocess.run(["pdftotext", tmp_path / "sheet.pdf", "-"], capture_output=True, text=True).stdout
    assert "0.2448" not in sheet  # the sheet gives no answers away


def test_without_tex_the_tex_files_are_written_and_one_line_says_how(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path / "empty"))
    r = subprocess.run([sys.executable, "-m", "derive", "solve", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0
    assert (tmp_path / "o" / "solution.tex").exists()
    assert "pdflatex" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _variant(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


BAD = [
    ("unknown activation", ('activation = "sigmoid"', 'activation = "sigmod"'), "network.layers[0].activation"),
    ("unknown loss", ('kind = "squared_error"', 'kind = "hinge"'), "loss.kind"),
    ("softmax in a hidden layer", ('activation = "sigmoid"', 'activation = "softmax"'), "only allowed on the output layer"),
    ("cross-entropy target outside [0, 1]",
     ('kind = "squared_error"\nhalf = true', 'kind = "binary_cross_entropy"'), None),
    ("a name used twice", ('units = ["h1", "h2"]', 'units = ["h1", "x1"]'), "already used"),
    ("a connection without a value", ("w9 = 0\n", ""), "weights.w9"),
    ("a layer with no units", ('units = ["h1", "h2"]', "units = []"), "network.layers[0].units"),
    ("a non-numeric value", ("w1 = 0.7", 'w1 = "0.7"'), "weights.w1"),
    ("a non-finite value", ("w1 = 0.7", "w1 = nan"), "weights.w1"),
    ("an unknown parameter", ("w9 = 0\n", "w9 = 0\nw10 = 1\n"), "weights.w10"),
    ("a misspelt field", ("[loss]", "[los]"), "los"),
    ("not TOML", ("[loss]", "[loss"), "not valid TOML"),
    ("a zero learning rate", ("learning_rate = 0.2", "learning_rate = 0"), "training.learning_rate"),
    ("cross-entropy on a linear output", ('kind = "squared_error"\nhalf = true', 'kind = "binary_cross_entropy"'),
     "network.layers[1].activation"),
    ("a unit named like a derived quantity", ('units = ["h1", "h2"]', 'units = ["h1", "h1_in"]'), "derived name"),
    ("a parameter named like the learning rate", ("[loss]", '[network.names]\nw1 = "eta"\n\n[loss]'), "reserved"),
]


@pytest.mark.parametrize("what,edit,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_spec_gets_one_line_and_status_2(tmp_path, what, edit, expected):
    text = _variant(REFERENCE, *edit)
    if what.startswith("cross-entropy"):
        text = _variant(_variant(text, "y = 1", "y = 1.5"), 'activation = "identity"', 'activation = "sigmoid"')
        expected = "examples[0].y"
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    out = tmp_path / "out"
    r = run_cli("solve", spec, "--out", out, "--no-pdf")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert str(spec) in lines[0] and expected in lines[0], lines[0]
    assert not out.exists()


def test_softmax_targets_must_sum_to_one(tmp_path):
    # ∂L/∂ŷ_in = ŷ − y holds only for a distribution; (0.5, 0.3) would give wrong gradients.
    text = _variant(REFERENCE, 'units = ["yhat"]\nactivation = "identity"\nbias_unit = "b2"\ntargets = ["y"]',
                    'units = ["o1", "o2"]\nactivation = "softmax"\nbias_unit = "b2"\ntargets = ["y1", "y2"]')
    text = _variant(_variant(text, 'kind = "squared_error"\nhalf = true', 'kind = "cross_entropy"'), "y = 1", "y1 = 0.5\ny2 = 0.3")
    spec = tmp_path / "ce.toml"
    spec.write_text(text)
    r = run_cli("solve", spec, "--out", tmp_path / "o", "--no-pdf")
    assert r.returncode == 2 and "sum to 1" in r.stderr and "examples[0]" in r.stderr


def test_missing_spec_file(tmp_path):
    r = run_cli("solve", tmp_path / "nope.toml", "--no-pdf", "--out", tmp_path / "o")
    assert r.returncode == 2 and "nope.toml: file: not found" in r.stderr


def test_folder_of_another_exercise_is_not_overwritten(tmp_path):
    out = tmp_path / "o"
    assert run_cli("solve", "--out", out, "--no-pdf").returncode == 0
    other = tmp_path / "other.toml"
    other.write_text(_variant(REFERENCE, 'title = "Backpropagation by hand"', 'title = "Another one"'))
    before = (out / "solution.tex").read_text()
    r = run_cli("solve", other, "--out", out, "--no-pdf")
    assert r.returncode == 2 and "another exercise" in r.stderr
    assert (out / "solution.tex").read_text() == before
    assert run_cli("solve", other, "--out", out, "--no-pdf", "--force").returncode == 0


def test_same_title_from_another_spec_file_is_another_exercise(tmp_path):
    out = tmp_path / "o"
    assert run_cli("solve", "--out", out, "--no-pdf").returncode == 0
    copy = tmp_path / "my_exercise.toml"
    copy.write_text(REFERENCE.replace("w1 = 0.7", "w1 = 0.6"))
    r = run_cli("solve", copy, "--out", out, "--no-pdf")
    assert r.returncode == 2 and "another exercise" in r.stderr


def test_no_pdf_removes_pdfs_of_earlier_numbers(tmp_path):
    (tmp_path / "answers.json").write_text('{"exercise": "Backpropagation by hand", "source": "reference.toml"}')
    (tmp_path / "solution.pdf").write_text("an old key")
    assert run_cli("solve", "--out", tmp_path, "--no-pdf").returncode == 0
    assert not (tmp_path / "solution.pdf").exists()


def test_folder_with_unrelated_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    r = run_cli("solve", "--out", tmp_path, "--no-pdf")
    assert r.returncode == 2 and "not empty" in r.stderr
    assert {p.name for p in tmp_path.iterdir()} == {"notes.txt"}


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs TeX Live")
def test_a_tex_error_shows_the_relevant_log_lines(tmp_path):
    # An instructor's base template with a typo in a LaTeX command.
    mine = tmp_path / "mine"
    mine.mkdir()
    base = (ROOT / "templates" / "base.tex.j2").read_text()
    (mine / "base.tex.j2").write_text(base.replace(r"\begin{document}", r"\begin{document}\titel{x}", 1))
    r = run_cli("solve", "--out", tmp_path / "o", "--templates", mine)
    assert r.returncode == 1
    assert "Undefined control sequence" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.startswith("derive: sheet.tex: LaTeX failed")
    assert not (tmp_path / "o").exists()  # nothing half made; --no-pdf writes the .tex to inspect


@pytest.mark.parametrize("example", ["reference", "graph_max"])
@pytest.mark.parametrize("carry", ["full", "rounded"])
def test_one_decimal_is_written_in_the_singular(tmp_path, example, carry):
    text = re.sub(r"(?m)^decimals = \d+$", f'decimals = 1\ncarry = "{carry}"', (EXAMPLES / f"{example}.toml").read_text())
    path = tmp_path / "spec.toml"
    path.write_text(text)
    r = run_cli("solve", path, "--out", tmp_path / "out", "--no-pdf")
    assert r.returncode == 0, r.stderr
    for document in ("sheet.tex", "solution.tex"):
        words = " ".join((tmp_path / "out" / document).read_text().split())
        assert "1 decimals" not in words and "1 decimal" in words, document
    rule = lms.numbers_rule(Exercise(spec_mod.parse(text, "spec.toml")).solve())
    assert "1 decimals" not in rule and "rounded to 1 decimal " in rule
