"""Training answers quote only what their tables show (issue 11, item 4): every loss the
prose of questions 4 and 5 names stands in one of the loss tables, the loss after the last
update included; a ratio of two losses is written with two significant digits."""

from __future__ import annotations

import re

from conftest import EXAMPLES, run_cli
from derive.training_tex import _power

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
