"""Layout budgets over a suite of specs: every sheet and key compiles with no line past the
margin, the key of a wide network fits its page budget, and a larger network's key is
laid out as tables whose numbers agree with an independent forward pass and with
high-precision finite differences of the composed loss."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tomllib

import pytest

from conftest import EXAMPLES, run_cli
from derive import key_tables, solution, spec as spec_mod
from oracle import composed_loss, finite_difference

DATA = EXAMPLES.parent / "tests" / "data"
SUITE = sorted(EXAMPLES.glob("*.toml")) + [DATA / "wide_4_16_16_4.toml", DATA / "tanh_softmax_3_4_4_2.toml"]
needs_tex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs TeX Live")


def compile_log(tex) -> tuple[str, int]:
    """pdflatex's log of one document, and its page count (twice: references settle)."""
    for _ in range(2):
        subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name],
                       cwd=tex.parent, capture_output=True, timeout=300)
    log = tex.with_suffix(".log").read_text(errors="replace")
    pages = re.search(r"Output written on .*?\((\d+) pages?", log)
    assert pages, f"{tex.name} did not compile:\n{log[-2000:]}"
    return log, int(pages.group(1))


def overfull(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("Overfull \\hbox")]


@needs_tex
@pytest.mark.parametrize("path", SUITE, ids=lambda p: p.stem)
def test_no_line_runs_past_the_margin(tmp_path, path):
    r = run_cli("solve", path, "--out", tmp_path, "--no-pdf")
    assert r.returncode == 0, r.stderr
    for document in ("sheet", "solution"):
        log, _ = compile_log(tmp_path / f"{document}.tex")
        assert overfull(log) == [], f"{path.name} {document}: {overfull(log)}"


@needs_tex
def test_the_wide_key_fits_ten_pages(tmp_path):
    r = run_cli("solve", DATA / "wide_4_16_16_4.toml", "--out", tmp_path, "--no-pdf")
    assert r.returncode == 0, r.stderr
    _, pages = compile_log(tmp_path / "solution.tex")
    assert pages <= 10


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
    for m in re.finditer(r"^\$([^$]+)\$((?: & \$[-0-9.]+\$)+) \\\\$", tex, re.M):
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
