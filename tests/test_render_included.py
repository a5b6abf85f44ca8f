"""An included template is rendered once for the same data and again for other data:
what a variant's document shows is that variant's, whatever the documents before it."""

from __future__ import annotations

import pytest

from derive import output, render
from derive.errors import DeriveError


def test_documents_made_one_after_another_are_those_made_alone(reference_exercise):
    env = render.environment()
    for seed in (1, 2, 3):
        s = reference_exercise.solve(seed=seed, variant=f"00{seed}")
        assert output.variant_documents(s, env) == output.variant_documents(s, render.environment())


def test_an_include_that_reads_the_variant_shows_each_its_own(tmp_path, reference_exercise):
    # the instructor's figure prints the variant through a template of its own: what the
    # figure reads is what its include reads too
    (tmp_path / "network.tex.j2").write_text(r"[figure of \BLOCK{include 'stamp.tex.j2'}]")
    (tmp_path / "stamp.tex.j2").write_text(r"variant \VAR{exercise.variant}")
    env = render.environment(tmp_path)
    for variant in ("001", "002", "003", "002"):
        s = reference_exercise.solve(seed=int(variant), variant=variant)
        for text in output.variant_documents(s, env).values():
            assert f"[figure of variant {variant}]" in text


def test_what_a_document_withholds_is_its_own(reference_exercise):
    # the sheet withholds the derivative its question asks for; the key, rendered with the
    # same templates right after it, states it (the conventions read `withheld`)
    env = render.environment()
    derivative = r"a'(t) = a(t)\,\bigl(1 - a(t)\bigr)"
    for seed in (1, 2):
        docs = output.variant_documents(reference_exercise.solve(seed=seed, variant=f"00{seed}"), env)
        sheet, key = docs[f"{output.SHEETS}/sheet-00{seed}.tex"], docs[f"{output.KEYS}/key-00{seed}.tex"]
        conventions = [d.split(r"\begin{itemize}")[1].split(r"\end{itemize}")[0] for d in (sheet, key)]
        assert derivative not in conventions[0]
        assert derivative in conventions[1]


def test_an_include_of_a_computed_name_is_rendered_each_time(tmp_path):
    (tmp_path / "sheet.tex.j2").write_text(r"\BLOCK{include part ~ '.tex.j2'}")
    (tmp_path / "a.tex.j2").write_text(r"A\VAR{n}")
    (tmp_path / "b.tex.j2").write_text(r"B\VAR{n}")
    env = render.environment(tmp_path)
    got = [render.render(env, "sheet.tex.j2", {"part": p, "n": n}) for p, n in (("a", 1), ("b", 1), ("a", 2), ("a", 1))]
    assert got == ["A1", "B1", "A2", "A1"]


def test_equal_numbers_of_other_types_are_other_data(tmp_path):
    # 1 and True, 0 and False are equal in Python but print differently
    (tmp_path / "sheet.tex.j2").write_text(r"\BLOCK{include 'part.tex.j2'}")
    (tmp_path / "part.tex.j2").write_text(r"\VAR{flags.x}/\VAR{n}")
    env = render.environment(tmp_path)
    got = [render.render(env, "sheet.tex.j2", {"flags": {"x": x}, "n": n})
           for x, n in ((1, 0), (True, 0), (True, False), (1, 0))]
    assert got == ["1/0", "True/0", "True/False", "1/0"]


def test_a_missing_template_is_named_every_time(tmp_path):
    (tmp_path / "sheet.tex.j2").write_text(r"\BLOCK{include 'nowhere.tex.j2'}")
    env = render.environment(tmp_path)
    for _ in range(2):  # a template that is not there is looked for again, not remembered as missing
        with pytest.raises(DeriveError, match="nowhere.tex.j2: not found"):
            render.render(env, "sheet.tex.j2", {})
    (tmp_path / "nowhere.tex.j2").write_text("here")
    assert render.render(env, "sheet.tex.j2", {}) == "here"
