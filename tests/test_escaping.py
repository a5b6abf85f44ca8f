"""Escaping by construction: no text from a spec (or a student) can run TeX code.

The attacks are real: each tries to read /etc/passwd or /etc/hostname into a PDF. Where
the spec's checks refuse an attack on load, the escaping is tested on its own as well."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import jinja2
import jinja2.sandbox
import pytest
import sympy as sp

from derive import render, spec as spec_mod
from derive.errors import DeriveError
from derive.latex import Tex, escape_tex, latex_name, symbol_tex, untypesettable

BASE = spec_mod.builtin_path().read_text()
READ_PASSWD = r"\input{/etc/passwd}"
READ_PASSWD_CARETS = r"\input{^^2fetc^^2fpasswd}"  # TeX's ^^2f is "/": gets past a ban on "/"
READ_HOSTNAME = r"\newread\x\openin\x=/etc/hostname \read\x to\y \y"
HOSTILE_TEXTS = [READ_PASSWD, READ_PASSWD_CARETS, READ_HOSTNAME, r"$ % # & } ~ ^ \\", "{", "\\", "^^5c",
                 "\\csname input\\endcsname{/etc/passwd}", "\\def\\x{\\x}\\x"]
TEX = shutil.which("pdflatex") is not None and shutil.which("pdftotext") is not None


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _secrets() -> list[str]:
    """Lines of the files the attacks try to read, long enough to be recognised."""
    out = []
    for name in ("/etc/passwd", "/etc/hostname"):
        path = Path(name)
        if path.exists():
            out += [line.strip() for line in path.read_text(errors="replace").splitlines() if len(line.strip()) >= 4]
    return out


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


# --- the escaping function and the template boundary ---------------------------------------


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_escape_tex_leaves_no_command_and_no_group(text):
    out = escape_tex(text)
    assert isinstance(out, Tex)
    rest = out
    for command in (r"\textbackslash{}", r"\textasciicircum{}", r"\textasciitilde{}", r"\{", r"\}",
                    r"\$", r"\%", r"\#", r"\&", r"\_"):
        rest = rest.replace(command, "")
    assert not any(c in rest for c in "\\{}$%#&^~_"), out


def test_escape_tex_typesets_what_it_can():
    assert escape_tex("Übung für Müller, Ørsted, Łódź") == "Übung für Müller, Ørsted, Łódź"
    assert escape_tex("α-β σ") == r"\ensuremath{\alpha}-\ensuremath{\beta} $\sigma$"
    assert escape_tex("中文 😀") == "?? ?"
    assert escape_tex("a\nb") == "a b"
    assert escape_tex(Tex(r"\frac{1}{2}")) == r"\frac{1}{2}"  # already TeX: left alone


def test_untypesettable_names_the_first_bad_character():
    assert untypesettable("Übung α") is None
    assert untypesettable("Übung 中文") == "中"
    assert untypesettable("title\x07") == "\x07"


@pytest.mark.parametrize("name", [READ_PASSWD, READ_PASSWD_CARETS, "a{b", "x^^2fy", "h1\\relax"])
def test_names_reach_tex_only_escaped(name):
    for derived in (name, f"{name}_in", f"dL/d{name}", f"{name}*", f"{name}'", f"delta_{name}", f"{name}[2]"):
        out = latex_name(derived)
        assert isinstance(out, Tex)
        assert "\\input" not in out and "^^" not in out and "\\relax" not in out, out


@pytest.mark.parametrize("symbol", [READ_PASSWD, r"\input", r"\openin", r"\csname", "a^^5cinput", r"\mathrm{x}\input{y}"])
def test_symbols_that_are_not_plain_math_are_escaped(symbol):
    out = symbol_tex(symbol)
    assert out.startswith(r"\text{") and "\\input" not in out and "^^" not in out and "\\openin" not in out


@pytest.mark.parametrize("symbol", [r"\sigma", r"\phi", r"\tanh", r"\mathrm{ReLU}", "a", "g"])
def test_plain_math_symbols_pass(symbol):
    assert symbol_tex(symbol) == symbol


def test_finalize_escapes_plain_text_and_keeps_tex():
    env = render.environment()
    template = env.from_string(r"\VAR{a} \VAR{b} \VAR{n}")
    out = template.render(a=READ_PASSWD, b=Tex(r"\frac{1}{2}"), n=3)
    assert out == r"\textbackslash{}input\{/etc/passwd\} \frac{1}{2} 3"


def test_finalize_refuses_sympy_objects():
    env = render.environment()
    with pytest.raises(TypeError):
        env.from_string(r"\VAR{x}").render(x=sp.Symbol("x"))


def test_macros_join_and_concatenation():
    env = render.environment()
    template = env.from_string(
        r"\BLOCK{macro m(x)}[\VAR{x}]\BLOCK{endmacro}\VAR{m(a)}|\VAR{[a, t]|join(', ')}|\VAR{a ~ t}|\VAR{a|e}")
    out = template.render(a="{%}", t=Tex(r"\alpha"))
    # a macro's output is not escaped twice; join escapes each plain item; a concatenation
    # of plain text and TeX is plain text (escaped whole: safe, if not pretty)
    assert out == r"[\{\%\}]|\{\%\}, \alpha|\{\%\}\textbackslash{}alpha|\{\%\}"


def test_the_sandbox_refuses_python_internals(tmp_path):
    attack = r"\VAR{cycler.__init__.__globals__.os.popen('echo pwned').read()}"
    (tmp_path / "sheet.tex.j2").write_text(attack)
    open_env = render.environment(tmp_path)
    assert "pwned" in render.render(open_env, "sheet.tex.j2", {})  # the instructor's own code runs
    with pytest.raises(DeriveError) as info:
        render.render(render.environment(tmp_path, sandboxed=True), "sheet.tex.j2", {})
    assert "sandbox" in str(info.value)
    attack = r"\VAR{''.__class__.__mro__[1].__subclasses__()}"
    with pytest.raises(jinja2.sandbox.SecurityError):
        render.environment(sandboxed=True).from_string(attack).render()


def test_sandboxed_environment_renders_the_key(reference):
    open_key = render.render(render.environment(), render.KEY, render.context(reference, "Answer key"))
    boxed_key = render.render(render.environment(sandboxed=True), render.KEY, render.context(reference, "Answer key"))
    assert boxed_key == open_key


def test_bytecode_cache_tolerates_an_unwritable_folder(tmp_path, monkeypatch, reference):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # a file where the folder should be
    key = render.render(render.environment(), render.KEY, render.context(reference, "Answer key"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert render.render(render.environment(), render.KEY, render.context(reference, "Answer key")) == key
    assert any((tmp_path / "cache" / "derive").rglob("*.cache"))
    assert render.render(render.environment(), render.KEY, render.context(reference, "Answer key")) == key


# --- the attacks, through the command line, compiled for real ----------------------------------


def _attack_spec(field: str, payload: str) -> str:
    text = BASE
    if field == "title":
        return text.replace('title = "Backpropagation by hand"', f"title = {_toml(payload)}")
    if field == "course":
        return text.replace('course = "Pattern Recognition"', f"course = {_toml(payload)}")
    if field == "symbol":
        return text.replace('symbol = "a"', f"symbol = {_toml(payload)}")
    if field == "bias_unit":
        return text.replace('bias_unit = "b1"', f"bias_unit = {_toml(payload)}")
    if field == "target":
        return text.replace('targets = ["y"]', f"targets = [{_toml(payload)}]").replace(
            "y = 1\n", f"{_toml(payload)} = 1\n", 1)
    if field == "names":
        return text.replace("[weights]\n", f"[network.names]\nw1 = {_toml(payload)}\n\n[weights]\n").replace(
            "w1 = 0.7", f"{_toml(payload)} = 0.7")
    raise AssertionError(field)


ATTACKS = [("title", READ_PASSWD), ("title", READ_HOSTNAME), ("course", READ_PASSWD),
           ("title", r"$ % # & } ~ ^ \\ {"), ("symbol", READ_PASSWD), ("symbol", READ_HOSTNAME),
           ("bias_unit", READ_PASSWD_CARETS), ("target", READ_PASSWD_CARETS), ("names", READ_PASSWD_CARETS),
           ("names", READ_HOSTNAME)]


@pytest.mark.skipif(not TEX, reason="TeX or pdftotext is not installed")
@pytest.mark.parametrize("field,payload", ATTACKS)
def test_attack_reads_no_file_into_the_pdf(tmp_path, cli, field, payload):
    spec = tmp_path / "attack.toml"
    spec.write_text(_attack_spec(field, payload))
    out = tmp_path / "out"
    result = cli("solve", spec, "--out", out)
    if result.returncode == 2:  # refused on load: one line, nothing written
        assert len(result.stderr.strip().splitlines()) == 1 and not out.exists(), result.stderr
        return
    assert result.returncode == 0, result.stderr[-2000:]
    for tex in ("sheet.tex", "solution.tex"):
        source = (out / tex).read_text()
        assert "\\input{" not in source.replace("\\textbackslash{}input", "") and "\\openin" not in source
    secrets = _secrets()
    for pdf in ("sheet.pdf", "solution.pdf"):
        text = _pdf_text(out / pdf)
        assert not [line for line in secrets if line in text], f"{pdf} holds a line of a secret file"
    if field in ("title", "course"):  # free text is typeset as written
        shown = _pdf_text(out / "sheet.pdf")
        assert "input{/etc/passwd}" in shown.replace(" ", "") or "openin" in shown or "~" in shown


def test_a_title_that_cannot_be_typeset_is_refused_on_load(tmp_path, cli):
    spec = tmp_path / "t.toml"
    spec.write_text(BASE.replace('title = "Backpropagation by hand"', 'title = "Übung 中文"'))
    result = cli("solve", spec, "--no-pdf", "--out", tmp_path / "out")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"derive: {spec}: title: the character '中' (U+4E2D) cannot be typeset; "
                                     "expected letters (accented Latin and Greek included), digits and punctuation")


@pytest.mark.skipif(not TEX, reason="TeX or pdftotext is not installed")
def test_accented_and_greek_titles_are_typeset(tmp_path, cli):
    spec = tmp_path / "t.toml"
    spec.write_text(BASE.replace('title = "Backpropagation by hand"', 'title = "Übung α–β: Rückwärts & 100 %"'))
    out = tmp_path / "out"
    result = cli("solve", spec, "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    text = _pdf_text(out / "sheet.pdf")
    assert "Übung α–β: Rückwärts & 100 %" in text


def test_escape_tex_is_the_character_rule_applied_to_each_character():
    # plain ASCII text takes a shortcut; it must give what the rule per character gives
    from derive.latex import _TEX_SPECIALS, typesettable

    def one(c):
        return _TEX_SPECIALS[c] if c in _TEX_SPECIALS else c if typesettable(c) else "?"

    chars = [chr(o) for o in range(0x3100)]
    for c in chars:
        assert escape_tex(c) == one(c)
    rng = random.Random(5)
    for _ in range(3000):
        text = "".join(rng.choice(chars[:300] + list("abcXYZ 019.,")) for _ in range(rng.randrange(12)))
        assert escape_tex(text) == "".join(map(one, text))
