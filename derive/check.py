"""Checking hand calculations the way a careful teaching assistant marks a sheet.

A student's values (an ANSWERS file: TOML, YAML or CSV, each number's text kept) are
compared with a Solution, one quantity at a time, in the key's order:

- ``correct``: the value at the precision written (the number policy's ``Written.accepts``),
  and, where an earlier value of the student's is wrong, also what their own values give;
- ``coarse``: accepted, but written with too few digits to show it (0 for 0.0034);
- ``carried``: not the true value, but what its formula gives from the student's own
  earlier values (Evaluator.recompute with those values held fixed), so wrong only
  because of an earlier error or an earlier rounding; ``because`` names it;
- ``wrong``: neither (or the true value that the student's own wrong values do not give:
  then ``because`` names those). Each misconception's swapped graph is evaluated from the
  student's own values; every one that gives the written number is named (those that give
  it exactly rounded, if any; else those within the allowance).

The public shape, for the terminal, ``--json``, the feedback sheet and a web page:

``check(exercise, solution, answers, allowance=1.0, source="") -> Report``, where
``answers`` are ``Answer(name, Written, line)`` (``read_answers`` makes them from a file, each
name one of ``names(exercise)``: the key's quantities and, with online updates, the losses at
the starting parameters ``L0[1]``, …, ``L0``, which the derivation does not hold and which are
checked after it).
``Report.results`` holds one ``Result`` per value written, root errors (verdict ``wrong``)
first, then the key's order; ``Report.ok``, ``exit_code``, ``counts()``. A ``Result`` has
``name``, ``given`` (the text written), ``expected`` (full precision), ``verdict``,
``because`` (names of earlier values), ``misconception`` (the first key of
``misconceptions``, or None), ``misconceptions`` (every registry key that gives the number:
more than one is "one of"), ``detail`` ("w8 in place of w7"), ``recomputed`` (what the
student's own values give), ``rounding``, ``note`` (plain text) and ``segments`` (the note
as typed segments, see ``derive.notes``, for writers that set names and formulas).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

from .answers import Answer, read_answers, read_key  # noqa: F401 (read_answers: the check's input)
from .errors import SpecError
from .misconceptions import Alternative
from .notes import notes, plain, truncated
from .rounding import Written
from .solution import Exercise, Solution

VERDICTS = ("correct", "wrong", "carried", "coarse")
OK = frozenset({"correct", "carried"})


# --- the variant a student worked -----------------------------------------------------------

def variant_solution(exercise: Exercise, variant: str, key: Path | None, search: Path) -> Solution:
    """The Solution of variant ``variant``, from the answers.json the variants command wrote
    (``key``, or the first answers.json under ``search`` that holds the variant)."""
    files = [key] if key is not None else sorted(search.glob("**/answers.json")) if search.is_dir() else []
    known: list[str] = []
    for file in files:
        data = read_key(Path(file))
        records = data.get("variants", [data]) if isinstance(data, dict) else []
        for record in records:
            if not isinstance(record, dict) or record.get("variant") is None:
                continue
            known.append(str(record["variant"]))
            if str(record["variant"]) == variant and record.get("exercise") == exercise.spec.title:
                try:
                    given = {k: float(v) for k, v in record["given"].items() if k in exercise.derivation.index}
                    if not all(map(math.isfinite, given.values())):
                        raise ValueError("not finite")
                except (KeyError, AttributeError, TypeError, ValueError, OverflowError):
                    raise SpecError(str(file), f"variants[{variant}].given",
                                    "expected the variant's given values as numbers") from None
                return exercise.solve(given, seed=record.get("seed"), variant=variant)
    where = str(key) if key is not None else f"{search}/**/answers.json"
    listed = ", ".join(known[:8]) + (", …" if len(known) > 8 else "")
    expected = f"one of {listed}" if known else "a variant written by `derive variants` (none found there)"
    raise SpecError(where, "--variant", f"no variant '{variant}' of '{exercise.spec.title}'; expected {expected}")


# --- the check -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Result:
    name: str
    given: str  # as written
    expected: float  # the true value, full precision
    verdict: str
    because: tuple[str, ...] = ()  # earlier values it follows from (or, when wrong, does not)
    misconception: str | None = None  # the first of ``misconceptions``
    detail: str = ""  # e.g. "w8 in place of w7"
    recomputed: float | None = None  # what its formula gives from the student's own values
    rounding: bool = False  # carried or accepted only through rounded earlier values
    misconceptions: tuple[str, ...] = ()  # every one that gives the number written ("one of")
    note: str = ""  # why, in plain text
    segments: tuple[tuple[str, str], ...] = ()  # the note as segments (see the module docstring)


@dataclass(frozen=True)
class Report:
    solution: Solution
    source: str
    allowance: float
    results: tuple[Result, ...]  # root errors first, then the key's order
    written: Mapping[str, Written]

    @property
    def ok(self) -> bool:
        return all(r.verdict in OK for r in self.results)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def counts(self) -> dict[str, int]:
        return {v: sum(r.verdict == v for r in self.results) for v in VERDICTS}


def _recompute(evaluator, givens, fixed) -> list[float]:
    try:
        return evaluator.recompute(givens, fixed)[1]
    except (ArithmeticError, ValueError):  # a student's value outside a formula's domain
        return [math.nan] * len(evaluator.derivation.quantities)


def _spread(exercise: Exercise, givens, fixed, written: Mapping[str, Written], truth) -> list[float]:
    """For each quantity, how much rounding the student's written inputs (half a unit of
    their last digit each) can move what its formula gives; a written value equal to the
    true one was not rounded."""
    ev = exercise.evaluator
    base = _recompute(ev, givens, fixed)
    total = [0.0] * len(base)
    for name, w in written.items():
        if abs(fixed[name] - truth[name]) <= 1e-12 * max(1.0, abs(truth[name])):
            continue
        moved = [_recompute(ev, givens, {**fixed, name: fixed[name] + s * 0.5 * w.unit}) for s in (1, -1)]
        for i, b in enumerate(base):
            change = max(abs(m[i] - b) for m in moved)
            if math.isfinite(change):
                total[i] += change
    return total


def names(exercise: Exercise) -> list[str]:
    """Every name an answers file may give: the key's quantities, and with online updates
    the losses at the starting parameters (L0[1], …, L0), which the key shows last."""
    return [*exercise.derivation.index, *exercise.start_names]


def check(exercise: Exercise, solution: Solution, answers: Sequence[Answer], allowance: float = 1.0,
          source: str = "") -> Report:
    der = exercise.derivation
    truth = solution.values
    givens = dict(solution.givens)
    written = {a.name: a.written for a in answers}
    # the derivation's own values: the losses at the starting parameters are not among them
    fixed = {n: float(w.value) for n, w in written.items() if n in der.index}
    own = _recompute(exercise.evaluator, givens, fixed)
    spread = _spread(exercise, givens, fixed, {n: w for n, w in written.items() if n in fixed}, truth)
    alts: list[tuple[Alternative, list[float]]] | None = None
    results: dict[str, Result] = {}
    how: dict[str, dict] = {}  # per value, per misconception named: (names taken, names replaced)
    for i, q in enumerate(der.quantities):
        w = written.get(q.name)
        if w is None:
            continue
        true = truth[q.name]
        upstream = _written_inputs(der, q.name, written)
        if q.formula is None:  # a given value copied: only the value itself counts
            results[q.name] = Result(q.name, w.text, true, "correct" if w.accepts(true, allowance) else "wrong")
            continue
        judged = _judged(q.name, w, true, own[i], spread[i], upstream, fixed, truth, results, allowance)
        if judged is not None:
            results[q.name] = judged
            continue
        if truncated(w, own[i]):  # the right value, cut off: a slip, not a misconception
            results[q.name] = Result(q.name, w.text, true, "wrong", recomputed=own[i])
            continue
        if alts is None:
            alts = [(a, _recompute(a.evaluator, givens, fixed))
                    for a in exercise.alternatives]
        named, detail, how[q.name] = _misconception(der, q.name, w, own[i], spread[i], allowance, alts, written)
        results[q.name] = Result(q.name, w.text, true, "wrong", misconception=named[0] if named else None,
                                 detail=detail, recomputed=own[i], misconceptions=named)
    start = _check_start(der, solution, written, fixed, own, spread, results, allowance)
    order = [r for r in results.values() if r.verdict == "wrong"]
    order += [r for r in results.values() if r.verdict != "wrong"]
    report = Report(solution, source, allowance, tuple(order), written)
    noted = []
    for r in order:
        inputs = start[r.name] if r.name in start else _written_inputs(der, r.name, written)
        segments = tuple(notes(r, report, inputs, how.get(r.name)))
        noted.append(replace(r, segments=segments, note=plain(segments)))
    return replace(report, results=tuple(noted))


def _judged(name: str, w: Written, true: float, own: float, spread: float, upstream: Sequence[str],
            fixed: Mapping[str, float], truth: Mapping[str, float], results: Mapping[str, Result],
            allowance: float) -> Result | None:
    """The verdict on a computed value where the numbers alone decide it (correct, coarse,
    carried, or the true value that does not follow); None for a wrong value, which the
    caller diagnoses."""
    rounded_in = _moved(upstream, fixed, truth)
    roots = _roots(upstream, results)
    follows = w.accepts(own, allowance, spread)
    if w.accepts(true, allowance, spread) and (follows or not roots):
        # 0 for 0.0034 shows nothing of the value; 0 for 6e-17 (a sum that cancels) is right,
        # and so is 0 where the student's own rounded values give exactly 0 (f(1 − f) from
        # f = 1.00): more digits there would not have come from their sheet.
        own_zero = bool(rounded_in) and own == 0
        verdict = "coarse" if w.value == 0 and w.is_rounding_of(true) and abs(true) > 1e-12 and not own_zero \
            else "correct"
        by_rounding = verdict == "correct" and not w.is_rounding_of(true) and bool(rounded_in)
        return Result(name, w.text, true, verdict, rounded_in if by_rounding else (), recomputed=own,
                      rounding=by_rounding)
    if follows:
        return Result(name, w.text, true, "carried", roots or rounded_in, recomputed=own, rounding=not roots)
    if w.accepts(true, allowance, spread):
        # The true value, although the student's own wrong values give another: it was
        # not computed from them (copied, or a second slip that undid the first).
        return Result(name, w.text, true, "wrong", roots, recomputed=own)
    return None


def _check_start(der, solution: Solution, written: Mapping[str, Written], fixed: Mapping[str, float],
                 own: Sequence[float], spread: Sequence[float], results: dict[str, Result],
                 allowance: float) -> dict[str, tuple[str, ...]]:
    """Online updates: the losses at the starting parameters, which the derivation does not
    hold. L0[1] is example 1's loss in the pass, L[1], so it follows the student's L[1] (or
    what their values give for it); example e's loss there, L0[e], is computed from given
    values alone; L0 is the mean (or sum) of the L0[e], the student's own where written.
    Gives, for each, the student's values it was recomputed from."""
    names = tuple(solution.start_values)
    if not any(n in written for n in names):
        return {}
    truth = {**solution.values, **solution.start_values}
    fixed = {**fixed, **{n: float(written[n].value) for n in names if n in written}}
    first = der.index["L[1]"]
    count = len(names) - 1 if solution.spec.loss.examples == "mean" else 1
    # each loss as the student's own values give it, those values, and how far their rounding moves it
    mine: dict[str, float] = {}
    inputs: dict[str, tuple[str, ...]] = {}
    moves: dict[str, float] = {}
    for k, name in enumerate(names):
        if k == 0:  # L0[1] = L[1]
            if "L[1]" in written:
                mine[name], inputs[name] = fixed["L[1]"], ("L[1]",)
                moves[name] = 0.5 * written["L[1]"].unit if _moved(("L[1]",), fixed, truth) else 0.0
            else:
                mine[name], inputs[name], moves[name] = own[first], _written_inputs(der, "L[1]", written), spread[first]
        elif k < len(names) - 1:  # L0[e], e > 1: from given values only
            mine[name], inputs[name], moves[name] = truth[name], (), 0.0
        else:  # L0, from the losses by example
            parts = names[:-1]
            mine[name] = sum(fixed.get(n, mine[n]) for n in parts) / count
            inputs[name] = tuple(dict.fromkeys(m for n in parts for m in ((n,) if n in written else inputs[n])))
            moves[name] = sum((0.5 * written[n].unit if _moved((n,), fixed, truth) else 0.0) if n in written
                              else moves[n] for n in parts) / count
        w = written.get(name)
        if w is not None:
            results[name] = _judged(name, w, truth[name], mine[name], moves[name], inputs[name], fixed, truth,
                                    results, allowance) or Result(name, w.text, truth[name], "wrong",
                                                                  recomputed=mine[name])
    return inputs


