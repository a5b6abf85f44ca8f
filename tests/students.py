"""Synthetic students: sheets made from the true values with known mistakes injected.

A student works the whole sheet in the key's order and writes every computed value
rounded (the sheet's decimals; a value too small for them with two significant digits,
as the key writes it). Each value is computed from the student's *own* written values,
so one mistake is carried into everything after it. A mistake is injected at one
quantity:

- ``misconception``: the quantity computed with a registered misconception's formula
  (the swapped graph's formula at that quantity, evaluated on the student's values);
- ``digits``: two neighbouring digits of the written value swapped;
- ``sign``: the sign dropped or added;
- ``copied``: the value of a sibling quantity written in its place (h2 for h1, ∂L/∂w8 for
  ∂L/∂w7): a value from the wrong connection;
- ``early`` / ``coarse``: the value written (and carried on) with 2 decimals or 1 decimal.

The ground truth of a sheet is what was injected; ``visible`` says whether the mistake can
be seen at all at the precision written (a misconception that changes a value by less than
two units of its last digit, or a slip at a value that is 0, cannot). The checker's output
is never used to decide what is expected.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from derive import derivation as D
from derive.misconceptions import alternatives
from derive.solution import Exercise

import specs

SLIPS = ("digits", "sign", "copied")
# What a sheet leaves out: nothing, or the local partials and error terms (the student
# multiplies the chain out on the calculator).
SHEETS = (frozenset(), frozenset({D.LOCAL, D.DELTA}))
ROUNDING = ("early", "coarse")

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
OUTPUT_LOSS = [
    ("identity", {"kind": "squared_error", "half": True}),
    ("identity", {"kind": "squared_error", "half": False}),
    ("identity", {"kind": "squared_error", "half": False, "outputs": "mean"}),
    ("sigmoid", {"kind": "squared_error", "half": True}),
    ("tanh", {"kind": "mse"}),
    ("sigmoid", {"kind": "binary_cross_entropy"}),
    ("softmax", {"kind": "cross_entropy"}),
]
BIAS = ["unit", "neuron", "layer", "none"]


def write(value: float, decimals: int, small: bool = True) -> str:
    """A value as a student writes it: rounded half up; two significant digits when the
    decimals would show 0 (unless ``small`` is False: with values carried rounded the key,
    too, carries such a value as 0)."""
    if small and value != 0 and abs(value) < 0.5 * 10.0 ** -decimals:
        exp = math.floor(math.log10(abs(value))) - 1
        return format(Decimal(value).quantize(Decimal(1).scaleb(exp), rounding=ROUND_HALF_UP), "f")
    text = format(Decimal(value).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP), "f")
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def random_exercise(rng: random.Random) -> Exercise:
    """A random network of any supported convention (values drawn from ``rng``)."""
    while True:
        hidden_act = rng.choice(HIDDEN)
        output, loss = rng.choice(OUTPUT_LOSS)
        n_out = rng.choice((2, 3)) if output == "softmax" or loss.get("outputs") == "mean" else rng.choice((1, 1, 2))
        n_in = rng.choice((1, 2, 2, 3))
        hidden = [rng.choice((1, 2, 2, 3)) for _ in range(rng.choice((1, 1, 1, 2)))]
        n_examples = rng.choice((1, 1, 1, 2, 3))
        raw = specs.table(
            inputs=tuple(f"x{i + 1}" for i in range(n_in)),
            hidden=tuple(tuple(f"h{l + 1}{u + 1}" if len(hidden) > 1 else f"h{u + 1}" for u in range(n))
                         for l, n in enumerate(hidden)),
            outputs=tuple(f"o{k + 1}" for k in range(n_out)) if n_out > 1 else ("yhat",),
            hidden_act=hidden_act, output_act=output, loss=dict(loss), bias=rng.choice(BIAS),
            n_examples=n_examples, rng=rng, eta=rng.choice((0.1, 0.2, 0.5, 1.0)),
            train_bias=rng.random() > 0.1,
        )
        if n_examples > 1:
            raw["training"]["update"] = rng.choice(("batch", "online"))
            raw["loss"]["examples"] = rng.choice(("sum", "mean"))
        raw["display"] = {"carry": rng.choice(("full", "rounded")), "decimals": 4}
        ex = Exercise(specs.load(raw))
        values = ex.solve().values
        # Away from ReLU kinks and saturated units: a student's rounding must not decide a branch.
        kinked = {f"{u}_in" for l in ex.network.layers if l.activation in ("relu", "leaky_relu") for u in l.units}
        if all(math.isfinite(v) and abs(v) < 50 for v in values.values()) and \
                all(abs(v) > 0.05 for n, v in values.items() if n.split("[")[0].rstrip("'") in kinked):
            return ex


@dataclass
class Mistake:
    kind: str  # a misconception key, or one of SLIPS / ROUNDING
    name: str  # the quantity where it is made
    detail: object = None  # the Alternative of a misconception; the sibling of a copied value


@dataclass
class Student:
    exercise: Exercise
    mistakes: list[Mistake]
    sheet: dict[str, str]  # name -> the text written
    visible: dict[str, bool] = field(default_factory=dict)  # per mistake's quantity
    own_right: dict[str, float] = field(default_factory=dict)  # the right formula on the student's values
    named_alike: dict[str, set[str]] = field(default_factory=dict)  # misconceptions giving the same number

    @property
    def roots(self) -> set[str]:
        return {m.name for m in self.mistakes if self.visible[m.name] and m.kind not in ROUNDING}


def computed(ex: Exercise) -> list[str]:
    return [q.name for q in ex.derivation.quantities if q.formula is not None]


def _swap_digits(text: str, rng: random.Random) -> str | None:
    digits = [i for i, c in enumerate(text) if c.isdigit()]
    pairs = [(a, b) for a, b in zip(digits, digits[1:]) if text[a] != text[b] and
             not (a == digits[0] and text[a] == "0")]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    s = list(text)
    s[a], s[b] = s[b], s[a]
    return "".join(s)


def siblings(ex: Exercise, name: str) -> list[str]:
    """Quantities of the same kind, stage and example: h2 for h1, ∂L/∂w8 for ∂L/∂w7."""
    der = ex.derivation
    q = der[name]

    def kind(n: str) -> str:
        return re.sub(r"[A-Za-z]*\d+(?:_\d+)?", "#", n)

    def layer(p) -> object:
        return der.network.layer_of(p.unit).units if p.unit else None

    # Never a value computed from this one: the student copies a line already written.
    return [p.name for p in der.quantities if p.formula is not None and p.name != name and p.stage == q.stage
            and p.example == q.example and kind(p.name) == kind(name) and layer(p) == layer(q)
            and der.index[p.name] < der.index[name]]


def make(ex: Exercise, mistakes: list[Mistake], rng: random.Random, skip: frozenset[str] = frozenset()) -> Student:
    """The sheet of a student who makes ``mistakes`` and computes everything else right
    from their own written values. Values of the stages in ``skip`` (e.g. the local
    partials) are not written: the student keeps them in the calculator, unrounded."""
    der = ex.derivation
    sol = ex.solve()
    givens = dict(sol.givens)
    d = ex.policy.decimals
    names = computed(ex)
    at = {m.name: m for m in mistakes}
    sheet: dict[str, str] = {}
    seeds = {m.name: rng.randrange(2**32) for m in mistakes}  # a slip's digits, the same every round
    for _ in range(len(names) + 2):  # each round fixes at least one more quantity's value
        fixed = {n: float(t) for n, t in sheet.items()}
        _, right = ex.evaluator.recompute(givens, fixed)
        new = {}
        for n in names:
            v = right[der.index[n]]
            m = at.get(n)
            if der[n].stage in skip:
                new[n] = repr(v)
            elif m is None:
                new[n] = write(v, d)
            elif m.kind == "digits":
                base = write(v, d)
                new[n] = _swap_digits(base, random.Random(seeds[n])) or base
            elif m.kind == "sign":
                base = write(v, d)
                new[n] = base[1:] if base.startswith("-") else "-" + base
            elif m.kind == "copied":
                new[n] = sheet.get(m.detail, write(right[der.index[m.detail]], d))
            elif m.kind == "early":
                new[n] = write(v, 2)
            elif m.kind == "coarse":
                new[n] = write(v, 1)
            else:
                alt = m.detail
                _, wrong = alt.evaluator.recompute(givens, fixed)
                new[n] = write(wrong[alt.derivation.index[n]], d)
        if new == sheet:
            break
        sheet = new
    sheet = {n: t for n, t in sheet.items() if der[n].stage not in skip}
    student = Student(ex, mistakes, sheet)
    fixed = {n: float(t) for n, t in sheet.items()}  # what the checker sees
    _, right = ex.evaluator.recompute(givens, fixed)
    for m in mistakes:
        own = right[der.index[m.name]]
        student.own_right[m.name] = own
        written = Decimal(sheet[m.name])
        unit = 10.0 ** written.as_tuple().exponent
        truth = sol.values[m.name]
        student.visible[m.name] = (abs(float(written) - own) >= 2 * unit and abs(float(written) - truth) >= 2 * unit
                                   and math.isfinite(own))
        same = set()
        for alt in alternatives(der, ex.evaluator.carry_decimals):
            try:
                _, vals = alt.evaluator.recompute(givens, fixed)
            except (ArithmeticError, ValueError):  # this mistake's formula cannot take these values
                continue
            v = vals[alt.derivation.index[m.name]]
            if math.isfinite(v) and abs(v - own) > 1e-12 * max(1, abs(own)) and write(v, d) == sheet[m.name]:
                same.add(alt.misconception.key)
        student.named_alike[m.name] = same
    return student


def places(ex: Exercise, skip: frozenset[str] = frozenset()) -> list[Mistake]:
    """Every (misconception, written quantity) where a registered misconception changes the formula."""
    out = []
    der = ex.derivation
    for alt in alternatives(der, ex.evaluator.carry_decimals):
        for q in der.quantities:
            if q.formula is not None and q.stage not in skip and alt.derivation[q.name].formula != q.formula:
                out.append(Mistake(alt.misconception.key, q.name, alt))
    return out


def draw_mistake(ex: Exercise, rng: random.Random, kinds=("misconception", "slip", "rounding"),
                 skip: frozenset[str] = frozenset()) -> Mistake | None:
    kind = rng.choice(kinds)
    names = [n for n in computed(ex) if ex.derivation[n].stage not in skip]
    if kind == "misconception":
        spots = places(ex, skip)
        return rng.choice(spots) if spots else None
    if kind == "rounding":
        return Mistake(rng.choice(ROUNDING), rng.choice(names))
    slip = rng.choice(SLIPS)
    name = rng.choice(names)
    if slip == "copied":
        others = [o for o in siblings(ex, name) if ex.derivation[o].stage not in skip]
        if not others:
            return None
        return Mistake(slip, name, rng.choice(others))
    return Mistake(slip, name)


# --- scoring ---------------------------------------------------------------------------------

@dataclass
class Score:
    """Counts over many students: root errors and misconception names, found and claimed."""

    roots_true: int = 0  # injected visible root errors
    roots_found: int = 0  # of those, called wrong
    roots_claimed: int = 0  # values called wrong
    roots_right: int = 0  # of those, injected
    names_true: int = 0  # injected visible misconceptions
    names_found: int = 0  # of those, named (alone or as one of several)
    names_claimed: int = 0  # values given a misconception name
    names_right: int = 0  # of those, where the injected one is among the names
    one_of: int = 0  # names given as "one of" several
    downstream_bad: int = 0  # values after a mistake not marked carried/correct as they should be
    students: int = 0
    failures: list = field(default_factory=list)

    def add(self, student: Student, report) -> None:
        self.students += 1
        by = {r.name: r for r in report.results}
        roots = student.roots
        injected = {m.name: m for m in student.mistakes}
        wrong = {n for n, r in by.items() if r.verdict == "wrong"}
        self.roots_true += len(roots)
        self.roots_found += len(roots & wrong)
        self.roots_claimed += len(wrong)
        self.roots_right += len(wrong & roots)
        bad = []
        for n, r in by.items():
            m = injected.get(n)
            if n in roots:
                continue
            if m is not None and m.kind in ROUNDING:
                ok = r.verdict in ("correct", "coarse", "carried")
            else:
                ok = r.verdict == "correct" or r.verdict == "carried" and (r.rounding or set(r.because) <= roots)
            if not ok:
                bad.append(n)
        self.downstream_bad += len(bad)
        named = {n: set(getattr(r, "misconceptions", ()) or ((r.misconception,) if r.misconception else ()))
                 for n, r in by.items()}
        for n in roots:
            m = injected[n]
            if m.kind not in SLIPS and m.kind not in ROUNDING:
                self.names_true += 1
                self.names_found += m.kind in named[n]
        for n, keys in named.items():
            if not keys:
                continue
            self.names_claimed += 1
            m = injected.get(n)
            expected = ({m.kind} if m.kind not in SLIPS else set()) | student.named_alike.get(n, set()) if m else set()
            self.names_right += bool(keys & expected) and keys <= expected | student.named_alike.get(n, set())
            self.one_of += len(keys) > 1
        missed = (roots - wrong) | (wrong - roots) | set(bad) | {
            n for n in roots if injected[n].kind not in SLIPS + ROUNDING and injected[n].kind not in named[n]} | {
            n for n, k in named.items() if k and not (k <= ({injected[n].kind} if n in injected else set())
                                                        | student.named_alike.get(n, set()))}
        if missed:
            self.failures.append((student, report, sorted(missed)))

    @staticmethod
    def ratio(a: int, b: int) -> float:
        return a / b if b else 1.0

    def figures(self) -> dict[str, float]:
        return {
            "root recall": self.ratio(self.roots_found, self.roots_true),
            "root precision": self.ratio(self.roots_right, self.roots_claimed),
            "name recall": self.ratio(self.names_found, self.names_true),
            "name precision": self.ratio(self.names_right, self.names_claimed),
            "downstream right": 1 - self.ratio(self.downstream_bad, max(1, self.students)),
        }


def answers_of(student: Student):
    from derive.check import Answer
    from derive.rounding import Written
    return [Answer(n, Written.parse(t), i + 1) for i, t in enumerate(student.sheet.values()) for n in [list(student.sheet)[i]]]


def population(seed: int, n: int, mistakes: int = 1, exercises: int = 40):
    """``n`` students over ``exercises`` random networks, each with ``mistakes`` mistakes at
    different quantities; a fixed seed gives the same students."""
    rng = random.Random(seed)
    pool = [random_exercise(rng) for _ in range(exercises)]
    made = 0
    skipped = 0
    while made < n:
        ex = rng.choice(pool)
        drawn: list[Mistake] = []
        skip = rng.choice(SHEETS)
        while len(drawn) < mistakes:
            m = draw_mistake(ex, rng, skip=skip)
            if m is not None and m.name not in {d.name for d in drawn}:
                drawn.append(m)
        try:
            s = make(ex, drawn, rng, skip)
        except (ArithmeticError, ValueError):  # log of a negative: no student could go on
            skipped += 1
            continue
        if not all(s.visible[m.name] or m.kind in ROUNDING for m in drawn):
            skipped += 1
            continue
        made += 1
        yield s


# --- sheets worked from a plain-Python program (graphs, optimizers) --------------------------
#
# The students of computational-graph and optimizer exercises are worked from a program of
# the test's own (tests/graph_students.py, tests/optim_students.py): each line computes one
# quantity in plain Python from the values before it, the way a student with a calculator
# does. The true values come from the same program without mistakes, never from derive.

@dataclass
class Line:
    name: str
    group: str  # lines of one group are siblings (a value copied from the wrong one)
    fn: object  # env -> float: the right formula, over the names before it
    written: bool = True  # False: kept in the calculator, unrounded


def half_up(value: float, decimals: int) -> float:
    return float(Decimal(value).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


def truth(program: list[Line], givens: dict, carry: int | None = None) -> dict[str, float]:
    """Every value of the program; with ``carry``, each rounded before it is used further."""
    env = dict(givens)
    for line in program:
        v = line.fn(env)
        env[line.name] = half_up(v, carry) if carry is not None else v
    return env


def work(ex: Exercise, program: list[Line], givens: dict, true: dict, mistakes: list[Mistake],
         rng: random.Random) -> Student:
    """The sheet of a student who works ``program`` with ``mistakes`` (a misconception's
    ``detail`` is a plain-Python formula env -> float, or a registry Alternative evaluated
    on the student's values) and everything else right from their own written values."""
    d = ex.policy.decimals
    carry = ex.evaluator.carry_decimals  # values carried rounded: the calculator's too

    def put(v: float, places: int = d) -> str:
        return write(v, places, carry is None)

    def keep(v: float) -> float:
        return v if carry is None else half_up(v, carry)

    at = {m.name: m for m in mistakes}
    seeds = {m.name: rng.randrange(2**32) for m in mistakes}
    sheet: dict[str, str] = {}
    for _ in range(len(program) + 2):  # a wrong formula may use a later value: to a fixed point
        env, new = dict(givens), {}
        for line in program:
            v = line.fn(env)
            m = at.get(line.name)
            if not line.written:
                env[line.name] = keep(v)
                continue
            if m is None:
                text = put(v)
            elif m.kind == "digits":
                base = put(v)
                text = _swap_digits(base, random.Random(seeds[line.name])) or base
            elif m.kind == "sign":
                base = put(v)
                text = base[1:] if base.startswith("-") else "-" + base
            elif m.kind == "copied":
                text = new[m.detail]
            elif m.kind == "early":
                text = put(v, min(2, d - 1))
            elif m.kind == "coarse":
                text = put(v, 1)
            elif callable(m.detail):
                text = put(m.detail(env))
            else:
                fixed = {n: float(t) for n, t in {**sheet, **new}.items()}
                _, wrong = m.detail.evaluator.recompute(ex.givens(), fixed)
                text = put(wrong[m.detail.derivation.index[line.name]])
            new[line.name] = text
            env[line.name] = float(text)
        if new == sheet:
            break
        sheet = new
    student = Student(ex, mistakes, sheet)
    env = dict(givens)
    own: dict[str, float] = {}
    for line in program:  # the right formula on the student's final values
        own[line.name] = line.fn(env)
        env[line.name] = float(sheet[line.name]) if line.written else keep(own[line.name])
    fixed = {n: float(t) for n, t in sheet.items()}
    for m in mistakes:
        student.own_right[m.name] = own[m.name]
        written = Decimal(sheet[m.name])
        unit = 10.0 ** written.as_tuple().exponent
        student.visible[m.name] = (abs(float(written) - own[m.name]) >= 2 * unit
                                   and abs(float(written) - true[m.name]) >= 2 * unit and math.isfinite(own[m.name]))
        same = set()
        for alt in ex.alternatives:
            try:
                _, vals = alt.evaluator.recompute(ex.givens(), fixed)
            except (ArithmeticError, ValueError):
                continue
            v = vals[alt.derivation.index[m.name]]
            # The same number, or within one unit of its last digit (the checker's allowance).
            if math.isfinite(v) and abs(v - own[m.name]) > 1e-12 * max(1, abs(own[m.name])) \
                    and abs(v - float(written)) <= unit * (1 + 1e-9):
                same.add(alt.misconception.key)
        student.named_alike[m.name] = same
    return student


def draw_from_program(program: list[Line], spots: list[Mistake], rng: random.Random) -> Mistake | None:
    """One mistake: a misconception at one of ``spots``, a slip or a rounding, at a written value."""
    kind = rng.choice(("misconception", "slip", "rounding"))
    names = [line.name for line in program if line.written]
    if kind == "misconception":
        return rng.choice(spots) if spots else None
    if kind == "rounding":
        return Mistake(rng.choice(ROUNDING), rng.choice(names))
    slip, name = rng.choice(SLIPS), rng.choice(names)
    if slip == "copied":
        group = next(line.group for line in program if line.name == name)
        before = names[:names.index(name)]
        others = [line.name for line in program if line.written and line.group == group and line.name in before]
        return Mistake(slip, name, rng.choice(others)) if others else None
    return Mistake(slip, name)


def program_population(seed: int, n: int, mistakes: int, pool, spots_of):
    """``n`` students over the exercises of ``pool`` (each (exercise, program, givens,
    truth)); ``spots_of(item, program)`` lists the misconception spots of one."""
    rng = random.Random(seed)
    made = 0
    while made < n:
        item = rng.choice(pool)
        ex, program, givens, true = item
        spots = spots_of(item)
        drawn: list[Mistake] = []
        while len(drawn) < mistakes:
            m = draw_from_program(program, spots, rng)
            if m is not None and m.name not in {d.name for d in drawn}:
                drawn.append(m)
        try:
            s = work(ex, program, givens, true, drawn, rng)
        except (ArithmeticError, ValueError):
            continue
        if not all(s.visible[m.name] or m.kind in ROUNDING for m in drawn):
            continue
        made += 1
        yield s
