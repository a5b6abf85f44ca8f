"""Moodle XML: the structure Moodle's importer reads, blanks that grade as meant, feedback
for the registered misconceptions, and free text that cannot break the question.

Every question text is read by ``cloze.parse``, a port of Moodle's own cloze parser
(question/type/multianswer/questiontype.php: ANSWER_REGEX and the ANSWER_ALTERNATIVE_*,
NUMBER_REGEX, NUMERICAL_ALTERNATIVE_REGEX constants), and graded as qtype_numerical does.
Expected answers come from the hand-written oracle in test_variants (sympy.diff of the
composed loss, evaluated with mpmath) and are rounded here with Decimal, half away from zero.
"""

from __future__ import annotations

import dataclasses
import html
import random
import re
import xml.etree.ElementTree as ET
from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest

import cloze
from conftest import run_cli
from derive import lms, moodle, spec as spec_mod, variants as V
from derive.errors import DeriveError
from derive.rounding import NumberPolicy
from derive.solution import Exercise
from test_variants import oracle, rounded

# The order the question asks in: forward pass, loss, gradients, updates, then again.
ASKED = (["h1_in", "h2_in", "h1", "h2", "yhat", "L"]
         + [f"dL/dw{i}" for i in range(1, 10)] + [f"w{i}*" for i in range(1, 10)]
         + ["h1_in'", "h2_in'", "h1'", "h2'", "yhat'", "L'"])
UNIT = Decimal("0.0001")


def questions(xml_text: str):
    root = ET.fromstring(xml_text.encode("utf-8"))
    return root, root.findall("question")[1:]


def blanks_of(q) -> list[cloze.Blank]:
    found, rest = cloze.parse(q.findtext("questiontext/text"))
    assert "NUMERICAL" not in rest  # nothing left that looks like a blank Moodle missed
    return found


@pytest.fixture(scope="module")
def quiz(reference_exercise):
    sampler = V.Sampler(reference_exercise)
    drawn = sampler.draw_many(V.numbered(25), base_seed=11)
    solutions = [reference_exercise.solve(v.overrides, seed=v.seed, variant=v.id) for v in drawn]
    return solutions, questions(moodle.write_moodle(solutions, moodle.default_category("Backpropagation by hand", "seed 11")))


def test_quiz_structure(quiz):
    solutions, (root, cloze_qs) = quiz
    assert root.tag == "quiz"
    assert root.find("question").get("type") == "category"
    assert root.findtext("question/category/text") == "$course$/Backpropagation by hand/seed 11"
    assert len(cloze_qs) == len(solutions) == 25
    for q, s in zip(cloze_qs, solutions):
        assert q.get("type") == "cloze"
        assert q.findtext("name/text") == f"Backpropagation by hand, variant {s.variant}"
        assert q.find("questiontext").get("format") == "html"
        assert q.findtext("idnumber") == s.variant
        assert q.findtext("penalty") and q.findtext("hidden") == "0"
    assert len({q.findtext("idnumber") for q in cloze_qs}) == 25


def test_the_text_stands_alone_and_hides_the_variant(quiz):
    solutions, (_, cloze_qs) = quiz
    for q, s in zip(cloze_qs, solutions):
        text = html.unescape(cloze.parse(q.findtext("questiontext/text"))[1])
        # The conventions the key states, and the given values.
        for words in ("logistic sigmoid", "squared error with the factor ½", "bias unit",
                      "all gradients computed from the parameters before the update", "rounded to 4 decimals",
                      r"x_{1} \to h_{1}", r"\(\eta\)"):
            assert words in text, words
        for name in ("w1", "w7", "x1", "eta"):
            assert f"<td>{s.givens[name]:g}</td>" in text.replace(".0<", "<")
        # Neither the variant id nor the seed reaches what students see.
        assert f"variant {s.variant}" not in text and str(s.seed) not in text
        feedback = html.unescape(q.findtext("generalfeedback/text"))
        assert r"\frac{\partial \mathcal{L}}{\partial w_{7}}" in feedback and "\\(" in feedback


def test_blanks_hold_the_right_answers(quiz):
    solutions, (_, cloze_qs) = quiz
    for q, s in zip(cloze_qs, solutions):
        blanks = blanks_of(q)
        assert len(blanks) == len(ASKED)
        expected = oracle(dict(s.givens))
        for b, name in zip(blanks, ASKED):
            assert b.numerical and b.mark == "1"
            typed, unit = _typed(expected[name], 4)
            assert Decimal(b.correct.answer) == typed, (s.variant, name)
            assert Decimal(b.correct.tolerance) == Decimal("1.5") * unit


