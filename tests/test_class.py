"""derive check --class: a class of generated students, each with their own variant and
mistakes of known kinds injected into values computed here, independently of derive."""

from __future__ import annotations

import csv
import io
import json
import math
import random
import subprocess
import sys
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from conftest import ROOT
from derive import classcheck, spec
from derive.solution import Exercise

ASKED = ["h1_in", "h2_in", "h1", "h2", "yhat_in", "yhat", "L", "dL/dyhat", "dyhat/dyhat_in", "dh1/dh1_in",
         "dh2/dh2_in", *(f"dL/dw{k}" for k in range(1, 10)), *(f"w{k}*" for k in range(1, 10)),
         "h1_in'", "h2_in'", "h1'", "h2'", "yhat_in'", "yhat'", "L'"]
GRADIENT_OF = {"w1": ("w7", "s1", "x1"), "w3": ("w7", "s1", "x2"), "w5": ("w7", "s1", "b1"),
               "w2": ("w8", "s2", "x1"), "w4": ("w8", "s2", "x2"), "w6": ("w8", "s2", "b1")}


def sigmoid(t: float) -> float:
    return 1 / (1 + math.exp(-t))


def by_hand(x: float) -> float:
    """A value as the student writes it down and goes on with: rounded to 4 decimals."""
    return float(written(x))


def forward(g: dict, w: dict) -> dict:
    r = by_hand
    h1_in = r(g["x1"] * w["w1"] + g["x2"] * w["w3"] + g["b1"] * w["w5"])
    h2_in = r(g["x1"] * w["w2"] + g["x2"] * w["w4"] + g["b1"] * w["w6"])
    h1, h2 = r(sigmoid(h1_in)), r(sigmoid(h2_in))
    yhat = r(h1 * w["w7"] + h2 * w["w8"] + g["b2"] * w["w9"])
    return {"h1_in": h1_in, "h2_in": h2_in, "h1": h1, "h2": h2, "yhat_in": yhat, "yhat": yhat,
            "L": r(0.5 * (yhat - g["y"]) ** 2)}


def work(g: dict, mistake: str | None = None, k: int = 7) -> dict:
    """The whole calculation of the 2-2-1 sheet by hand, each step from the values written
    down before it, as a student with ``mistake`` does it."""
    r = by_hand
    w = {f"w{i}": g[f"w{i}"] for i in range(1, 10)}
    v = forward(g, w)
    d = r(v["yhat"] - g["y"])
    s1, s2 = r(v["h1"] * (1 - v["h1"])), r(v["h2"] * (1 - v["h2"]))
    v.update({"dL/dyhat": d, "dyhat/dyhat_in": 1.0, "dh1/dh1_in": s1, "dh2/dh2_in": s2})
    eta = g["eta"]
    grad = {"w7": r(d * v["h1"]), "w8": r(d * v["h2"]), "w9": r(d * g["b2"])}
    if mistake == "wrong_connection":
        grad["w7"] = r(d * v["h2"])  # h2 in place of h1
    factors = {"s1": s1, "s2": s2, **w, **{n: g[n] for n in ("x1", "x2", "b1")}}
    if mistake == "sequential_update":  # the output weights first, then used for the hidden layer
        factors.update({n: r(w[n] - eta * grad[n]) for n in ("w7", "w8")})
    if mistake == "sigma_prime_missing":
        factors.update({"s1": 1.0, "s2": 1.0})
    for p, (weight, s, x) in GRADIENT_OF.items():
        grad[p] = r(d * factors[weight] * factors[s] * factors[x])
    new = {p: r(w[p] - eta * grad[p]) for p in w}
    if mistake == "sign_flipped":
        new[f"w{k}"] = r(w[f"w{k}"] + eta * grad[f"w{k}"])
    if mistake == "eta_missing":
        new[f"w{k}"] = r(w[f"w{k}"] - grad[f"w{k}"])
    if mistake == "bias_not_updated":
        new.update({p: w[p] for p in ("w5", "w6", "w9")})
    v.update({f"dL/d{p}": grad[p] for p in grad})
    v.update({f"{p}*": new[p] for p in new})
    v.update({f"{n}'": x for n, x in forward(g, new).items()})
    if mistake == "half_forgotten":
        v["L"], v["L'"] = r((v["yhat"] - g["y"]) ** 2), r((v["yhat'"] - g["y"]) ** 2)
    return v


