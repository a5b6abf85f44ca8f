"""The shortcuts of rendering a key, held to the templates as Jinja renders them: the
Python twin of a built-in macro (``render.TWINS``) and a macro's text used again for the
same data (``render.macro_reads``). ``shortcuts = False`` is the plain way: every macro
run as written."""

from __future__ import annotations

import random
import shutil

import pytest

from derive import output, render, spec as spec_mod
from derive.errors import DeriveError
from derive.latex import Tex
from derive.solution import ChainLine, Exercise, Line, ShownFactor

from conftest import EXAMPLES


def _plain(template_dir=None):
    env = render.environment(template_dir)
    env.shortcuts = False
    return env


def _scaled(exercise: Exercise, scale, rng: random.Random) -> dict[str, float]:
    """Every given of the exercise drawn anew: signs mixed, magnitudes set by ``scale``."""
    return {name: rng.choice((-1, 1)) * scale(rng) for name in exercise.solve().givens}


SCALES = {
    "ordinary": lambda rng: rng.uniform(0.05, 2),
    "rounding to zero": lambda rng: rng.choice((1e-7, 4e-5, 4.9e-5, 0.0)) * rng.uniform(0.5, 1),
    "huge": lambda rng: rng.uniform(1e3, 1e7),
    "mixed": lambda rng: 10 ** rng.uniform(-8, 6),
}
NETWORKS = ["reference", "softmax_online", "han_kamber", "mazur"]


@pytest.mark.parametrize("example", NETWORKS)
def test_documents_with_shortcuts_are_those_rendered_plainly(example):
    # one environment each, kept for every variant: what one variant's documents keep
    # must not reach the next's
    exercise = Exercise(spec_mod.load(EXAMPLES / f"{example}.toml"))
    fast, plain = render.environment(), _plain()
    rng = random.Random(example)
    made = 0
    for kind, scale in SCALES.items():
        for i in range(12):
            try:
                solution = exercise.solve(_scaled(exercise, scale, rng), seed=i, variant=f"{i:03d}")
            except DeriveError:  # a value that overflows: no key to write
                continue
            assert output.variant_documents(solution, fast) == output.variant_documents(solution, plain), (kind, i)
            made += 1
    assert made >= 24


def test_the_twin_of_lines_writes_every_kind_of_line_as_the_macro_does():
    # lines the exercises rarely make: plain strings (escaped), a value among the forms,
    # a held-fixed parameter, a line broken over two rows, factors whose value is their formula
    items = (
        Line("a", "a_1 & b", ("x%", Tex("y")), Tex("y"), "=", "frozen", 1),
        Line("b", Tex("b"), (Tex("p"), "q", Tex("r")), Tex("7"), Tex("\\approx"), "", 2),
        ChainLine("c", Tex("c"), ((ShownFactor("f", Tex("1"), Tex("1")), ShownFactor("g_{1}", "h", "2")),
                                  (ShownFactor("k", "m", "-3"),)), ("6", Tex("- 3")), "3", "="),
        ChainLine("d", "d", ((ShownFactor("f", "f", "f"),),), ("1",), "1", "=", ("u v", Tex("2"))),
        Line("e", "e_#", (), Tex("0"), "=", "", 0),
    )
    for order in (items, items[::-1], items[2:] + items[:2], items[1:2]):
        assert render._key_lines(order) == _macro_lines(order)


def _macro_lines(items) -> str:
    """``lines(items)`` of the built-in key, run as Jinja runs it."""
    source = (render.builtin_templates() / "solution.tex.j2").read_text(encoding="utf-8")
    macro = source[source.index(r"\BLOCK{macro lines(items)}"):]
    macro = macro[:macro.index(r"\BLOCK{endmacro}") + len(r"\BLOCK{endmacro}")]
    return _plain().from_string(macro + r"\VAR{lines(items)}").render(items=items)


def test_the_twin_steps_aside_for_data_it_does_not_know():
    assert render._key_lines([]) is None  # a list, not the tuple the program makes
    assert render._key_lines(({"kind": "line"},)) is None


def test_the_twins_are_written_from_the_built_in_macros_as_they_are():
    # a built-in macro changed since its twin was written has no twin (and this fails)
    for (name, macro), (_, digest) in render.TWINS.items():
        source = (render.builtin_templates() / name).read_text(encoding="utf-8")
        assert render.macro_digest(source, macro) == digest, f"{name}: {macro} changed: write its twin again"
    assert render.macro_digest(r"\BLOCK{macro lines(items)}other\BLOCK{endmacro}", "lines") != digest


