"""The spec read whole on load, and every hostile input of the issues as a reproducer.

Each case runs the command line's ``main`` (in this process, as tests/fuzzing.py does; a
few cases also as a real subprocess) and asserts what a user sees: exit status 2, exactly
one line on stderr that names the file and the field, no traceback and no output folder. The numbers a check should accept are computed here from the sheet's
own formulas (h1 = σ(w1·x1 + w3·x2 + w5·b1)), not taken from the program.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from derive import spec as spec_mod
from derive.answers import read_answers
from derive.errors import SpecError
from derive.solution import Exercise

from conftest import EXAMPLES, ROOT
from fuzzing import run

REFERENCE = spec_mod.builtin_path().read_text(encoding="utf-8")
H1 = 1 / (1 + math.exp(-(0.7 * 1 + 1.5 * 1 + 0 * 1)))  # the reference sheet's h1


def changed(old: str, new: str, text: str = REFERENCE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def cli(*args, cwd: Path | None = None):
    """``derive ARGS`` in this process (a subprocess costs seconds of imports per case)."""
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return run([str(a) for a in args])
    finally:
        os.chdir(old)


def one_line(proc, *words: str) -> str:
    code = proc.returncode if isinstance(proc, subprocess.CompletedProcess) else proc.code
    assert code == 2, proc
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def every_command(tmp_path: Path, spec: Path, *words: str) -> None:
    """Every command refuses the spec on load with the same line and writes nothing."""
    answers = tmp_path / "answers.toml"
    answers.write_text("h1 = 0.9002\n")
    out = tmp_path / "out"
    lines = {one_line(cli(*args), *words) for args in (
        ["solve", spec, "--no-pdf", "--out", out],
        ["train", spec],
        ["check", spec, answers],
        ["variants", spec, "--count", "2", "--no-pdf", "--out", out],
    )}
    assert len(lines) == 1, lines
    assert not out.exists()


def write(tmp_path: Path, text: str | bytes, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


# --- the whole spec, on load ------------------------------------------------------------------

def test_every_shipped_spec_loads():
    for path in [spec_mod.builtin_path(), *sorted(EXAMPLES.glob("*.toml"))]:
        Exercise(spec_mod.load(path))


@pytest.mark.parametrize("old,new,field,words", [
    ("learning_rate = 1\n", 'learning_rate = "fast"\n', "training.runs[1].learning_rate", "expected a number"),
    ("[vary]\n", "[vary]\nspeed = 3\n", "vary.speed", "not a given value"),
    ("[vary]\n", "[vary]\nb1 = [1, 2]\n", "vary.b1", "a bias unit's value is fixed"),
    ("[vary]\n", "[vary]\nw1 = 1979-05-27\n", "vary.w1", "1979-05-27 (a date)"),
    ("[vary]\n", "[vary.constraints]\nmax_preactivation = 1979-05-27\n[vary]\n",
     "vary.constraints.max_preactivation", "a positive number"),
    ("[vary]\n", "[vary]\neta = [0, 1]\n", "vary.eta", "positive learning rate"),
    ('include = ["nonlinearity"', 'include = ["nonlinear"', "questions.include", "did you mean 'nonlinearity'"),
    ("decimals = 4", "decimals = 13", "display.decimals", "from 0 to 12"),
    ('frozen = ["w5", "w6"]', 'frozen = ["w5", "w66"]', "training.runs[0].frozen", "no parameter named 'w66'"),
    ('activation = "sigmoid"', 'activation = "sigmoid"\nslope = 0.1', "network.layers[0].slope",
     "only a leaky_relu layer has a slope"),
    ("half = true", 'half = true\noutputs = "sideways"', "loss.outputs", "expected one of sum, mean"),
    ('bias = "unit"', 'bias = "neuron"', "network.layers[0].bias_unit", 'only the bias convention "unit"'),
])
def test_a_bad_section_fails_every_command_on_load(tmp_path, old, new, field, words):
    every_command(tmp_path, write(tmp_path, changed(old, new)), f": {field}: ", words)


def test_through_the_real_entry_point(tmp_path):
    spec = write(tmp_path, changed("learning_rate = 1\n", 'learning_rate = "fast"\n'))
    answers = write(tmp_path, "h1 = 0.9002\n", "answers.toml")
    proc = subprocess.run([sys.executable, "-m", "derive", "check", spec, answers], capture_output=True, text=True)
    one_line(proc, ": training.runs[1].learning_rate: expected a number, got 'fast'")


def test_half_with_cross_entropy_is_refused_not_ignored(tmp_path):
    text = changed('kind = "squared_error"', 'kind = "binary_cross_entropy"')
    text = changed('activation = "identity"', 'activation = "sigmoid"', text).split("[vary]")[0]
    with pytest.raises(SpecError, match="loss.half: the ½ belongs to the squared error"):
        spec_mod.parse(text, "s.toml")
    spec_mod.parse(text.replace("half = true", "half = false"), "s.toml")  # true to the loss: fine


def test_typed_sections(reference_spec):
    assert [(r.learning_rate, r.steps, r.frozen) for r in reference_spec.runs] == [(0.2, 10, ("w5", "w6")),
                                                                                   (1.0, 10, ("w5", "w6"))]
    assert reference_spec.questions == ("nonlinearity", "vanishing", "calculation", "training")
    ranges = dict(reference_spec.vary.ranges)
    assert ranges["w1"][0] == -1.5 and ranges["w1"][-1] == 1.5 and len(ranges["w1"]) == 31
    assert 0.0 not in ranges["x1"] and "eta" not in ranges and "b1" not in ranges


@pytest.mark.parametrize("symbol,tex", [("a", "a"), ("g", "g"), ("sigma", r"\sigma"), ("\\\\phi", r"\phi")])
def test_symbol_letters_and_greek_names(symbol, tex):
    spec = spec_mod.parse(changed('symbol = "a"', f'symbol = "{symbol}"'), "s.toml")
    assert spec.layers[0].symbol == tex


@pytest.mark.parametrize("symbol", ["\\\\input{/etc/passwd}", "ab", "eta", "\\\\sigma{}", "σ", "", "1"])
def test_symbol_outside_the_safe_set(symbol):
    with pytest.raises(SpecError, match="symbol: expected one ASCII letter"):
        spec_mod.parse(changed('symbol = "a"', f'symbol = "{symbol}"'), "s.toml")


@pytest.mark.parametrize("old,new,field", [
    ('units = ["h1", "h2"]', 'units = ["h1", "h$2"]', "network.layers[0].units"),
    ('units = ["h1", "h2"]', 'units = ["h1", "\\\\def\\\\x{\\\\x}\\\\x"]', "network.layers[0].units"),
    ('units = ["h1", "h2"]', 'units = ["h1", "h^^2f"]', "network.layers[0].units"),
    ('units = ["h1", "h2"]', 'units = ["h1", "' + "h" * 33 + '"]', "network.layers[0].units"),
    ('bias_unit = "b1"', 'bias_unit = "b}1"', "network.layers[0].bias_unit"),
    ('targets = ["y"]', 'targets = ["y%"]', "network.layers[1].targets"),
    ('inputs = ["x1", "x2"]', 'inputs = ["x1", "x 2"]', "network.inputs"),
    ("[weights]", '[network.names]\n"x1 -> h1" = "w#1"\n\n[weights]', "network.names.x1 -> h1"),
])
def test_names_outside_the_safe_set(tmp_path, old, new, field):
    line = one_line(cli("solve", write(tmp_path, changed(old, new)), "--no-pdf", "--out", tmp_path / "out"))
    assert f": {field}: expected a name of ASCII letters, digits and _ only" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("old,new", [
    ('units = ["h1", "h2"]', 'units = ["h1\\nx", "h2"]'),
    ("[weights]", '[network.names]\n"x1 -> h1" = "w\\n1"\n\n[weights]'),
    ("[weights]\n", '[weights]\n"w\\n10" = 1\n'),
    ("[vary]\n", '[vary]\n"w\\n1" = 1\n'),
])
def test_a_name_with_a_newline_is_one_line(tmp_path, old, new):
    line = one_line(cli("solve", write(tmp_path, changed(old, new)), "--no-pdf", "--out", tmp_path / "out"))
    assert "\\n" in line


# --- issue 10, item 5: tracebacks instead of one line -------------------------------------------

@pytest.mark.parametrize("make,words", [
    (lambda: b"\xff", ["file: not UTF-8 text"]),
    (lambda: b"title = \"\xe9\"\n", ["not UTF-8 text"]),
    (lambda: b"\x00\x01binary", ["a binary file"]),
    (lambda: changed("w1 = 0.7", "w1 = 1" + "0" * 400).encode(), ["weights.w1: expected a finite number"]),
    (lambda: changed("w1 = 0.7", "w1 = " + "9" * 5000).encode(), ["syntax: a number too long"]),
    (lambda: changed("w1 = 0.7", "w1 = " + "[" * 5000 + "]" * 5000).encode(), ["syntax: ", "nested too deeply"]),
    (lambda: changed("w1 = 0.7", "w1 = 1979-05-27").encode(), ["weights.w1: expected a number, got 1979-05-27"]),
    (lambda: changed("decimals = 4", "decimals = 07:32:00").encode(), ["display.decimals"]),
    (lambda: (REFERENCE + "\n" * (1 << 20)).encode(), ["larger than 1 MiB"]),
])
def test_unreadable_specs(tmp_path, make, words):
    every_command(tmp_path, write(tmp_path, make()), *words)


def test_a_byte_order_mark_is_accepted(tmp_path):
    spec = write(tmp_path, b"\xef\xbb\xbf" + REFERENCE.encode())
    assert cli("solve", spec, "--no-pdf", "--out", tmp_path / "out").code == 0


@pytest.mark.parametrize("value,words", [
    ("1e400", "between 1e-300 and 1e300"),
    ("1e-400", "between 1e-300 and 1e300"),
    ("4.9e-324", "between 1e-300 and 1e300"),
    ("-1e400", "between 1e-300 and 1e300"),
    ("0e-400", "at most 300 decimal places"),
    ("1979-05-27", "expected a number such as 0.02, got '1979-05-27'"),
])
def test_check_numbers_beyond_floats(tmp_path, value, words):
    answers = write(tmp_path, f"h1 = {value}\n", "answers.toml")
    one_line(cli("check", answers), f"{answers}:1: h1: ", words)


@pytest.mark.parametrize("name,data,words", [
    ("answers.csv", b"name,value\nh1," + b"1" * ((128 << 10) + 1) + b"\n", ["ANSWERS: not readable as CSV"]),
    ("answers.csv", b"name,value\nh1," + b"1" * 500 + b"\n", ["a number of 500 characters"]),
    ("answers.toml", b"h1 = " + b"1" * 5_000_000 + b"\n", ["larger than 1 MiB"]),
    ("answers.toml", b"h1 = " + b"1" * 5_000 + b"\n", ["ANSWERS: not a list of NAME = NUMBER lines"]),
    ("answers.csv", b"name,value\nh1," + b"1" * 5_000 + b"\n", [":2: h1: a number of 5,000 characters"]),
    ("answers.yaml", b"h1: " + b"1" * 5_000_000 + b"\n", ["larger than 1 MiB"]),
    ("answers.yaml", b"a: &a [1]\n" + b"h1: *a\n" * 10, [":1: a: not a quantity"]),
    ("answers.yaml", b"h1: !!python/object/apply:os.system ['true']\n", ["expected a number"]),
    ("answers.yaml", b"- " * 100_000 + b"1\n", ["ANSWERS: nested more than 16 levels"]),
    ("answers.yaml", b"h1: " + b"[" * 100_000 + b"\n", ["ANSWERS: nested more than 16 levels"]),
    ("answers.yaml", b"h1: 0.9\n" * 200_000, ["larger than 1 MiB"]),
    ("answers.toml", bytes(range(256)) * 4, ["a binary file"]),
    ("answers.toml", b"h1 = \xff\n", ["not UTF-8 text"]),
])
def test_check_hostile_answers_files(tmp_path, name, data, words):
    one_line(cli("check", write(tmp_path, data, name)), *words)


def test_check_answers_file_that_is_a_folder(tmp_path):
    (tmp_path / "answers.toml").mkdir()
    one_line(cli("check", tmp_path / "answers.toml"), "ANSWERS: is a folder")


@pytest.mark.parametrize("text", ["\ufeffname,value\nh1,0.9002\n", "name;value\nh1;0.9002\n",
                                  "\ufeffname;value\r\nh1;0.9002\r\n", "Name\tValue\nh1\t0.9002\n"])
def test_check_bom_and_semicolon_csv_accepted(tmp_path, text, reference_exercise):
    assert f"{H1:.4f}" == "0.9002"
    path = write(tmp_path, text, "answers.csv")
    (answer,) = read_answers(path, list(reference_exercise.derivation.index))
    assert answer.name == "h1" and answer.written.text == "0.9002"
    proc = cli("check", path)
    assert proc.code == 0, proc
    assert "correct" in proc.stdout


KEY_RECORD = '{"variants": [{"variant": "001", "exercise": "Backpropagation by hand", "given": {"w1": %s}}]}'


@pytest.mark.parametrize("key,words", [
    (None, ["/dev/zero: --key: a binary file"]),
    (b'{"variants": [', ["--key: expected the answers.json", "not valid JSON"]),
    (bytes(range(256)), ["--key: a binary file"]),
    (b"\xff{}", ["--key: not UTF-8 text"]),
    (b"[" * 100_000, ["--key: ", "nested too deeply"]),
    ((KEY_RECORD % "NaN").encode(), ["NaN is not a number JSON allows"]),
    ((KEY_RECORD % "1e999").encode(), ["variants[001].given: expected the variant's given values as numbers"]),
    ((KEY_RECORD % ("1" * 5000)).encode(), ["--key: "]),
    ((KEY_RECORD % '"w"').encode(), ["variants[001].given"]),
])
def test_check_malformed_keys(tmp_path, key, words):
    answers = write(tmp_path, "h1 = 0.9002\n", "answers.toml")
    path = Path("/dev/zero") if key is None else write(tmp_path, key, "answers.json")
    one_line(cli("check", answers, "--variant", "001", "--key", path), *words)


def test_check_key_found_in_the_output_folder_binary_or_folder(tmp_path):
    answers = write(tmp_path, "h1 = 0.9002\n", "answers.toml")
    found = tmp_path / "output" / "reference-variants"
    (found / "a" / "answers.json").mkdir(parents=True)
    one_line(cli("check", answers, "--variant", "001", cwd=tmp_path), "answers.json: --key: is a folder")
    (found / "a" / "answers.json").rmdir()
    (found / "a" / "answers.json").write_bytes(b"\x00" * 10)
    one_line(cli("check", answers, "--variant", "001", cwd=tmp_path), "--key: a binary file")


# --- issue 10, item 6: limits ---------------------------------------------------------------------

def _examples(n: int) -> str:
    head, tail = REFERENCE.split("[[examples]]\nx1 = 1\nx2 = 1\ny = 1\n")
    return head + "[[examples]]\nx1 = 1\nx2 = 1\ny = 1\n" * n + tail


def _wide(units: int) -> str:
    names = ", ".join(f'"h{i}"' for i in range(1, units + 1))
    return changed('units = ["h1", "h2"]', f"units = [{names}]")


@pytest.mark.parametrize("text,words", [
    (lambda: changed("steps = 10", "steps = 1000000000"), ["training.runs[0].steps", "from 1 to 10,000"]),
    (lambda: _examples(20_000), ["examples: 20,000 examples; expected at most 100"]),
    (lambda: _wide(2_000), ["network: 2,005 units; expected at most 1,000"]),
    (lambda: changed('inputs = ["x1", "x2"]', "inputs = [" + ", ".join(f'"x{i}"' for i in range(1, 301)) + "]",
                     _wide(200)), ["network: ", "parameters; expected at most 50,000"]),
    (lambda: changed("[vary]\n", "[vary]\ntries = 100000000\n"), ["vary.tries", "from 1 to 1,000,000"]),
    (lambda: changed("[vary]\n", "[vary]\nw1 = { from = 0, to = 1, step = 1e-9 }\n"), ["vary.w1.step", "at most 100,000"]),
])
def test_limits_on_load(tmp_path, text, words):
    every_command(tmp_path, write(tmp_path, text()), *words)


@pytest.mark.parametrize("args,words", [
    (["--count", "1000000000"], "--count: expected a whole number from 1 to 100,000"),
    (["--stress", "100000000"], "--stress: expected a whole number from 1 to 1,000,000"),
    (["--count", "0"], "--count: expected a whole number from 1 to 100,000"),
    (["--count", "9" * 5000], "--count"),
])
def test_variant_counts_limited(tmp_path, args, words):
    one_line(cli("variants", *args, "--no-pdf", "--out", tmp_path / "out"), words)
    assert not (tmp_path / "out").exists()


def test_train_steps_limited():
    one_line(cli("train", "--steps", "1000000000"), "--steps: expected a whole number of steps from 1 to 10,000")
    one_line(cli("train", "--steps", "9" * 5000), "--steps")


def test_roster_limits_and_hostile_rosters(tmp_path):
    out = tmp_path / "out"
    for data, words in [(b"id\n" + b"x" * (200 << 10) + b"\n", "not readable as CSV"),
                        (b"\x00id\n1\n", "a binary file"),
                        (b"id\n" + b"".join(b"s%d\n" % i for i in range(100_001)), "100,001 students")]:
        one_line(cli("variants", "--roster", write(tmp_path, data, "roster.csv"), "--no-pdf", "--out", out), words)
        assert not out.exists()


# --- issue 10, item 8: Ctrl-C ----------------------------------------------------------------------

def test_ctrl_c_prints_one_line(tmp_path):
    fifo = tmp_path / "spec.toml"
    os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, "-m", "derive", "solve", str(fifo), "--no-pdf"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 60
    while True:  # the FIFO gets a reader once the command is reading its spec
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
    try:
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(writer)
    assert proc.returncode == 130
    assert err == "derive: interrupted\n" and out == ""


# --- missing weights: every name, or how many and where the numbering is told -------------------

def _classifier(weights: str = "") -> str:
    """A 3-4-3-2 network with a bias per unit: 39 parameters, numbered as the README's
    "Names" tells (w1 x1→h1, w2 x1→h2, …, then b_h1 … b_h4, then the next layer)."""
    return ('[network]\ninputs = ["x1", "x2", "x3"]\nbias = "neuron"\n'
            '[[network.layers]]\nunits = ["h1", "h2", "h3", "h4"]\nactivation = "relu"\n'
            '[[network.layers]]\nunits = ["g1", "g2", "g3"]\nactivation = "tanh"\n'
            '[[network.layers]]\nunits = ["o1", "o2"]\nactivation = "softmax"\n'
            '[loss]\nkind = "cross_entropy"\n[[examples]]\nx1 = 1\nx2 = -0.5\nx3 = 2\ny_o1 = 1\ny_o2 = 0\n'
            f'[weights]\n{weights}[training]\nlearning_rate = 0.1\n')


def _expected_names() -> list[str]:
    out = []
    for sources, targets, first in ((("x1", "x2", "x3"), ("h1", "h2", "h3", "h4"), 1),
                                    (("h1", "h2", "h3", "h4"), ("g1", "g2", "g3"), 13),
                                    (("g1", "g2", "g3"), ("o1", "o2"), 25)):
        k = first
        for s in sources:
            for t in targets:
                out.append(f"w{k} ({s} -> {t})")
                k += 1
        out += [f"b_{t} (bias -> {t})" for t in targets]
    return out


def test_every_missing_weight_is_named_in_one_line(tmp_path):
    expected = _expected_names()
    assert len(expected) == 39
    line = one_line(cli("solve", write(tmp_path, _classifier()), "--no-pdf", "--out", tmp_path / "out"))
    assert line.endswith(": weights: missing 39 parameters; expected a number for each of " + ", ".join(expected))
    given = "".join(f"w{k} = 0.1\n" for k in range(1, 13))  # the first layer's weights only
    line = one_line(cli("solve", write(tmp_path, _classifier(given)), "--no-pdf", "--out", tmp_path / "out"))
    assert line.endswith("missing 27 parameters; expected a number for each of " + ", ".join(expected[12:]))


@pytest.mark.parametrize("given, listed", [(20, True), (19, False)])
def test_past_200_missing_weights_the_count_and_where_the_numbering_is_told(tmp_path, given, listed):
    # 10 inputs, 20 hidden units, one output, no biases: 220 parameters
    inputs = [f"x{i}" for i in range(1, 11)]
    text = (f'[network]\ninputs = {inputs}\nbias = "none"\n'
            f'[[network.layers]]\nunits = {[f"h{i}" for i in range(1, 21)]}\nactivation = "tanh"\n'
            '[[network.layers]]\nunits = ["yhat"]\nactivation = "identity"\n'
            '[loss]\nkind = "squared_error"\n[[examples]]\n' + "".join(f"{x} = 1\n" for x in inputs) + "y = 1\n"
            "[weights]\n" + "".join(f"w{k} = 0.1\n" for k in range(1, given + 1)) + "[training]\nlearning_rate = 0.1\n")
    line = one_line(cli("solve", write(tmp_path, text), "--no-pdf", "--out", tmp_path / "out"))
    missing = 220 - given
    if listed:
        assert f"missing {missing} parameters; expected a number for each of w{given + 1} (" in line
        assert line.count(" -> ") == missing and line.endswith("w220 (h20 -> yhat)")
    else:
        assert line.endswith(f": weights: missing {missing} parameters, too many to list (more than 200): "
                             "w20 (x1 -> h20), w21 (x2 -> h1), w22 (x2 -> h2), … w220 (h20 -> yhat); expected a number for each, named "
                             'source by source, then target by target, layer by layer, as README.md describes '
                             'under "Names"')


def test_the_readme_says_what_the_missing_weights_message_holds():
    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    assert "one line listing every missing name with its connection, up to 200 of them" in readme
    assert "**Names.** Parameters are numbered as on the course sheet: source by source, then target by target, " \
           "layer by layer" in readme


# --- what the README says of layers and losses --------------------------------------------------

README = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8").split())


@pytest.mark.parametrize("outputs, targets", [(["yhat"], ("y",)), (["o1", "o2"], ("y_o1", "y_o2"))])
def test_an_output_layers_targets_are_optional(outputs, targets):
    text = changed('units = ["yhat"]', f"units = {outputs}")
    text = changed('targets = ["y"]', "", text)
    text = changed("y = 1\n", "".join(f"{t} = 1\n" for t in targets), text).split("[weights]")[0]
    text += "[weights]\n[training]\nlearning_rate = 0.2\n"  # the weights of two outputs left out
    assert spec_mod.typed(spec_mod.read_toml(text, "s.toml"), "s.toml").layers[-1].targets == targets
    assert "(default: y for one output unit; y_o1, y_o2, … for units o1, o2, …)" in README


def test_every_loss_name_and_alias_is_in_the_readme():
    from derive.losses import ALIASES, LOSSES

    for key in LOSSES:
        assert f"`{key}`" in README
    for alias, (key, implied) in ALIASES.items():
        assert f"`{alias}`" in README
        spec = spec_mod.parse(re.sub(r"half = true.*\n", "", changed('kind = "squared_error"', f'kind = "{alias}"'))
                              .replace('activation = "identity"', 'activation = "sigmoid"').split("[vary]")[0],
                              "s.toml")
        assert spec.loss.kind == key and all(getattr(spec.loss, k) == v for k, v in implied.items())
    said = README[README.index("`loss.kind` also takes"):]
    said = said[:said.index("own name.")]
    for alias, (key, _) in ALIASES.items():
        assert said.index(f"`{alias}`") < said.index(f"for `{key}`"), alias
    assert set(re.findall(r"`(\w+)`", said)) == {*ALIASES, *(k for k, _ in ALIASES.values()), "ALIASES"}


# --- an array's table written with single brackets ----------------------------------------------

def _single(name: str, first: bool) -> str:
    """The built-in spec with one table of the array ``name`` written [name], before or
    after the [[name]] tables."""
    header = {"network.layers": "[[network.layers]]\nunits = [\"yhat\"]", "examples": "[[examples]]\nx1 = 1",
              "training.runs": "[[training.runs]]\nlearning_rate = 1"}[name]
    text = changed("[[examples]]\nx1 = 1\nx2 = 1\ny = 1\n", "[[examples]]\nx1 = 1\nx2 = 1\ny = 1\n" * 2)
    assert header in text, header
    if first:  # every [[name]] after it: the first one becomes [name]
        return text.replace(f"[[{name}]]", f"[{name}]", 1)
    at = text.rindex(f"[[{name}]]")
    return text[:at] + f"[{name}]" + text[at + len(f"[[{name}]]"):]


@pytest.mark.parametrize("first", [True, False])
@pytest.mark.parametrize("name, what", [("network.layers", "layer"), ("examples", "example"),
                                        ("training.runs", "run")])
def test_an_array_table_in_single_brackets_is_named(tmp_path, name, what, first):
    text = _single(name, first)
    no = 1 + text[:text.index(f"\n[{name}]") + 1].count("\n")
    every_command(tmp_path, write(tmp_path, text), ": syntax: not valid TOML (Cannot ",
                  f"; line {no} writes [{name}], a single table: write [[{name}]], with double brackets, "
                  f"for every {what}")


def test_the_arrays_named_are_the_specs_arrays():
    """Every [[...]] the spec reads is one the hint knows."""
    read = set(re.findall(r"""\b(\w+)\.tables\("(\w+)\"""", (ROOT / "derive" / "spec.py").read_text()))
    assert {f"{'network.' if owner == 'net' else 'training.' if owner == 'training' else ''}{key}"
            for owner, key in read} == set(spec_mod.ARRAYS)


def test_other_toml_errors_get_no_hint(tmp_path):
    line = one_line(cli("solve", write(tmp_path, changed("w1 = 0.7", "w1 = 0.7\nw1 = 0.8")), "--no-pdf"))
    assert "Cannot overwrite a value" in line and "double brackets" not in line
    line = one_line(cli("solve", write(tmp_path, changed("[display]", "[display]\n[display]")), "--no-pdf"))
    assert "Cannot declare ('display',) twice" in line and "double brackets" not in line
