"""The figure inside the LMS outputs: a Moodle file of each question, a file of each QTI 2.1
item and of each Canvas quiz, always well-formed SVG whatever the title, referenced by the
name it is stored under, and no change to the blanks."""

from __future__ import annotations

import base64
import io
import posixpath
import xml.etree.ElementTree as ET
import zipfile

import pytest

from conftest import EXAMPLES, run_cli
from derive import canvas, lms, moodle, qti, spec as spec_mod
from derive.solution import Exercise
from test_moodle import HOSTILE, _hostile_spec, blanks_of, questions

SVG = "{http://www.w3.org/2000/svg}"
NS = {"q": qti.QTI, "cp": qti.CP, "m": canvas.CC}


def moodle_figure(q) -> tuple[str, ET.Element]:
    """The question's one figure: the img's file name and the file's SVG, parsed."""
    text = q.findtext("questiontext/text")
    (f,) = q.findall("questiontext/file")
    assert f.get("encoding") == "base64" and f.get("path") == "/"
    assert text.count("<img ") == 1 and f'src="@@PLUGINFILE@@/{f.get("name")}"' in text
    return f.get("name"), ET.fromstring(base64.b64decode(f.text, validate=True))


def test_a_network_question_carries_its_figure(reference):
    _, (q,) = questions(moodle.write_moodle([reference]))
    name, svg = moodle_figure(q)
    assert name == "network.svg" and svg.tag == f"{SVG}svg"
    # the reference network: inputs x1, x2, hidden h1, h2, the output drawn as two circles;
    # two bias units; nine weights, each a labelled arrow
    assert len(svg.findall(f".//{SVG}circle")) == 6
    assert len(svg.findall(f".//{SVG}rect[@class='bias']")) == 2
    assert len(svg.findall(f".//{SVG}line")) == 9
    assert len(blanks_of(q)) == sum(len(g) for _, g in lms.asked_names(reference))


def test_a_graph_question_carries_its_circuit():
    s = Exercise(spec_mod.load(EXAMPLES / "graph_sum_product.toml")).solve()
    _, (q,) = questions(moodle.write_moodle([s]))
    name, svg = moodle_figure(q)
    assert name == "circuit.svg"
    assert len(svg.findall(f".//{SVG}g[@class='gates']/{SVG}rect")) == 2  # q = x + y, f = q z
    shown = {"".join(t.itertext()) for t in svg.iter(f"{SVG}text")}
    assert {"x", "y", "z", "q", "f", "+", "×"} <= shown
    assert not shown & {"3", "-12", "-4.00"}  # both passes asked: no value on a wire
    assert len(blanks_of(q)) == sum(len(g) for _, g in lms.asked_names(s))


def test_a_hostile_title_is_text_in_every_figure(tmp_path):
    s = Exercise(_hostile_spec(tmp_path)).solve(seed=2, variant=HOSTILE)
    _, (q,) = questions(moodle.write_moodle([s]))
    _, svg = moodle_figure(q)
    assert svg.get("aria-label") == "The network of " + " ".join(HOSTILE.split())
    assert len(blanks_of(q)) == sum(len(g) for _, g in lms.asked_names(s))  # the alt text adds no blank
    z = zipfile.ZipFile(io.BytesIO(qti.write_qti21([s])))
    (picture,) = [n for n in z.namelist() if n.endswith(".svg")]
    assert ET.fromstring(z.read(picture)).get("aria-label") == svg.get("aria-label")


@pytest.mark.parametrize("example", ["graph_sum_product", "graph_used_twice"])
def test_graph_variants_in_every_lms_format(tmp_path, example):
    xmlschema = pytest.importorskip("xmlschema")
    from conftest import DATA

    out = tmp_path / "v"
    r = run_cli("variants", str(EXAMPLES / f"{example}.toml"), "--count", "3", "--no-pdf", "--out", out,
                "--format", "moodle", "--format", "qti21", "--format", "canvas")
    assert r.returncode == 0, r.stderr
    # Moodle: three cloze questions, each with its circuit and one blank per asked quantity
    _, qs = questions((out / "moodle.xml").read_text(encoding="utf-8"))
    s = Exercise(spec_mod.load(EXAMPLES / f"{example}.toml")).solve()
    asked = sum(len(g) for _, g in lms.asked_names(s))
    assert len(qs) == 3
    for q in qs:
        assert moodle_figure(q)[0] == "circuit.svg" and len(blanks_of(q)) == asked
    # QTI 2.1: the manifest and every item validate; every img names a file of its resource
    item_schema = xmlschema.XMLSchema(DATA / "xsd" / "qtiv2p1" / "imsqti_v2p1.xsd")
    cp_schema = xmlschema.XMLSchema(DATA / "xsd" / "imscp_v1p1.xsd")
    z = zipfile.ZipFile(out / "qti21.zip")
    cp_schema.validate(z.read("imsmanifest.xml"))
    resources = ET.fromstring(z.read("imsmanifest.xml")).findall("cp:resources/cp:resource", NS)
    assert len(resources) == 3
    for res in resources:
        item_schema.validate(z.read(res.get("href")))
        root = ET.fromstring(z.read(res.get("href")))
        assert len(root.findall(".//q:textEntryInteraction", NS)) == asked
        (img,) = root.iter(f"{{{qti.QTI}}}img")
        picture = posixpath.join(posixpath.dirname(res.get("href")), img.get("src"))
        assert picture in [f.get("href") for f in res.findall("cp:file", NS)]
        assert ET.fromstring(z.read(picture)).tag == f"{SVG}svg"
    # Canvas: three quizzes of a text question and one numerical question per asked quantity
    z = zipfile.ZipFile(out / "canvas-qti12.zip")
    manifest = ET.fromstring(z.read("imsmanifest.xml"))
    quizzes = [r for r in manifest.findall("m:resources/m:resource", NS) if r.get("type") == "imsqti_xmlv1p2"]
    assert len(quizzes) == 3
    for res in quizzes:
        quiz = ET.fromstring(z.read(res.find("m:file", NS).get("href")))
        items = quiz.findall(".//{%s}item" % canvas.QTI12)
        assert len(items) == 1 + asked


def test_an_optimizer_exercise_in_every_lms_format():
    xmlschema = pytest.importorskip("xmlschema")
    from conftest import DATA

    s = Exercise(spec_mod.load(EXAMPLES / "optim_adam_quadratic.toml")).solve()
    names = [n for _, g in lms.asked_names(s) for n in g]
    # both Adam steps are asked: every state value, the step and the new parameter
    for t in (1, 2):
        assert {f"m_theta[{t}]", f"v_theta[{t}]", f"mhat_theta[{t}]", f"vhat_theta[{t}]"} <= set(names)
    assert {"theta*", "theta*[2]"} <= set(names)
    _, (q,) = questions(moodle.write_moodle([s]))
    assert moodle_figure(q)[0] == "network.svg" and len(blanks_of(q)) == len(names)
    z = zipfile.ZipFile(io.BytesIO(qti.write_qti21([s])))
    (item,) = [n for n in z.namelist() if n.startswith("items/") and n.endswith(".xml")]
    xmlschema.XMLSchema(DATA / "xsd" / "qtiv2p1" / "imsqti_v2p1.xsd").validate(z.read(item))
    z = zipfile.ZipFile(io.BytesIO(canvas.write_canvas([s])))
    (quiz,) = [n for n in z.namelist() if n.endswith(".xml") and n != "imsmanifest.xml"]
    assert len(ET.fromstring(z.read(quiz)).findall(".//{%s}item" % canvas.QTI12)) == 1 + len(names)
