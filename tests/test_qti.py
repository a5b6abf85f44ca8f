"""QTI 2.1 content packages: valid against the IMS schemas, and graded as meant.

The schemas in tests/data/xsd are IMS's QTI 2.1 (imsqti_v2p1.xsd) and Content Packaging
1.1 (imscp_v1p1.xsd) with the files they import (W3C xml.xsd, XInclude, MathML 2, APIP,
IMS metadata), as the TAO project ships them (oat-sa/extension-tao-itemqti,
model/qti/data). Grading is read off the item's own response processing: the tolerance
of each ``equal`` and the value it compares with.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from decimal import Decimal

import pytest
import xml.etree.ElementTree as ET

from conftest import DATA, run_cli
from derive import qti, variants as V
from test_moodle import HOSTILE, _hostile_spec, _typed, ASKED
from derive.solution import Exercise
from test_variants import oracle

xmlschema = pytest.importorskip("xmlschema")
NS = {"q": qti.QTI, "cp": qti.CP}


@pytest.fixture(scope="module")
def schemas():
    return (xmlschema.XMLSchema(DATA / "xsd" / "qtiv2p1" / "imsqti_v2p1.xsd"),
            xmlschema.XMLSchema(DATA / "xsd" / "imscp_v1p1.xsd"))


@pytest.fixture(scope="module")
def package(reference_exercise):
    drawn = V.Sampler(reference_exercise).draw_many(V.numbered(6), base_seed=4)
    solutions = [reference_exercise.solve(v.overrides, seed=v.seed, variant=v.id) for v in drawn]
    return solutions, zipfile.ZipFile(io.BytesIO(qti.write_qti21(solutions)))


def test_the_package_validates(package, schemas):
    solutions, z = package
    item_schema, cp_schema = schemas
    cp_schema.validate(z.read("imsmanifest.xml"))
    manifest = ET.fromstring(z.read("imsmanifest.xml"))
    resources = manifest.findall("cp:resources/cp:resource", NS)
    assert len(resources) == len(solutions)
    for r, s in zip(resources, solutions):
        assert r.get("type") == "imsqti_item_xmlv2p1"
        assert r.find("cp:file", NS).get("href") == r.get("href")
        text = z.read(r.get("href"))
        item_schema.validate(text)
        root = ET.fromstring(text)
        assert root.get("identifier") == r.get("identifier") and root.get("label") == s.variant
        assert f"variant {s.variant}" not in "".join(root.find("q:itemBody", NS).itertext())
        # the figure: one img, its file beside the item, listed in the item's resource, valid SVG
        (img,) = root.iter(f"{{{qti.QTI}}}img")
        picture = posixpath.join(posixpath.dirname(r.get("href")), img.get("src"))
        assert [f.get("href") for f in r.findall("cp:file", NS)] == [r.get("href"), picture]
        svg = ET.fromstring(z.read(picture))
        assert svg.tag == "{http://www.w3.org/2000/svg}svg" and len(svg.findall(".//{http://www.w3.org/2000/svg}circle")) >= 3
    files = [f.get("href") for r in resources for f in r.findall("cp:file", NS)]
    assert sorted(z.namelist()) == sorted(["imsmanifest.xml", *files])


def _grading(root) -> list[list[tuple[str, str, str, str]]]:
    """Per blank, its rules in order: (tolerance, compared value, score added, feedback id)."""
    out = []
    for cond in root.findall("q:responseProcessing/q:responseCondition", NS):
        rules = []
        for rule in cond:
            eq = rule.find("q:equal", NS)
            assert eq.get("toleranceMode") == "absolute"
            value = eq.find("q:baseValue", NS)
            rid = eq.find("q:variable", NS).get("identifier")
            if value is None:
                value_text = root.find(f"q:responseDeclaration[@identifier='{rid}']/q:correctResponse/q:value", NS).text
            else:
                value_text = value.text
            score = rule.find("q:setOutcomeValue[@identifier='SCORE']/q:sum/q:baseValue", NS)
            fb = rule.find("q:setOutcomeValue/q:baseValue[@baseType='identifier']", NS)
            rules.append((eq.get("tolerance"), value_text, score.text if score is not None else "0",
                          fb.text if fb is not None else ""))
        out.append(rules)
    return out


def test_answers_tolerances_and_feedback(package):
    solutions, z = package
    for ident in [n for n in z.namelist() if n.startswith("items/") and n.endswith(".xml")]:
        root = ET.fromstring(z.read(ident))
        s = next(s for s in solutions if root.get("label") == s.variant)
        expected = oracle(dict(s.givens))
        blanks = _grading(root)
        assert len(blanks) == len(ASKED) == len(root.findall(".//q:textEntryInteraction", NS))
        for rules, name in zip(blanks, ASKED):
            typed, unit = _typed(expected[name], 4)
            (tol, value, score, _), (ptol, pvalue, pscore, pfb), *wrong = rules
            assert Decimal(value) == typed and Decimal(tol) == Decimal("1.5") * unit and score == "1"
            assert (pvalue, pscore, pfb) == (value, "0.5", "ROUNDING") and Decimal(ptol) == Decimal("4.5") * unit
            for wtol, wvalue, wscore, wfb in wrong:
                assert wscore == "0" and abs(Decimal(wvalue) - typed) > 6 * unit
                # every feedback id set has an inline feedback to show
                shown = root.findall(f".//q:feedbackInline[@identifier='{wfb}']", NS)
                assert shown and all(f.get("showHide") == "show" for f in shown)
        key = root.find("q:modalFeedback", NS)
        assert key.get("outcomeIdentifier") == "SOLUTION" and "\\(" in "".join(key.itertext())


def test_the_sign_flip_is_recognised(package):
    solutions, z = package
    root = ET.fromstring(z.read(next(n for n in z.namelist() if n.startswith("items/") and n.endswith(".xml"))))
    s = next(s for s in solutions if root.get("label") == s.variant)
    e, g = oracle(dict(s.givens)), s.givens
    rules = dict(zip(ASKED, _grading(root)))["w7*"]
    flipped, _ = _typed(g["w7"] + g["eta"] * e["dL/dw7"], 4)
    match = [r for r in rules[2:] if abs(Decimal(r[1]) - flipped) <= Decimal(r[0])]
    assert match
    text = "".join(t for f in root.findall(f".//q:feedbackInline[@identifier='{match[0][3]}']", NS)
                   for t in f.itertext())
    assert "update sign flipped" in text


def test_hostile_text_still_validates(tmp_path, schemas):
    s = Exercise(_hostile_spec(tmp_path)).solve(seed=2, variant=HOSTILE)
    z = zipfile.ZipFile(io.BytesIO(qti.write_qti21([s])))
    item_schema, cp_schema = schemas
    cp_schema.validate(z.read("imsmanifest.xml"))
    (name,) = [n for n in z.namelist() if n.startswith("items/") and n.endswith(".xml")]
    item_schema.validate(z.read(name))
    root = ET.fromstring(z.read(name))
    assert root.get("title") == HOSTILE and root.get("label") == HOSTILE
    assert HOSTILE in "".join(root.find("q:itemBody", NS).itertext())


def test_cli_writes_the_package(tmp_path):
    out = tmp_path / "v"
    r = run_cli("variants", "--count", "2", "--no-pdf", "--out", out, "--format", "qti21")
    assert r.returncode == 0, r.stderr
    assert (out / "qti21.zip").exists() and (out / "answers.json").exists()
    assert not (out / "moodle.xml").exists()
    assert len([n for n in zipfile.ZipFile(out / "qti21.zip").namelist() if n.startswith("items/") and n.endswith(".xml")]) == 2


def test_the_schemas_do_reject(package, schemas):
    """The validation can fail: a misplaced element and a wrong attribute are refused."""
    _, z = package
    item_schema, cp_schema = schemas
    text = z.read(next(n for n in z.namelist() if n.startswith("items/") and n.endswith(".xml"))).decode("utf-8")
    for bad in (text.replace("<itemBody><div>", "<itemBody><textEntryInteraction/><div>", 1),
                text.replace('toleranceMode="absolute"', 'toleranceMode="about"', 1)):
        with pytest.raises(xmlschema.XMLSchemaValidationError):
            item_schema.validate(bad)
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        cp_schema.validate(z.read("imsmanifest.xml").decode("utf-8").replace("<organizations/>", ""))


def test_every_example_spec_validates(schemas):
    from conftest import EXAMPLES
    from derive import lms, spec as spec_mod
    item_schema, _ = schemas
    for path in sorted(EXAMPLES.glob("*.toml")):
        s = Exercise(spec_mod.load(path)).solve()
        z = zipfile.ZipFile(io.BytesIO(qti.write_qti21([s])))
        (name,) = [n for n in z.namelist() if n.startswith("items/") and n.endswith(".xml")]
        item_schema.validate(z.read(name))
        root = ET.fromstring(z.read(name))
        asked = [n for _, group in lms.asked_names(s) for n in group]
        assert len(root.findall(".//q:textEntryInteraction", NS)) == len(asked), path.name
