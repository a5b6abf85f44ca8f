"""Layout budgets over a suite of specs (the examples, the specs of tests/data, a deep
8-32-32-32-4 network and one spec per loss the examples leave out): every document made from
them (sheet, key, feedback sheet, the variants' sheets and keys) compiles in one pass (its
tables right without the .aux of another) with no line past the margin, the keys of the wide and the deep network fit their page budgets, no page ends
with a heading or an introduction whose content is on the next page, and a larger network's
key is laid out as tables whose numbers agree with an independent forward pass and with
high-precision finite differences of the composed loss.

Run as a script (``python tests/test_layout.py``), it prints the README's table of pages
and overfull lines."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import EXAMPLES, run_cli  # noqa: E402
from derive import check as check_mod, feedback, key_tables, pdf, render, solution, spec as spec_mod  # noqa: E402
from oracle import composed_loss, finite_difference  # noqa: E402
import specs  # noqa: E402

DATA = EXAMPLES.parent / "tests" / "data"
GIVEN = {p.stem: p for p in sorted(EXAMPLES.glob("*.toml"))} | {
    "tanh_softmax_3_4_4_2": DATA / "tanh_softmax_3_4_4_2.toml", "wide_4_16_16_4": DATA / "wide_4_16_16_4.toml"}
GENERATED = specs.layout_specs()
SUITE = [*GIVEN, *GENERATED]
BUDGETS = {"wide_4_16_16_4": 10, "deep_8_32_32_32_4": 20}  # pages of the key
needs_tex = pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftotext") is None,
                               reason="needs TeX Live and poppler-utils")


class Suite:
    """Every document of the suite, made and compiled once per test session on first use."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.made: dict[str, dict[str, tuple[str, int, Path, list[str]]]] = {}

    def spec(self, name: str) -> Path:
        if name in GIVEN:
            return GIVEN[name]
        path = self.folder / f"{name}.toml"
        if not path.exists():
            path.write_text(specs.to_toml(GENERATED[name]))
        return path

    def documents(self, name: str) -> dict[str, tuple[str, int, Path, list[str]]]:
        """document -> (pdflatex's log, pages, PDF, what its first log asked): the sheet, the
        key, a feedback sheet and, for a spec with [vary], the sheets and keys of two variants."""
        if name not in self.made:
            out = self.folder / name
            r = run_cli("solve", self.spec(name), "--out", out, "--no-pdf")
            assert r.returncode == 0, r.stderr
            texs = {"sheet": out / "sheet.tex", "key": out / "solution.tex",
                    "feedback": self._feedback(name, out)}
            if "[vary]" in self.spec(name).read_text():
                many = self.folder / f"{name}-variants"
                r = run_cli("variants", self.spec(name), "--count", "2", "--seed", "1", "--out", many, "--no-pdf")
                assert r.returncode == 0, r.stderr
                texs |= {f"variant {t.stem}": t for t in sorted(many.glob("*/*.tex"))}
            self.made[name] = {doc: compile_log(tex) for doc, tex in texs.items()}
        return self.made[name]

    def _feedback(self, name: str, out: Path) -> Path:
        """The feedback sheet of `derive check --pdf` for answers that copy the key at four
        decimals, with every fifth value off (so the key's lines are quoted beside them)."""
        values = json.loads((out / "answers.json").read_text())["quantities"]
        names = list(values)
        chosen = list(dict.fromkeys(names[:25] + names[::max(1, len(names) // 30)] + names[-25:]))
        answers = out / "answers.toml"
        answers.write_text("".join(f"{json.dumps(n)} = {values[n] + (0.5 if i % 5 == 4 else 0):.4f}\n"
                                   for i, n in enumerate(chosen)))
        exercise = solution.Exercise(spec_mod.load(self.spec(name)))
        report = check_mod.check(exercise, exercise.solve(),
                                 check_mod.read_answers(answers, check_mod.names(exercise)),
                                 source=answers.name)
        tex = out / "feedback.tex"
        tex.write_text(render.render(render.environment(None), feedback.TEMPLATE,
                                     feedback.feedback_context(report)), encoding="utf-8")
        return tex


@pytest.fixture(scope="session")
def suite(tmp_path_factory):
    return Suite(tmp_path_factory.mktemp("layout"))


def compile_log(tex: Path) -> tuple[str, int, Path, list[str]]:
    """pdflatex's last log of one document, its page count, its PDF and the lines of its
    first log that ask for another pass (passes run while the log asks, as `derive` runs them)."""
    first = None
    for _ in range(pdf.MAX_PASSES):
        subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name],
                       cwd=tex.parent, capture_output=True, timeout=300, env=pdf.tex_env())
        log = tex.with_suffix(".log").read_text(errors="replace")
        asking = [line for line in log.splitlines() if pdf.RERUN.search(line)]
        first = asking if first is None else first
        if not asking:
            break
    pages = re.search(r"Output written on .*?\((\d+) pages?", log)
    assert pages, f"{tex.name} did not compile:\n{log[-2000:]}"
    return log, int(pages.group(1)), tex.with_suffix(".pdf"), first


def overfull(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("Overfull \\hbox")]


@needs_tex
@pytest.mark.parametrize("name", SUITE)
def test_no_line_runs_past_the_margin(suite, name):
    for document, (log, _, _, _) in suite.documents(name).items():
        assert overfull(log) == [], f"{name} {document}: {overfull(log)}"


def _given_rows(tex: str) -> list[list[str]]:
    """The parameter names of each part of the sheet's table of given values, and that
    table's column count."""
    tables = re.findall(r"\\begin\{tabular\}\{@\{\}l\*\{(\d+)\}\{c\}@\{\}\}(.*?)\\end\{tabular\}", tex, re.S)
    assert len(tables) == 1, "the parts are one table, so that their columns line up"
    columns, body = tables[0]
    rows = [re.findall(r"\$([^$]*)\$", line) for line in body.splitlines() if line.startswith("parameter &")]
    assert max(map(len, rows)) == int(columns)
    return rows


@needs_tex
@pytest.mark.parametrize("values,row_lengths", [
    ({}, [9]),  # names of several characters (b_h1, b_yhat) but narrow columns: one row, as w1 … w9 are
    ({"w1": -0.4817, "w2": -0.4817, "w3": -0.4817, "w4": 0.4817, "b_h1": -0.4817, "b_h2": -0.4817,
      "w5": 0.4817, "w6": -0.4817, "b_yhat": -0.4817}, [5, 4]),  # nine of these would run past the margin
])
def test_given_values_take_the_columns_that_fit_the_line(tmp_path, values, row_lengths):
    text = (DATA / "bce_adam_two_steps.toml").read_text()
    for name, value in values.items():
        text = re.sub(rf"(?m)^{name} = .*$", f"{name} = {value}", text)
    path = tmp_path / "spec.toml"
    path.write_text(text)
    r = run_cli("solve", path, "--out", tmp_path / "out", "--no-pdf")
    assert r.returncode == 0, r.stderr
    sheet = tmp_path / "out" / "sheet.tex"
    assert [len(row) for row in _given_rows(sheet.read_text())] == row_lengths
    log, _, _, asking = compile_log(sheet)
    assert overfull(log) == [] and asking == []


def test_given_values_in_rows_as_even_as_fit():
    def items(n: int, value: str) -> list[dict]:
        return [{"name": f"w{i}", "tex": f"w_{{{i}}}", "value": value} for i in range(1, n + 1)]

    assert [len(r) for r in render._rows(items(15, "0.1"))] == [8, 7]  # not 10 and 5
    assert [len(r) for r in render._rows(items(10, "0.1"))] == [10]
    assert [len(r) for r in render._rows(items(10, "-0.4817"))] == [5, 5]
    assert [len(r) for r in render._rows(items(16, "-0.4817"))] == [8, 8]
    assert render._rows([]) == []


@needs_tex
@pytest.mark.parametrize("name", SUITE)
def test_every_document_is_done_in_one_pass(suite, name):
    """No log asks for another pass: a longtable's head, body and rules line up on the
    first (its widths do not wait for the .aux), and `derive solve` runs pdflatex once."""
    for document, (_, _, _, asked) in suite.documents(name).items():
        assert asked == [], f"{name} {document}: {asked}"


LONGTABLE_ASKS = "Table widths have changed. Rerun LaTeX."
LATEX_ASKS = "Label(s) may have changed. Rerun to get cross-references right."


@needs_tex
@pytest.mark.parametrize("ask, asking_passes, passes", [
    (LONGTABLE_ASKS, 1, 2), (LATEX_ASKS, 1, 2), (LONGTABLE_ASKS, 99, pdf.MAX_PASSES), ("", 99, 1)])
def test_tex_runs_again_while_its_log_asks(tmp_path, ask, asking_passes, passes):
    """A document whose log asks for another pass, in longtable's words or LaTeX's, gets
    one, up to MAX_PASSES; the document here prints its pass."""
    tex = tmp_path / "asks.tex"
    tex.write_text(r"""\documentclass{article}
\pagestyle{empty}
\begin{document}
\makeatletter
\ifdefined\passes\count@\passes\else\count@\z@\fi\advance\count@\@ne
\immediate\write\@auxout{\gdef\string\passes{\the\count@}}
\ifnum\count@>%d \else\PackageWarningNoLine{test}{%s}\fi
pass \the\count@
\end{document}
""" % (asking_passes, ask))
    pdf.compile_one(tex)
    assert pdftotext_pages(tex.with_suffix(".pdf"))[0].split() == ["pass", str(passes)]


@needs_tex
@pytest.mark.parametrize("name", BUDGETS)
def test_large_keys_fit_their_page_budget(suite, name):
    _, pages, _, _ = suite.documents(name)["key"]
    assert pages <= BUDGETS[name]


def test_the_form_follows_the_size():
    small = solution.Exercise(spec_mod.load(EXAMPLES / "reference.toml")).solve()
    wide = solution.Exercise(spec_mod.load(DATA / "wide_4_16_16_4.toml")).solve()
    assert not key_tables.chosen(small)
    assert key_tables.chosen(wide)


def _spec(path, **display):
    raw = tomllib.loads(path.read_text())
    raw["display"] = {**raw.get("display", {}), **display}
    return spec_mod.from_table(raw, str(path))


def test_display_form_overrides_the_size():
    assert not key_tables.chosen(solution.Exercise(_spec(DATA / "wide_4_16_16_4.toml", form="chains")).solve())
    assert key_tables.chosen(solution.Exercise(_spec(EXAMPLES / "reference.toml", form="tables")).solve())


def test_a_bad_display_form_is_refused(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text((DATA / "wide_4_16_16_4.toml").read_text() + "\n[display]\nform = \"matrix\"\n")
    r = run_cli("solve", spec, "--out", tmp_path / "out", "--no-pdf")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "display.form" in r.stderr and "tables" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "out").exists()


def test_tables_refused_for_several_examples_in_a_batch(tmp_path):
    """Online updates are laid out example by example (tests/test_online_order.py); a batch
    of several examples has no table form."""
    spec = tmp_path / "batch.toml"
    text = (EXAMPLES / "softmax_online.toml").read_text().replace('update = "online"', 'update = "batch"')
    spec.write_text(text + '\n[display]\nform = "tables"\n')
    r = run_cli("solve", spec, "--out", tmp_path / "out", "--no-pdf")
    assert r.returncode == 2 and "display.form" in r.stderr and r.stderr.count("\n") == 1


def test_long_sums_break_between_terms_only():
    s = r"\left(a + b\right) \cdot 2 + (-0.25) \cdot 0.5 - c_{1} + \frac{1}{2} \left(o - y\right)^{2}"
    assert key_tables.terms(s) == [r"\left(a + b\right) \cdot 2", r"+ (-0.25) \cdot 0.5", "- c_{1}",
                                   r"+ \frac{1}{2} \left(o - y\right)^{2}"]
    long = " + ".join(f"w_{{{i}}} h_{{{i}}}" for i in range(1, 40))
    rows = key_tables.rows(long, room=30)
    assert len(rows) > 3 and all(key_tables.width(r) <= 30 for r in rows)
    assert " ".join(rows) == long  # nothing lost, nothing added
    bracketed = r"\left(" + long + r"\right) \cdot 0.5"
    rows = key_tables.rows(bracketed, room=30)
    assert rows[0].startswith(r"\bigl(") and rows[-1].endswith(r"\bigr) \cdot 0.5")


def _table_rows(tex: str) -> dict[tuple[str, int], list[float]]:
    """The rows of the key's tables: (first cell, count of numbers) -> the numbers after
    it (a unit's forward row has two or three, its δ row one, an update row four)."""
    out = {}
    for m in re.finditer(r"^\$([^$]+)\$((?: & \$[-0-9.]+\$)+) \\\\\*?$", tex, re.M):
        numbers = [float(v) for v in re.findall(r"\$([-0-9.]+)\$", m.group(2))]
        out[m.group(1), len(numbers)] = numbers
    return out


def test_table_numbers_agree_with_independent_sources(tmp_path):
    """The 3-4-4-2 tanh/softmax key: forward tables against a plain forward pass written
    here from the spec, update rows against mpmath finite differences of the composed loss."""
    path = DATA / "tanh_softmax_3_4_4_2.toml"
    r = run_cli("solve", path, "--out", tmp_path, "--no-pdf")
    assert r.returncode == 0, r.stderr
    rows = _table_rows((tmp_path / "solution.tex").read_text())
    raw = tomllib.loads(path.read_text())
    ex = solution.Exercise(spec_mod.from_table(raw, str(path)))
    w, example = raw["weights"], raw["examples"][0]
    value = dict(example)
    for layer in ex.network.layers:  # structure from the network, arithmetic written here
        z = {u: sum(w[p.name] * (1 if p.is_bias else value[p.source])
                    for p in ex.network.params if u in p.targets) for u in layer.units}
        if layer.activation == "softmax":
            total = sum(math.exp(t) for t in z.values())
            a = {u: math.exp(t) / total for u, t in z.items()}
        else:
            a = {u: math.tanh(t) for u, t in z.items()}
        for u in layer.units:
            name = f"{u[0]}_{{{u[1:]}}}"
            if layer.activation == "tanh":
                pre, act, derivative = rows[name, 3]
                assert derivative == pytest.approx(1 - a[u] ** 2, abs=0.6e-4)
            else:
                pre, act = rows[name, 2]
            assert pre == pytest.approx(z[u], abs=0.6e-4) and act == pytest.approx(a[u], abs=0.6e-4)
        value.update(a)
    loss = composed_loss(ex.derivation)
    givens = ex.givens()
    eta = raw["training"]["learning_rate"]
    for param in ("w1", "w17", "b_g2", "w36", "b_o2"):
        gradient = finite_difference(loss, param, givens)
        latex = f"w_{{{param[1:]}}}" if param.startswith("w") else f"b_{{{param[2]}_{{{param[3:]}}}}}"
        old, shown_gradient, step, new = rows[latex, 4]
        assert old == w[param], param
        assert shown_gradient == pytest.approx(gradient, abs=0.6e-4)
        assert step == pytest.approx(-eta * gradient, abs=0.6e-4)
        assert new == pytest.approx(w[param] - eta * gradient, abs=0.6e-4)



def _latex(unit: str) -> str:
    return f"{unit[0]}_{{{unit[1:]}}}"


def test_matrices_agree_with_finite_differences(monkeypatch):
    """The 3-4-4-2 key's gradient matrices, and its update as matrices of new weights (as
    a network past one page of update table shows it), cell by cell at the row of the
    weight's source and the column of the unit it feeds: against mpmath finite differences
    of the composed loss, and the given weights less η times those."""
    path = DATA / "tanh_softmax_3_4_4_2.toml"
    raw = tomllib.loads(path.read_text())
    ex = solution.Exercise(spec_mod.from_table(raw, str(path)))
    monkeypatch.setattr(key_tables, "MATRIX_UPDATE", 10)
    tables = key_tables.context(ex.solve())
    loss, givens, eta = composed_loss(ex.derivation), ex.givens(), raw["training"]["learning_rate"]
    layers = [["x1", "x2", "x3"], ["h1", "h2", "h3", "h4"], ["g1", "g2", "g3", "g4"]]
    # (parameter, source (None: the bias), unit fed, layer): w1 is x1 -> h1, as the spec numbers it
    for param, source, target, layer in (("w1", "x1", "h1", 0), ("w6", "x2", "h2", 0), ("b_h4", None, "h4", 0),
                                        ("w17", "h2", "g1", 1), ("b_g2", None, "g2", 1),
                                        ("w36", "g4", "o2", 2), ("b_o2", None, "o2", 2)):
        gradient = finite_difference(loss, param, givens)
        for matrices, expected in ((tables["gradient_matrices"], gradient),
                                   (tables["update_matrices"], raw["weights"][param] - eta * gradient)):
            m = matrices[layer]
            assert [r["source"] for r in m["blocks"][0]["rows"]] == [_latex(u) for u in layers[layer]] + [r"\text{bias}"]
            row = layers[layer].index(source) if source else len(layers[layer])
            cell = next(b["rows"][row]["cells"][b["targets"].index(_latex(target))]
                        for b in m["blocks"] if _latex(target) in b["targets"])
            assert float(cell) == pytest.approx(expected, abs=0.6e-4), param
    assert tables["updates"] == [] and tables["update_others"] == []


def test_matrix_blocks_fit_the_text_width():
    """A 32-unit layer's matrix in blocks of columns: every unit once, in order, the
    blocks as wide as each other (within one column)."""
    wide = solution.Exercise(spec_mod.from_table(GENERATED["deep_8_32_32_32_4"], "deep")).solve()
    for m in key_tables.context(wide)["gradient_matrices"]:
        blocks = [b["targets"] for b in m["blocks"]]
        assert max(map(len, blocks)) - min(map(len, blocks)) <= 1
        assert [t for b in blocks for t in b] == sorted({t for b in blocks for t in b}, key=lambda t: int(t[3:-1]))
        assert max(map(len, blocks)) <= 12 and (len(blocks) == 1 or max(map(len, blocks)) >= 8)


def headings(tex: str) -> set[str]:
    """The headings of a document as pdftotext prints them."""
    found = re.findall(r"\\(?:sub)?section\*\{(.+?)\}\n", tex)
    return {" ".join(re.sub(r"\$[^$]*\$|\\[a-zA-Z]+|[{}]", " ", h).split()) for h in found}


def page_ends(pdf: Path) -> list[str]:
    """The last line of text of every page but the last (the page number left out)."""
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    ends = []
    for page in text.split("\f")[:-1]:
        lines = [l.strip() for l in page.splitlines() if l.strip() and not l.strip().isdigit()]
        ends.append(lines[-1] if lines else "")
    return ends[:-1]


def stranded(pdf: Path, tex: Path) -> list[str]:
    """Page ends that announce what only the next page shows: a heading, or a line that
    ends with a colon (a question's stem, a worked line's introduction)."""
    names = headings(tex.read_text())
    return [end for end in page_ends(pdf)
            if end.endswith(":") or " ".join(re.sub(r"[^\w ]", " ", end).split()) in names]


@needs_tex
@pytest.mark.parametrize("name", SUITE)
def test_no_page_ends_with_a_heading_or_a_stem(suite, name):
    for document, (_, _, made, _) in suite.documents(name).items():
        assert stranded(made, made.with_suffix(".tex")) == [], f"{name} {document}"


def readme_table(suite: Suite) -> str:
    """The README's table: pages and overfull lines of every document of the suite."""
    rows = ["| spec | sheet | key | feedback | two variants' keys; sheets | overfull lines, all documents |",
            "|---|---|---|---|---|---|"]
    for name in SUITE:
        docs = suite.documents(name)
        variants = "; ".join(", ".join(str(pages) for doc, (_, pages, _, _) in docs.items() if doc.startswith(kind))
                             for kind in ("variant key", "variant sheet"))
        where = f"`examples/{name}.toml`" if GIVEN.get(name, DATA).parent == EXAMPLES else (
            f"`tests/data/{name}.toml`" if name in GIVEN else f"`{name}` (tests/specs.py)")
        rows.append(f"| {where} | {docs['sheet'][1]} | {docs['key'][1]} | {docs['feedback'][1]} | "
                    f"{variants if variants != '; ' else '—'} | {sum(len(overfull(d[0])) for d in docs.values())} |")
    return "\n".join(rows)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        print(readme_table(Suite(Path(folder))))


@needs_tex
def test_combined_pdfs_start_every_document_on_an_odd_page(tmp_path):
    """sheets.pdf and keys.pdf, printed on both sides, give every variant a sheet of its
    own: a document of an odd number of pages is followed by a blank page."""
    out = tmp_path / "v"
    r = run_cli("variants", EXAMPLES / "graph_max.toml", "--count", "3", "--seed", "1", "--out", out)
    assert r.returncode == 0, r.stderr
    for folder, combined in (("sheets", "sheets.pdf"), ("keys", "keys.pdf")):
        parts = sorted((out / folder).glob("*.pdf"))
        pages = [pdftotext_pages(p) for p in parts]
        assert any(len(p) % 2 for p in pages)  # the test has an odd document to pad
        whole = pdftotext_pages(out / combined)
        start = 0
        for i, doc in enumerate(pages):
            assert start % 2 == 0  # page start + 1 is odd
            assert whole[start:start + len(doc)] == doc
            start += len(doc)
            if len(doc) % 2 and i < len(pages) - 1:
                assert whole[start].strip() == ""
                start += 1
        assert start == len(whole)
    assert not list(out.rglob(".blank*"))


def pdftotext_pages(pdf: Path) -> list[str]:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout.split("\f")[:-1]
