"""The misconception values an LMS blank recognises: ``lms.Shared`` keeps, per mistake, only
the asked quantities its swapped formulas reach. The oracle is the plain rule written out
here: every mistake's graph gives a value for every asked quantity, from correct inputs
(``recompute``) and carried through (``evaluate``). Over many variants of every kind of
exercise the kept values must give the same blanks, and every value left out must be the
answer itself, to the last bit."""

from __future__ import annotations

import pytest

from conftest import EXAMPLES
from derive import lms, spec as spec_mod, variants as V
from derive.solution import Exercise


def every_slot(solution) -> dict[str, list[tuple[float, str, str]]]:
    """lms.mistakes without the pruning: each mistake, each asked quantity."""
    exercise, der = solution.exercise, solution.derivation
    asked = {n for _, names in lms.asked_names(solution) for n in names}
    givens = dict(solution.givens)
    out: dict[str, list[tuple[float, str, str]]] = {}
    for alt, changed in zip(exercise.alternatives, exercise.swapped):
        m = alt.misconception
        why = m.title + (f" ({alt.detail})" if alt.detail else "") + ": " + m.explanation
        try:
            _, local = alt.evaluator.recompute(givens, solution.values)
            carried = alt.evaluator.evaluate(givens)
        except (ArithmeticError, ValueError):
            continue
        for q in der.quantities:
            if q.name not in asked:
                continue
            j = alt.derivation.index[q.name]
            found = out.setdefault(q.name, [])
            if q.name in changed:
                found.append((local[j], m.key, why))
            if q.name not in changed or abs(carried[j] - local[j]) > 1e-12 * max(1.0, abs(local[j])):
                found.append((carried[j], m.key, why + " (the mistake made in every step up to here)"))
    return out


def _rounded_spec(tmp_path):
    text = spec_mod.builtin_path().read_text(encoding="utf-8")
    text = text.replace("[display]\ndecimals = 4", '[display]\ndecimals = 2\ncarry = "rounded"')
    path = tmp_path / "rounded.toml"
    path.write_text(text, encoding="utf-8")
    return spec_mod.load(path)


SPECS = {
    "built-in": lambda tmp_path: spec_mod.load(),
    "carried rounded": _rounded_spec,
    **{name: (lambda tmp_path, name=name: spec_mod.load(EXAMPLES / f"{name}.toml"))
       for name in ("reference", "softmax_online", "graph_max", "graph_sum_product", "graph_used_twice")},
}


@pytest.mark.parametrize("name", SPECS)
def test_kept_slots_give_the_blanks_of_every_slot(name, tmp_path):
    spec = SPECS[name](tmp_path)
    assert name != "carried rounded" or spec.carry == "rounded"
    exercise = Exercise(spec)
    drawn = V.Sampler(exercise).draw_many(V.numbered(120), 5)
    left_out = kept = 0
    for v in drawn:
        s = exercise.solve(v.overrides, seed=v.seed, variant=v.id)
        pruned, full = lms.mistakes(s), every_slot(s)
        for _, names in lms.asked_names(s):
            for n in names:
                value, got, want = s.values[n], pruned.get(n, []), full.get(n, [])
                # the kept values are the full list with some entries taken out, in order ...
                rest = iter(want)
                assert all(any(w == g for w in rest) for g in got)
                # ... and each entry taken out is the answer, exactly
                dropped = list(want)
                for g in got:
                    dropped.remove(g)
                assert all(d[0] == value for d in dropped), (n, dropped)
                left_out, kept = left_out + len(dropped), kept + len(got)
                assert lms.blank(n, value, s.policy, got) == lms.blank(n, value, s.policy, want)
    assert kept > 0
    if name in ("built-in", "reference"):  # the pruning does leave values out where it matters
        assert left_out > kept / 2
