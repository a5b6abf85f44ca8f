"""Canvas Classic Quizzes: a QTI 1.2 package with one quiz per variant.

Canvas has no question that holds several numeric blanks with feedback per wrong value,
so each variant becomes a quiz: a text-only question first (the stand-alone question of
``lms``: network, conventions, given values), then one numerical question per asked
quantity. A quiz per variant is also how Canvas gives each student or group their own
numbers (assign each quiz to its student or section).

A numerical answer is a range [answer − 1 unit, answer + 1 unit] of the last typed digit,
so the bounds have no more digits than the answer. Canvas keeps four decimals of a
numerical answer, so a quantity whose last digit lies below 10^-4 is asked scaled
(10^3 · ∂L/∂w, stated in the question). Canvas counts every answer of a numerical question
as correct, so the misconceptions' values cannot be wrong answers of their own; they are
listed in the feedback shown after a wrong answer, each with its diagnosis. The worked key
line of the quantity is its general feedback.

The XML follows what Canvas reads and writes (the structure text2qti produces as well):
``questestinterop/assessment/section/item``, ``qtimetadata`` with ``question_type`` and
``points_possible``, ``response_str``/``render_fib`` with ``fibtype="Decimal"``, and
``resprocessing`` with ``vargte``/``varlte`` bounds; the figure is a file of the package
(``images/…``, a ``webcontent`` resource of the manifest) shown from ``$IMS-CC-FILEBASE$``. text2qti itself builds quizzes only from
its own Markdown text format, a further escaping layer over HTML and TeX that is written
here already, so the package is written directly.
"""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal
from functools import lru_cache
from typing import Sequence
from xml.sax.saxutils import escape, quoteattr

from . import lms
from .latex import latex_name
from .qti import ZIP_TIME, identifier
from .solution import ChainLine, Line, Solution

QTI12 = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
CC = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SMALLEST = -4  # Canvas keeps four decimals of a numerical answer
FILEBASE = "%24IMS-CC-FILEBASE%24"  # Canvas's placeholder for the package's files, URL-escaped as text2qti writes it


def scale(b: lms.Blank) -> int:
    """The power of ten the quantity is asked times, so its last digit survives in Canvas."""
    exp = Decimal(b.answer.tolerance).adjusted()  # 1.5 units: the unit's place
    return max(0, SMALLEST - exp)


def _scaled(text: str, s: int) -> Decimal:
    return Decimal(text).scaleb(s)


def _plain(d: Decimal) -> str:
    return format(d, "f")


def _times(text: str, s: int) -> str:
    """A value as typed (plain decimal, as ``lms.blank`` writes it) times 10^s, as typed."""
    # unscaled, the same digits: Decimal keeps a plain decimal's digits and places
    return text if s == 0 else _plain(_scaled(text, s))


def _meta(kind: str, points: int) -> str:
    return ("<itemmetadata><qtimetadata>"
            f"<qtimetadatafield><fieldlabel>question_type</fieldlabel><fieldentry>{kind}</fieldentry></qtimetadatafield>"
            f"<qtimetadatafield><fieldlabel>points_possible</fieldlabel><fieldentry>{points}</fieldentry></qtimetadatafield>"
            "</qtimetadata></itemmetadata>")


def _mat(markup: str) -> str:
    return f'<material><mattext texttype="text/html">{escape(lms.xml_safe(markup))}</mattext></material>'


@lru_cache(maxsize=4096)  # the same names and scales in every variant
def _prompt(name: str, s: int) -> str:
    label = (f"10^{{{s}}} \\cdot " if s else "") + latex_name(name)
    prompt = f"<p>{lms.math_html(label)} =</p>"
    if s:
        prompt += f"<p>Enter the value times {lms.math_html(f'10^{{{s}}}')} (Canvas keeps four decimals).</p>"
    return _mat(prompt)


def _feedback(ident: str, markup: str) -> str:
    return f'<itemfeedback ident="{ident}"><flow_mat>{_mat(markup)}</flow_mat></itemfeedback>'


def _key_lines(solution: Solution) -> dict[str, Line | ChainLine]:
    return {line.name: line for lines in solution.sections.values() for line in lines}


