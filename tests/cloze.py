"""Moodle's reading of a cloze question text, ported to Python for the tests.

The regular expressions are those of Moodle's question/type/multianswer/questiontype.php
(the ANSWER_ALTERNATIVE_*, NUMBER_REGEX, NUMERICAL_ALTERNATIVE_REGEX and ANSWER_REGEX
constants, and the loop of qtype_multianswer_extract_question that applies them), as in
moodle/moodle's main branch. Two changes of form only: PCRE's lookbehind with alternatives
of different lengths, (?<!\\\\|&|&amp;), is written as three lookbehinds, which Python
needs and which mean the same; and PHP's html_entity_decode is html.unescape.

Grading follows qtype_numerical: the alternatives are tried in the order written, the
first whose interval [answer - tolerance, answer + tolerance] holds the response counts,
computed in floating point as PHP does.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from decimal import Decimal

FRACTION = r"=|%(-?[0-9]+(?:[.,][0-9]*)?)%"
ANSWER = r".+?(?<!\\)(?<!&)(?<!&amp;)(?=[~#}]|$)"
FEEDBACK = r".*?(?<!\\)(?=[~}]|$)"
ALTERNATIVE = f"({FRACTION})?({ANSWER})(#({FEEDBACK}))?"
NUMBER = r"-?(([0-9]+[.,]?[0-9]*|[.,][0-9]+)([eE][-+]?[0-9]+)?)"
NUMERICAL_ALTERNATIVE = f"^({NUMBER})(:{NUMBER})?$"
TYPES = (r"(NUMERICAL|NM)|(MULTICHOICE|MC)|(MULTICHOICE_V|MCV)|(MULTICHOICE_H|MCH)|"
         r"(SHORTANSWER|SA|MW)|(SHORTANSWER_C|SAC|MWC)|"
         r"(MULTICHOICE_S|MCS)|(MULTICHOICE_VS|MCVS)|(MULTICHOICE_HS|MCHS)|"
         r"(MULTIRESPONSE|MR)|(MULTIRESPONSE_H|MRH)|(MULTIRESPONSE_S|MRS)|(MULTIRESPONSE_HS|MRHS)")
START = rf"\{{([0-9]*):({TYPES}):"
ANSWER_REGEX = re.compile(f"{START}({ALTERNATIVE}(~{ALTERNATIVE})*)\\}}", re.S)
ALT_REGEX = re.compile(f"~?{ALTERNATIVE}", re.S)
NUM_REGEX = re.compile(NUMERICAL_ALTERNATIVE, re.S)
NUMERICAL_GROUP, ALTERNATIVES_GROUP = 3, 16  # ANSWER_REGEX_ANSWER_TYPE_NUMERICAL, _ALTERNATIVES


@dataclass(frozen=True)
class Alternative:
    fraction: float
    answer: str
    tolerance: str | None  # numerical answers only
    feedback: str  # as Moodle stores it (HTML)


@dataclass(frozen=True)
class Blank:
    numerical: bool
    mark: str
    alternatives: tuple[Alternative, ...]

    def grade(self, response: Decimal | str) -> Alternative | None:
        """The alternative Moodle grades a numerical response by (None: no match, 0 marks).

        In floating point, as PHP computes it, with the tiny widening Moodle adds to every
        tolerance (qtype_numerical_answer::get_tolerance_interval, MDL-3225: 10^-precision,
        PHP's default precision being 14)."""
        value = float(response)
        for a in self.alternatives:
            tol = abs(float(a.tolerance or "0")) + 1e-14
            if float(a.answer) - tol <= value <= float(a.answer) + tol:
                return a
        return None

    @property
    def correct(self) -> Alternative:
        return next(a for a in self.alternatives if a.fraction == 1)


def parse(text: str) -> tuple[list[Blank], str]:
    """The blanks of a question text, and the text with each replaced by {#n}."""
    blanks = []
    position = 1
    while True:
        m = ANSWER_REGEX.search(text)
        if m is None:
            return blanks, text
        numerical = bool(m.group(NUMERICAL_GROUP))
        remaining = m.group(ALTERNATIVES_GROUP)
        alts = []
        while True:
            a = ALT_REGEX.search(remaining) if remaining else None
            if a is None or a.group(0) == "":
                break
            if a.group(1) == "=":
                fraction = 1.0
            elif a.group(2):
                fraction = 0.01 * float(a.group(2).replace(",", "."))
            else:
                fraction = 0.0
            feedback = ""
            if a.group(5) is not None:
                feedback = html.unescape(a.group(5)).replace("\\}", "}").replace("\\#", "#")
            answer, tolerance = a.group(3), None
            n = NUM_REGEX.search(answer) if numerical else None
            if n is not None:
                answer = n.group(1)
                tolerance = n.group(6) if n.group(5) else "0"
            alts.append(Alternative(fraction, answer, tolerance, feedback))
            remaining = remaining.split(a.group(0), 1)[1]
        blanks.append(Blank(numerical, m.group(1) or "1", tuple(alts)))
        text = text.replace(m.group(0), f"{{#{position}}}", 1)
        position += 1
