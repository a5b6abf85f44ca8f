"""Moodle XML: one Embedded Answers (Cloze) question per variant.

The file follows Moodle's XML import format: a ``<quiz>`` holding a category "question"
(created on import when "Get category from file" is ticked) and one
``<question type="cloze">`` per variant. The question text is the stand-alone question of
``lms`` with one NUMERICAL blank per asked quantity and the figure as a file of the question
text (``<file … encoding="base64">``, shown by an ``<img>`` at ``@@PLUGINFILE@@/network.svg``);
the general feedback is the worked key.

A blank reads ``{1:NUMERICAL:=answer:tol~%50%answer:wider#rounding~%0%wrong:tol#mistake…}``.
Moodle tries the alternatives in the order written and grades by the first whose interval
holds the response, so the answer comes first, then the band of partial credit, then the
wrong values of the misconceptions (never overlapping the first two).

Escaping follows Moodle's own parser (question/type/multianswer/questiontype.php): it finds
blanks anywhere in the question text (so free text carries no raw ``{``), ends an answer at
``~``, ``#`` or ``}`` and a feedback at ``~`` or ``}``, and passes the feedback through
``html_entity_decode`` before storing it as HTML. Feedback is therefore written as HTML with
its special characters as character references, and every ``&`` of that once more escaped.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from typing import Sequence

from . import lms
from .errors import DeriveError
from .rounding import NumberPolicy
from .solution import Solution

PENALTY = "0.3333333"  # Moodle's default penalty for a retry (adaptive mode)
MAX_NAME = 255  # Moodle stores question and category names in 255 characters
MAX_IDNUMBER = 100
CONTEXTS = ("$course$", "$cat$", "$module$", "$system$")


@lru_cache(maxsize=4096)  # the same feedback texts recur in every variant
def cloze_feedback(feedback: str) -> str:
    """Plain feedback text as it must stand in a blank so that Moodle stores ``lms.text``."""
    return lms.text(feedback).replace("&", "&amp;")


def field(b: lms.Blank) -> str:
    (value, tolerance), others = b.answer, b.others
    alts = [f"={value}:{tolerance}"]
    alts += [f"%{credit}%{v}:{tol}#{cloze_feedback(feedback)}" for (v, tol), credit, feedback, _ in others]
    return "{1:NUMERICAL:" + "~".join(alts) + "}"


def fields(solution: Solution) -> tuple[list[tuple[str, list[lms.Blank]]], dict[str, str]]:
    """``lms.blanks`` and each blank's ``field``, by name. The blanks hold only their
    answers (``others`` is empty): the question text and the key need no more of them."""
    wrong, values, policy = lms.wrong_values(solution), solution.values, solution.policy
    unchanged = lms.UNCHANGED
    out, groups = {}, []
    for heading, names in solution.exercise.shared(lms.Shared).asked:
        group = []
        for name in names:
            answer, out[name] = written_field(values[name], policy, *wrong.get(name, unchanged))
            group.append(lms.Blank(name, answer, ()))
        groups.append((heading, group))
    return groups, out


def written_field(value: float, policy: NumberPolicy, found: list[float],
                  reasons: list[tuple[str, str]]) -> tuple[lms.Number, str]:
    """``field(lms.blank(name, value, policy, wrong))`` and the blank's answer, given the
    wrong values and their reasons apart (``lms.wrong_values``); the field written
    straight from ``lms.kept_values``: a question has some three hundred values,
    and going through ``lms.Other`` and back made a third of its time."""
    exp, answer, kept = lms.kept_values(value, policy, found, reasons)
    tolerance, rounding, wrong_tail = _tails(exp)
    # (each text made by one f-string: a chain of + copies the longer text once per part)
    alts = [f"~%0%{shown}{wrong_tail}{cloze_feedback(whys if whys.__class__ is str else '; or: '.join(whys))}"
            for _, shown, _, whys in kept]
    field = f"{{1:NUMERICAL:={answer}:{tolerance}{_BAND}{answer}{rounding}{''.join(alts)}}}"
    return lms.Number(answer, tolerance), field


_BAND = f"~%{lms.PARTIAL_CREDIT}%"


@lru_cache(maxsize=None)  # a handful of places per exercise
def _tails(exp: int) -> tuple[str, str, str]:
    """At the place 10^exp: the answer's tolerance, the rounding band's alternative after its
    value, and what follows a wrong value (up to its feedback), as ``field`` writes them."""
    tolerance = lms.units(lms.TOLERANCE_UNITS, exp)
    band = lms.units(lms.PARTIAL_UNITS, exp)
    return tolerance, f":{band}#{cloze_feedback(lms.ROUNDING_FEEDBACK)}", f":{tolerance}#"


def _cdata(text: str) -> str:
    """A text that holds only characters XML can hold, as CDATA."""
    if "]" in text:  # (the one-character test is the fast one)
        # "]]>" cannot occur inside CDATA; split it across two sections if it ever does.
        text = text.replace("]]>", "]]]]><![CDATA[>")
    return "<![CDATA[" + text + "]]>"


def _xml(text: str) -> str:
    return (lms.xml_safe(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters; a cut name keeps a short hash so two stay apart."""
    if len(text) <= limit:
        return text
    tag = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return text[:limit - 10].rstrip() + "… " + tag


