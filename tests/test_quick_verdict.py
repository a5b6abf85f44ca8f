"""The quick paths of a variant's draw give what the careful paths give.

A draw that must keep the original runs' verdicts is judged by ``Trainer.verdict`` (a
whole run compiled into one function that returns its losses), and its other constraints
by ``Sampler.failures`` with a rounding test that rounds only values near the edge; the
key's runs (``Trainer.run``) are the same compiled run one step longer. The careful paths
are the oracles here: ``Trainer.run_by_steps`` one evaluation of the graph at a time, and
the display rounding of every value.
"""

from __future__ import annotations

import math
import random
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive import optimizers, spec as spec_mod, training, variants as V
from derive.activations import ACTIVATIONS
from derive.vary import Constraints
from derive.solution import Exercise

import specs
from conftest import EXAMPLES


def _relu_bce_frozen():
    """ReLU hidden units, a sigmoid output under binary cross-entropy (a log that can
    meet 0), and a parameter the network itself holds fixed."""
    raw = specs.table(hidden_act="relu", output_act="sigmoid", loss={"kind": "binary_cross_entropy"},
                      rng=random.Random(5), frozen=("w1",))
    return specs.load(raw)


def _tanh_online():
    """Three examples trained online: every example's update is a step of its own."""
    raw = specs.table(hidden_act="tanh", n_examples=3, rng=random.Random(6))
    raw["training"]["update"] = "online"
    return specs.load(raw)


SPECS = {
    "reference": lambda: spec_mod.load(),
    "softmax_online": lambda: spec_mod.load(EXAMPLES / "softmax_online.toml"),
    "han_kamber": lambda: spec_mod.load(EXAMPLES / "han_kamber.toml"),
    "relu_bce_frozen": _relu_bce_frozen,
    "tanh_online": _tanh_online,
    "adam": lambda: spec_mod.load(EXAMPLES / "optim_adam_quadratic.toml"),
}


@cache
def exercise(name: str) -> Exercise:
    return Exercise(SPECS[name]())


# Ordinary values, values that make a run overflow or a log meet 0, and values that are
# not finite to begin with.
EDGES = [0.0, -0.0, 1e-300, 1e154, -1e154, 1e300, -1e300, math.inf, -math.inf, math.nan]
VALUE = st.one_of(st.floats(-2, 2), st.floats(-50, 50), st.floats(-1e4, 1e4), st.sampled_from(EDGES))
VERDICTS = (training.CONVERGING, training.OSCILLATING, training.DIVERGING)
ETA = st.one_of(st.floats(1e-3, 3), st.floats(3, 1e4), st.sampled_from([1e-300, 1e300, math.inf]))


@st.composite
def runs(draw, ex: Exercise):
    names = list(ex.evaluator.given_names)
    # most draws ordinary (the quick path's own work), one in four with values that break it
    wild = draw(st.integers(0, 3)) == 0
    values = draw(st.lists(VALUE if wild else st.floats(-2, 2), min_size=len(names), max_size=len(names)))
    givens = {**ex.givens(), **dict(zip(names, values))}
    params = [p.name for p in ex.network.params]
    chosen = []
    for _ in range(draw(st.integers(1, 3))):
        optimizer = None
        if draw(st.integers(0, 3)) == 0:  # a run that names its own optimizer
            entry = optimizers.OPTIMIZERS[draw(st.sampled_from(["momentum", "adam"]))]
            optimizer = optimizers.Settings(optimizer=entry.key, hyper={h.name: h.default for h in entry.hypers},
                                            epsilon=entry.epsilon, decay=entry.decay)
        chosen.append(spec_mod.RunSpec(draw(ETA if wild else st.floats(1e-3, 30)), draw(st.sampled_from([1, 2, 3, 10, 25])),
                                       tuple(draw(st.sets(st.sampled_from(params), max_size=3))), optimizer))
    return givens, tuple(chosen)


