"""Numbers as people type them into the page's form or a class's CSV, into the checker's
Answers.

A student types ``0,0171`` (decimal comma), ``−0.0034`` (a Unicode minus from a word
processor) or ``1.7e-2``; a spreadsheet in a comma-decimal locale exports ``0,0171``. The
page, the class check and ``derive check`` all read values through ``answers.number_text``,
so a value means the same wherever it is typed. The digits as written still count: ``0,70``
claims two decimals.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from .answers import Answer, number_text
from .rounding import Written

MAX_TEXT = 40  # characters of one value; nobody writes a longer number by hand
EXAMPLES = "0.0427, -0.0058, 4.27e-2 or 0,0427"  # no exercise's values: pages are searched for those


def answers(names: Sequence[str], typed: Mapping[str, str]) -> tuple[tuple[Answer, ...], dict[str, str]]:
    """The non-blank values of ``typed`` (every key one of ``names``) as Answers in the key's
    order, and for each value that is not a number what was expected."""
    out, problems = [], {}
    for line, name in enumerate(names, start=1):
        text = typed.get(name, "").strip()
        if not text:
            continue
        try:
            if len(text) > MAX_TEXT:
                raise ValueError("too long for a number")
            out.append(Answer(name, Written.parse(number_text(text)), line))
        except ValueError:
            problems[name] = f"expected a number such as {EXAMPLES}"
    return tuple(out), problems