def test_grading_full_partial_and_none(quiz):
    solutions, (_, cloze_qs) = quiz
    for q, s in zip(cloze_qs, solutions):
        expected = oracle(dict(s.givens))
        for b, name in zip(blanks_of(q), ASKED):
            r, unit = _typed(expected[name], 4)
            for typed in (r, r + unit, r - unit, Decimal(expected[name])):
                assert b.grade(typed).fraction == 1, (name, typed)
            for off in (2, 3, 4):
                for typed in (r + off * unit, r - off * unit):
                    assert b.grade(typed).fraction == 0.5, (name, typed)
            for off in (5, 7, 20):
                got = b.grade(r + off * unit)
                assert got is None or got.fraction == 0, (name, off)


def _typed(value: float, decimals: int) -> tuple[Decimal, Decimal]:
    """The value as the key shows it, typed: ``decimals`` places, or two significant digits
    for a value that would show as zero; and the unit of its last digit."""
    with localcontext() as ctx:
        ctx.prec = 400  # exact: a float has at most a few hundred digits
        place = Decimal(1).scaleb(-decimals)
        d = Decimal(value).quantize(place, rounding=ROUND_HALF_UP)
        if d == 0 and value != 0:
            place = Decimal(1).scaleb(Decimal(value).adjusted() - 1)
            d = Decimal(value).quantize(place, rounding=ROUND_HALF_UP)
    return d, place


def test_any_magnitude_is_read_as_meant():
    """Random values from 1e-8 to 1e9, either sign, 0 to 6 decimals: Moodle reads the blank
    as the value in plain decimal, accepts it as typed and marks two units off wrong."""
    rng = random.Random(14)
    for _ in range(3000):
        value = rng.choice((1, -1)) * 10 ** rng.uniform(-8, 9)
        decimals = rng.randint(0, 6)
        field = moodle.field(lms.blank("h1", value, NumberPolicy(decimals), []))
        (b,), _ = cloze.parse(f"<p>{field}</p>")
        assert "e" not in b.correct.answer.lower()
        assert re.fullmatch(cloze.NUMBER, b.correct.answer)
        typed, unit = _typed(value, decimals)
        assert Decimal(b.correct.answer) == typed
        assert b.grade(typed).fraction == 1 and b.grade(Decimal(value)).fraction == 1
        for off in (2 * unit, -2 * unit):
            assert b.grade(typed + off).fraction < 1, (value, decimals)


def test_large_values_of_a_whole_question(tmp_path):
    """An identity network with large inputs: every blank of 10^6 and more is still read
    with four decimals (the issue's 12 of 36 blanks wrong)."""
    text = spec_mod.builtin_path().read_text(encoding="utf-8")
    text = text.replace('activation = "sigmoid"', 'activation = "identity"').replace(
        "x1 = 1\nx2 = 1", "x1 = 3000\nx2 = 2000")
    path = tmp_path / "big.toml"
    path.write_text(text, encoding="utf-8")
    s = Exercise(spec_mod.load(path)).solve()
    _, (q,) = questions(moodle.write_moodle([s]))
    names = [n for _, group in lms.asked_names(s) for n in group]
    blanks = blanks_of(q)
    assert len(blanks) == len(names)
    large = 0
    for b, name in zip(blanks, names):
        value = s.values[name]
        large += abs(value) >= 1e6
        typed, _ = _typed(value, 4)
        assert b.grade(typed).fraction == 1, name
        if abs(value) < 1e9:  # beyond, a float cannot tell 0.0002 apart (Moodle computes in floats)
            assert b.grade(typed + 2 * UNIT).fraction < 1, name
    assert large >= 10


# --- the checker's feedback ----------------------------------------------------------------

def test_misconceptions_give_their_wrong_values(quiz):
    solutions, (_, cloze_qs) = quiz
    for q, s in zip(cloze_qs[:8], solutions):
        e = oracle(dict(s.givens))
        g = s.givens
        blanks = dict(zip(ASKED, blanks_of(q)))
        for i in (1, 7):
            w, grad = g[f"w{i}"], e[f"dL/dw{i}"]
            b = blanks[f"w{i}*"]
            # Independent arithmetic: the sign flipped and the learning rate left out.
            for wrong, words in ((w + g["eta"] * grad, "update sign flipped"), (w - grad, "η left out")):
                typed = rounded(wrong)
                if abs(typed - rounded(e[f"w{i}*"])) <= 6 * UNIT:
                    continue  # too close to the answer to tell apart: no feedback expected
                got = b.grade(typed)
                assert got is not None and got.fraction == 0 and words in html.unescape(got.feedback), (i, words)
        # The ½ forgotten doubles the loss.
        typed, unit = _typed(2 * e["L"], 4)
        if abs(typed - _typed(e["L"], 4)[0]) > 6 * unit:
            got = blanks["L"].grade(typed)
            assert got.fraction == 0 and "½ forgotten" in got.feedback


