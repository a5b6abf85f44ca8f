"""The LMS blanks' fast paths against the plain rules they stand for, written out here.

``lms.exponent`` rounds only values below one unit of the last decimal; ``lms.blank``
finds the kept value a wrong value joins through buckets of whole numbers, whole numbers
it finds by float arithmetic away from halfway points; ``moodle.written_field`` writes a
blank's field without its ``lms.Other`` values; ``lms.wrong_values`` works out of each
misconception graph only what its swapped formulas reach (``Evaluator.changed_code``).
Each is held to the plain version over many values: halfway cases, values near zero and
near each other, duplicates, values that are not finite, graphs that overflow."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from conftest import EXAMPLES
from derive import lms, moodle, spec as spec_mod, variants as V
from derive.errors import DeriveError
from derive.rounding import NumberPolicy, fixed
from derive.solution import Exercise


def plain_exponent(value: float, policy: NumberPolicy) -> int:
    if value != 0 and math.isfinite(value) and policy.round(value) == 0:
        return Decimal(value).adjusted() - 1
    return -policy.decimals


def plain_blank(name: str, value: float, policy: NumberPolicy, wrong) -> lms.Blank:
    """The rule of ``lms.blank`` with every whole number near a kept value in a set."""
    exp = plain_exponent(value, policy)
    tolerance, band = lms.units(lms.TOLERANCE_UNITS, exp), lms.units(lms.PARTIAL_UNITS, exp)
    answer = lms.Number(fixed(value, exp), tolerance)
    others = [lms.Other(lms.Number(answer.value, band), lms.PARTIAL_CREDIT, lms.ROUNDING_FEEDBACK, "rounding")]
    target = int(answer.value.replace(".", ""))
    clear, same_units = float(lms.PARTIAL_UNITS + lms.TOLERANCE_UNITS), int(2 * lms.TOLERANCE_UNITS)
    kept, near, went = [], set(), {}
    for v, key, why in wrong:
        if not math.isfinite(v) or abs(v - value) < (clear - 1) * 10.0 ** exp:
            continue
        if v not in went:
            d = fixed(v, exp)
            n = int(d.replace(".", ""))
            if abs(n - target) <= clear:
                went[v] = None
            elif n in near:
                went[v] = next(k for k in kept if abs(k[0] - n) <= same_units)
            else:
                went[v] = (n, d, [], [])
                kept.append(went[v])
                near.update(range(n - same_units, n + same_units + 1))
        same = went[v]
        if same is not None and key not in same[2]:
            same[2].append(key)
            same[3].append(why)
    for n, d, keys, whys in kept:
        shown = d if abs(n) < 10 ** 15 else fixed(float(d), exp)
        others.append(lms.Other(lms.Number(shown, tolerance), 0, "; or: ".join(whys), "+".join(keys)))
    return lms.Blank(name, answer, tuple(others))


DECIMALS = st.integers(0, 12)


def _near_unit(decimals: int):
    """Values around half a unit and one unit of the last decimal, and their neighbours."""
    unit = 10.0 ** -decimals
    base = st.sampled_from([unit, unit / 2, unit * 0.4999999, unit * 0.5000001, 5 * 10.0 ** (-decimals - 1),
                            unit * 0.99999, unit * 1.00001])
    return st.builds(lambda b, k, sign: sign * b * (1 + k * 2.0 ** -52), base, st.integers(-3, 3),
                     st.sampled_from([1.0, -1.0]))


@settings(max_examples=400, deadline=None)
@given(st.data(), DECIMALS)
def test_exponent_rounds_only_values_below_one_unit(data, decimals):
    value = data.draw(st.one_of(st.floats(allow_nan=True, allow_infinity=True), _near_unit(decimals),
                                st.floats(-1e-3, 1e-3), st.sampled_from([0.0, -0.0, 1e-320, -5e-324])))
    policy = NumberPolicy(decimals)
    assert lms.exponent(value, policy) == plain_exponent(value, policy)


def test_exponent_at_the_edges():
    for decimals in range(0, 13):
        policy = NumberPolicy(decimals)
        unit = Decimal(1).scaleb(-decimals)
        for exact in (unit / 2, unit, unit * Decimal("0.49999999")):
            v = float(exact)
            for value in (v, math.nextafter(v, 0), math.nextafter(v, 1), -v):
                assert lms.exponent(value, policy) == plain_exponent(value, policy), (decimals, value)


def _wrong(value: float, decimals: int):
    """Wrong values a few units of the last decimal from the answer and from each other:
    whole, halfway and in between; repeated, under several keys; now and then not finite."""
    unit = 10.0 ** -decimals
    near = st.builds(lambda k, frac: value + (k + frac) * unit, st.integers(-40, 40),
                     st.sampled_from([0.0, 0.5, -0.5, 0.49, 0.51, 0.25]))
    far = st.floats(-1e17, 1e17, allow_nan=False)
    odd = st.sampled_from([math.inf, -math.inf, math.nan, 0.0, -0.0, 1e-9, -1e-9])
    entry = st.tuples(st.one_of(near, near, far, odd), st.sampled_from(["a", "b", "c", "d"]),
                      st.sampled_from(["why a", "why b", "why c"]))
    return st.lists(entry, max_size=40).map(lambda w: w + w[: len(w) // 3])  # and some again


@settings(max_examples=600, deadline=None)
@given(st.data(), st.integers(0, 6))
def test_blank_keeps_what_the_plain_rule_keeps(data, decimals):
    value = data.draw(st.one_of(st.floats(-100, 100), _near_unit(decimals), st.sampled_from([0.0, 1e-7, -3e-9])))
    wrong = data.draw(_wrong(value, decimals))
    policy = NumberPolicy(decimals)
    got, want = lms.blank("h1", value, policy, wrong), plain_blank("h1", value, policy, wrong)
    assert got == want
    assert [type(o) for o in got.others] == [lms.Other] * len(got.others)
    assert all(type(o.number) is lms.Number for o in got.others)


def _halfway(decimals: int):
    """Values whose exact binary value lies halfway between two numbers of ``decimals``
    places (odd multiples of 2^-j, e.g. 0.125 at two decimals), their neighbours one ulp
    away, values a few millionths of a unit from halfway, and huge values up to where a
    value is written through a float."""
    dyadic = st.builds(lambda k, j: (2 * k + 1) / 2.0 ** j, st.integers(-10 ** 6, 10 ** 6), st.integers(1, 20))
    neighbour = st.builds(lambda v, step: v if step == 0 else math.nextafter(v, math.copysign(math.inf, step)),
                          dyadic, st.sampled_from([-1, 0, 0, 1]))
    huge = st.builds(lambda k, frac, sign: sign * (k + frac) * 10.0 ** -decimals,
                     st.sampled_from([10 ** 9 - 1, 10 ** 9, 10 ** 9 + 1, 10 ** 14, 10 ** 15 - 1, 10 ** 15, 2 ** 52, 2 ** 53]),
                     st.sampled_from([0.0, 0.5, 0.25, -0.5]), st.sampled_from([1.0, -1.0]))
    # products within a few millionths of halfway, where the float path hands over to fixed
    edge = st.builds(lambda k, t, sign: sign * (k + 0.5 + t) * 10.0 ** -decimals, st.integers(0, 10 ** 6),
                     st.sampled_from([1e-7, -1e-7, 5e-7, -5e-7, 1e-6, -1e-6, 2e-6, -2e-6]), st.sampled_from([1.0, -1.0]))
    return st.one_of(neighbour, huge, edge, st.floats(-1e17, 1e17, allow_nan=False))


@settings(max_examples=600, deadline=None)
@given(st.data(), st.integers(0, 8))
def test_whole_numbers_by_floats_round_as_the_exact_value(data, decimals):
    """Wrong values at and next to halfway points, huge ones, and values that share one
    whole number: every one kept or dropped, written and merged as the plain rule does."""
    value = data.draw(st.one_of(_halfway(decimals), st.sampled_from([0.0, 0.125, -2.5, 1e-9])))
    entry = st.tuples(st.one_of(_halfway(decimals), st.sampled_from([math.nan, math.inf, -math.inf, -0.0])),
                      st.sampled_from(["a", "b", "c"]), st.sampled_from(["why a", "why b"]))
    wrong = data.draw(st.lists(entry, max_size=30))
    policy = NumberPolicy(decimals)
    assert lms.blank("h1", value, policy, wrong) == plain_blank("h1", value, policy, wrong)


@settings(max_examples=300, deadline=None)
@given(st.data(), st.integers(0, 6))
def test_written_field_is_the_field_of_the_blank(data, decimals):
    value = data.draw(st.one_of(st.floats(-100, 100), _near_unit(decimals), st.sampled_from([0.0, 1e-7, -3e-9])))
    wrong = data.draw(_wrong(value, decimals))
    policy = NumberPolicy(decimals)
    b = lms.blank("h1", value, policy, wrong)
    found, reasons = [w[0] for w in wrong], [w[1:] for w in wrong]
    assert moodle.written_field(value, policy, found, reasons) == (b.answer, moodle.field(b))


@pytest.mark.parametrize("name", ["built-in", "softmax_online", "reference", "graph_max"])
def test_fields_are_the_fields_of_the_blanks(name):
    exercise = Exercise(_spec(name))
    for v in V.Sampler(exercise).draw_many(V.numbered(20), 5):
        s = exercise.solve(v.overrides, seed=v.seed, variant=v.id)
        groups, written = moodle.fields(s)
        want = lms.blanks(s)
        assert [(h, [(b.name, b.answer) for b in bs]) for h, bs in groups] == \
            [(h, [(b.name, b.answer) for b in bs]) for h, bs in want]
        assert [written[b.name] for _, bs in groups for b in bs] == [moodle.field(b) for _, bs in want for b in bs]


def _spec(name: str):
    return spec_mod.load() if name == "built-in" else spec_mod.load(EXAMPLES / f"{name}.toml")


def whole_graphs(solution, refused: list | None = None) -> dict[str, tuple[list[float], list[tuple[str, str]]]]:
    """``lms.wrong_values`` by the rule its docstring states, each misconception graph
    evaluated whole: ``recompute`` at the variant's values for a swapped quantity, and the
    graph's own ``values`` from the given ones for the whole calculation done with the
    mistake; a graph where either fails gives nothing (and is put into ``refused``)."""
    exercise, der = solution.exercise, solution.derivation
    asked = {n for _, names in lms.asked_names(solution) for n in names}
    values, givens = solution.values, solution.givens
    out: dict[str, tuple[list[float], list[tuple[str, str]]]] = {}
    for alt, changed in zip(exercise.alternatives, exercise.swapped):
        reached = alt.derivation.downstream(changed)
        names = [q.name for q in der.quantities if q.name in asked and q.name in reached]
        for n in names:
            out.setdefault(n, ([], []))
        m = alt.misconception
        why = m.title + (f" ({alt.detail})" if alt.detail else "") + ": " + m.explanation
        carried_why = why + " (the mistake made in every step up to here)"
        try:
            local = alt.evaluator.recompute(givens, values)[1]
        except (ArithmeticError, ValueError):
            local = None
        carried = alt.evaluator.values([givens[n] for n in alt.evaluator.given_names])
        if local is None or carried is None:
            if names and refused is not None:
                refused.append("recompute raises" if local is None else "values refuses")
            continue
        for n in names:
            j = alt.derivation.index[n]
            found, reasons = out[n]
            if n in changed:
                x, y = local[j], carried[j]
                found.append(x)
                reasons.append((m.key, why))
                if abs(y - x) > 1e-12 * max(1.0, abs(x)):
                    found.append(y)
                    reasons.append((m.key, carried_why))
            else:
                found.append(carried[j])
                reasons.append((m.key, carried_why))
    return out


def _same_values(got, want) -> bool:
    """The same names, and for each the same values to the bit (by repr: NaN, ±inf, −0.0,
    and the type too) with the same reasons, in the same order."""
    return got.keys() == want.keys() and all(
        [repr(v) for v in got[n][0]] == [repr(v) for v in want[n][0]] and got[n][1] == want[n][1] for n in want)


def _rounded(tmp_path):
    text = spec_mod.builtin_path().read_text(encoding="utf-8")
    path = tmp_path / "rounded.toml"
    path.write_text(text.replace("[display]\ndecimals = 4", '[display]\ndecimals = 2\ncarry = "rounded"'),
                    encoding="utf-8")
    spec = spec_mod.load(path)
    assert spec.carry == "rounded"
    return spec


# Every example, the built-in exercise and the built-in one carried rounded: for each, its
# own given values and some of its variants, then every given value, or η alone, scaled up,
# and given values scaled up and down at random, until the mistakes' graphs overflow or
# raise (the exercise's own must not: a variant that does is never asked).
WRONG_SPECS = ["built-in", "carried rounded", *sorted(p.stem for p in EXAMPLES.glob("*.toml"))]
SCALES = (1e10, 1e50, 1e100, 1e150, 1e152, 1e154, 1e200, 1e300)
RANDOM_SCALES = (1e-300, 1e-200, 1e-150, 1e-100, 1.0, 1.0, 1.0, 1e100, 1e150, 1e200, 1e300)


def _solutions(exercise, tries: int = 150) -> list:
    out = [exercise.solve()]
    if exercise.spec.vary is not None:
        out += [exercise.solve(v.overrides, seed=v.seed, variant=v.id)
                for v in V.Sampler(exercise).draw_many(V.numbered(30), 5)]
    base = exercise.givens()
    rng = random.Random(2)
    overrides = [{n: base[n] * scale for n in names} for scale in SCALES
                 for names in (list(base), [n for n in base if n == "eta"]) if names]
    overrides += [{n: v * rng.choice(RANDOM_SCALES) for n, v in base.items()} for _ in range(tries)]
    for given in overrides:
        try:
            out.append(exercise.solve(given))
        except DeriveError:  # the exercise's own values are not finite
            pass
    return out


@pytest.mark.parametrize("name", WRONG_SPECS)
def test_wrong_values_are_those_of_the_whole_graphs(name, tmp_path):
    exercise = Exercise(_rounded(tmp_path) if name == "carried rounded" else _spec(name))
    refused, values = [], 0
    for s in _solutions(exercise):
        got, want = lms.wrong_values(s), whole_graphs(s, refused)
        assert _same_values(got, want), s.givens
        values += sum(len(found) for found, _ in want.values())
    assert values > 0


def test_wrong_values_where_the_graphs_fail():
    """What the test above meets: graphs that ``recompute`` or ``values`` refuse, and a
    value that is not finite in a blank's list (a mistake that puts a huge pre-activation
    in place of a saturated unit's activation, at the variant's values, while the mistake
    carried through stays finite)."""
    exercise = Exercise(_spec("mazur"))
    refused = []
    for s in _solutions(exercise):
        assert _same_values(lms.wrong_values(s), whole_graphs(s, refused))
    assert {"recompute raises", "values refuses"} <= set(refused)
    s = exercise.solve({"i1": 5e-302, "i2": 1e99, "t1": 1e148, "w1": 1.5e-201, "w3": 2.5e199, "w4": 3e-201,
                        "w6": 4.5e-101, "w8": 5.5e-301, "b1": 3.5e-151})
    got = lms.wrong_values(s)
    assert _same_values(got, whole_graphs(s))
    assert any(not math.isfinite(v) for found, _ in got.values() for v in found)
