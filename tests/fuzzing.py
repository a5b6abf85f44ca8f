"""Hostile inputs for every command, and the one rule they must all obey.

A case is a command line plus the files it reads: the reference spec with one line
changed, added or removed (or bytes that are not UTF-8 put in), or an answers file of
`derive check` written badly. The rule (``run``): the command succeeds, or it exits with
status 2 and exactly one line on stderr, no traceback, and nothing in its output folder;
and it finishes within ``TIME_LIMIT`` seconds. The commands run in this process, through
the same ``cli.main`` as the real entry point, so that hundreds of cases take seconds;
the explicit reproducers in test_spec_inputs.py also run them as subprocesses.
"""

from __future__ import annotations

import contextlib
import io
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

from derive import cli, spec as spec_mod

REFERENCE = spec_mod.builtin_path().read_text(encoding="utf-8")
LINES = REFERENCE.splitlines()
VALUE_LINES = [i for i, line in enumerate(LINES) if "=" in line and not line.lstrip().startswith("#")]
TIME_LIMIT = 60  # seconds; a hang is what this catches, not a slow case


class TooSlow(Exception):
    pass


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


def run(args: list[str]) -> Outcome:
    """``derive ARGS`` in this process, with its exit status and its output."""
    out, err = io.StringIO(), io.StringIO()

    def alarm(signum, frame):
        raise TooSlow(f"derive {' '.join(args)} took over {TIME_LIMIT} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(TIME_LIMIT)
    argv = sys.argv
    sys.argv = ["derive", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        sys.argv = argv
    return Outcome(code, out.getvalue(), err.getvalue())


def assert_obeys(outcome: Outcome, out: Path | None, ok: tuple[int, ...] = (0,)) -> None:
    """Success, or one line on stderr, status 2, and nothing written."""
    if outcome.code in ok:
        return
    lines = outcome.stderr.splitlines()
    assert outcome.code == 2, outcome
    assert len(lines) == 1 and lines[0].startswith("derive"), outcome
    assert "Traceback" not in outcome.stderr
    if out is not None:
        assert not out.exists() or not any(out.iterdir()), f"files left in {out}: {outcome}"


# --- values an attacker or an unlucky user writes ------------------------------------------

def _toml_string(s: str) -> str:
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in s) + '"'


HOSTILE = [
    "1e400", "-1e400", "1e-400", "4.9e-324", "nan", "inf", "-inf", "0", "-0.0", "1" + "0" * 400,
    "9" * 5000, "1979-05-27", "1979-05-27T07:32:00Z", "07:32:00", "true", "[]", "{}", "[[[[]]]]",
    "[" * 3000 + "]" * 3000, '"\\\\input{/etc/passwd}"', '"a\\nb"', '"\\u0000"', '"h1"', '"w1"',
    '"x1 -> h1"', '"sigma"', '"softmax"', '"leaky_relu"', '"online"', '"rounded"', '"all"',
    '["w1", "w1"]', '["h1", "h1"]', '["a\\nb"]', '[1, "x"]', "{ from = 0, to = 1e308, step = 1e-308 }",
    "{ from = 1, to = 0, step = 1 }", "{ from = 0, to = 1, step = 0 }", "1000000000", "-1", "2.5",
    '"' + "x" * 10000 + '"', "{ a = { b = { c = 1 } } }",
]

values = st.one_of(
    st.sampled_from(HOSTILE),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=30).map(_toml_string),
    st.lists(st.sampled_from(["1", '"h1"', '"w5"', "0.5", "[]"]), max_size=5).map(lambda v: f"[{', '.join(v)}]"),
)
keys = st.one_of(
    st.sampled_from(["units", "activation", "slope", "symbol", "bias_unit", "bias_value", "targets", "half",
                     "kind", "steps", "learning_rate", "frozen", "include", "tries", "max_preactivation",
                     "w1", "x1", "y", "eta", "weights", "decimals", "chains", "carry", "update", "bias"]),
    st.text(max_size=12).map(_toml_string),
)


@st.composite
def spec_texts(draw) -> bytes:
    """The reference spec with one hostile change."""
    lines = list(LINES)
    kind = draw(st.sampled_from(["value", "value", "value", "line", "drop", "bytes"]))
    i = draw(st.sampled_from(VALUE_LINES))
    if kind == "value":
        key = lines[i].split("=", 1)[0]
        lines[i] = f"{key}= {draw(values)}"
    elif kind == "line":
        lines.insert(i, f"{draw(keys)} = {draw(values)}")
    elif kind == "drop":
        del lines[i]
    text = ("\n".join(lines) + "\n").encode("utf-8")
    if kind == "bytes":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.binary(min_size=1, max_size=8)) + text[at:]
    return text


NAMES = ["h1", "h2", "yhat", "L", "dL/dw1", "dL/dw7", "w1*", "w9*", "h1'", "yhat'", "L'", "x1", "nope"]
NUMBERS = st.one_of(
    st.sampled_from(["1e400", "1e-400", "4.9e-324", "-0", "0.9002", "1_000", "−0.5", "1e", ".", "", "nan",
                     "inf", "1" * 5000, "0." + "0" * 400 + "1", "1979-05-27", "true", '"0.02"', "[1]",
                     "[" * 5000, "{a: " * 3000, "&x [1]", "*x", "!!python/object:os.system"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.decimals(allow_nan=False, allow_infinity=False, places=6).map(str),
    st.text(max_size=12),
)


@st.composite
def answer_files(draw) -> tuple[str, bytes]:
    """(suffix, contents) of an answers file for the reference exercise, written badly."""
    fmt = draw(st.sampled_from([".toml", ".yaml", ".csv"]))
    rows = draw(st.lists(st.tuples(st.one_of(st.sampled_from(NAMES), st.text(max_size=10)), NUMBERS),
                         min_size=0, max_size=6))
    if fmt == ".toml":
        text = "".join(f"{_toml_string(n)} = {v}\n" for n, v in rows)
    elif fmt == ".yaml":
        text = "".join(f"{n!r}: {v}\n" for n, v in rows)
    else:
        sep = draw(st.sampled_from([",", ";"]))
        text = f"name{sep}value\n" + "".join(f"{n}{sep}{v}\n" for n, v in rows)
    data = text.encode("utf-8")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data  # a byte-order mark: accepted
    if draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return fmt, data