def _outcome(fn, *args):
    """What a call gives, or the kind of error it raises (both paths must agree on that too)."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 (the kind is what is compared)
        return type(exc)


@pytest.mark.parametrize("name", list(SPECS))
def test_the_quick_verdict_is_the_runs_verdict(name):
    ex = exercise(name)
    trainer = ex.trainer

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(runs(ex), st.data())
    def check(drawn, data):
        givens, chosen = drawn
        careful_runs = [_outcome(trainer.run_by_steps, givens, r) for r in chosen]
        assert [_outcome(trainer.run, givens, r) for r in chosen] == careful_runs
        careful = [r if isinstance(r, type) else r.verdict for r in careful_runs]
        assert [_outcome(trainer.verdict, givens, r) for r in chosen] == careful
        if all(isinstance(v, str) for v in careful):
            wanted = [data.draw(st.sampled_from([v, *(w for w in VERDICTS if w != v)])) for v in careful]
            assert trainer.ends_as(givens, chosen, wanted) == (wanted == careful)

    check()


def test_seed_sweep_meets_every_verdict_on_both_paths():
    """Hundreds of seeded draws per network on a log scale: the three verdicts, overflows
    and one-step runs all come up, and both paths agree on each."""
    seen, overflowed = set(), 0
    for name in ("reference", "softmax_online", "han_kamber", "relu_bce_frozen", "tanh_online"):
        ex = exercise(name)
        trainer = ex.trainer
        params = [p.name for p in ex.network.params]
        rng = random.Random(11)
        for _ in range(300):
            givens = ex.givens()
            for p in params:  # now and then a weight large enough to overflow a run
                scale = rng.uniform(-1, 1) if rng.random() < 0.98 else rng.uniform(140, 300)
                givens[p] = rng.choice([-1, 1]) * 10 ** scale
            run = spec_mod.RunSpec(10 ** rng.uniform(-1.5, 1.5), rng.choice([1, 2, 5, 10, 30]),
                                   tuple(rng.sample(params, rng.choice([0, 0, 1, 2]))))
            slow = trainer.run_by_steps(givens, run)
            assert trainer.verdict(givens, run) == slow.verdict, (name, givens, run)
            assert trainer.run(givens, run) == slow, (name, givens, run)
            seen.add(slow.verdict)
            overflowed += slow.overflow_at is not None
    assert seen == {"converging", "oscillating", "diverging"}
    assert overflowed > 20


# Integers among the given values: a factor 1.0 is left out of the compiled run only
# where the other factor is a float whatever the given values are.
NUMBER = st.one_of(st.floats(-2, 2), st.integers(-3, 3), st.sampled_from([1, 1.0, -1, 0, 0.0, -0.0, 0.5, 2]))


@pytest.mark.parametrize("name", [n for n in SPECS if n != "adam"])
def test_the_verdict_of_a_draws_values_is_the_runs_verdict(name):
    """``verdict_of_values`` (the given values read out of a draw's values, those no range
    draws compiled in as numbers, η among them, the first step's values taken from there
    as far as η does not reach) against the run step by step."""
    ex = exercise(name)
    ev, trainer = ex.evaluator, ex.trainer
    names = list(ev.given_names)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.one_of(NUMBER, st.sampled_from(EDGES[2:7])), min_size=len(names), max_size=len(names)),
           st.sets(st.sampled_from(names)), st.sampled_from([0.1, 1, 1.0, 2.5]), st.sampled_from([2, 3, 10]),
           st.sets(st.sampled_from([p.name for p in ex.network.params]), max_size=2), st.sampled_from([0.2, 1, 3.5]))
    def check(numbers, fixed_names, eta, steps, frozen, drawn_eta):
        # the values no range draws may be integers (compiled in); drawn ones are floats
        givens = {n: v if n in fixed_names else float(v) for n, v in zip(names, numbers)}
        givens["eta"] = eta
        # the draw's values at the spec's η, not the run's
        values = ev.values([{**givens, "eta": drawn_eta}[n] for n in names])
        if values is None:
            return
        run = spec_mod.RunSpec(eta, steps, tuple(frozen))
        careful = _outcome(lambda: trainer.run_by_steps(givens, run).verdict)
        for own in (False, True):
            verdict = trainer.verdict_of_values(run, ev, {n: givens[n] for n in fixed_names}, own)
            assert _outcome(verdict, values) == careful

    check()


def _adam() -> optimizers.Settings:
    entry = optimizers.OPTIMIZERS["adam"]
    return optimizers.Settings(optimizer="adam", hyper={h.name: h.default for h in entry.hypers},
                               epsilon=entry.epsilon, decay=entry.decay)


@pytest.mark.parametrize("name, chosen", [
    ("reference", None),
    ("adam", (spec_mod.RunSpec(0.1, 10), spec_mod.RunSpec(0.5, 3))),
    ("reference", (spec_mod.RunSpec(0.05, 10, ("w5",), _adam()),)),
])
def test_an_ordinary_run_is_judged_without_the_careful_path(monkeypatch, name, chosen):
    """The quick path is taken, for gradient descent, an optimizer, and a run that names
    its own optimizer: the careful path is there only for what is out of the ordinary."""
    ex = exercise(name)
    chosen = chosen or ex.runs
    careful = [ex.trainer.run_by_steps(ex.givens(), r) for r in chosen]
    for r in chosen:
        monkeypatch.setattr(ex.trainer.trainer(r), "run_by_steps", lambda *a: pytest.fail("the careful path was taken"))
    assert [ex.trainer.run(ex.givens(), r) for r in chosen] == careful
    careful = [r.verdict for r in careful]
    assert [ex.trainer.verdict(ex.givens(), r) for r in chosen] == careful
    if chosen == ex.runs:  # the sheet's runs: η = 0.2 converges, η = 1 oscillates
        assert careful == ["converging", "oscillating"]


@pytest.mark.parametrize("losses, after", [
    ((), 1.0), ((), math.nan), ((1.0,), 0.5), ((1.0,), 1.0), ((1.0,), math.inf),
    ((1.0, 1.0, 1.0), math.nan), ((1.0, 2.0), math.nan), ((2.0, 1.0, 3.0), math.nan),
    ((1e308, -1e308, 1.0), math.nan), ((3.0, 1.0, 2.0, 0.5), math.nan), ((3.0, 1.0, 2.0, 2.0), math.nan),
    ((1.0, 1.0 + 1e-13, 1.0), math.nan),
])
def test_judge_keeps_its_rules(losses, after):
    assert training.judge(losses, after) == _judge_as_written(losses, after)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 10), st.sampled_from([0.0, 1.0, 1.0 + 1e-13, 1e308, math.inf])), max_size=12),
       st.floats(allow_nan=True))
def test_judge_is_the_rules_as_written(losses, after):
    assert training.judge(losses, after) == _judge_as_written(losses, after)


def _judge_as_written(losses, after=math.nan) -> str:
    """The rules of ``training.judge`` in their first, plain wording."""
    seq = list(losses) if len(losses) > 1 else [*losses, after]
    if not seq or not all(math.isfinite(v) for v in seq):
        return "diverging"
    tol = 1e-12 * max(abs(v) for v in seq)
    diffs = [b - a for a, b in zip(seq, seq[1:])]
    ups = sum(d > tol for d in diffs)
    downs = sum(d < -tol for d in diffs)
    if ups == 0:
        return "converging"
    if downs == 0 or (seq[-1] > seq[0] and seq[-1] > max(seq[:-1]) + tol):
        return "diverging"
    moving = [d for d in diffs if abs(d) > tol]
    if seq[-1] < seq[0] and moving[-1] < 0:
        return "converging"
    return "oscillating"


# --- the draw's other constraints ---------------------------------------------------------------

def _failures_as_written(sampler: V.Sampler, values) -> list[str]:
    """The constraints of ``Sampler.failures``, every value rounded at the display precision."""
    if not all(map(math.isfinite, values)):
        return ["finite"]
    out = []
    if any(abs(values[i]) >= sampler.vary.constraints.max_preactivation for i in sampler.saturating):
        out.append("saturation")
    rnd = sampler.policy.round
    if any(rnd(values[i]) == 0 for i in sampler.gradients):
        out.append("zero_gradient")
    if sampler.loss and not rnd(values[sampler.loss[1]]) < rnd(values[sampler.loss[0]]):
        out.append("loss")
    if any(rnd(values[i]) == 0 for i in sampler.kinked):
        out.append("relu_kink")
    if any(abs(sum(values[i] for i in targets) - 1) > 1e-9 for targets in sampler.target_sums):
        out.append("targets_sum")
    if sampler.runs and not out and not sampler.exercise.trainer.ends_as(
            {n: values[i] for n, i in sampler.given_slots}, sampler.runs, sampler.verdicts):
        out.append("verdicts")
    return out


# values at the rounding edges of 4 decimals: 0.00005 rounds up, 0.0000499… to zero
NEAR = [0.0, 5e-5, -5e-5, 4.9999999e-5, 5.0000001e-5, 1e-4, 1.5e-4, 0.25, 0.00015, 0.000149999]


@pytest.mark.parametrize("name", ["reference", "relu_bce_frozen"])
def test_failures_round_as_the_display_does(name):
    ex = exercise(name)
    # the ReLU network has no [vary]: every constraint on, the sheet's own verdicts kept
    sampler = V.Sampler(ex, V.Vary((), Constraints(same_verdicts=True), 1)) if ex.spec.vary is None else V.Sampler(ex)
    values = ex.evaluator.evaluate(ex.givens())

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data):
        _check_failures(sampler, list(values), data)

    check()


def _check_failures(sampler, values, data):
    for i in (*sampler.gradients, *sampler.saturating, *sampler.kinked, *sampler.loss):
        values[i] = data.draw(st.one_of(st.sampled_from(NEAR), st.floats(-1e-3, 1e-3), st.floats(-5, 5)))
    if data.draw(st.booleans()):  # a loss that falls by about one unit of the last decimal
        values[sampler.loss[1]] = values[sampler.loss[0]] - data.draw(st.sampled_from([5e-5, 1e-4, 1.5e-4, 2e-4, 2.5e-4]))
    assert sampler.failures(values) == _failures_as_written(sampler, values)


def plain_values(sampler, drawn) -> list[float]:
    """The evaluated values of a draw, through ``evaluate`` and the spec's givens."""
    try:
        return sampler.exercise.evaluator.evaluate({**sampler.base, **drawn})
    except (ArithmeticError, ValueError):  # log(0), exp overflow, a value not finite
        return [math.nan]


