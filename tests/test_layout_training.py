"""Training answers quote only what their tables show (issue 11, item 4): every loss the
prose of questions 4 and 5 names stands in one of the loss tables, the loss after the last
update included; a ratio of two losses is written with two significant digits and is that of
the numbers in the tables; each table keeps one number format; the prose tells the run as
its table shows it. The runs are recomputed here with mpmath, not with the program."""

from __future__ import annotations

import re

import mpmath as mp
import pytest

from conftest import EXAMPLES, run_cli
from derive.training_tex import Column, _power

NUMBER = re.compile(r"^-?\d+(\.\d+)?( \\cdot 10\^\{-?\d+\})?$")


def test_every_loss_in_the_prose_stands_in_a_table(tmp_path):
    r = run_cli("solve", EXAMPLES / "reference.toml", "--out", tmp_path, "--no-pdf")
    assert r.returncode == 0, r.stderr
    tex = (tmp_path / "solution.tex").read_text()
    training = tex[tex.index("Question 4"):]
    table, prose = set(), []
    for line in training.splitlines():
        cells = re.fullmatch(r"(?:\d+|after \d+) & \$(.+)\$ \\\\", line.strip())
        if cells:
            table.add(cells.group(1))
        elif "addplot" not in line and "legendentry" not in line:
            prose += [(m.group(1), line[:m.start()]) for m in re.finditer(r"\$([^$]+)\$", line)]
    losses = [n for n, before in prose if NUMBER.match(n) and not before.rstrip().endswith("about")]
    assert len(losses) >= 5  # the test reads the prose it means to read
    assert [n for n in losses if n not in table] == []
    assert any(line.strip().startswith("after 10 &") for line in training.splitlines())


def test_a_large_ratio_keeps_two_digits():
    assert _power(4.7e5) == r"4.7 \cdot 10^{5}"  # not 10^6, as rounding to a power of ten gave
    assert _power(1234.0) == r"1.2 \cdot 10^{3}"


# --- the tables and the prose against an independent run -----------------------------------

START = {"w1": 0.7, "w2": 1.3, "w3": 1.5, "w4": 0.1, "w5": 0, "w6": 0, "w7": 0.7, "w8": 0.8, "w9": 0}
WORDS = {1: "once", 2: "twice", 7: "seven times", 9: "nine times"}


def _loss(w):
    """The reference network's loss written out: ½(ŷ − y)², sigmoid hidden units, x1 = x2 = y = 1."""
    a = lambda t: 1 / (1 + mp.exp(-t))  # noqa: E731
    h1, h2 = a(w["w1"] + w["w3"] + w["w5"]), a(w["w2"] + w["w4"] + w["w6"])
    return (h1 * w["w7"] + h2 * w["w8"] + w["w9"] - 1) ** 2 / 2


def _run(eta, steps=10, frozen=("w5", "w6")):
    """Losses before each of ``steps`` updates and after the last, gradients by mpmath
    central differences at 30 digits."""
    with mp.workdps(30):
        w, out = {k: mp.mpf(v) for k, v in START.items()}, []
        for _ in range(steps + 1):
            out.append(_loss(w))
            grad = {n: mp.diff(lambda t, n=n: _loss({**w, n: t}), w[n]) for n in w if n not in frozen}
            w = {n: w[n] - eta * grad.get(n, 0) for n in w}
        return [float(v) for v in out]


@pytest.fixture(scope="module")
def questions(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    r = run_cli("solve", EXAMPLES / "reference.toml", "--out", out, "--no-pdf")
    assert r.returncode == 0, r.stderr
    tex = (out / "solution.tex").read_text()
    parts = tex[tex.index(r"\section*{Question 4"):].split(r"\section*{Question ")[1:]
    out = []
    for part in parts:
        rows = dict(re.findall(r"^((?:after )?\d+) & \$(.+)\$ \\\\$", part, re.M))
        prose = " ".join(re.sub(r"\\begin\{tikzpicture\}.*?\\end\{tikzpicture\}|\\begin\{tabular\}.*?\\end\{tabular\}",
                                "", part, flags=re.S).split())
        out.append((rows, prose))
    return out


def _scientific(v: float) -> str:
    mantissa, exponent = f"{v:.2e}".split("e")
    return rf"{mantissa} \cdot 10^{{{int(exponent)}}}"


def test_the_tables_hold_the_independent_runs_in_one_format(questions):
    (slow_rows, _), (fast_rows, _) = questions
    slow, fast = _run(0.2), _run(1.0)
    # η = 0.2 reaches 10⁻⁷: every row with a power of ten, three significant digits
    assert slow_rows == {**{str(k): _scientific(v) for k, v in enumerate(slow[:10], 1)}, "after 10": _scientific(slow[10])}
    # η = 1 stays above 10⁻³: every row with four decimals, trailing zeros kept
    assert fast_rows == {**{str(k): f"{v:.4f}" for k, v in enumerate(fast[:10], 1)}, "after 10": f"{fast[10]:.4f}"}
    assert fast_rows["1"] == "0.0370"  # the course sheet's first loss, its zero kept


def _moves(losses):
    out = []
    for a, b in zip(losses, losses[1:]):
        verb = "rises" if b > a else "falls"
        if out and out[-1][0] == verb:
            out[-1][1] += 1
        else:
            out.append([verb, 1])
    return out


def test_the_prose_tells_the_run_as_its_table_shows_it(questions):
    for (rows, prose), eta in zip(questions, (0.2, 1.0)):
        losses = _run(eta)[:10]
        moves = _moves(losses)
        if len(moves) == 1:
            assert moves == [["falls", 9]] and "goes down at every step" in prose
        else:  # η = 1: the course sheet's run rises seven times, then falls twice
            assert moves == [["rises", 7], ["falls", 2]]
            assert "the loss rises seven times, from $0.0370$ at step 1 to $4.0413$ at step 8, then falls twice" in prose
            assert "still above the $0.0370$ it started from" in prose and "\\textbf{oscillates}" in prose
        # every "$v$ at step k" is row k of the table; the loss after the last update is its last row
        pairs = re.findall(r"\$([^$]+)\$ at step (\d+)", prose)
        assert pairs and all(rows[k] == v for v, k in pairs), pairs
        assert f"${rows['after 10']}$ after the last update" in prose or \
            f"after the last update it is ${rows['after 10']}$" in prose


def test_the_ratio_is_that_of_the_tables(questions):
    (slow_rows, _), (fast_rows, prose) = questions
    high = float(fast_rows["after 10"])
    mantissa, exponent = re.fullmatch(r"(\S+) \\cdot 10\^\{(-?\d+)\}", slow_rows["after 10"]).groups()
    ratio = high / (float(mantissa) * 10 ** int(exponent))
    m, e = f"{ratio:.1e}".split("e")
    assert f"ends about ${m} \\cdot 10^{{{int(e)}}}$ times higher" in prose


@pytest.mark.parametrize("values, scientific, shown", [
    ([0.5, 0.037, 0.25], False, ["0.5000", "0.0370", "0.2500"]),  # trailing zeros everywhere
    ([0.037, 0.0006], True, [r"3.70 \cdot 10^{-2}", r"6.00 \cdot 10^{-4}"]),  # 0.0006: one digit left
    ([0.037, 0.001], False, ["0.0370", "0.0010"]),
    ([2.0, 3e6], True, [r"2.00 \cdot 10^{0}", r"3.00 \cdot 10^{6}"]),
])
def test_one_format_per_column(values, scientific, shown):
    col = Column.of(values, 4)
    assert col.scientific is scientific and [col(v) for v in values] == shown
