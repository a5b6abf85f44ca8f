"""Variants: the [vary] section, constrained seeded draws, rosters, the command line.

The numbers a variant's answer files hold are checked against an oracle written here by
hand for the built-in 2-2-1 network (sympy.diff of the composed loss, evaluated with
mpmath), never against the program's own output.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import mpmath
import pytest
import sympy as sp

from derive import roster, spec as spec_mod, stress, variants as V
from derive.errors import DeriveError, SpecError
from derive.solution import Exercise

mpmath.mp.dps = 30

# --- an oracle for the built-in network, written out by hand --------------------------------

_S = {n: sp.Symbol(n) for n in "x1 x2 y w1 w2 w3 w4 w5 w6 w7 w8 w9 eta".split()}
_W = [f"w{i}" for i in range(1, 10)]


def _forward(w):
    x1, x2, y = _S["x1"], _S["x2"], _S["y"]
    h1_in = w["w1"] * x1 + w["w3"] * x2 + w["w5"] * 1
    h2_in = w["w2"] * x1 + w["w4"] * x2 + w["w6"] * 1
    h1, h2 = 1 / (1 + sp.exp(-h1_in)), 1 / (1 + sp.exp(-h2_in))
    yhat = w["w7"] * h1 + w["w8"] * h2 + w["w9"] * 1
    return {"h1_in": h1_in, "h2_in": h2_in, "h1": h1, "h2": h2, "yhat": yhat,
            "L": sp.Rational(1, 2) * (yhat - y) ** 2}


def _oracle_exprs():
    before = _forward({n: _S[n] for n in _W})
    out = dict(before)
    for n in _W:
        out[f"dL/d{n}"] = sp.diff(before["L"], _S[n])
    star = {n: _S[n] - _S["eta"] * out[f"dL/d{n}"] for n in _W}
    out.update({f"{n}*": star[n] for n in _W})
    after = _forward(star)
    out.update({f"{k}'" if k != "L" else "L'": v for k, v in after.items()})
    names = sorted(out)
    args = [_S[n] for n in sorted(_S)]
    return names, sp.lambdify(args, [out[n] for n in names], "mpmath")


_NAMES, _FN = _oracle_exprs()


def oracle(givens: dict[str, float]) -> dict[str, float]:
    """Every asked quantity of the built-in network for these given values."""
    vals = _FN(*[mpmath.mpf(givens[n]) for n in sorted(_S)])
    return {n: float(v) for n, v in zip(_NAMES, vals)}


def rounded(value: float, decimals: int = 4) -> Decimal:
    return Decimal(value).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sampler(reference_exercise):
    return V.Sampler(reference_exercise)


def exercise_with(vary: str, tmp_path: Path, extra: str = "") -> Exercise:
    text = spec_mod.builtin_path().read_text(encoding="utf-8")
    text = text[: text.index("[vary]")] + extra + "\n[vary]\n" + vary
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    return Exercise(spec_mod.load(path))


# --- the seed sweep ---------------------------------------------------------------------------

def on_grid(v: float, lo: float, hi: float, step: float) -> bool:
    k = round((v - lo) / step)
    return lo - 1e-12 <= v <= hi + 1e-12 and abs(lo + k * step - v) < 1e-12


def test_seed_sweep_meets_every_constraint(sampler):
    """300 seeds: every drawn value on its grid and in its range, and the constraints,
    checked with the oracle's numbers, hold."""
    base = sampler.exercise.givens()
    for seed in range(300):
        drawn, tries, _ = sampler.draw(seed)
        assert 1 <= tries <= sampler.vary.tries
        assert set(drawn) == {"x1", "x2", "y", *_W}
        for w in _W:
            assert on_grid(drawn[w], -1.5, 1.5, 0.1), (seed, w, drawn[w])
        for x in ("x1", "x2"):
            assert drawn[x] in (-1.0, -0.5, 0.5, 1.0)
        assert on_grid(drawn["y"], 0, 2, 0.5)
        g = dict(base, **drawn)
        o = oracle(g)
        assert abs(o["h1_in"]) < 4 and abs(o["h2_in"]) < 4
        for w in _W:
            assert rounded(o[f"dL/d{w}"]) != 0, (seed, w)
        assert rounded(o["L'"]) < rounded(o["L"])


