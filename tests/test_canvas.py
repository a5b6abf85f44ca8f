"""Canvas QTI 1.2 packages: read by pyslet's QTI v1 parser, graded by the bounds Canvas
reads (vargte/varlte of the condition that sets SCORE to 100), every bound within the four
decimals Canvas keeps."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from decimal import Decimal

import pytest

from conftest import run_cli
from derive import canvas, lms, variants as V
from derive.rounding import NumberPolicy
from derive.solution import Exercise
from test_moodle import ASKED, HOSTILE, _hostile_spec, _typed
from test_variants import oracle

qtixml = pytest.importorskip("pyslet.qtiv1.xml")
from pyslet.xml import structures  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pyslet's own renamings


def _walk(e):
    yield e
    for c in e.get_children():
        if isinstance(c, structures.Element):
            yield from _walk(c)


def read_items(xml_bytes: bytes):
    """Each item as pyslet reads it: (question type, points, texts, lower bound, upper bound)."""
    doc = qtixml.QTIDocument()
    doc.read(src=xml_bytes)
    out = []
    for item in doc.root.Assessment.SectionMixin[0].SectionItemMixin:
        fields, texts, lo, hi = {}, [], None, None
        label = None
        for e in _walk(item):
            kind = type(e).__name__
            if kind == "FieldLabel":
                label = e.get_value()
            elif kind == "FieldEntry":
                fields[label] = e.get_value()
            elif kind == "MatText":
                texts.append(e.get_value())
            elif kind == "VarGTE":
                lo = Decimal(e.get_value())
            elif kind == "VarLTE":
                hi = Decimal(e.get_value())
        out.append((fields["question_type"], fields["points_possible"], texts, lo, hi))
    return doc.root.Assessment.title, out


@pytest.fixture(scope="module")
def package(reference_exercise):
    drawn = V.Sampler(reference_exercise).draw_many(V.numbered(4), base_seed=9)
    solutions = [reference_exercise.solve(v.overrides, seed=v.seed, variant=v.id) for v in drawn]
    return solutions, zipfile.ZipFile(io.BytesIO(canvas.write_canvas(solutions)))


def test_one_quiz_per_variant(package):
    solutions, z = package
    manifest = ET.fromstring(z.read("imsmanifest.xml"))
    ns = {"m": canvas.CC}
    resources = manifest.findall("m:resources/m:resource", ns)
    quizzes = [r for r in resources if r.get("type") == "imsqti_xmlv1p2"]
    figures = [r for r in resources if r.get("type") == "webcontent"]
    assert len(quizzes) == len(figures) == len(solutions) == len(resources) // 2
    assert sorted(z.namelist()) == sorted(["imsmanifest.xml", *(r.find("m:file", ns).get("href") for r in resources)])
    for r, s, f in zip(quizzes, solutions, figures):
        title, items = read_items(z.read(r.find("m:file", ns).get("href")))
        # the figure: a file of the package, shown in the first question from Canvas's file base
        picture = f.find("m:file", ns).get("href")
        assert f.get("href") == picture and picture.startswith("images/")
        assert f'src="{canvas.FILEBASE}/{picture}"' in items[0][2][0]
        assert ET.fromstring(z.read(picture)).tag == "{http://www.w3.org/2000/svg}svg"
        assert title == f"Backpropagation by hand, variant {s.variant}"
        (kind, points, texts, _, _), *numerical = items
        assert (kind, points) == ("text_only_question", "0")
        assert "logistic sigmoid" in texts[0] and f"variant {s.variant}" not in texts[0]
        assert len(numerical) == len(ASKED)
        assert {(k, p) for k, p, *_ in numerical} == {("numerical_question", "1")}


def test_bounds_accept_the_answer_and_not_two_units_off(package):
    solutions, z = package
    names = [n for n in z.namelist() if n.endswith(".xml") and n != "imsmanifest.xml"]
    for name, s in zip(sorted(names), solutions):
        expected = oracle(dict(s.givens))
        _, (_, *numerical) = read_items(z.read(name))
        for (_, _, texts, lo, hi), q in zip(numerical, ASKED):
            typed, unit = _typed(expected[q], 4)
            shift = 0
            m = re.search(r"10\^&#123;(\d+)&#125;", texts[0])
            if m:
                shift = int(m.group(1))
            typed, unit = typed.scaleb(shift), unit.scaleb(shift)
            for bound in (lo, hi):
                assert -bound.as_tuple().exponent <= 4  # Canvas keeps four decimals
            assert lo <= typed <= hi and lo <= Decimal(expected[q]).scaleb(shift) <= hi
            assert not lo <= typed + 2 * unit <= hi and not lo <= typed - 2 * unit <= hi


@pytest.mark.parametrize("value, shift", [(3.2e-6, 3), (-4.44e-8, 5), (0.00012, 0), (123456789.12345, 0)])
def test_small_values_are_scaled_so_they_survive(value, shift):
    b = lms.blank("dL/dw1", value, NumberPolicy(4), [])
    item = canvas.numerical("i1", b, "")
    _, ((_, _, texts, lo, hi),) = read_items(
        f'<questestinterop xmlns="{canvas.QTI12}"><assessment ident="a" title="t"><section ident="s">'
        f"{item}</section></assessment></questestinterop>".encode())
    typed, unit = _typed(value, 4)
    assert canvas.scale(b) == shift
    assert lo <= typed.scaleb(shift) <= hi and hi - lo == 2 * unit.scaleb(shift)
    assert -lo.as_tuple().exponent <= 4 and -hi.as_tuple().exponent <= 4
    assert (f"10^&#123;{shift}&#125;" in texts[0]) == (shift > 0)


def test_mistakes_are_listed_in_the_wrong_answer_feedback(package):
    solutions, z = package
    s = solutions[0]
    e, g = oracle(dict(s.givens)), s.givens
    _, (_, *numerical) = read_items(z.read(sorted(n for n in z.namelist() if n.endswith(".xml") and n != "imsmanifest.xml")[0]))
    texts = dict(zip(ASKED, (t for _, _, t, _, _ in numerical)))["w7*"]
    flipped, _ = _typed(g["w7"] + g["eta"] * e["dL/dw7"], 4)
    assert any(f"<li>{flipped}: " in t and "update sign flipped" in t for t in texts)


def test_hostile_text(tmp_path):
    s = Exercise(_hostile_spec(tmp_path)).solve(seed=2, variant=HOSTILE)
    z = zipfile.ZipFile(io.BytesIO(canvas.write_canvas([s])))
    (name,) = [n for n in z.namelist() if n.endswith(".xml") and n != "imsmanifest.xml"]
    title, items = read_items(z.read(name))
    assert title == f"{HOSTILE}, variant {HOSTILE}"
    assert len(items) == 1 + len(ASKED)


def test_cli_writes_the_package(tmp_path):
    out = tmp_path / "v"
    r = run_cli("variants", "--count", "2", "--no-pdf", "--out", out, "--format", "canvas", "--format", "moodle")
    assert r.returncode == 0, r.stderr
    assert (out / "canvas-qti12.zip").exists() and (out / "moodle.xml").exists() and not (out / "qti21.zip").exists()
