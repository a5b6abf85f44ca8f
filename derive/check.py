"""Checking hand calculations the way a careful teaching assistant marks a sheet.

A student's values (an ANSWERS file: TOML, YAML or CSV, each number's text kept) are
compared with a Solution, one quantity at a time, in the key's order:

- ``correct``: the value at the precision written (the number policy's ``Written.accepts``);
- ``coarse``: accepted, but written with too few digits to show it (0 for 0.0034);
- ``carried``: not the true value, but what its formula gives from the student's own
  earlier values (Evaluator.recompute with those values held fixed), so wrong only
  because of an earlier error or an earlier rounding; ``because`` names it;
- ``wrong``: neither. Each misconception's swapped graph is then evaluated from the
  student's own values, and the one that gives the written number is named.

The report lists the root errors first. ``feedback`` turns it into the terminal table,
the ``--json`` data and the feedback sheet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Mapping, Sequence

from .answers import Answer, read_answers, read_key  # noqa: F401 (read_answers: the check's input)
from .errors import SpecError
from .misconceptions import Alternative
from .rounding import Written, rounded
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
    because: tuple[str, ...] = ()  # earlier values it follows from
    misconception: str | None = None
    detail: str = ""  # e.g. which weight was taken for which
    recomputed: float | None = None  # what its formula gives from the student's own values
    rounding: bool = False  # carried or accepted only through rounded earlier values


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


def check(exercise: Exercise, solution: Solution, answers: Sequence[Answer], allowance: float = 1.0,
          source: str = "") -> Report:
    der = exercise.derivation
    truth = solution.values
    givens = dict(solution.givens)
    written = {a.name: a.written for a in answers}
    fixed = {n: float(w.value) for n, w in written.items()}
    own = _recompute(exercise.evaluator, givens, fixed)
    spread = _spread(exercise, givens, fixed, written, truth)
    alts: list[tuple[Alternative, list[float]]] | None = None
    results: dict[str, Result] = {}
    for i, q in enumerate(der.quantities):
        w = written.get(q.name)
        if w is None:
            continue
        true = truth[q.name]
        upstream = _written_inputs(der, q.name, written)
        if q.formula is None:  # a given value copied: only the value itself counts
            results[q.name] = Result(q.name, w.text, true, "correct" if w.accepts(true, allowance) else "wrong")
            continue
        rounded_in = tuple(n for n in upstream if abs(fixed[n] - truth[n]) > 1e-12 * max(1.0, abs(truth[n])))
        if w.accepts(true, allowance, spread[i]):
            verdict = "coarse" if w.value == 0 and true != 0 else "correct"
            by_rounding = verdict == "correct" and not w.is_rounding_of(true) and bool(rounded_in)
            results[q.name] = Result(q.name, w.text, true, verdict, rounded_in if by_rounding else (),
                                     recomputed=own[i], rounding=by_rounding)
            continue
        if w.accepts(own[i], allowance, spread[i]):
            roots = _roots(upstream, results)
            results[q.name] = Result(q.name, w.text, true, "carried", roots or rounded_in, recomputed=own[i],
                                     rounding=not roots)
            continue
        if alts is None:
            alts = [(a, _recompute(a.evaluator, givens, fixed)) for a in exercise.alternatives]
        named, detail = _misconception(der, q.name, w, own[i], spread[i], allowance, alts)
        results[q.name] = Result(q.name, w.text, true, "wrong", misconception=named, detail=detail,
                                 recomputed=own[i])
    order = [r for r in results.values() if r.verdict == "wrong"]
    order += [r for r in results.values() if r.verdict != "wrong"]
    return Report(solution, source, allowance, tuple(order), written)


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
                   alts) -> tuple[str | None, str]:
    for alt, values in alts:
        j = alt.derivation.index[name]
        if abs(values[j] - own) <= 1e-12 * max(1.0, abs(own)):
            continue  # this mistake does not change the quantity, given the student's values
        if w.accepts(values[j], allowance, spread):
            detail = ""
            if alt.misconception.key == "wrong_connection":
                old, new = der[name].formula.free_symbols, alt.derivation[name].formula.free_symbols
                took = sorted(s.name for s in new - old)
                for_ = sorted(s.name for s in old - new)
                detail = ", ".join(f"{a} in place of {b}" for a, b in zip(took, for_))
            return alt.misconception.key, detail
    return None, ""


def truncated(w: Written, value: float) -> bool:
    """Whether the written digits are ``value`` cut off rather than rounded."""
    if not math.isfinite(value) or w.is_rounding_of(value):
        return False
    return Decimal(value).quantize(Decimal(1).scaleb(w.exponent), rounding=ROUND_DOWN) == w.value

