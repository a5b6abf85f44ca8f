"""How numbers are put into formulas: no double signs, brackets only where precedence needs
them, 0 · log(…) terms left out. Each rule is checked on a formula printed for it, and every
"numbers put in" form of the example keys is read back as arithmetic: it must still give the
value the key states (a sign folded into the wrong operator would change it)."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest
import sympy as sp

from conftest import DATA, EXAMPLES
from derive import spec as spec_mod
from derive.latex import Printer, fill
from derive.losses import LOSSES
from derive.solution import Exercise

a, b, c, t, y, o = sp.symbols("a b c t y o")


def put(expr, values: dict) -> str:
    """``expr`` printed with markers, filled with ``values`` written plainly (the number
    policy's own substitution rule: negatives in parentheses unless bare)."""
    symbols = list(values)
    template = Printer({s: i for i, s in enumerate(symbols)}).doprint(expr)

    def shown(i: int, bare: bool) -> str:
        text = f"{values[symbols[i]]:g}"
        return text if bare or not text.startswith("-") else f"({text})"
    return fill(template, shown)


def test_a_negative_number_first_in_a_sum_has_no_brackets():
    assert put(sp.Add(a, sp.Mul(-1, b, c, evaluate=False), evaluate=False), {a: -0.3, b: 0.9, c: 0.007}) \
        == r"-0.3 - 0.9 \cdot 0.007"


def test_a_negative_number_after_a_sign_joins_it():
    added = sp.Add(sp.Mul(a, b, evaluate=False), c, evaluate=False)
    assert put(added, {a: 1, b: -0.5, c: -0.4}) == r"1 \cdot (-0.5) - 0.4"
    taken = sp.Add(a, sp.Mul(-1, b, evaluate=False), evaluate=False)
    assert put(taken, {a: 4, b: -3}) == "4 + 3"


def test_no_brackets_in_an_exponent_and_no_double_minus():
    assert put(1 / (1 + sp.exp(-t)), {t: -0.7}) == r"\frac{1}{1 + e^{0.7}}"
    assert put(1 / (1 + sp.exp(-t)), {t: 2.2}) == r"\frac{1}{1 + e^{- 2.2}}"
    assert put(sp.exp(t), {t: -1}) == "e^{-1}"


def test_a_negative_base_of_a_power_and_a_negative_factor_keep_their_brackets():
    half_square = sp.Mul(sp.Rational(1, 2), sp.Pow(sp.Add(a, -b, evaluate=False), 2, evaluate=False), evaluate=False)
    assert put(half_square, {a: -0.836, b: 1.5}) == r"\frac{1}{2} \cdot \left(-0.836 - 1.5\right)^{2}"
    assert put(sp.Add(1, -sp.Pow(a, 2, evaluate=False), evaluate=False), {a: -0.25}) == "1 - (-0.25)^{2}"
    assert put(sp.Mul(a, b, evaluate=False), {a: 0.2, b: -0.0171}) == r"0.2 \cdot (-0.0171)"


def test_terms_with_a_target_of_zero_are_left_out():
    y1, y2, y3, o1, o2, o3 = sp.symbols("y1 y2 y3 o1 o2 o3")
    loss = sp.Add(*[sp.Mul(-1, yy, sp.log(oo), evaluate=False) for yy, oo in ((y1, o1), (y2, o2), (y3, o3))],
                  evaluate=False)
    values = {y1: 0, y2: 1, y3: 0, o1: 0.29, o2: 0.43, o3: 0.28}
    assert put(loss, values) == r"- 1 \cdot \log{\left(0.43 \right)}"
    assert put(loss, {**values, y1: 1, y2: 0}) == r"- 1 \cdot \log{\left(0.29 \right)}"
    assert put(loss, {**values, y3: 0.5}) == \
        r"- 1 \cdot \log{\left(0.43 \right)} - 0.5 \cdot \log{\left(0.28 \right)}"


# --- every filled form of the example keys, read back --------------------------------------

def _braced(text: str, start: int) -> int:
    """The index just past the brace group opening at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i + 1
    raise ValueError(text)


def arithmetic(tex: str) -> str:
    """A filled LaTeX form as a Python expression (fractions, powers, e, log, tanh)."""
    tex = tex.replace(r"\left(", "(").replace(r"\right)", ")").replace(r"\cdot", "*")
    tex = re.sub(r"\\(log|tanh)\b", r"\1", tex)
    while r"\frac{" in tex:
        i = tex.index(r"\frac{")
        j = _braced(tex, i + 5)
        k = _braced(tex, j)
        tex = f"{tex[:i]}(({arithmetic(tex[i + 6:j - 1])})/({arithmetic(tex[j + 1:k - 1])})){tex[k:]}"
    tex = re.sub(r"(\d) \* 10\^\{(-?\d+)\}", r"\1e\2", tex)
    tex = tex.replace("e^{", "exp{").replace("^{", "**{")
    return tex.replace("{", "(").replace("}", ")")


CASES = [EXAMPLES / f"{n}.toml" for n in ("reference", "mazur", "han_kamber", "softmax_online")] + [
    DATA / "tanh_softmax_3_4_4_2.toml"]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_every_filled_form_still_gives_its_value(path):
    spec = dataclasses.replace(spec_mod.load(path), decimals=12)  # enough digits to see any slip
    solution = Exercise(spec).solve()
    checked = 0
    for lines in solution.sections.values():
        for line in lines:
            forms = line.forms[1:] if line.kind == "line" else ["".join(line.numbers)]
            for form in forms:
                if re.search(r"[a-zA-Z]", re.sub(r"\\(frac|cdot|left|right|log|tanh)|e\^", "", form)):
                    continue  # a form with names in it (symbolic, or a function written by name)
                got = eval(arithmetic(form), {"exp": math.exp, "log": math.log, "tanh": math.tanh})
                assert got == pytest.approx(solution.values[line.name], rel=1e-8, abs=1e-9), (line.name, form)
                checked += 1
    assert checked > 20


# --- binary cross-entropy, and the passes of an optimizer's steps ---------------------------

def test_a_binary_cross_entropy_term_whose_factor_is_zero_is_left_out():
    loss = LOSSES["binary_cross_entropy"].term(o, y, False)
    assert put(loss, {y: 1, o: 0.52}) == r"- 1 \cdot \log{\left(0.52 \right)}"
    assert put(loss, {y: 0, o: 0.52}) == r"- \left(1 - 0\right) \cdot \log{\left(1 - 0.52 \right)}"
    assert put(loss, {y: 0.3, o: 0.52}) == \
        r"- (0.3 \cdot \log{\left(0.52 \right)} + \left(1 - 0.3\right) \cdot \log{\left(1 - 0.52 \right)})"


def _first_pass_name(name: str) -> str:
    """A quantity of a later pass by the name it has in the first: h1_in'' is h1_in."""
    return name.replace("'", "")


def _first_pass_form(tex: str) -> str:
    """A later pass's symbolic form as the first pass writes it: no primes, and the given
    parameters in place of those a step left (w_{1}^{*(2)} is w_{1})."""
    return re.sub(r"\^\{?\*(\(\d+\))?\}?", "", tex.replace("'", ""))


@pytest.mark.parametrize("target", [1, 0])
def test_every_pass_of_an_optimizer_key_is_written_as_the_first(target):
    text = (DATA / "bce_adam_two_steps.toml").read_text().replace("y = 1", f"y = {target}")
    solution = Exercise(spec_mod.parse(text, "bce.toml")).solve()
    first = {line.name: line.forms[0] for line in solution.sections["forward"] + solution.sections["loss"]}
    later = [line for stage in ("pass[2]", "forward_after", "loss_after") for line in solution.sections[stage]
             if line.kind == "line" and _first_pass_name(line.name) in first]
    assert {_first_pass_name(line.name) for line in later} == set(first)  # every forward quantity, and L
    for line in later:  # the output's pre-activation with its bias last, L as −(y log ŷ + …)
        assert _first_pass_form(line.forms[0]) == first[_first_pass_name(line.name)], line.name
    losses = [line for stage in ("loss", "pass[2]", "loss_after") for line in solution.sections[stage]
              if line.name in ("L", "L'", "L''")]
    assert [line.name for line in losses] == ["L", "L'", "L''"]
    for line in losses:  # the term that is 0 is left out in every pass, as the key's note says
        numbers = line.forms[1]
        assert "1 - 1" not in numbers and "log" in numbers
        assert numbers.count(r"\log") == 1 and ("1 - 0" in numbers) == (target == 0)
        assert got_value(numbers) == pytest.approx(solution.values[line.name], abs=5e-4)


def got_value(form: str) -> float:
    return eval(arithmetic(form), {"exp": math.exp, "log": math.log, "tanh": math.tanh})
