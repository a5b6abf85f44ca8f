"""The LMS blanks' fast paths against the plain rules they stand for, written out here.

``lms.exponent`` rounds only values below one unit of the last decimal; ``lms.blank``
finds the kept value a wrong value joins through buckets of whole numbers, whole numbers
it finds by float arithmetic away from halfway points; ``moodle.written_field`` writes a
blank's field without its ``lms.Other`` values; a mistake's
local values come from ``Evaluator.recompute_function``, which leaves out formulas whose
value is not asked. Each is held to the plain version over many values: halfway cases,
values near zero and near each other, duplicates, values that are not finite."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from conftest import EXAMPLES
from derive import lms, moodle, spec as spec_mod, variants as V
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


@pytest.mark.parametrize("name", ["built-in", "softmax_online", "graph_max"])
def test_recompute_function_is_recompute_at_the_slots_asked(name):
    exercise = Exercise(_spec(name))
    s = exercise.solve()
    order = [q.name for q in exercise.derivation.quantities]
    # correct values, and values so large that a square or an exponential overflows
    for scale in (1.0, 1e155, 1e300):
        values = {n: v * scale for n, v in s.values.items()}
        for alt in exercise.alternatives:
            slots = list(range(len(alt.derivation.quantities)))[::-1]
            try:
                want = alt.evaluator.recompute(s.givens, values)[1]
            except (ArithmeticError, ValueError) as exc:
                with pytest.raises(type(exc)):
                    alt.evaluator.recompute_function(order, slots)([values[n] for n in order])
                with pytest.raises(type(exc)):  # nothing asked: still raises where recompute does
                    alt.evaluator.recompute_function(order, [])([values[n] for n in order])
                continue
            got = alt.evaluator.recompute_function(order, slots)([values[n] for n in order])
            assert got == [want[j] for j in slots] or all(
                g == w or (math.isnan(g) and math.isnan(w)) for g, w in zip(got, (want[j] for j in slots)))
            assert alt.evaluator.recompute_function(order, [])([values[n] for n in order]) == []


def test_recompute_function_needs_every_quantity(reference_exercise):
    alt = reference_exercise.alternatives[0]
    with pytest.raises(ValueError):
        alt.evaluator.recompute_function([q.name for q in alt.derivation.quantities][1:], [])