def written(x: float, places: int = 4) -> str:
    return str(Decimal(x).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


# The quantities each mistake makes wrong at its root (the rest follows from them).
ROOTS = {
    "sign_flipped": lambda k: {f"w{k}*"},
    "eta_missing": lambda k: {f"w{k}*"},
    "bias_not_updated": lambda k: {"w5*", "w6*", "w9*"},
    "half_forgotten": lambda k: {"L", "L'"},
    "sigma_prime_missing": lambda k: {f"dL/dw{i}" for i in range(1, 7)},
    "sequential_update": lambda k: {f"dL/dw{i}" for i in range(1, 7)},
    "wrong_connection": lambda k: {"dL/dw7"},
    "truncated": lambda k: {f"w{k}*"},
}
KINDS = [None, *ROOTS]


def student(g: dict, index: int, rng: random.Random) -> tuple[dict[str, str], set[str], dict[str, str]]:
    """(values as written, the injected root errors, root -> the misconception named)."""
    true = {n: written(x) for n, x in work(g).items()}
    for shift in range(len(KINDS)):
        kind = KINDS[(index + shift) % len(KINDS)]
        k = rng.randrange(1, 10)
        if kind is None:
            return {n: true[n] for n in ASKED}, set(), {}
        if kind == "truncated":
            # w* = w − η ∂L/∂w from the written gradient, in decimal: exact
            exact = Decimal(repr(g[f"w{k}"])) - Decimal(repr(g["eta"])) * Decimal(true[f"dL/dw{k}"])
            cut = exact.quantize(Decimal("0.001"), rounding=ROUND_DOWN)
            if abs(exact - cut) < Decimal("0.0006") or exact < 0:
                continue  # cut off and rounded agree, or too close to tell
            # A student carries their own numbers forward (the checker holds them to it), and
            # the cut-off w* moves the values after the update by about a unit, which reads
            # either way: this student stops at the updates.
            values = {**true, f"w{k}*": str(cut)}
            values.update({n: "" for n in ASKED if n.endswith("'")})
            return {n: values[n] for n in ASKED}, {f"w{k}*"}, {}
        mine = work(g, kind, k)
        values = {n: written(x) for n, x in mine.items()}
        if kind == "sigma_prime_missing":  # who forgets σ′ does not write it down either
            values["dh1/dh1_in"] = values["dh2/dh2_in"] = ""
        roots = ROOTS[kind](k)
        # A mistake is only visible where it moves the written value by 2 units or more; a
        # mistake that moves one by about a unit is indistinguishable from rounding: skip it.
        moved = {n: abs(mine[n] - work(g)[n]) / 1e-4 for n in roots}
        if any(0.4 < m < 2.5 for m in moved.values()) or not any(m >= 2.5 for m in moved.values()):
            continue
        roots = {n for n in roots if moved[n] >= 2.5}
        # Values after a visible root error follow from it; one that moves by about a unit
        # between own and true inputs could be read either way: skip such students too.
        return {n: values[n] for n in ASKED}, roots, {n: kind for n in roots}
    raise AssertionError("no mistake fits this variant")


def grades(path: Path) -> dict[str, dict]:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    header = rows[0]
    return {row[0]: dict(zip(header, row)) for row in rows[1:]}


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    out = tmp_path_factory.mktemp("class") / "variants"
    subprocess.run([sys.executable, "-m", "derive", "variants", "--count", "300", "--seed", "2026", "--no-pdf",
                    "--out", str(out)], check=True, capture_output=True, cwd=ROOT)
    return out


def test_300_students_every_injected_root_error_found_and_named(variants, tmp_path):
    data = json.loads((variants / "answers.json").read_text())
    rng = random.Random(13)
    injected, named, blanks = {}, {}, {}
    table = io.StringIO()
    rows = csv.writer(table)
    rows.writerow(["id", *ASKED])
    for i, record in enumerate(data["variants"]):
        values, roots, misconceptions = student(record["given"], i, rng)
        injected[record["variant"]] = roots
        named[record["variant"]] = misconceptions
        rows.writerow([record["variant"], *(values[n] for n in ASKED)])
        blanks[record["variant"]] = sum(values[n] == "" for n in ASKED)
    (tmp_path / "class.csv").write_text(table.getvalue(), encoding="utf-8")
    kinds = {m for ms in named.values() for m in ms.values()}
    assert kinds == set(ROOTS) - {"truncated"} and sum(bool(r) for r in injected.values()) > 200

    out = tmp_path / "graded"
    r = subprocess.run([sys.executable, "-m", "derive", "check", "--class", str(tmp_path / "class.csv"),
                        "--variants", str(variants), "--out", str(out), "--no-pdf"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    got = grades(out / classcheck.GRADES)
    assert set(got) == set(injected)
    for sid, roots in injected.items():
        row = got[sid]
        found = set(row["root_errors"].split())
        assert found == roots, (sid, named[sid])
        for name, kind in named[sid].items():
            title = {"sign_flipped": "update sign flipped", "eta_missing": "η left out",
                     "bias_not_updated": "bias not updated", "half_forgotten": "½ forgotten",
                     "sigma_prime_missing": "σ′ missing", "sequential_update": "sequential update",
                     "wrong_connection": "wrong connection"}[kind]
            assert f"{name}: {title}" in row["misconceptions"], (sid, row["misconceptions"])
        blank = blanks[sid]
        assert int(row["wrong"]) == len(roots) and int(row["blank"]) == blank
        assert int(row["correct"]) + int(row["carried"]) + int(row["wrong"]) + int(row["coarse"]) == len(ASKED) - blank
    # The summary: every quantity, and the mistakes the class made most.
    assert "most frequent mistakes:" in r.stdout and "σ′ missing" in r.stdout
    assert len(list((out / classcheck.FEEDBACK).glob("*.tex"))) == 300


def test_a_folder_of_files_with_feedback_pdfs_and_spreadsheet_safe_grades(tmp_path):
    exercise = Exercise(spec.load())
    g = {**exercise.givens()}
    true = {n: written(x) for n, x in work(g).items()}
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "00417.toml").write_text("\n".join(f'"{n}" = {true[n]}' for n in ASKED) + "\n")
    (folder / "00981.yaml").write_text(f"h1: {true['h1']}\n'w7*': {written(work(g, 'sign_flipped', 7)['w7*'])}\n")
    (folder / "0042.csv").write_text("name,value\nL,0.0739\n")  # ½ forgotten: (1.2719 - 1)² = 0.0739
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "derive", "check", "--class", str(folder), "--out", str(out),
                        "--points", "carried=0.5,coarse=0"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    text = (out / classcheck.GRADES).read_text()
    assert text.splitlines()[0] == '"id","correct","carried","coarse","wrong","blank","score","max_score","root_errors","misconceptions"'
    assert '\n"00417",36,0,0,0,0,36,36,"",""\n' in text  # ids quoted, so they stay text; numbers bare
    assert '"0042",0,0,0,1,35,0,36,"L","L: ½ forgotten"' in text
    assert '"00981",1,0,0,1,34,1,36,"w7*","w7*: update sign flipped"' in text
    for sid in ("00417", "00981", "0042"):
        pdf = out / classcheck.FEEDBACK / f"{sid}.pdf"
        assert pdf.exists() and pdf.read_bytes().startswith(b"%PDF")
    shown = subprocess.run(["pdftotext", str(out / classcheck.FEEDBACK / "00981.pdf"), "-"], capture_output=True,
                           text=True).stdout
    assert "sign" in shown


def test_csv_with_semicolons_and_decimal_commas(tmp_path):
    exercise = Exercise(spec.load())
    true = {n: written(x) for n, x in work(exercise.givens()).items()}
    path = tmp_path / "class.csv"
    path.write_text("student_id;h1;dL/dw1;w1*\n7;" + ";".join(true[n].replace(".", ",") for n in ("h1", "dL/dw1", "w1*"))
                    + "\n8;0,5;;\n", encoding="utf-8")
    students = classcheck.read(path, exercise)
    graded = classcheck.grade(exercise, students, classcheck.solutions(exercise, students, None),
                              classcheck.DEFAULT_POINTS)
    assert [g.report.counts()["correct"] for g in graded] == [3, 0]
    assert [len(g.report.results) for g in graded] == [3, 1]


@pytest.mark.parametrize("content, message", [
    ("id,h1,hh2\n1,0.9,0.8\n", "column 'hh2' is not a quantity"),
    ("id,h1\n1,abc\n2,0.9\n3,zz\n", ":2: h1: expected a number"),
    ("name,h1\n1,0.9\n", "no id column"),
    ("id,h1\n=HYPERLINK(1),0.9\n", "expected a student id"),
    ("id,h1\n1,0.9\n1,0.8\n", "already on line 2"),
])
def test_bad_class_files_are_refused_whole(tmp_path, content, message):
    path = tmp_path / "class.csv"
    path.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "derive", "check", "--class", str(path), "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()
    if "abc" in content:  # every bad value at once, one line each
        assert r.stderr.count("\n") == 2 and ":4: h1" in r.stderr


def test_an_id_without_a_variant_is_refused(variants, tmp_path):
    path = tmp_path / "class.csv"
    path.write_text("id,h1\n001,0.9\n999,0.8\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "derive", "check", "--class", str(path), "--variants", str(variants),
                        "--out", str(tmp_path / "o"), "--no-pdf"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "no variant '999'" in r.stderr


def test_spreadsheet_text_guards_formulas():
    assert classcheck.spreadsheet_text("=1+1") == "'=1+1"
    assert classcheck.spreadsheet_text("-w8*") == "'-w8*"
    assert classcheck.spreadsheet_text("00417") == "00417"


def test_answers_csv_of_variants_keeps_ids_as_text(variants):
    rows = list(csv.reader(io.StringIO((variants / "answers.csv").read_text(encoding="utf-8")),
                           quoting=csv.QUOTE_NONNUMERIC))
    assert rows[1][0] == "001" and isinstance(rows[1][1], float)  # quoted text; the seed a bare number
    header = rows[0]
    data = json.loads((variants / "answers.json").read_text())["variants"][0]
    assert rows[1][header.index("L'")] == data["quantities"]["L'"]  # full precision, as a number


def test_an_online_keys_losses_at_the_start_are_columns_like_any_other(tmp_path):
    # answers.csv of an online exercise ends with L0[1], …, L0: a class sheet made from
    # its header must be read, and a loss left out counted blank.
    exercise = Exercise(spec.load(ROOT / "examples" / "softmax_online.toml"))
    names = classcheck.asked(exercise)
    assert names[-3:] == ("L0[1]", "L0[2]", "L0")
    path = tmp_path / "class.csv"
    path.write_text("id,L0[1],L0\n1,0.5,\n", encoding="utf-8")
    students = classcheck.read(path, exercise)
    graded = classcheck.grade(exercise, students, classcheck.solutions(exercise, students, None),
                              classcheck.DEFAULT_POINTS)
    assert [r.name for r in graded[0].report.results] == ["L0[1]"]
    row = next(csv.DictReader(io.StringIO(classcheck.grades_csv(graded, exercise, classcheck.DEFAULT_POINTS))))
    assert int(row["blank"]) == len(names) - 1


def test_a_class_of_one_is_counted_in_the_singular(tmp_path):
    def run(rows: str, *more: str) -> str:
        path = tmp_path / f"class{rows.count(chr(10))}.csv"
        path.write_text("id,h1\n" + rows, encoding="utf-8")
        out = tmp_path / path.stem
        r = subprocess.run([sys.executable, "-m", "derive", "check", "--class", str(path), "--out", str(out), *more],
                           capture_output=True, text=True, cwd=ROOT, timeout=600)
        assert r.returncode in (0, 1), r.stderr
        return r.stdout

    one = run("7,0.9002\n")
    assert "\n1 student; 1 with every value" in one and " and 1 feedback sheet in " in one
    assert "\nwrote 1 feedback PDF\n" in one
    two = run("7,0.9002\n8,0.5\n", "--no-pdf")
    assert "\n2 students; 1 with every value" in two and " and 2 feedback sheets in " in two