def test_variants_are_distinct_and_prefix_stable(sampler):
    many = sampler.draw_many(V.numbered(400), base_seed=7)
    signatures = {tuple(sorted(v.overrides.items())) for v in many}
    assert len(signatures) == 400
    assert len({v.id for v in many}) == 400
    few = sampler.draw_many(V.numbered(5), base_seed=7)
    # Ids are padded to the run's width, but variant i draws the same numbers either way.
    assert [dict(v.overrides) for v in few] == [dict(v.overrides) for v in many[:5]]
    other = sampler.draw_many(V.numbered(5), base_seed=8)
    assert [dict(v.overrides) for v in other] != [dict(v.overrides) for v in few]


def test_a_variant_is_a_pure_function_of_its_seed(sampler):
    random.seed(12345)
    state = random.getstate()
    first = sampler.draw(2024)
    assert random.getstate() == state  # the global generator is never used
    assert sampler.draw(2024)[0] == first[0]
    v = sampler.draw_many(V.numbered(3), base_seed=99)[2]
    assert sampler.draw(v.seed)[0] == dict(v.overrides)


def test_seeds_are_derived_with_sha256():
    expected = int.from_bytes(hashlib.sha256(b"derive/5/id:s123").digest()[:4], "big")
    assert V.child_seed(5, "id:s123") == expected


def test_a_students_numbers_do_not_depend_on_the_rest_of_the_roster(sampler):
    full = sampler.draw_many(V.for_students(["ann", "bob", "cem", "dia"]), base_seed=3)
    part = sampler.draw_many(V.for_students(["dia", "ann"]), base_seed=3)
    by_id = {v.id: (v.seed, dict(v.overrides)) for v in full}
    for v in part:
        assert by_id[v.id] == (v.seed, dict(v.overrides))


# --- the [vary] section -------------------------------------------------------------------------

def test_single_names_override_groups(tmp_path):
    ex = exercise_with('weights = { from = -1, to = 1, step = 0.5 }\nw9 = [0.3]\neta = [0.1, 0.5]\n', tmp_path)
    vary = V.parse(ex)
    grids = {r.name: r.grid for r in vary.ranges}
    assert grids["w1"] == (-1.0, -0.5, 0.0, 0.5, 1.0)
    assert grids["w9"] == (0.3,)
    assert grids["eta"] == (0.1, 0.5)
    assert "x1" not in grids and "b1" not in grids


def test_grid_points_are_the_decimals_written(tmp_path):
    ex = exercise_with("weights = { from = 0.1, to = 0.7, step = 0.2, exclude = [0.5] }\n", tmp_path)
    assert {r.name: r.grid for r in V.parse(ex).ranges}["w1"] == (0.1, 0.3, 0.7)


@pytest.mark.parametrize("vary, field, words", [
    ("weights = { from = 1, to = -1, step = 0.1 }", "vary.weights", "empty range"),
    ("weights = { from = -1, to = 1, step = 0 }", "vary.weights.step", "positive"),
    ("weights = { from = -1, to = 1 }", "vary.weights.step", "missing"),
    ("weights = []", "vary.weights", "empty list"),
    ("w1 = { from = 0, to = 0, step = 0.1, exclude = [0] }", "vary.w1", "no value left"),
    ("w10 = [1]", "vary.w10", "not a given value"),
    ("b1 = [2]", "vary.b1", "bias unit"),
    ("weights = 3", "vary.weights", "expected a range"),
    ("learning_rate = [0, 0.1]", "vary.learning_rate", "positive learning rate"),
    ("weights = { from = 0, to = 1, step = 1e-7 }", "vary.weights.step", "at most"),
    ("weights = [1]\ntries = 0", "vary.tries", "from 1 to"),
    ("weights = [1]\n[vary.constraints]\nmax_preact = 3", "vary.constraints.max_preact", "max_preactivation"),
    ("[vary.constraints]\ndistinct = true", "vary", "names no value"),
])
def test_bad_vary_sections_name_the_field(tmp_path, vary, field, words):
    with pytest.raises(SpecError) as err:
        V.parse(exercise_with(vary + "\n", tmp_path))
    assert err.value.field == field
    assert words in err.value.expected


