"""The key's numbers put in by templates read once per structure (``latex.Places``) give what
the marker rules of ``latex.fill`` give on the template's text, and a line breaks where the
width of its whole text says it should: checked on every template and line of the examples,
at values that take each rule's branches (negative, zero, tiny, huge, halfway)."""

from __future__ import annotations

import math
import random
import re

import pytest

from conftest import DATA, EXAMPLES
from derive import spec as spec_mod
from derive.latex import fill
from derive.rounding import NumberPolicy
from derive.solution import ROW_WIDTH, Exercise, _putter

SPECS = sorted(EXAMPLES.glob("*.toml")) + [DATA / "tanh_softmax_3_4_4_2.toml", DATA / "wide_4_16_16_4.toml",
                                           DATA / "graph_twenty.toml"]
AWKWARD = [0.0, -0.0, 1.0, -1.0, 0.5, -0.25, 0.125, -2.5, 1e-13, -3.2e-6, 1e-8, 2.5e7, -1.5e9, 0.30000000000000004]


def regex_width(latex: str) -> int:
    """The key's rough count of printed characters, as it was first written: four regexes."""
    latex = re.sub(r"\\(left|right|,|;|quad)", "", latex)
    latex = re.sub(r"\\(log|ln)\b", r"\1", latex)
    latex = re.sub(r"\\[a-zA-Z]+", "x", latex)
    return len(re.sub(r"[{}^_ ]", "", latex))


def draws(n: int, count: int, seed: int):
    rng = random.Random(seed)
    for _ in range(count):
        yield [rng.choice(AWKWARD) if rng.random() < 0.4 else rng.uniform(-3, 3) for _ in range(n)]


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_templates_filled_at_once_are_the_marker_rules_applied_to_their_text(path):
    exercise = Exercise(spec_mod.load(str(path)))
    places, read = exercise.templates
    assert read
    for raw in draws(len(exercise.derivation.quantities), 12, seed=len(read)):
        put = _putter(raw, exercise.given, exercise.policy)
        numbers = places.numbers(put)
        for text, (template, _) in read.items():
            assert template.fill(numbers) == fill(text, put), text


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_the_first_variant_and_the_later_ones_are_written_alike(path):
    """The first variant of an exercise is filled by the marker rules, the later ones from
    the templates read into places."""
    spec = spec_mod.load(str(path))
    later = Exercise(spec)
    later._sections([0.5] * len(later.derivation.quantities))
    for raw in draws(len(later.derivation.quantities), 4, seed=5):
        assert Exercise(spec)._sections(raw) == later._sections(raw)


def test_a_line_breaks_where_the_width_of_its_whole_text_says():
    broken = kept = 0
    for path in SPECS:
        exercise = Exercise(spec_mod.load(str(path)))
        for raw in draws(len(exercise.derivation.quantities), 6, seed=3):
            for lines in exercise._sections(raw).values():
                for line in lines:
                    if line.kind != "line" or len(line.forms) < 2:
                        continue
                    width = regex_width(line.lhs) + sum(regex_width(f) + 3 for f in line.forms) + 10
                    assert line.first_row == (1 if width > ROW_WIDTH else len(line.forms)), (path.stem, line.forms)
                    broken, kept = broken + (width > ROW_WIDTH), kept + (width <= ROW_WIDTH)
    assert broken > 100 and kept > 100  # both sides of the rule are met


@pytest.mark.parametrize("decimals", [0, 2, 4])
def test_a_value_and_its_relation_come_from_one_rounding_as_from_two(decimals):
    policy = NumberPolicy(decimals)
    values = AWKWARD + [math.inf, -math.inf, math.nan, 2.00005, 0.00049999, 1e6, 999999.99995]
    values += [v / 7 for v in range(-50, 50)]
    for v in values:
        text, relation = policy.written(v)
        assert text == policy.tex(v) and relation == policy.relation(v), v
        assert relation == ("=" if policy.is_exact(v) else r"\approx")


def test_scientific_numbers_are_written_as_by_hand():
    from derive.rounding import scientific
    assert scientific(0.000123456, 3) == r"1.23 \cdot 10^{-4}"
    assert scientific(-3.2e-6, 2) == r"-3.2 \cdot 10^{-6}"
    assert scientific(2.5e7, 3) == r"2.50 \cdot 10^{7}"
    assert scientific(9.996e-3, 3) == r"1.00 \cdot 10^{-2}"  # rounding carries into the exponent
