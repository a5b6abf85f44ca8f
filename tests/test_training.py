"""Training runs: the sheet's printed losses, an independent oracle, verdicts, bad input."""

from __future__ import annotations

import dataclasses
import json
import math

import mpmath as mp
import pytest

from derive import spec as spec_mod
from derive import questions, training, training_tex
from derive.errors import SpecError
from derive.solution import Exercise

# The course sheet's printed runs (w5 and w6 held fixed), and the unfrozen run of the exercise's specification.
SHEET_ETA_1 = "0.0370 0.0813 0.1745 0.3822 0.7823 1.6351 2.6870 4.0413 1.7092 0.6663".split()
SHEET_ETA_02 = "0.0370 0.0093 0.0024 0.0006 0.0002 0.0000 0.0000 0.0000 0.0000 0.0000".split()
FREE_ETA_02 = "0.0370 0.0092 0.0023 0.0006 0.0001 0.0000 0.0000 0.0000 0.0000 0.0000".split()

START = {"w1": 0.7, "w2": 1.3, "w3": 1.5, "w4": 0.1, "w5": 0, "w6": 0, "w7": 0.7, "w8": 0.8, "w9": 0}
ORDER = list(START)


def oracle_loss(w, x1=1, x2=1, y=1):
    """The reference network's loss written out by hand: ½(ŷ − y)² with sigmoid hidden
    units, a linear output and constant-1 bias units."""
    a = lambda t: 1 / (1 + mp.exp(-t))
    h1 = a(x1 * w["w1"] + x2 * w["w3"] + w["w5"])
    h2 = a(x1 * w["w2"] + x2 * w["w4"] + w["w6"])
    yhat = h1 * w["w7"] + h2 * w["w8"] + w["w9"]
    return (yhat - y) ** 2 / 2


def oracle_run(eta, steps, frozen=(), loss=oracle_loss, start=START):
    """Gradient descent with every gradient taken by mpmath finite differences at 30 digits."""
    with mp.workdps(30):
        w = {k: mp.mpf(v) for k, v in start.items()}
        out = []
        for _ in range(steps):
            out.append(loss(w))
            grad = {}
            for name in w:
                if name in frozen:
                    continue
                f = lambda t, name=name: loss({**w, name: t})
                grad[name] = mp.diff(f, w[name])
            for name, g in grad.items():
                w[name] = w[name] - eta * g
        return [float(v) for v in out]


def test_sheet_runs_printed_to_four_decimals(cli):
    result = cli("train", "--eta", "1", "--eta", "0.2", "--steps", "10", "--freeze", "w5", "--freeze", "w6")
    assert result.returncode == 0, result.stderr
    errors = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("Error:")]
    assert errors == SHEET_ETA_1 + SHEET_ETA_02
    verdicts = [line for line in result.stdout.splitlines() if line.startswith("verdict:")]
    assert len(verdicts) == 2
    assert verdicts[0].startswith("verdict: oscillating")
    assert verdicts[1].startswith("verdict: converging")


def test_unfrozen_run(cli):
    result = cli("train", "--eta", "0.2", "--steps", "10")
    errors = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("Error:")]
    assert errors == FREE_ETA_02


def test_builtin_spec_asks_for_the_sheets_runs(cli, reference):
    runs = reference.runs
    assert [(r.learning_rate, r.steps, r.frozen) for r in runs] == [(0.2, 10, ("w5", "w6")), (1.0, 10, ("w5", "w6"))]
    assert [f"{v:.4f}" for v in runs[1].losses] == SHEET_ETA_1
    result = cli("train")  # no options: the spec's runs
    errors = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("Error:")]
    assert errors == SHEET_ETA_02 + SHEET_ETA_1


@pytest.mark.parametrize("eta,frozen", [(0.2, ()), (1.0, ("w5", "w6")), (1.5, ("w9",))])
def test_against_finite_difference_oracle(reference, eta, frozen):
    (run,) = reference.exercise.train((training.RunSpec(eta, 10, frozen),), reference.givens)
    expected = oracle_run(eta, 10, frozen)
    assert run.losses == pytest.approx(expected, rel=1e-9, abs=1e-15)