def test_missing_vary_section(tmp_path):
    text = spec_mod.builtin_path().read_text(encoding="utf-8")
    path = tmp_path / "plain.toml"
    path.write_text(text[: text.index("[vary]")], encoding="utf-8")
    with pytest.raises(SpecError, match="vary: missing"):
        V.parse(Exercise(spec_mod.load(path)))


def test_impossible_constraints_name_the_one_failing_most(tmp_path):
    # Output weights of 0: every hidden-layer gradient is exactly 0.
    ex = exercise_with("w7 = [0]\nw8 = [0]\nw1 = [0.1, 0.2]\ntries = 50\n", tmp_path)
    with pytest.raises(V.ConstraintError) as err:
        V.Sampler(ex).draw(1)
    assert "no gradient that rounds to zero" in str(err.value)
    assert err.value.failures["zero_gradient"] == 50


def test_saturation_is_rejected(tmp_path):
    ex = exercise_with("w1 = [3, 0.5]\nw3 = [2]\ntries = 200\n", tmp_path)
    s = V.Sampler(ex)
    for seed in range(30):
        assert s.draw(seed)[0]["w1"] == 0.5  # 3 + 2 + 0 = 5 saturates h1
    ex = exercise_with("w1 = [3, 0.5]\nw3 = [2]\n[vary.constraints]\nmax_preactivation = false\n", tmp_path)
    assert {V.Sampler(ex).draw(seed)[0]["w1"] for seed in range(30)} == {3.0, 0.5}


def test_relu_pre_activation_at_zero_is_rejected(tmp_path):
    text = spec_mod.builtin_path().read_text(encoding="utf-8")
    text = text.replace('activation = "sigmoid"', 'activation = "relu"')
    text = text[: text.index("[vary]")] + "[vary]\nw1 = [-0.7, 0.4]\nw3 = [0.7]\nw5 = [0]\n"
    path = tmp_path / "relu.toml"
    path.write_text(text, encoding="utf-8")
    s = V.Sampler(Exercise(spec_mod.load(path)))
    assert {s.draw(seed)[0]["w1"] for seed in range(30)} == {0.4}  # -0.7 + 0.7 + 0 = 0: the kink


def test_more_variants_than_the_ranges_allow(tmp_path):
    # some of these four draws end their runs otherwise than the original: not what is tested here
    ex = exercise_with("w1 = [0.5, 0.6]\nw2 = [1, 1.1]\n[vary.constraints]\nsame_verdicts = false\n", tmp_path)
    with pytest.raises(DeriveError, match="only 4 different variants"):
        V.Sampler(ex).draw_many(V.numbered(5), 1)
    assert len(V.Sampler(ex).draw_many(V.numbered(4), 1)) == 4


def test_count_below_one():
    with pytest.raises(DeriveError, match="--count"):
        V.numbered(0)


# --- rosters ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ("name,email\nAnn,a@x\n", "no id column"),
    ("id,name\ns1,Ann\ns2,Bob\ns1,Cem\n", "already on row 2"),
    ("id,name\ns1,Ann\n,Bob\n", "empty"),
    ("id\n", "at least one student"),
    ("id\nann/../x\n", "expected letters"),
    ("", "header"),
])
def test_bad_rosters(tmp_path, text, words):
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as err:
        roster.read(path)
    assert words in str(err.value)
    assert str(path) in str(err.value)