def test_an_instructors_own_key_is_rendered_as_written(tmp_path, reference_exercise):
    source = (render.builtin_templates() / "solution.tex.j2").read_text(encoding="utf-8")
    (tmp_path / "solution.tex.j2").write_text(source.replace(r" &= \VAR{l.forms[:l.first_row]",
                                                             r" &=[mine] \VAR{l.forms[:l.first_row]"))
    docs = output.variant_documents(reference_exercise.solve(seed=1, variant="001"), render.environment(tmp_path))
    assert r"h_{1,\mathrm{in}} &=[mine] " in docs[f"{output.KEYS}/key-001.tex"]


# --- a macro's text used again ----------------------------------------------------------

def _reads(source: str, name: str):
    env = render.environment()
    ast = env.parse(source)
    macro = next(n for n in ast.body if getattr(n, "name", None) == name)
    return render.macro_reads(macro, ast)


def test_what_a_macro_reads():
    m = r"\BLOCK{macro m(a, b)}\VAR{a.x}\BLOCK{for i in b.items}\VAR{i.y}\VAR{loop.index}\BLOCK{endfor}\VAR{a|length}\BLOCK{endmacro}"
    assert _reads(m, "m") == ((0, None), (0, "x"), (1, "items"))
    calls = r"\BLOCK{macro n(a)}[\VAR{a.z}]\BLOCK{endmacro}\BLOCK{macro m(a)}\VAR{n(a.x)}\BLOCK{endmacro}"
    assert _reads(calls, "m") == ((0, "x"),)
    assert _reads(r"\BLOCK{macro m()}text\BLOCK{endmacro}", "m") == ()


@pytest.mark.parametrize("body", [
    r"\VAR{document}",  # the template's data
    r"\VAR{a.x.items()}",  # a call of anything but a macro
    r"\VAR{[1, 2]|random}",
    r"\BLOCK{include 'x.tex.j2'}",
    r"\VAR{caller()}",
    r"\VAR{range(3)|list}",  # a global
    r"\BLOCK{for i in a}\BLOCK{set y = i}\BLOCK{endfor}\VAR{y}",  # y after the loop is the template's
    r"\VAR{other(a)}",  # a macro that reads the template's data
    r"\BLOCK{set other = a.f}\VAR{other(1)}",
])
def test_a_macro_that_may_read_more_is_always_run(body):
    source = r"\BLOCK{macro other(b)}\VAR{title}\BLOCK{endmacro}\BLOCK{macro m(a)}" + body + r"\BLOCK{endmacro}"
    assert _reads(source, "m") is None


def test_a_macro_called_again_with_other_data_says_what_that_data_says(tmp_path):
    # 1, True and 1.0 are equal in Python, and print differently; a list is compared as the
    # same object only
    (tmp_path / "sheet.tex.j2").write_text(r"\BLOCK{macro m(a)}<\VAR{a.x}>\BLOCK{endmacro}\VAR{m(d)}")
    env = render.environment(tmp_path)
    shared = [1, 2]
    got = [render.render(env, "sheet.tex.j2", {"d": {"x": x}})
           for x in (1, True, 1.0, 1, shared, [1, 2], shared, 0.0, -0.0)]
    assert got == ["<1>", "<True>", "<1.0>", "<1>", "<[1, 2]>", "<[1, 2]>", "<[1, 2]>", "<0.0>", "<-0.0>"]


def test_a_macro_whose_data_is_missing_fails_as_it_would(tmp_path):
    (tmp_path / "sheet.tex.j2").write_text(r"\BLOCK{macro m(a)}<\VAR{a.x}>\BLOCK{endmacro}\VAR{m(d)}")
    env = render.environment(tmp_path)
    assert render.render(env, "sheet.tex.j2", {"d": {"x": 1}}) == "<1>"
    with pytest.raises(DeriveError, match="has no attribute 'x'"):
        render.render(env, "sheet.tex.j2", {"d": {"y": 1}})


def test_a_templates_folder_copied_from_the_built_in_one_renders_alike(tmp_path, reference_exercise):
    shutil.copytree(render.builtin_templates(), tmp_path / "t", ignore=shutil.ignore_patterns("html"))
    s = reference_exercise.solve(seed=5, variant="005")
    assert output.variant_documents(s, render.environment(tmp_path / "t")) == output.variant_documents(s, _plain())