@pytest.mark.parametrize("name", ["reference", "softmax_online"])
def test_a_draw_is_what_the_plain_draw_gives(name):
    """Each seed's drawn values, tries and evaluated values, against a draw written out
    with randrange, the spec's givens and ``evaluate``."""
    sampler = V.Sampler(exercise(name))
    for seed in range(40):
        rng = random.Random(seed)
        for attempt in range(1, sampler.vary.tries + 1):
            drawn = {r.name: r.grid[rng.randrange(len(r.grid))] for r in sampler.vary.ranges}
            values = plain_values(sampler, drawn)
            if not _failures_as_written(sampler, values):
                break
        assert sampler.draw(seed) == (drawn, attempt, values)


def test_a_draw_draws_as_randrange_for_every_grid_length():
    """The draw writes randrange out: the same numbers from the same generator, for grid
    lengths at and around powers of two (where the rejected draws change)."""
    ex = exercise("reference")
    lengths = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100]
    names = ["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "w9", "x1", "x2", "y", "w1", "w2", "w3"]
    off = Constraints(max_preactivation=None, nonzero_gradients=False, loss_decreases=False,
                      relu_nonzero=False, distinct=False)
    for start in range(0, len(lengths), 12):
        ranges = tuple(V.Range(name, tuple(k / n for k in range(n)))
                       for name, n in zip(names[:12], lengths[start:start + 12]))
        sampler = V.Sampler(ex, V.Vary(ranges, off, 1))
        for seed in range(200):
            rng = random.Random(seed)
            assert sampler.draw(seed)[0] == {r.name: r.grid[rng.randrange(len(r.grid))] for r in ranges}


def test_graph_draws_are_the_plain_draws():
    sampler = V.Sampler(Exercise(spec_mod.load(EXAMPLES / "graph_max.toml")))
    for seed in range(40):
        rng = random.Random(seed)
        for attempt in range(1, sampler.vary.tries + 1):
            drawn = {r.name: r.grid[rng.randrange(len(r.grid))] for r in sampler.vary.ranges}
            values = plain_values(sampler, drawn)
            if not sampler.failures(values):
                break
        assert sampler.draw(seed) == (drawn, attempt, values)


@settings(max_examples=300, deadline=None)
@given(st.lists(VALUE, min_size=15, max_size=15))
def test_values_is_evaluate_or_none(values):
    ex = exercise("reference")
    ev = ex.evaluator
    givens = dict(zip(ev.given_names, values))
    try:
        expected = ev.evaluate(givens)
    except ArithmeticError:
        expected = None
    assert ev.values(values) == expected


@pytest.mark.parametrize("key", [k for k, a in ACTIVATIONS.items() if a.inline])
def test_an_activation_written_out_is_its_float_version(key):
    """``Activation.inline`` gives ``plain`` to the bit, a float, NaN for NaN."""
    act = ACTIVATIONS[key]
    points = [0.0, -0.0, 1e-300, -1e-300, 0.5, -0.5, 36.7, -36.7, 709.0, -709.0, 745.2, -745.2, 1e308, -1e308,
              math.inf, -math.inf, math.nan, 1, -1, 0, 3]
    points += [random.Random(k).uniform(-50, 50) for k in range(200)]
    for t in points:
        got = eval(act.inline.format(t="t"), {"exp": math.exp, "t": t})  # noqa: S307 (the registry's own code)
        want = act.plain(t)
        assert type(got) is float and (repr(got) == repr(want) or (math.isnan(got) and math.isnan(want))), (t, got, want)


@pytest.mark.parametrize("name", [n for n in SPECS if n != "adam"] + ["adam"])
def test_the_folded_evaluation_is_the_printed_formulas(name):
    """``values`` (copies, ones and written-out activations folded into the code) against
    the checker's pass, which evaluates the formulas as printed, calls included."""
    ev = exercise(name).evaluator
    names = list(ev.given_names)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.one_of(NUMBER, st.floats(-50, 50)), min_size=len(names), max_size=len(names)))
    def check(numbers):
        values = ev.values(numbers)
        if values is not None:
            plain, _ = ev.recompute(dict(zip(names, numbers)), {})
            assert [repr(v) for v in values] == [repr(v) for v in plain]

    check()



