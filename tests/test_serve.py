"""derive serve, through its ASGI application: what the pages show, that they never hold
an answer, and what hostile requests get."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import warnings

import pytest

pytest.importorskip("starlette")
with warnings.catch_warnings():  # Starlette's test client asks for httpx's successor; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from conftest import ROOT  # noqa: E402
from derive import check, serve, spec, web  # noqa: E402
from derive.rounding import fixed  # noqa: E402
from derive.solution import Exercise  # noqa: E402

REFERENCE_ANSWERS = ROOT / "tests" / "data" / "reference_sheet_answers.toml"


@pytest.fixture(scope="module")
def builtin():
    sources = serve.load([])
    return sources, TestClient(serve.app(sources), follow_redirects=False)


def sheet_answers(exercise) -> dict[str, str]:
    answers = check.read_answers(REFERENCE_ANSWERS, list(exercise.derivation.index))
    return {a.name: a.written.text for a in answers}


def verdicts(html: str, exercise) -> dict[str, str]:
    """name -> verdict, read from the rows of the page."""
    ids = {f.id: f.name for p in web.parts(exercise) for f in p.fields}
    return {ids[i]: v for v, i in re.findall(r'<div class="row (\w+)" id="(q\d+)"', html)}


# Independent of derive: the built-in exercise computed here from its definition
# (x1 = x2 = 1, sigmoid hidden units, linear output, ½ squared error, η = 0.2).
def true_values() -> dict[str, float]:
    import math
    w = dict(w1=0.7, w2=1.3, w3=1.5, w4=0.1, w5=0.0, w6=0.0, w7=0.7, w8=0.8, w9=0.0)
    s = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731

    def forward(w):
        h1_in, h2_in = w["w1"] + w["w3"] + w["w5"], w["w2"] + w["w4"] + w["w6"]
        h1, h2 = s(h1_in), s(h2_in)
        yhat = h1 * w["w7"] + h2 * w["w8"] + w["w9"]
        return dict(h1_in=h1_in, h2_in=h2_in, h1=h1, h2=h2, yhat_in=yhat, yhat=yhat, L=0.5 * (yhat - 1) ** 2)

    v = forward(w)
    d = v["yhat"] - 1
    g = {"dL/dyhat": d, "dh1/dh1_in": v["h1"] * (1 - v["h1"]), "dh2/dh2_in": v["h2"] * (1 - v["h2"])}
    g1, g2 = d * w["w7"] * g["dh1/dh1_in"], d * w["w8"] * g["dh2/dh2_in"]
    grads = {"w1": g1, "w3": g1, "w5": g1, "w2": g2, "w4": g2, "w6": g2, "w7": d * v["h1"], "w8": d * v["h2"], "w9": d}
    new = {k: w[k] - 0.2 * grads[k] for k in w}
    after = forward(new)
    out = {**v, **g, **{f"dL/d{k}": grads[k] for k in grads}, **{f"{k}*": new[k] for k in new}}
    out.update({f"{k}'": after[k] for k in after})
    return out


def leaks(text: str, values: dict[str, float], skip=()) -> list[str]:
    """Every true value, written with 2 to 6 decimals, that stands in ``text`` as a number."""
    found = []
    for name, value in values.items():
        if name in skip:
            continue
        for d in range(2, 7):
            s = fixed(value, -d)
            if re.search(rf"(?<![\d.]){re.escape(s)}(?![\d])", text):
                found.append(f"{name} as {s}")
    return found


def test_the_oracle_matches_the_published_losses():
    v = true_values()
    assert round(v["L"], 4) == 0.0370 and round(v["L'"], 4) == 0.0092  # README, from the course's key


def test_no_page_or_stylesheet_holds_an_answer(builtin):
    sources, client = builtin
    assert client.get("/").status_code == 303
    values = true_values()
    names = set(web.field_names(sources[0].exercise))
    assert names == set(values) | {"dyhat/dyhat_in"}  # the oracle covers every field but the constant 1
    for url in ("/e/1", "/page.css", "/nothing-here"):
        text = client.get(url).text
        assert not leaks(text, values), url


def test_a_partial_submission_shows_nothing_of_the_fields_left_blank(builtin):
    sources, client = builtin
    values = true_values()
    given = {"h1_in": "2.2", "h1": "0.95"}  # h1 wrong
    r = client.post("/e/1", data=given)
    assert r.status_code == 200
    assert verdicts(r.text, sources[0].exercise) == {"h1_in": "correct", "h1": "wrong"}
    # h1_in was typed by the student: its value may stand in the page, no other one may.
    assert not leaks(r.text, values, skip={"h1_in"})


def test_reference_sheet_feedback(builtin):
    sources, client = builtin
    exercise = sources[0].exercise
    r = client.post("/e/1", data=sheet_answers(exercise))
    assert r.status_code == 200
    got = verdicts(r.text, exercise)
    assert got["w8*"] == "wrong" and got["yhat'"] == "carried" and got["L'"] == "carried"
    assert [n for n, v in got.items() if v == "wrong"] == ["w8*"]
    assert "1 wrong" in r.text and "2 carried forward" in r.text
    # The true w8* = 0.7564 is not told, at any precision.
    assert not leaks(r.text, {"w8*": true_values()["w8*"]})
    assert "follows from your" in r.text


def test_reveal_tells_the_true_value_of_a_wrong_field():
    sources = serve.load([])
    hidden = TestClient(serve.app(sources)).post("/e/1", data={"h1": "0.95"}).text
    shown = TestClient(serve.app(sources, reveal=True)).post("/e/1", data={"h1": "0.95"}).text
    assert "0.90" not in hidden and "should be 0.90" in shown


def test_numbers_as_students_write_them(builtin):
    sources, client = builtin
    v = true_values()
    typed = {"dL/dw1": "0,0171", "dL/dw2": "3.45e-2", "w5*": "\u22120.0034", "dL/dw9": " 0.2719 "}
    assert abs(v["dL/dw2"] - 3.45e-2) < 5e-5
    r = client.post("/e/1", data=typed)
    assert set(verdicts(r.text, sources[0].exercise).values()) == {"correct"}
    assert 'value="0,0171"' in r.text  # kept as typed


@pytest.mark.parametrize("text", ["abc", "0.1.2", "1,2,3", "1.5,2", "nan", "inf", "1e999999", "0x10", "1_000",
                                  "9" * 41, "--1", "½"])
def test_a_value_that_is_not_a_number_is_marked(builtin, text):
    sources, client = builtin
    r = client.post("/e/1", data={"h1": text, "h1_in": "2.2"})
    assert r.status_code == 422
    assert "not a number" in r.text and 'class="row correct" id="q15"' in r.text  # h1_in still checked


def test_hostile_requests_get_a_4xx_page_and_the_server_keeps_serving(builtin):
    sources, client = builtin
    attack = "<script>alert(1)</script>"
    cases = [
        (client.post("/e/1", data={"h1": attack}), 422),
        (client.post("/e/1", data={attack: "1"}), 400),
        (client.post("/e/1", data={"h1": "0.9", "id": attack}), 400),  # no variants here
        (client.post("/e/1", content=b"h1=0.9&h1=0.8", headers={"content-type": "application/x-www-form-urlencoded"}), 400),
        (client.post("/e/1", content=b"x" * (serve.MAX_BODY + 1), headers={"content-type": "application/x-www-form-urlencoded"}), 413),
        (client.post("/e/1", content=iter([b"h1=" + b"9" * 20000, b"9" * 20000]), headers={"content-type": "application/x-www-form-urlencoded"}), 413),
        (client.post("/e/1", content=b"\xff\xfe=1", headers={"content-type": "application/x-www-form-urlencoded"}), 400),
        (client.post("/e/1", content=json.dumps({"h1": 1}), headers={"content-type": "application/json"}), 415),
        (client.post("/e/1", content=b"", headers={"content-type": "application/x-www-form-urlencoded"}), 422),
        (client.post("/e/2", data={"h1": "1"}), 404),
        (client.get("/e/1/../../../etc/passwd"), 404),
        (client.get("/%2e%2e/%2e%2e/etc/passwd"), 404),
        (client.get("/page.css/../../pyproject.toml"), 404),
        (client.get("/e/1%00"), 404),
        (client.get("/e/" + attack), 404),
        (client.get("/templates/html/sheet.html.j2"), 404),
        (client.delete("/e/1"), 405),
    ]
    for r, status in cases:
        assert r.status_code == status, (r.request.url, r.text[:300])
        assert "<script" not in r.text and "Traceback" not in r.text
        assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert "&lt;script&gt;" in cases[0][0].text  # echoed, escaped
    assert client.get("/e/1").status_code == 200


@pytest.fixture(scope="module")
def variants_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("v") / "exam"
    roster = out.parent / "roster.csv"
    roster.write_text("id,name\n00417,A\n00981,B\n12345,C\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "derive", "variants", "--roster", str(roster), "--seed", "7",
                    "--no-pdf", "--out", str(out)], check=True, capture_output=True)
    return out


def test_variants_ask_for_an_id_and_answer_unknown_ones_alike(variants_dir):
    sources = serve.load([str(variants_dir)])
    client = TestClient(serve.app(sources))
    page = client.get("/e/1")
    assert page.status_code == 200 and "Your id" in page.text
    assert "00417" not in page.text and "00981" not in page.text  # ids are not listed
    unknown = client.get("/e/1", params={"id": "99999"})
    malformed = client.get("/e/1", params={"id": "<script>x</script>"})
    assert unknown.status_code == malformed.status_code == 404
    assert unknown.text == malformed.text and "<script" not in malformed.text
    posted = client.post("/e/1", data={"id": "99999", "h1": "0.5"})
    assert posted.status_code == 404
    assert client.post("/e/1", data={"h1": "0.5"}).status_code == 400  # no id


def test_a_variant_is_checked_against_its_own_numbers(variants_dir):
    data = json.loads((variants_dir / "answers.json").read_text())
    record = next(v for v in data["variants"] if v["variant"] == "00981")
    sources = serve.load([str(variants_dir)])
    client = TestClient(serve.app(sources))
    page = client.get("/e/1", params={"id": "00981"})
    assert page.status_code == 200 and "sheet 00981" in page.text
    exercise = sources[0].exercise
    # Each given value of the variant stands on its sheet.
    for name in ("w1", "w7", "x1"):
        assert f"<td>{record['given'][name]:g}</td>" in page.text or f"{record['given'][name]:g}" in page.text
    # The variant's own values, rounded to 4 decimals, are all correct; the built-in exercise's are not.
    own = {n: f"{record['quantities'][n]:.4f}" for n in ("h1_in", "h1", "yhat", "L", "dL/dw1", "w1*", "L'")}
    r = client.post("/e/1", data={"id": "00981", **own})
    assert set(verdicts(r.text, exercise).values()) == {"correct"}
    ref = {n: f"{v:.4f}" for n, v in true_values().items() if n in own}
    r = client.post("/e/1", data={"id": "00981", **ref})
    assert "wrong" in verdicts(r.text, exercise).values()


def test_results_are_appended_as_json_lines(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"earlier": true}\n', encoding="utf-8")  # never overwritten
    sources = serve.load([])
    client = TestClient(serve.app(sources, results=serve.Results(path)))
    client.post("/e/1", data=sheet_answers(sources[0].exercise))
    client.post("/e/1", data={"h1": "<b>0.9</b>", "h1_in": "2.2"})  # not checked as a whole: still logged
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == {"earlier": True}
    first = lines[1]
    assert first["verdicts"]["w8*"] == "wrong" and first["root_errors"] == ["w8*"]
    assert first["values"]["w8*"] == "0.7" and first["variant"] is None and first["time"].endswith("+00:00")
    assert lines[2]["values"]["h1"] == "<b>0.9</b>" and "h1" not in lines[2]["verdicts"]


def test_results_from_many_threads_stay_whole_lines(tmp_path):
    results = serve.Results(tmp_path / "r.jsonl")
    record = {"values": {f"q{i}": "0." + "7" * 30 for i in range(40)}}

    def write(k):
        for j in range(50):
            results.append({**record, "k": k, "j": j})

    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert sorted((d["k"], d["j"]) for d in map(json.loads, lines)) == [(k, j) for k in range(8) for j in range(50)]


def test_bad_sources_are_refused_in_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    r = subprocess.run([sys.executable, "-m", "derive", "serve", str(tmp_path / "empty")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "answers.json" in r.stderr
    r = subprocess.run([sys.executable, "-m", "derive", "serve", "--results", str(tmp_path / "no" / "r.jsonl")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--results" in r.stderr and "Traceback" not in r.stderr


def test_the_figure_is_drawn_from_the_layout():
    exercise = Exercise(spec.load())
    svg_text = str(web.figure(exercise))
    assert svg_text.count("<circle") == 4 + 1 + 1  # x1, x2, h1, h2, ŷ drawn double
    assert svg_text.count("<line") == 9  # one arrow per weight
    for k in range(1, 10):
        assert f">w</tspan><tspan font-size=\"10\" baseline-shift=\"sub\">{k}</tspan>" in svg_text
    assert not re.search(r"\d\.\d", svg_text)  # whole pixels only


@pytest.mark.parametrize("example", ["reference", "graph_max"])
@pytest.mark.parametrize("carry", ["full", "rounded"])
def test_the_page_asks_for_one_decimal_in_the_singular(tmp_path, example, carry):
    text = (ROOT / "examples" / f"{example}.toml").read_text()
    path = tmp_path / "spec.toml"
    path.write_text(re.sub(r"(?m)^decimals = \d+$", f'decimals = 1\ncarry = "{carry}"', text))
    page = " ".join(TestClient(serve.app(serve.load([str(path)]))).get("/e/1").text.split())
    assert "1 decimals" not in page and re.search(r"to 1 decimal\b", page)