def test_no_alternative_overlaps_another(quiz):
    _, (_, cloze_qs) = quiz
    for q in cloze_qs:
        for b in blanks_of(q):
            right, partial, *wrong = b.alternatives
            assert (right.fraction, partial.fraction) == (1, 0.5)
            assert right.answer == partial.answer
            intervals = [(Decimal(a.answer) - Decimal(a.tolerance), Decimal(a.answer) + Decimal(a.tolerance))
                         for a in [partial, *wrong]]
            for i, (lo, hi) in enumerate(intervals):
                for lo2, hi2 in intervals[i + 1:]:
                    assert hi < lo2 or hi2 < lo
            assert all(a.fraction == 0 and a.feedback for a in wrong)


# --- hostile free text ---------------------------------------------------------------------

# Every character with a meaning to cloze, XML, HTML, MathJax and Moodle's category paths.
HOSTILE = r"/{1:NM:=1} {#1} }#~\{%$ \(x\) $$y$$ ]]> & <b>x</b> &amp; ' \" // end/"


def _hostile_spec(tmp_path):
    text = spec_mod.builtin_path().read_text(encoding="utf-8")
    toml_str = HOSTILE.replace("\\", "\\\\").replace('"', '\\"')
    text = text.replace('title = "Backpropagation by hand"', f'title = "{toml_str}"')
    text = text.replace('course = "Pattern Recognition"', f'course = "{toml_str}"')
    path = tmp_path / "hostile.toml"
    path.write_text(text, encoding="utf-8")
    return spec_mod.load(path)


def _shown(fragment: str) -> str:
    """The text a browser shows for an HTML fragment (tags dropped, references decoded)."""
    return html.unescape(re.sub(r"<[^>]*>", "", fragment))


def test_hostile_title_course_and_ids(tmp_path):
    spec = _hostile_spec(tmp_path)
    assert spec.title == HOSTILE
    s = Exercise(spec).solve(seed=3, variant=HOSTILE)
    root, (q,) = questions(moodle.write_moodle([s], moodle.default_category(spec.title, HOSTILE)))
    assert len(blanks_of(q)) == len(ASKED)  # no extra blank from the title
    text = q.findtext("questiontext/text")
    # Free text is shown as written, in spans MathJax leaves alone.
    spans = re.findall(r'<span class="nolink tex2jax_ignore mathjax_ignore">(.*?)</span>', text)
    assert [_shown(x) for x in spans[:2]] == [HOSTILE, HOSTILE]
    assert not re.search(r"[{}~#\\$%]", re.sub(r"&#?\w+;", "", "".join(spans[:2])))
    assert q.findtext("name/text") == f"{HOSTILE}, variant {HOSTILE}"
    assert q.findtext("idnumber") == HOSTILE
    # The category keeps its context token and its two levels.
    path = root.findtext("question/category/text")
    assert path.startswith("$course$/") and "//" not in path and len(path) <= 255
    assert len(path.split("/")) == 3


def test_characters_xml_cannot_hold_never_reach_the_question():
    """The question text goes into the file without a second look for characters XML cannot
    hold: every free text in it must have gone through ``lms.text``. A spec with such
    characters is refused on load, so here they are put into a loaded one."""
    bad = "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n\r") + "\ufffe\uffff\ud800"
    spec = dataclasses.replace(spec_mod.load(), title=f"T{bad}itle", course=f"C{bad}ourse")
    s = Exercise(spec).solve(seed=3, variant=f"v{bad}1")
    _, (q,) = questions(moodle.write_moodle([s]))  # the XML parser refuses any such character
    text = q.findtext("questiontext/text")
    assert "Title" in text and "Course" in text and len(blanks_of(q)) == len(ASKED)
    assert q.findtext("name/text") == "Title, variant v1"