# --- a try in one call ------------------------------------------------------------------------

def _fixed_draw(ex: Exercise, numbers: dict, wanted: tuple, constraints: Constraints) -> V.Sampler:
    """A sampler whose every range holds one number: its try draws exactly ``numbers``."""
    ranges = tuple(V.Range(name, (value,)) for name, value in numbers.items())
    sampler = V.Sampler(ex, V.Vary(ranges, constraints, 1))
    if sampler.runs:
        sampler.verdicts = wanted
    return sampler


@pytest.mark.parametrize("name", ["reference", "softmax_online", "han_kamber", "relu_bce_frozen", "tanh_online"])
def test_a_try_in_one_call_is_what_values_and_failures_make_of_it(name):
    """``Sampler._attempt`` (the drawing, the evaluation, the constraints and the runs
    written out as one function, the runs step after step with one test of their values
    at the end) against the draw written out plainly: ``evaluate``, every constraint
    with every value rounded, each run's verdict step by step."""
    ex = exercise(name)
    names = [n for n in ex.evaluator.given_names if n not in ex.network.bias_units]
    runs = ex.runs or (spec_mod.RunSpec(1.0, 10, ()), spec_mod.RunSpec(0.2, 5, ()))

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data):
        wild = data.draw(st.integers(0, 3)) == 0
        drawn = {n: data.draw(VALUE if wild else st.floats(-2, 2)) for n in names}
        wanted = tuple(data.draw(st.sampled_from(VERDICTS)) for _ in runs)
        constraints = Constraints(max_preactivation=data.draw(st.sampled_from([None, 4.0, 1.5])), same_verdicts=True)
        sampler = _fixed_draw(ex, drawn, wanted, constraints)
        if ex.runs == ():
            object.__setattr__(sampler, "runs", runs)
            sampler.verdicts = wanted
        attempt = sampler._attempt
        assert attempt is not None
        values = plain_values(sampler, drawn)
        plain = _failures_as_written(sampler, values)
        got = attempt(random.Random(0).getrandbits)
        if type(got) is list:
            assert plain == [] and [repr(v) for v in got] == [repr(v) for v in values]
        elif got[0] is None:  # the careful path: what ``_failures`` makes of the values
            assert list(got[1]) == [sampler._drawing[0][k] if n not in drawn else drawn[n]
                                    for k, n in enumerate(ex.evaluator.given_names)]
            assert sampler._failures(values, True) == plain
        else:
            assert list(got) == plain

    check()


@pytest.mark.parametrize("name", ["reference", "softmax_online"])
def test_a_draw_counts_the_failures_of_the_plain_draw(name):
    """The broken constraints of each try, counted in the order they come up (the stress
    report and the error message read them), against the plain draw."""
    sampler = V.Sampler(exercise(name))
    for seed in range(30):
        rng = random.Random(seed)
        counted: dict[str, int] = {}
        for attempt in range(1, sampler.vary.tries + 1):
            drawn = {r.name: r.grid[rng.randrange(len(r.grid))] for r in sampler.vary.ranges}
            broken = _failures_as_written(sampler, plain_values(sampler, drawn))
            if not broken:
                break
            for key in broken:
                counted[key] = counted.get(key, 0) + 1
        failures: dict[str, int] = {}
        sampler.draw(seed, failures)
        assert list(failures.items()) == list(counted.items())