def numerical(ident: str, b: lms.Blank, key_line: str) -> str:
    s = scale(b)
    unit = Decimal(1).scaleb(Decimal(b.answer.tolerance).adjusted() + s)
    answer = _scaled(b.answer.value, s)
    wrong = [o for o in b.others if o.key != "rounding"]
    incorrect = ""
    if wrong:
        items = "".join(f"<li>{_times(o.number.value, s)}: {lms.text(o.feedback)}</li>" for o in wrong)
        incorrect = "<p>Values that common mistakes give:</p><ul>" + items + "</ul>"
    conditions = (
        f'<respcondition continue="No"><conditionvar>'
        f'<vargte respident="response1">{_plain(answer - unit)}</vargte>'
        f'<varlte respident="response1">{_plain(answer + unit)}</varlte>'
        f'</conditionvar><setvar action="Set" varname="SCORE">100</setvar></respcondition>'
    )
    general = '<respcondition continue="Yes"><conditionvar><other/></conditionvar>' \
              '<displayfeedback feedbacktype="Response" linkrefid="general_fb"/></respcondition>'
    wrong_fb = ('<respcondition continue="Yes"><conditionvar><other/></conditionvar>'
                '<displayfeedback feedbacktype="Response" linkrefid="general_incorrect_fb"/></respcondition>'
                if incorrect else "")
    return (
        f'<item ident="{ident}" title="Question">{_meta("numerical_question", 1)}'
        f"<presentation>{_prompt(b.name, s)}"
        '<response_str ident="response1" rcardinality="Single"><render_fib fibtype="Decimal">'
        '<response_label ident="answer1"/></render_fib></response_str></presentation>'
        '<resprocessing><outcomes><decvar maxvalue="100" minvalue="0" varname="SCORE" vartype="Decimal"/></outcomes>'
        f"{general}{conditions}{wrong_fb}</resprocessing>"
        f"{_feedback('general_fb', f'<p>{key_line}</p>')}"
        + (_feedback("general_incorrect_fb", incorrect) if incorrect else "")
        + "</item>\n"
    )


def assessment(solution: Solution, ident: str, image: lms.Image | None = None, src: str = "") -> str:
    groups = lms.blanks(solution)
    intro = lms.question_html(solution, [], lambda b: "", lms.img_html(image, src) if image else "")
    intro += "<p>Enter each value asked in the questions that follow.</p>"
    lines = _key_lines(solution)
    items = [f'<item ident="{ident}-text" title="The exercise">{_meta("text_only_question", 0)}'
             f"<presentation>{_mat(intro)}</presentation></item>\n"]
    n = 0
    for _, group in groups:
        for b in group:
            n += 1
            line = lines.get(b.name)
            items.append(numerical(f"{ident}-{n:03d}", b, lms.math_html(lms.key_line(line)) if line is not None else ""))
    title = lms.xml_safe(solution.spec.title)
    if solution.variant is not None:
        title += f", variant {lms.xml_safe(solution.variant)}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<questestinterop xmlns="{QTI12}" xmlns:xsi="{XSI}" '
        f'xsi:schemaLocation="{QTI12} http://www.imsglobal.org/xsd/ims_qtiasiv1p2p1.xsd">\n'
        f'<assessment ident="{ident}" title={quoteattr(title)}>\n'
        '<section ident="root_section">\n' + "".join(items) + "</section>\n</assessment>\n</questestinterop>\n"
    )


def manifest(entries: list[tuple[str, str]], files: list[tuple[str, str]] = ()) -> str:
    """``entries``: each quiz's identifier and file; ``files``: each figure's identifier and path."""
    resources = "".join(f'<resource identifier="{i}" type="imsqti_xmlv1p2"><file href="{h}"/></resource>\n'
                        for i, h in entries)
    resources += "".join(f'<resource identifier="{i}" type="webcontent" href="{h}"><file href="{h}"/></resource>\n'
                         for i, h in files)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<manifest identifier="MANIFEST" xmlns="{CC}">\n'
            "<metadata><schema>IMS Content</schema><schemaversion>1.1.3</schemaversion></metadata>\n"
            f"<organizations/>\n<resources>\n{resources}</resources>\n</manifest>\n")


class CanvasPackage:
    """The Canvas QTI 1.2 package, written into ``file`` (a zip) one variant at a time: each
    quiz and its figure as they come, the manifest at ``close``."""

    def __init__(self, file, category: str | None = None):
        del category  # Canvas imports quizzes, not question-bank categories
        self.zip = zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED)
        self.entries: list[tuple[str, str]] = []
        self.files: list[tuple[str, str]] = []

    @staticmethod
    def piece(s: Solution, index: int, category: str | None = None) -> tuple:
        """The ``index``-th quiz: its manifest entries and its files (name, text)."""
        ident = identifier(index + 1, s.variant)
        href = f"{ident}/{ident}.xml"
        image = lms.figure(s)
        picture = f"images/{ident}-{image.name}"  # identifiers hold no character a URL must escape
        files = ((href, assessment(s, ident, image, f"{FILEBASE}/{picture}")), (picture, image.svg))
        return (ident, href), (f"{ident}-figure", picture), files

    def put(self, piece: tuple) -> None:
        entry, figure, files = piece
        self.entries.append(entry)
        self.files.append(figure)
        for name, text in files:
            self.zip.writestr(zipfile.ZipInfo(name, ZIP_TIME), text, zipfile.ZIP_DEFLATED)

    def add(self, s: Solution) -> None:
        self.put(self.piece(s, len(self.entries)))

    def close(self) -> None:
        self.zip.writestr(zipfile.ZipInfo("imsmanifest.xml", ZIP_TIME), manifest(self.entries, self.files),
                          zipfile.ZIP_DEFLATED)
        self.zip.close()


def write_canvas(solutions: Sequence[Solution], category: str | None = None) -> bytes:
    """The Canvas QTI 1.2 package (zip) for these variants: one quiz each."""
    buffer = io.BytesIO()
    package = CanvasPackage(buffer, category)
    for s in solutions:
        package.add(s)
    package.close()
    return buffer.getvalue()