@pytest.mark.parametrize("feedback", [HOSTILE, "}", "\\", "a\\", "~", "#", "{#1}", "&amp;", "x ~%0%1:1#y }"])
def test_feedback_survives_moodles_parser(feedback):
    b = lms.Blank("h1", lms.Number("1", "0.1"), (lms.Other(lms.Number("5", "0.1"), 0, feedback, "x"),))
    (parsed,), _ = cloze.parse(moodle.field(b))
    assert len(parsed.alternatives) == 2
    assert _shown(parsed.alternatives[1].feedback) == feedback
    assert parsed.grade(Decimal(5)).fraction == 0 and parsed.grade(Decimal(1)).fraction == 1


def _xml_chars(text: str) -> str:
    """The characters of ``text`` that XML 1.0 allows (its production Char)."""
    return "".join(c for c in text if c in "\t\n\r" or "\x20" <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd"
                   or c >= "\U00010000")


@pytest.mark.parametrize("length", [0, 30, 199, 201, 5000, 80000])
def test_only_xml_characters_reach_the_files(length):
    """Short texts and whole question texts (a faster test on long ones) alike."""
    rng = random.Random(length)
    plain = "".join(rng.choice("ab ½η∂′{}<&\n\t\r\U0001d400") for _ in range(length))
    assert lms.xml_safe(plain) == plain
    bad = [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"] + ["\ufffe", "\uffff", "\ud800", "\udfff"]
    for c in bad + ["\ud83d\ude00"]:  # a pair of surrogates is two stray ones in a str, not one character
        k = rng.randrange(length + 1)
        text = plain[:k] + c + plain[k:]
        assert lms.xml_safe(text) == _xml_chars(text) == plain, repr(c)
    pool = bad + list("ab ½η∂′{}<&\n")
    text = "".join(rng.choice(pool) for _ in range(length))
    assert lms.xml_safe(text) == _xml_chars(text)


def test_long_titles_fit_moodles_fields():
    title = "Backprop " * 60
    path = moodle.default_category(title, "seed 1")
    assert len(path) <= 255 and path.endswith("/seed 1")
    assert moodle.default_category("/lead and trail/", None) == "$course$/\u2215lead and trail\u2215"


def test_category_option():
    assert moodle.category_path("Week 3/Backprop") == "$course$/Week 3/Backprop"
    assert moodle.category_path("$system$/A//B/") == "$system$/A/B"
    with pytest.raises(DeriveError, match="--category: expected at most 255"):
        moodle.category_path("x" * 300)
    with pytest.raises(DeriveError, match="--category"):
        moodle.category_path("$course$")


def test_the_exercise_itself_without_variants(reference):
    root, (q,) = questions(moodle.write_moodle([reference]))
    assert q.find("idnumber") is None
    blanks = dict(zip(ASKED, blanks_of(q)))
    # The published reference numbers, rounded by hand.
    assert blanks["h1"].correct.answer == "0.9002" and blanks["L"].correct.answer == "0.0370"
    assert blanks["dL/dw8"].correct.answer == "0.2181" and blanks["w5*"].correct.answer == "-0.0034"
    assert blanks["L'"].correct.answer == "0.0092"


def test_every_example_spec_parses(examples_dir=None):
    from conftest import EXAMPLES
    for path in sorted(EXAMPLES.glob("*.toml")):
        s = Exercise(spec_mod.load(path)).solve()
        _, (q,) = questions(moodle.write_moodle([s]))
        names = [n for _, group in lms.asked_names(s) for n in group]
        blanks = blanks_of(q)
        assert len(blanks) == len(names), path.name
        for b, n in zip(blanks, names):
            typed, _ = _typed(s.values[n], s.policy.decimals)
            assert b.grade(typed).fraction == 1, (path.name, n)


def test_batches_land_in_their_own_categories(tmp_path):
    out = tmp_path / "v"
    r = run_cli("variants", "--count", "3", "--seed", "5", "--no-pdf", "--out", out)
    assert r.returncode == 0, r.stderr
    root = ET.parse(out / "moodle.xml").getroot()
    assert root.findtext("question/category/text") == "$course$/Backpropagation by hand/seed 5"
    r = run_cli("variants", "--count", "2", "--no-pdf", "--out", out, "--force", "--category", "Week 3/quiz")
    assert r.returncode == 0, r.stderr
    assert ET.parse(out / "moodle.xml").getroot().findtext("question/category/text") == "$course$/Week 3/quiz"
    r = run_cli("variants", "--count", "2", "--no-pdf", "--out", out, "--force", "--category", "x" * 300)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--category" in r.stderr
