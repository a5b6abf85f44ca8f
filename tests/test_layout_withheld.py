"""The sheet never states what one of its questions asks for (issue 11, item 5): the
activations' derivatives when question 1 asks for them, the cancelling ∂L/∂o_in = o − y when
the gradients are asked; a sheet whose questions do not ask for them states them, and the
key always does."""

from __future__ import annotations

import re

import pytest

from conftest import EXAMPLES, run_cli

DERIVATIVE = re.compile(r"[a-z\\]+'\(t\) = ")  # a'(t) = …, \sigma'(t) = …, \tanh'(t) = …
CANCEL = "cancel:"


def documents(tmp_path, example: str, include: list[str] | None = None) -> tuple[str, str]:
    spec = tmp_path / f"{example}.toml"
    text = (EXAMPLES / f"{example}.toml").read_text()
    if include is not None:
        line = "include = [" + ", ".join(f'"{q}"' for q in include) + "]"
        text, n = re.subn(r"(?m)^include = \[.*\]$", line, text)
        text += "" if n else f"\n[questions]\n{line}\n"
    spec.write_text(text)
    r = run_cli("solve", spec, "--out", tmp_path / "out", "--no-pdf")
    assert r.returncode == 0, r.stderr
    return tuple(" ".join((tmp_path / "out" / f"{d}.tex").read_text().split()) for d in ("sheet", "solution"))


def conventions(tex: str) -> str:
    """The conventions list (the first itemize after the figure)."""
    return tex.split(r"\begin{itemize}", 1)[1].split(r"\end{itemize}", 1)[0]


@pytest.mark.parametrize("example", ["reference", "mazur", "softmax_online"])
def test_the_sheet_keeps_the_derivatives_question_1_asks_for(tmp_path, example):
    sheet, key = documents(tmp_path, example)
    assert "Give the definition and the derivative" in sheet
    assert not DERIVATIVE.search(conventions(sheet))
    assert DERIVATIVE.search(conventions(key))


def test_without_question_1_the_sheet_states_the_derivatives(tmp_path):
    sheet, _ = documents(tmp_path, "reference", include=["calculation"])
    assert "Give the definition and the derivative" not in sheet
    assert "a'(t) = a(t)" in conventions(sheet)


def test_the_sheet_keeps_the_cancellation_the_gradients_ask_for(tmp_path):
    sheet, key = documents(tmp_path, "softmax_online")
    assert CANCEL not in conventions(sheet) and "o_{1}^{(1)} - y_{1}^{(1)}" not in sheet
    assert CANCEL in conventions(key)


def test_without_the_calculation_the_sheet_states_the_cancellation(tmp_path):
    sheet, _ = documents(tmp_path, "softmax_online", include=["nonlinearity"])
    assert CANCEL in conventions(sheet)