@lru_cache(maxsize=16)  # a network's figure is the same in every variant
def _base64(svg: str) -> str:
    return base64.b64encode(svg.encode("utf-8")).decode("ascii")


def question_name(solution: Solution) -> str:
    title = " ".join(lms.xml_safe(solution.spec.title).split())
    if solution.variant is None:
        return _shorten(title, MAX_NAME)
    tail = f", variant {solution.variant}"
    return _shorten(title, MAX_NAME - len(tail)) + tail


def question(solution: Solution) -> str:
    groups, written = fields(solution)
    image = lms.figure(solution)
    # The figure is a file of the question text: Moodle stores it with the question and
    # replaces @@PLUGINFILE@@ with the file area's address when it shows the text.
    src = f"@@PLUGINFILE@@/{image.name}"
    # The question text and the key hold only characters XML can hold (``lms.question_html``,
    # ``lms.key_html``): the longest texts of the file are not looked through a second time.
    text = lms.question_html(solution, groups, lambda b: written[b.name],
                             lms.img_html(image, src, style="max-width:100%;height:auto"))
    data = _base64(image.svg)
    idnumber = ""
    if solution.variant is not None:
        idnumber = f"\n    <idnumber>{_xml(_shorten(solution.variant, MAX_IDNUMBER))}</idnumber>"
    return (
        '  <question type="cloze">\n'
        f"    <name><text>{_xml(question_name(solution))}</text></name>\n"
        f'    <questiontext format="html"><text>{_cdata(text)}</text>\n'
        f'      <file name="{image.name}" path="/" encoding="base64">{data}</file></questiontext>\n'
        f'    <generalfeedback format="html"><text>{_cdata(lms.key_html(solution, groups))}</text></generalfeedback>\n'
        f"    <penalty>{PENALTY}</penalty>\n"
        f"    <hidden>0</hidden>{idnumber}\n"
        "  </question>\n"
    )


# --- categories ------------------------------------------------------------------------------

def _level(name: str, limit: int) -> str:
    """One level of a category path: no "/" (Moodle's separator, whose doubling at either end
    of a name is misread), no control characters, single spaces, never empty."""
    clean = " ".join(lms.xml_safe(name).replace("/", "\u2215").split())
    return _shorten(clean or "untitled", limit)


def default_category(title: str, batch: str | None) -> str:
    """``$course$/<title>/<batch>``: each batch (seed or roster) its own random-question pool."""
    levels = [_level(title, 150)] + ([_level(batch, 80)] if batch else [])
    return "/".join(["$course$", *levels])


def category_path(path: str) -> str:
    """A category path given on the command line, cleaned level by level; the course's
    category when it names no context."""
    levels = [p for p in path.split("/") if p.strip()]
    head = levels.pop(0).strip() if levels and levels[0].strip() in CONTEXTS else "$course$"
    out = "/".join([head, *(_level(p, MAX_NAME) for p in levels)])
    if not levels:
        raise DeriveError(f"--category: expected a path of category names such as '$course$/Week 3', got {path!r}")
    if len(out) > MAX_NAME:
        raise DeriveError(f"--category: expected at most {MAX_NAME} characters, got {len(out)}")
    return out


def head(category: str) -> str:
    """The file up to the first question: the quiz and its category."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<quiz>\n"
        '  <question type="category">\n'
        f"    <category><text>{_xml(category)}</text></category>\n"
        "  </question>\n"
    )


TAIL = "</quiz>\n"


def write_moodle(solutions: Sequence[Solution], category: str | None = None) -> str:
    """The Moodle XML quiz file for these variants (or the one exercise)."""
    category = category or default_category(solutions[0].spec.title, None)
    return head(category) + "".join(question(s) for s in solutions) + TAIL
