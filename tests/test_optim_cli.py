"""Optimizer exercises through the command line: bad settings refused in one line with
exit status 2 and nothing written; a key compiled for real, its text holding the steps;
answers.json holding the state; check reading a student's step-2 values."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from conftest import EXAMPLES, run_cli

BASE = (EXAMPLES / "reference.toml").read_text(encoding="utf-8")


def spec_with(tmp_path, training: str):
    text = BASE.replace("[training]\nlearning_rate = 0.2\n", f"[training]\nlearning_rate = 0.2\n{training}\n")
    assert training in text
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("training,field,expected", [
    ('optimizer = "adan"', "training.optimizer", "did you mean 'adam'?"),
    ('optimizer = "adam"\nbeta1 = 1.5', "training.beta1", "expected a number in [0, 1), got 1.5"),
    ('optimizer = "adam"\nrho = 0.9', "training.rho", "not a hyperparameter of Adam"),
    ('optimizer = "momentum"\nsteps = 0', "training.steps", "expected a whole number of steps from 1 to 10"),
    ("beta1 = 0.9", "training.beta1", "needs an optimizer"),
    ('optimizer = "adam"\nstate = { r = 1 }', "training.state.r", "not a state of Adam"),
    ('optimizer = "sgd"\nweight_decay = -1', "training.weight_decay", "expected a number ≥ 0"),
    ('optimizer = "momentum"\nmomentum = "velocty"', "training.momentum", "did you mean 'velocity'?"),
    ('optimizer = "adam"\nstate = { m_w99 = 1 }', "training.state.m_w99", "no parameter named 'w99'"),
    ('optimizer = "adam"\nupdate = "online"', "training.update", 'expected "batch"'),
    ('optimizer = "adagrad"\nepsilon_at = "hat"', "training.epsilon_at", "expected one of outside, inside"),
    ('optimizer = "adam"\nmomentum = "velocity"', "training.momentum", "does not apply to Adam"),
    ('optimizer = "adam"\nbias_correction = "yes"', "training.bias_correction", "expected true or false"),
])
def test_bad_settings(tmp_path, training, field, expected):
    spec = spec_with(tmp_path, training)
    out = tmp_path / "out"
    r = run_cli("solve", spec, "--out", out, "--no-pdf")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{spec}: {field}: " in lines[0] and expected in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs TeX")
def test_key_and_answers(tmp_path):
    spec = spec_with(tmp_path, 'optimizer = "adam"\nweight_decay = 0.01')
    out = tmp_path / "out"
    r = run_cli("solve", spec, "--out", out)
    assert r.returncode == 0, r.stderr
    answers = json.loads((out / "answers.json").read_text())
    q = answers["quantities"]
    for name in ("g_w1[1]", "m_w1[1]", "v_w1[1]", "mhat_w1[1]", "vhat_w1[1]", "Delta_w1[1]", "w1*",
                 "dL'/dw1", "m_w1[2]", "w1*[2]", "L''"):
        assert name in q
    assert answers["given"]["beta1"] == 0.9 and answers["given"]["m_w1[0]"] == 0
    text = subprocess.run(["pdftotext", "-layout", out / "solution.pdf", "-"], capture_output=True,
                          text=True).stdout
    assert "Step 2" in text and "After 2 steps" in text and "Kingma" in text
    # m of w7 after step 1: (1 − β1)·(∂L/∂w7 + λ·w7), printed to four decimals
    assert f"{q['m_w7[1]']:.4f}" in text


def test_check_names_a_state_not_carried(tmp_path):
    spec = spec_with(tmp_path, 'optimizer = "momentum"')
    out = tmp_path / "out"
    assert run_cli("solve", spec, "--out", out, "--no-pdf").returncode == 0
    q = json.loads((out / "answers.json").read_text())["quantities"]
    restarted = -0.2 * q["dL'/dw8"]  # step 2's velocity as if it started again from zero
    answers = tmp_path / "answers.toml"
    answers.write_text(f'"v_w7[2]" = {q["v_w7[2]"]:.4f}\n"v_w8[2]" = {restarted:.4f}\n')
    r = run_cli("check", spec, answers, "--json")
    assert r.returncode == 1, r.stderr
    results = {x["name"]: x for x in json.loads(r.stdout)["results"]}
    assert results["v_w7[2]"]["verdict"] == "correct"
    assert results["v_w8[2]"]["verdict"] == "wrong"
    assert results["v_w8[2]"]["misconception"] == "state_not_carried"


PROSE_GAP = re.compile(r"(?m)(^\s*[.,;:]|[A-Za-z)] +[.,;:](\s|$))")  # a full stop or comma after a line break or a space


@pytest.mark.parametrize("training,ends", [
    ('optimizer = "adam"\nsteps = 2', "before that step."),
    ('optimizer = "momentum"\nfrozen = ["w5"]', r"before that step; $w_{5}$ is held fixed."),
    ('optimizer = "sgd"\nfrozen = ["w5", "w9"]', r"before that step; $w_{5}, w_{9}$ are held fixed."),
])
def test_the_update_sentence_ends_where_its_words_do(tmp_path, training, ends):
    out = tmp_path / "out"
    r = run_cli("solve", spec_with(tmp_path, training), "--out", out, "--no-pdf")
    assert r.returncode == 0, r.stderr
    for document in ("sheet.tex", "solution.tex"):
        text = (out / document).read_text(encoding="utf-8")
        conventions = text[text.index(r"\item Update:"):text.index(r"\end{itemize}", text.index(r"\item Update:"))]
        assert ends in " ".join(conventions.split()), document
        assert not PROSE_GAP.search(conventions), PROSE_GAP.search(conventions)