def _online_spec():
    text = spec_mod.builtin_path().read_text().replace(
        "[[examples]]\nx1 = 1\nx2 = 1\ny = 1\n",
        "[[examples]]\nx1 = 1\nx2 = 1\ny = 1\n\n[[examples]]\nx1 = 0.5\nx2 = -1\ny = 0\n",
    ).replace("learning_rate = 0.2\n\n#", 'learning_rate = 0.2\nupdate = "online"\n\n#', 1)
    spec = spec_mod.parse(text, "online.toml")
    assert spec.update == "online" and len(spec.examples) == 2
    return spec


def online_oracle(eta, passes, frozen=()):
    """Online SGD by hand: a pass updates once per example, in order, each from the weights
    as the example before left them; the loss printed before a pass is the mean of the
    examples' losses as they were met during it (what a training loop that sums them up
    on the way prints)."""
    parts = (lambda w: oracle_loss(w, 1, 1, 1), lambda w: oracle_loss(w, 0.5, -1, 0))
    with mp.workdps(30):
        w = {k: mp.mpf(v) for k, v in START.items()}
        out = []
        for _ in range(passes):
            met = []
            for part in parts:
                met.append(part(w))
                grad = {n: mp.diff(lambda t, n=n: part({**w, n: t}), w[n]) for n in w if n not in frozen}
                w = {n: w[n] - mp.mpf(eta) * grad[n] if n in grad else w[n] for n in w}
            out.append(float(sum(met) / len(met)))
        return out


@pytest.mark.parametrize("frozen", [(), ("w5", "w9")])
def test_online_updates_follow_the_examples_in_order(frozen):
    solution = Exercise(_online_spec()).solve()
    (run,) = solution.exercise.train((training.RunSpec(0.5, 4, frozen),), solution.givens)
    expected = online_oracle("0.5", 5, frozen)
    assert run.losses == pytest.approx(expected[:4], rel=1e-9)
    assert run.after == pytest.approx(expected[4], rel=1e-9)


def test_online_first_loss_is_the_keys_loss():
    # Hand arithmetic for the first pass at eta = 0.2: example 1 is the reference example
    # (its loss is the reference value 0.0369707241); example 2 is met after example 1's update.
    solution = Exercise(_online_spec()).solve()
    (run,) = solution.exercise.train((training.RunSpec(0.2, 1),), solution.givens)
    assert run.losses[0] == pytest.approx(solution.values["L"], rel=1e-12)
    assert solution.values["L[1]"] == pytest.approx(0.0369707241, abs=1e-10)
    assert run.losses[0] == pytest.approx(online_oracle("0.2", 1)[0], rel=1e-9)


def test_overflow_is_diverging_not_a_crash(cli, reference):
    (run,) = reference.exercise.train((training.RunSpec(1e6, 40),), reference.givens)
    assert run.verdict == training.DIVERGING
    assert run.overflow_at is not None and math.isinf(run.losses[-1])
    result = cli("train", "--eta", "1e6", "--steps", "40")
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"verdict: diverging (at step {run.overflow_at} the loss could no longer be computed in floating "
        "point: an activation saturated or a value overflowed)")