def _moved(names: Sequence[str], fixed: Mapping[str, float], truth: Mapping[str, float]) -> tuple[str, ...]:
    """The values written that are not the true value (rounded, or wrong)."""
    return tuple(n for n in names if abs(fixed[n] - truth[n]) > 1e-12 * max(1.0, abs(truth[n])))


def _written_inputs(der, name: str, written: Mapping[str, Written]) -> tuple[str, ...]:
    """The student's values a quantity is computed from: its inputs, looking through the
    ones the student did not write down."""
    found: set[str] = set()
    stack, seen = list(der.inputs_of[name]), set()
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n in written:
            found.add(n)
        else:
            stack.extend(der.inputs_of[n])
    return tuple(sorted(found, key=der.index.get))


def _roots(upstream: Sequence[str], results: Mapping[str, Result]) -> tuple[str, ...]:
    out: list[str] = []
    for n in upstream:
        r = results.get(n)
        if r is None:
            continue
        names = (n,) if r.verdict == "wrong" else r.because if r.verdict == "carried" and not r.rounding else ()
        out += [m for m in names if m not in out]
    return tuple(out)


def _misconception(der, name: str, w: Written, own: float, spread: float, allowance: float,
                   alts, written) -> tuple[tuple[str, ...], str, dict]:
    """Every misconception whose formula, from the student's own values, gives the number
    written (in the registry's order; those it gives exactly rounded, if any, else those
    within the allowance), the first one's detail, and for each where it changes a formula
    and which names that formula takes in place of which."""
    exact: list[Alternative] = []
    near: list[Alternative] = []
    for alt, values in alts:
        j = alt.derivation.index[name]
        if abs(values[j] - own) <= 1e-12 * max(1.0, abs(own)):
            continue  # this mistake does not change the quantity, given the student's values
        if w.is_rounding_of(values[j]):
            exact.append(alt)
        elif w.accepts(values[j], allowance, spread):
            near.append(alt)
    how: dict[str, tuple] = {}
    for alt in exact or near:
        if alt.misconception.key not in how:
            how[alt.misconception.key] = swapped_names(der, alt, name, written)
    named = tuple(how)
    detail = ", ".join(f"{a} in place of {b}" for a, b in zip(*how[named[0]][1:])) if named else ""
    return named, detail, how


def swapped_names(der, alt: Alternative, name: str, written=()) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """Where a misconception changes the formula that gives ``name``: ``name`` itself, or
    the nearest earlier value the student did not write; and there, the names the wrong
    formula uses that the right one does not, and the ones it leaves out."""
    place, stack, seen = name, [name], set()
    while stack:
        n = stack.pop(0)
        if n in seen:
            continue
        seen.add(n)
        if alt.derivation[n].formula != der[n].formula:
            place = n
            break
        stack += [m for m in der.inputs_of[n] if m not in written]
    old, new = der[place].formula.free_symbols, alt.derivation[place].formula.free_symbols
    key = der.index.get
    return (place, tuple(sorted((s.name for s in new - old), key=key)),
            tuple(sorted((s.name for s in old - new), key=key)))
