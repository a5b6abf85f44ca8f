"""Moodle XML: the structure Moodle's importer reads, and blanks that grade correctly.

Expected answers come from the hand-written oracle in test_variants (sympy.diff of the
composed loss, evaluated with mpmath) and are rounded here with Decimal, half away from
zero; the acceptance rule is Moodle's for a NUMERICAL answer: |response − answer| ≤
tolerance.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from derive import moodle, spec as spec_mod, variants as V
from derive.rounding import NumberPolicy
from derive.solution import Exercise
from test_variants import oracle, rounded

BLANK = re.compile(r"\{(\d*):NUMERICAL:=([^:}#~]+):([^}#~]+)\}")

# The order the question asks in: forward pass, loss, gradients, updates, then again.
ASKED = (["h1_in", "h2_in", "h1", "h2", "yhat", "L"]
         + [f"dL/dw{i}" for i in range(1, 10)] + [f"w{i}*" for i in range(1, 10)]
         + ["h1_in'", "h2_in'", "h1'", "h2'", "yhat'", "L'"])


@pytest.fixture(scope="module")
def quiz(reference_exercise):
    sampler = V.Sampler(reference_exercise)
    drawn = sampler.draw_many(V.numbered(25), base_seed=11)
    solutions = [reference_exercise.solve(v.overrides, seed=v.seed, variant=v.id) for v in drawn]
    return solutions, ET.fromstring(moodle.write_moodle(solutions).encode("utf-8"))


def test_quiz_structure(quiz):
    solutions, root = quiz
    assert root.tag == "quiz"
    questions = root.findall("question")
    assert questions[0].get("type") == "category"
    assert questions[0].findtext("category/text") == "$course$/Backpropagation by hand"
    cloze = questions[1:]
    assert len(cloze) == len(solutions) == 25
    for q, s in zip(cloze, solutions):
        assert q.get("type") == "cloze"
        assert q.findtext("name/text") == f"Backpropagation by hand, variant {s.variant}"
        assert q.find("questiontext").get("format") == "html"
        assert q.findtext("idnumber") == s.variant
        assert q.findtext("penalty") and q.findtext("hidden") == "0"
        text = q.findtext("questiontext/text")
        assert f"variant {s.variant} (seed {s.seed})" in text
    assert len({q.findtext("idnumber") for q in cloze}) == 25


def test_blanks_hold_the_right_answers(quiz):
    solutions, root = quiz
    for q, s in zip(root.findall("question")[1:], solutions):
        blanks = BLANK.findall(q.findtext("questiontext/text"))
        assert len(blanks) == len(ASKED)
        expected = oracle(dict(s.givens))
        for (weight, answer, tol), name in zip(blanks, ASKED):
            assert weight == "1"
            assert Decimal(answer) == rounded(expected[name]), (s.variant, name)
            assert Decimal(tol) == Decimal("0.00015")


def accepts(answer: str, tol: str, response: Decimal) -> bool:
    return abs(response - Decimal(answer)) <= Decimal(tol)


def test_tolerance_accepts_the_rounded_value_and_not_a_few_units_off(quiz):
    solutions, root = quiz
    unit = Decimal("0.0001")
    for q, s in zip(root.findall("question")[1:], solutions):
        expected = oracle(dict(s.givens))
        for (_, answer, tol), name in zip(BLANK.findall(q.findtext("questiontext/text")), ASKED):
            r = rounded(expected[name])
            assert accepts(answer, tol, r)
            assert accepts(answer, tol, Decimal(expected[name]))  # unrounded is fine too
            assert accepts(answer, tol, r + unit) and accepts(answer, tol, r - unit)
            for off in (2, 3, 5):
                assert not accepts(answer, tol, r + off * unit), (name, off)
                assert not accepts(answer, tol, r - off * unit), (name, off)


@pytest.mark.parametrize("decimals, tol", [(0, "1.5"), (2, "0.015"), (4, "0.00015"), (6, "0.0000015")])
def test_tolerance_follows_the_display_rounding(decimals, tol):
    assert moodle.tolerance(NumberPolicy(decimals)) == tol


def test_titles_with_markup_characters(tmp_path):
    text = spec_mod.builtin_path().read_text(encoding="utf-8")
    text = text.replace('title = "Backpropagation by hand"', 'title = "Nets & <Gradients> / week 3"')
    path = tmp_path / "odd.toml"
    path.write_text(text, encoding="utf-8")
    ex = Exercise(spec_mod.load(path))
    root = ET.fromstring(moodle.write_moodle([ex.solve(seed=3, variant="a&b")]).encode("utf-8"))
    assert root.find("question/category/text").text == "$course$/Nets & <Gradients> // week 3"
    q = root.findall("question")[1]
    assert q.findtext("name/text") == "Nets & <Gradients> / week 3, variant a&b"
    assert "Nets &amp; &lt;Gradients&gt;" in q.findtext("questiontext/text")


def test_the_exercise_itself_without_variants(reference):
    root = ET.fromstring(moodle.write_moodle([reference]).encode("utf-8"))
    q = root.findall("question")[1]
    assert q.find("idnumber") is None
    blanks = dict(zip(ASKED, BLANK.findall(q.findtext("questiontext/text"))))
    # The published reference numbers, rounded by hand.
    assert blanks["h1"][1] == "0.9002" and blanks["L"][1] == "0.0370"
    assert blanks["dL/dw8"][1] == "0.2181" and blanks["w5*"][1] == "-0.0034"
    assert blanks["L'"][1] == "0.0092"