def test_saturated_sigmoid_under_cross_entropy_is_reported_as_such(tmp_path, cli):
    # A sigmoid output under binary cross-entropy: at eta = 100 the first update drives
    # yhat to exactly 1.0 in floating point, and (1 - y) log(1 - yhat) is then log(0).
    text = _with_runs("[[training.runs]]\nlearning_rate = 100\nsteps = 5\n")
    text = text.replace('activation = "identity"', 'activation = "sigmoid"').replace(
        'kind = "squared_error"\nhalf = true', 'kind = "binary_cross_entropy"\nhalf = false')
    path = tmp_path / "bce.toml"
    path.write_text(text)
    (run,) = Exercise(spec_mod.load(path)).solve().runs
    # by hand: the hidden activations are the reference values of h1, h2; yhat = sigmoid(0.7 h1 + 0.8 h2)
    yhat = 1 / (1 + math.exp(-(0.7 * 0.9002495109 + 0.8 * 0.8021838886)))
    assert run.losses[0] == pytest.approx(-math.log(yhat), rel=1e-9)
    assert run.overflow_at == 2 and math.isinf(run.losses[1]) and run.verdict == training.DIVERGING
    result = cli("solve", path, "--no-pdf", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    key = (tmp_path / "out" / "solution.tex").read_text()
    assert "at step 2 the loss could no\nlonger be computed in floating point" in key
    assert "too large" not in key


@pytest.mark.parametrize("losses,verdict", [
    ([4, 2, 1, 0.5], "converging"),
    ([1, 1, 1], "converging"),  # nothing left to learn
    ([1, 0.5, 0, 0], "converging"),
    ([1, 2, 4, 8], "diverging"),
    ([1, 2, 1.5, 3, 2, 4], "diverging"),  # growing swings end at a new high
    ([1, 2, 1, 2, 1, 2], "oscillating"),
    ([0.04, 0.08, 0.17, 4.0, 1.7, 0.67], "oscillating"),  # the sheet's shape at η = 1
    ([0.04, 0.3, 13, 1.5, 0.1, 0.02], "converging"),  # one overshoot, then settles below the start
    ([1, math.inf], "diverging"),
    ([1, math.nan], "diverging"),
])
def test_verdicts(losses, verdict):
    assert training.judge(losses) == verdict


def test_single_step_is_judged_with_the_loss_after_it():
    assert training.judge([1.0], after=0.5) == "converging"
    assert training.judge([1.0], after=2.0) == "diverging"


@pytest.mark.parametrize("args,message", [
    (["--eta", "0"], "--eta: expected a positive learning rate, got '0'"),
    (["--eta", "-1"], "--eta: expected a positive learning rate, got '-1'"),
    (["--eta", "fast"], "--eta: expected a positive learning rate, got 'fast'"),
    (["--eta", "inf"], "--eta: expected a positive learning rate, got 'inf'"),
    (["--steps", "0"], "--steps: expected a whole number of steps from 1 to 10,000, got 0"),
    (["--steps", "-3"], "--steps: expected a whole number of steps from 1 to 10,000, got -3"),
    (["--steps", "2.5"], "--steps: expected a whole number of steps from 1 to 10,000, got '2.5'"),
    (["--freeze", "w10"], "--freeze: no parameter named 'w10'; the network has w1, w2, w3, w4, w5, w6, w7, w8, w9"),
])
def test_bad_options_one_line_exit_2(cli, args, message):
    result = cli("train", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(message), result.stderr
    assert "reference.toml" in lines[0]


def _with_runs(runs: str) -> str:
    return spec_mod.builtin_path().read_text().split("# Questions 4 and 5")[0] + runs + "\n[display]\ndecimals = 4\n"


@pytest.mark.parametrize("runs,field,expected", [
    ("[[training.runs]]\nlearning_rate = 0\n", "training.runs[0].learning_rate", "expected a positive number, got 0"),
    ("[[training.runs]]\nlearning_rate = -0.5\n", "training.runs[0].learning_rate", "expected a positive number"),
    ("[[training.runs]]\nlearning_rate = 'x'\n", "training.runs[0].learning_rate", "expected a number"),
    ("[[training.runs]]\nsteps = 0\n", "training.runs[0].steps", "from 1 to 10,000, got 0"),
    ("[[training.runs]]\nsteps = 2.5\n", "training.runs[0].steps", "from 1 to 10,000, got 2.5"),
    ("[[training.runs]]\nsteps = 1000000000\n", "training.runs[0].steps", "from 1 to 10,000, got 1000000000"),
    ("[[training.runs]]\nsteps = 3\n[[training.runs]]\nfrozen = ['w5', 'v6']\n", "training.runs[1].frozen",
     "no parameter named 'v6'"),
    ("[[training.runs]]\nrate = 1\n", "training.runs[0].rate", "unknown field"),
])
def test_bad_runs_in_the_spec(tmp_path, cli, runs, field, expected):
    path = tmp_path / "bad.toml"
    path.write_text(_with_runs(runs))
    with pytest.raises(SpecError) as info:  # on load, whichever command reads the spec
        spec_mod.load(path)
    assert info.value.field == field and expected in info.value.expected
    answers = tmp_path / "answers.toml"
    answers.write_text("h1 = 0.8808\n")
    for command in (["train"], ["solve", "--no-pdf", "--out", tmp_path / "out"], ["check", answers],
                    ["variants", "--count", "2", "--no-pdf", "--out", tmp_path / "out"]):
        result = cli(*command[:1], path, *command[1:])
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == f"derive: {path}: {field}: {info.value.expected}"
    assert not (tmp_path / "out").exists()


def test_runs_default_and_override(reference_spec, reference_exercise):
    net = reference_exercise.network
    runs = training.option_runs(reference_spec, net, (), "3", ())
    assert [(r.learning_rate, r.steps, r.frozen) for r in runs] == [(0.2, 3, ("w5", "w6")), (1.0, 3, ("w5", "w6"))]
    runs = training.option_runs(reference_spec, net, ("0.5",), None, ("w9",))
    assert runs == (training.RunSpec(0.5, 10, ("w9",)),)
    plain = spec_mod.parse(_with_runs(""), "plain.toml")
    assert training.option_runs(plain, net, (), None, ()) == (training.RunSpec(0.2, 10, ()),)


def test_answers_json_holds_the_runs(tmp_path, cli):
    result = cli("solve", "--no-pdf", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    runs = json.loads((tmp_path / "answers.json").read_text())["training"]
    assert [(r["learning_rate"], r["steps"], r["frozen"]) for r in runs] == [(0.2, 10, ["w5", "w6"]), (1, 10, ["w5", "w6"])]
    assert [f"{v:.4f}" for v in runs[0]["losses"]] == SHEET_ETA_02
    assert [f"{v:.4f}" for v in runs[1]["losses"]] == SHEET_ETA_1


def test_loss_plot_axis():
    run = training.Run(1.0, 3, (), (0.04, 1e-5, 0.0), 0.0, None, "converging")
    plot = training_tex._plot([training_tex._curve(run)], 3)
    assert plot["log"] and plot["omitted"]  # five decades: log axis, the zero left out
    assert plot["curves"][0]["coordinates"].count("(") == 2
    flat = training_tex._plot([training_tex._curve(training.Run(1.0, 3, (), (0.5, 0.3, 0.2), 0.1, None, "converging"))], 3)
    assert not flat["log"] and not flat["omitted"]


def test_questions_section(reference_spec):
    assert questions.included(reference_spec) == questions.QUESTIONS
    base = _with_runs("")
    assert questions.included(spec_mod.parse(base, "s.toml")) == ("nonlinearity", "vanishing", "calculation")
    only = spec_mod.parse(base + '\n[questions]\ninclude = ["calculation"]\n', "s.toml")
    assert questions.included(only) == ("calculation",)
    for bad, expected in [('include = ["theory"]', "no question 'theory'"),
                          ('include = ["training"]', "needs at least one [[training.runs]]"),
                          ('pick = ["calculation"]', "unknown field")]:
        with pytest.raises(SpecError) as info:  # on load
            spec_mod.parse(base + f"\n[questions]\n{bad}\n", "s.toml")
        assert expected in str(info.value)


def test_key_data_for_long_and_overflowing_runs(reference):
    runs = reference.exercise.train((training.RunSpec(1e6, 40), training.RunSpec(0.2, 100),), reference.givens)
    blown, long = training_tex.context(dataclasses.replace(reference, runs=runs))
    assert blown["overflow_at"] == runs[0].overflow_at and blown["losses"][-1]["value"] == r"\infty"
    assert blown["plot"]["log"] and "inf" not in blown["plot"]["curves"][0]["coordinates"]
    steps = [row["step"] for row in long["losses"]]
    # the evenly spaced steps, and every step the text names (where a stretch of the run ends)
    named = {m["step"] for m in long["moves"] or ()} | {long["peak_step"]}
    assert not long["all_steps"] and set(training_tex._table_steps(100)) | named == set(steps)
    assert len(steps) <= training_tex.TABLE_ROWS + training_tex.MOVES + 1
    assert steps[:5] == [1, 2, 3, 4, 5] and steps[-1] == 100 and steps == sorted(set(steps))
    assert long["verdict"] == "converging"


def _made(eta, losses, after, failed=None):
    return training.Run(eta, len(losses), (), tuple(losses), after, failed, training.judge(losses, after))


def test_comparison_of_runs_with_the_same_verdict():
    col = training_tex.Column(4, False)

    def versus(a, b):
        return training_tex._versus(a, col, b, col)

    slow, fast = _made(0.2, [0.5, 0.4, 0.3], 0.2), _made(1.0, [0.5, 0.2, 0.1], 0.05)
    assert slow.verdict == fast.verdict == training.CONVERGING
    v = versus(fast, slow)
    # 0.2 / 0.05 = 4: the larger rate ends four times lower
    assert v["same_verdict"] and v["larger"] and v["lower"] == "this" and v["factor"] == "4"
    assert v["end"] == "0.0500" and v["first_end"] == "0.2000"  # as the tables write them
    assert versus(slow, fast)["lower"] == "first"
    equal = versus(_made(0.3, [0.5, 0.4, 0.3], 0.20001), slow)
    assert equal["lower"] == "same" and equal["factor"] is None
    early, late = _made(5.0, [1.0, math.inf], math.inf, 2), _made(2.0, [1.0, 3.0, math.inf], math.inf, 3)
    assert versus(early, late)["lower"] == "first"  # it broke down sooner
    # the factor is that of the losses as the tables show them: 0.0191 / 4.13·10⁻⁸ = 4.62·10⁵
    tiny = training_tex.Column(4, True)
    v = training_tex._versus(_made(1.0, [0.04, 0.5], 0.019_123), col, _made(0.2, [0.04, 0.01], 4.1349e-8), tiny)
    assert (v["end"], v["first_end"], v["factor"]) == ("0.0191", r"4.13 \cdot 10^{-8}", r"4.6 \cdot 10^{5}")


def test_key_compares_two_converging_runs(tmp_path, cli):
    path = tmp_path / "two.toml"
    path.write_text(_with_runs("[[training.runs]]\nlearning_rate = 0.2\nsteps = 3\n"
                               "[[training.runs]]\nlearning_rate = 0.5\nsteps = 3\n"))
    result = cli("solve", path, "--no-pdf", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    key = " ".join((tmp_path / "out" / "solution.tex").read_text().split())
    assert "Like it, the run with $\\eta = 0.5$ converges; after its last update the loss is" in key
    assert "learning rate ends about" in key and "With $\\eta = 0.5$ the run converges." not in key


def _sheet(tmp_path, cli, text):
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "s.toml"
    path.write_text(text)
    result = cli("solve", path, "--no-pdf", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    return " ".join((tmp_path / "out" / "sheet.tex").read_text().split())


def test_sheet_words_online_passes_rounded_carry_and_decimals(tmp_path, cli):
    online = _with_runs("[[training.runs]]\nlearning_rate = 0.5\nsteps = 3\n").replace(
        "[[examples]]\nx1 = 1\nx2 = 1\ny = 1\n",
        "[[examples]]\nx1 = 1\nx2 = 1\ny = 1\n\n[[examples]]\nx1 = 0.5\nx2 = -1\ny = 0\n",
    ).replace("learning_rate = 0.2\n", 'learning_rate = 0.2\nupdate = "online"\n', 1).replace(
        "decimals = 4\n", 'decimals = 3\ncarry = "rounded"\n')
    assert 'update = "online"' in online and 'carry = "rounded"' in online
    sheet = _sheet(tmp_path, cli, online)
    assert "one pass of online gradient descent, example by example in order" in sheet
    assert "one step of gradient descent" not in sheet
    assert "3 passes over the examples" in sheet and r"\texttt{Error: 0.123}" in sheet
    assert "unrounded" not in sheet and "Round every intermediate result to 3 decimals" in sheet
    key = " ".join((tmp_path / "out" / "solution.tex").read_text().split())
    assert "updated at every example of each of the 3 passes, in order" in key and r"pass & loss \\" in key

    batch = _sheet(tmp_path / "b", cli, _with_runs("[[training.runs]]\nsteps = 3\n").replace(
        "decimals = 4\n", "decimals = 6\n"))
    assert "one step of gradient descent" in batch and "online" not in batch
    assert r"\texttt{Error: 0.123456}" in batch and "keep working with the unrounded values" in batch