def test_roster_columns_and_delimiters(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("\ufeffName;Student_ID\nAnn;s-01\nBob;s-02\n\n", encoding="utf-8")
    assert roster.read(path) == ("s-01", "s-02")
    path.write_text("matrikel,name\n4711,Ann\n", encoding="utf-8")
    assert roster.read(path, "matrikel") == ("4711",)


# --- stress test ------------------------------------------------------------------------------

def test_stress_report(sampler):
    report = stress.run(sampler, 300, 1)
    assert report.made == 300 and report.distinct == 300
    assert report.draws >= 300
    lo, hi = report.ranges["w7"]
    assert -1.5 <= lo <= hi <= 1.5
    lo, hi = report.ranges["h1_in"]
    assert -4 < lo <= hi < 4
    text = stress.text(report, sampler)
    assert "no gradient that rounds to zero" in text and "dL/dw9" in text


# --- the command line -------------------------------------------------------------------------

def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_answers_agree_with_the_oracle(cli, tmp_path):
    out = tmp_path / "v"
    r = cli("variants", "--count", "12", "--seed", "5", "--out", out, "--no-pdf")
    assert r.returncode == 0, r.stderr
    rows = read_csv(out / "answers.csv")
    data = json.loads((out / "answers.json").read_text(encoding="utf-8"))
    assert [row["variant"] for row in rows] == [f"{i:03d}" for i in range(1, 13)]
    assert len(data["variants"]) == 12 and data["exercise"] == "Backpropagation by hand"
    for row, entry in zip(rows, data["variants"]):
        assert entry["variant"] == row["variant"] and str(entry["seed"]) == row["seed"]
        givens = {n: float(row[n]) for n in _S}
        for name, expected in oracle(givens).items():
            assert float(row[name]) == pytest.approx(expected, rel=1e-10, abs=1e-13), (row["variant"], name)
            assert entry["quantities"][name] == pytest.approx(expected, rel=1e-10, abs=1e-13)
        # every quantity in answers.json has its column, under the same name
        assert set(entry["quantities"]) <= set(row)
        sheet = (out / "sheets" / f"sheet-{row['variant']}.tex").read_text(encoding="utf-8")
        key = (out / "keys" / f"key-{row['variant']}.tex").read_text(encoding="utf-8")
        for doc in (sheet, key):
            assert f"Variant {row['variant']}, seed {row['seed']}" in doc


def test_same_seed_same_bytes(cli, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert cli("variants", "--count", "6", "--seed", "42", "--out", out, "--no-pdf").returncode == 0
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert {f.suffix for f in files} == {".tex", ".csv", ".json", ".xml"}
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    c = tmp_path / "c"
    assert cli("variants", "--count", "6", "--seed", "43", "--out", c, "--no-pdf").returncode == 0
    assert (c / "answers.csv").read_bytes() != (a / "answers.csv").read_bytes()


def test_roster_run_and_rerun(cli, tmp_path):
    path = tmp_path / "class.csv"
    path.write_text("id,name\nkim,Kim\nlee,Lee\nmo,Mo\n", encoding="utf-8")
    out = tmp_path / "exam"
    assert cli("variants", "--roster", path, "--seed", "2026", "--out", out, "--no-pdf").returncode == 0
    first = {r["variant"]: r for r in read_csv(out / "answers.csv")}
    assert sorted(first) == ["kim", "lee", "mo"]
    # A year later, with one student gone: the others get the same numbers; the old
    # files of the student who left do not stay behind as if current.
    path.write_text("id,name\nmo,Mo\nkim,Kim\n", encoding="utf-8")
    assert cli("variants", "--roster", path, "--seed", "2026", "--out", out, "--no-pdf").returncode == 0
    again = {r["variant"]: r for r in read_csv(out / "answers.csv")}
    assert again["kim"] == first["kim"] and again["mo"] == first["mo"]
    assert not (out / "sheets" / "sheet-lee.tex").exists()
    assert (out / "keys" / "key-kim.tex").exists()


def one_line_error(r) -> str:
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_bad_input_on_the_command_line(cli, tmp_path):
    out = tmp_path / "never"
    assert "--count" in one_line_error(cli("variants", "--count", "0", "--out", out, "--no-pdf"))
    assert "exactly one of" in one_line_error(cli("variants", "--out", out))
    roster_file = tmp_path / "r.csv"
    roster_file.write_text("id\na\na\n", encoding="utf-8")
    line = one_line_error(cli("variants", "--roster", roster_file, "--out", out, "--no-pdf"))
    assert str(roster_file) in line and "already on row 2" in line
    roster_file.write_text("name\nAnn\n", encoding="utf-8")
    assert "no id column" in one_line_error(cli("variants", "--roster", roster_file, "--out", out))
    spec_file = tmp_path / "s.toml"
    text = spec_mod.builtin_path().read_text(encoding="utf-8")
    spec_file.write_text(text.replace("from = -1.5, to = 1.5", "from = 1.5, to = -1.5"), encoding="utf-8")
    line = one_line_error(cli("variants", spec_file, "--count", "3", "--out", out, "--no-pdf"))
    assert line.startswith(f"derive: {spec_file}: vary.weights: empty range")
    assert not out.exists()


def test_a_folder_of_another_exercise_is_left_alone(cli, tmp_path):
    out = tmp_path / "other"
    out.mkdir()
    marker = out / "answers.json"
    marker.write_text('{"exercise": "Some other exercise"}\n', encoding="utf-8")
    line = one_line_error(cli("variants", "--count", "2", "--out", out, "--no-pdf"))
    assert "another exercise" in line
    assert marker.read_text(encoding="utf-8") == '{"exercise": "Some other exercise"}\n'
    assert sorted(p.name for p in out.iterdir()) == ["answers.json"]


def test_stress_on_the_command_line(cli, tmp_path):
    r = cli("variants", "--stress", "150", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "150 variants asked" in r.stdout and "per constraint" in r.stdout and " s " in r.stdout
    assert "L'" in r.stdout
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftotext") is None,
                    reason="needs pdflatex and poppler-utils")
def test_pdfs_carry_id_and_seed(cli, tmp_path):
    import subprocess

    out = tmp_path / "pdf"
    r = cli("variants", "--count", "2", "--seed", "9", "--out", out)
    assert r.returncode == 0, r.stderr
    rows = read_csv(out / "answers.csv")
    for row in rows:
        for pdf in (out / "sheets" / f"sheet-{row['variant']}.pdf", out / "keys" / f"key-{row['variant']}.pdf"):
            text = subprocess.run(["pdftotext", pdf, "-"], capture_output=True, text=True).stdout
            assert f"Variant {row['variant']}, seed {row['seed']}" in text
    info = subprocess.run(["pdfinfo", out / "sheets.pdf"], capture_output=True, text=True).stdout
    pages = sum(int(subprocess.run(["pdfinfo", p], capture_output=True, text=True).stdout
                    .split("Pages:")[1].split()[0]) for p in sorted((out / "sheets").glob("*.pdf")))
    assert f"Pages:{' ' * 11}{pages}" in info or int(info.split("Pages:")[1].split()[0]) == pages
    assert (out / "keys.pdf").exists()


def test_same_verdicts_keeps_the_runs_of_the_original(tmp_path):
    """With same_verdicts every variant's η = 0.2 run converges and its η = 1 run
    oscillates, as the original's do; the losses are recomputed here by plain gradient
    descent on the oracle's gradients, independently of the training module."""
    from derive import training

    ex = exercise_with("weights = { from = -1.5, to = 1.5, step = 0.1 }\n"
                       "[vary.constraints]\nsame_verdicts = true\n", tmp_path)
    sampler = V.Sampler(ex)
    assert sampler.verdicts == ("converging", "oscillating")
    for seed in range(12):
        drawn, _, _ = sampler.draw(seed)
        givens = {**ex.givens(), **drawn}
        runs = training.spec_runs(ex.spec, ex.network)
        assert ex.verdicts(givens, runs) == ("converging", "oscillating")
        # η = 1 with w5, w6 fixed, by hand: the loss must rise at some step (not converge monotonically).
        g, losses = dict(givens), []
        for _ in range(10):
            o = oracle(g)
            losses.append(o["L"])
            for w in ("w1", "w2", "w3", "w4", "w7", "w8", "w9"):
                g[w] -= 1.0 * o[f"dL/d{w}"]
        assert any(b > a for a, b in zip(losses, losses[1:]))


# --- runs that keep their point ----------------------------------------------------------------

def _descent(givens: dict[str, float], eta: float, fixed=("w5", "w6"), steps: int = 10) -> list[float]:
    """The losses of plain gradient descent on the oracle's gradients (not the training module)."""
    g, losses = dict(givens), []
    for _ in range(steps):
        o = oracle(g)
        losses.append(o["L"])
        for w in _W:
            if w not in fixed:
                g[w] -= eta * o[f"dL/d{w}"]
    return losses


def test_the_built_in_variants_keep_the_comparison_of_learning_rates(cli, tmp_path):
    """Without any [vary.constraints], the built-in spec's variants (a sheet that compares
    η = 0.2 with η = 1) keep both runs' verdicts: η = 0.2 falls at every step, η = 1 does not
    (the course's point: a learning rate too large). Losses recomputed with the oracle."""
    out = tmp_path / "v"
    r = cli("variants", "--count", "4", "--seed", "1", "--no-pdf", "--out", out)
    assert r.returncode == 0, r.stderr
    variants = json.loads((out / "answers.json").read_text())["variants"]
    assert len(variants) == 4
    for v in variants:
        givens = v["given"]
        slow, fast = _descent(givens, 0.2), _descent(givens, 1.0)
        assert all(b < a for a, b in zip(slow, slow[1:])), v["variant"]
        assert any(b > a for a, b in zip(fast, fast[1:])), v["variant"]
        assert [r["verdict"] for r in v["training"]] == ["converging", "oscillating"]
        for run, losses in zip(v["training"], (slow, fast)):
            assert run["losses"] == pytest.approx(losses, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("extra, vary, expected", [
    ("", "", True),  # the built-in sheet compares η = 0.2 with η = 1
    ("", "[vary.constraints]\nsame_verdicts = false\n", False),  # overridden
    ("calculation", "", False),  # no training question
])
def test_same_verdicts_is_on_where_the_sheet_compares_runs(tmp_path, extra, vary, expected):
    text = spec_mod.builtin_path().read_text(encoding="utf-8")
    if extra:
        text = text.replace('"calculation", "training"]', '"calculation"]')
    text = text[: text.index("[vary]")] + "[vary]\nweights = { from = -1.5, to = 1.5, step = 0.1 }\n" + vary
    (tmp_path / "spec.toml").write_text(text, encoding="utf-8")
    ex = Exercise(spec_mod.load(tmp_path / "spec.toml"))
    assert ex.spec.vary.constraints.same_verdicts is expected
    assert bool(V.Sampler(ex).runs) is expected


def test_one_run_is_not_a_comparison(tmp_path):
    text = spec_mod.builtin_path().read_text(encoding="utf-8")
    start = text.index("[[training.runs]]")
    second = text.index("[[training.runs]]", start + 1)
    end = text.find("\n[", second + 1)
    text = text[:second] + text[end:]
    path = tmp_path / "one.toml"
    path.write_text(text, encoding="utf-8")
    spec = spec_mod.load(path)
    assert len(spec.runs) == 1
    assert spec.vary.constraints.same_verdicts is False


def test_the_quick_verdict_agrees_with_the_run(reference_exercise):
    """The verdict computed for a draw (no bookkeeping) is the run's verdict, for draws that
    converge, oscillate, diverge and overflow alike."""
    from derive import training

    trainer = reference_exercise.trainer
    rng = random.Random(7)
    seen = set()
    for _ in range(400):
        givens = reference_exercise.givens()
        for w in _W:
            givens[w] = rng.choice([-1, 1]) * 10 ** rng.uniform(-1, 1.5)
        run = training.RunSpec(10 ** rng.uniform(-1, 2.5), rng.choice([2, 5, 10, 30]), rng.choice([(), ("w5", "w6")]))
        slow = trainer.run(givens, run).verdict
        assert trainer.verdict(givens, run) == slow
        seen.add(slow)
    assert seen == {"converging", "oscillating", "diverging"}


# --- drawn and made on several cores ----------------------------------------------------------

def grid_spec(tmp_path: Path, tries: int) -> Path:
    """The built-in exercise with a 5 x 5 grid: 25 different variants at most, so that
    draws keep meeting earlier variants' numbers."""
    exercise_with(f"w1 = [0.3, 0.4, 0.5, 0.6, 0.7]\nw2 = [0.8, 0.9, 1, 1.1, 1.2]\ntries = {tries}\n"
                  "[vary.constraints]\nsame_verdicts = false\n", tmp_path)
    return tmp_path / "spec.toml"


def own_seed(base: int, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"derive/{base}/{key}".encode()).digest()[:4], "big")


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("by", ["count", "roster"])
def test_duplicates_are_redrawn_alike_in_one_process_or_several(cli, tmp_path, by):
    spec = grid_spec(tmp_path, 30)
    ids = [f"{i:03d}" for i in range(1, 26)] if by == "count" else [f"s{i}" for i in range(25)]
    keys = [str(i) for i in range(1, 26)] if by == "count" else [f"id:{sid}" for sid in ids]
    if by == "roster":
        (tmp_path / "class.csv").write_text("id\n" + "\n".join(ids) + "\n", encoding="utf-8")
    which = ("--count", "25") if by == "count" else ("--roster", tmp_path / "class.csv")
    folders = []
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        r = cli("variants", spec, *which, "--seed", "5", "--no-pdf", "--jobs", jobs, "--out", out,
                "--format", "json", "--format", "csv", "--format", "moodle", "--format", "qti21")
        assert r.returncode == 0, r.stderr
        folders.append(folder_bytes(out))
    assert folders[1] == folders[0]
    assert len(folders[0]) == 2 * 25 + 4
    made = json.loads(folders[0]["answers.json"])["variants"]
    assert [v["variant"] for v in made] == ids
    assert len({(v["given"]["w1"], v["given"]["w2"]) for v in made}) == 25  # every point of the grid once
    redrawn = 0
    for v, key in zip(made, keys):
        retries = {own_seed(5, f"{key}#{n}"): n for n in range(1, 31)}
        assert v["seed"] == own_seed(5, key) or v["seed"] in retries, v["variant"]
        redrawn += v["seed"] in retries
    assert redrawn >= 10  # most of the grid's last variants met an earlier one's numbers


def saturating_spec(tmp_path: Path, tries: int) -> Path:
    """w1 = 3 saturates h1 (3 + 2 + 0): half the draws break a constraint, so that with few
    tries some variant's own draws all do."""
    exercise_with(f"w1 = [3, 0.5]\nw3 = [2]\nw2 = {{ from = -1, to = 1, step = 0.1 }}\ntries = {tries}\n"
                  "[vary.constraints]\nsame_verdicts = false\n", tmp_path)
    return tmp_path / "spec.toml"


# (spec, base seed, count, the constraint failing most): the grid runs out at a variant past
# the first chunk; variant 011's own five draws all saturate (found by drawing in order).
FAILING = [(lambda tmp: grid_spec(tmp, 6), 1, 22, "all variants distinct"),
           (lambda tmp: saturating_spec(tmp, 5), 16, 20, "no saturated unit")]


@pytest.mark.parametrize("spec, seed, count, worst", FAILING)
def test_a_variant_that_cannot_be_drawn_fails_alike_in_one_process_or_several(cli, tmp_path, spec, seed, count,
                                                                              worst):
    spec = spec(tmp_path)
    with pytest.raises(V.ConstraintError) as in_order:
        V.Sampler(Exercise(spec_mod.load(spec))).draw_many(V.numbered(count), seed)
    assert f"failing most: {worst}" in str(in_order.value)
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        r = cli("variants", spec, "--count", count, "--seed", seed, "--no-pdf", "--jobs", jobs, "--out", out)
        assert one_line_error(r) == f"derive: {in_order.value}"
        assert not out.exists() and not list(tmp_path.glob(f".{out.name}*"))


@pytest.mark.parametrize("spec, seed, count, worst", FAILING)
def test_the_failure_statistics_are_those_of_drawing_in_order(tmp_path, spec, seed, count, worst):
    from derive import output, render, workers

    ex = Exercise(spec_mod.load(spec(tmp_path)))
    keys = tuple(V.numbered(count))
    with pytest.raises(V.ConstraintError) as in_order:
        V.Sampler(ex).draw_many(keys, seed)
    assert sum(in_order.value.failures.values()) >= 5  # each of the variant's draws broke at least one
    for jobs in (1, 2):
        job = workers.Job(ex, render.environment(), ("json", "moodle"), None, V.Sampler(ex), keys, seed)
        with pytest.raises(V.ConstraintError) as made:
            with workers.Batch(job, jobs) as run, output.Stage(tmp_path / "out") as stage:
                run.write(stage)
        assert str(made.value) == str(in_order.value)
        assert dict(made.value.failures) == dict(in_order.value.failures)
        assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


def test_a_grid_that_runs_out_is_reported_before_an_earlier_variant_that_fails(tmp_path, monkeypatch):
    """One process drew every variant before making any: the later variant the
    constraints cannot give is the error, not the earlier one that fails when made."""
    from click.testing import CliRunner

    from derive import cli as cli_mod

    spec = grid_spec(tmp_path, 6)
    with pytest.raises(V.ConstraintError) as in_order:
        V.Sampler(Exercise(spec_mod.load(spec))).draw_many(V.numbered(22), 1)
    original = Exercise.solve

    def solve(self, *args, variant=None, **kwargs):
        if variant == "011":  # in a worker's chunk
            raise DeriveError("variant 011: a value that is not finite")
        return original(self, *args, variant=variant, **kwargs)

    monkeypatch.setattr(Exercise, "solve", solve)
    monkeypatch.chdir(tmp_path)
    for jobs in ("1", "2"):
        result = CliRunner().invoke(cli_mod.cli, ["variants", str(spec), "--count", "22", "--no-pdf",
                                                  "--out", "v", "--jobs", jobs])
        assert isinstance(result.exception, V.ConstraintError), result.output
        assert str(result.exception) == str(in_order.value)
        result = CliRunner().invoke(cli_mod.cli, ["variants", str(spec), "--count", "18", "--no-pdf",
                                                  "--out", "v", "--jobs", jobs])
        assert str(result.exception) == "variant 011: a value that is not finite"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]


def test_format_replaces_the_default_set_and_says_so(cli, tmp_path):
    out = tmp_path / "v"
    r = cli("variants", "--count", "2", "--no-pdf", "--out", out, "--format", "moodle")
    assert r.returncode == 0, r.stderr
    assert (out / "moodle.xml").exists() and (out / "answers.json").exists()
    assert not (out / "answers.csv").exists()
    shown = " ".join(cli("variants", "--help").stdout.split())
    assert "--format replaces the defaults (json, csv, moodle): list every format you want" in shown
    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8").split())
    assert ("`--format` replaces the defaults; list every format you want: `--format moodle` alone writes "
            "`moodle.xml` and `answers.json` but no `answers.csv`") in readme
