"""IMS QTI 2.1: a content package (zip) with one assessment item per variant.

For platforms that import QTI 2.1 (OpenOLAT, ILIAS, Inspera, TAO and others). Each item
holds the stand-alone question of ``lms``: a ``textEntryInteraction`` per asked quantity
(base type float), and response processing that gives a point when the response is
``equal`` to the correct one within the absolute tolerance, half a point in the band of
a rounding slip, and otherwise sets the blank's feedback outcome to the misconception
whose value it matches; an inline feedback after each field shows that text. The worked
key is a modal feedback shown once the item has been answered.

``imsmanifest.xml`` lists every item as a resource of type ``imsqti_item_xmlv2p1``, with the
item's figure (an SVG file beside it, shown by an ``img``) as a file of that resource. Item
identifiers are built from the variant ids made safe for XML (an id may hold characters
an identifier cannot); the variant id itself is the item's ``label``, which platforms show
to authors, not to candidates.
"""

from __future__ import annotations

import io
import re
import zipfile
from functools import lru_cache
from typing import Sequence
from xml.sax.saxutils import escape, quoteattr

from . import lms
from .solution import Solution

QTI = "http://www.imsglobal.org/xsd/imsqti_v2p1"
QTI_XSD = "http://www.imsglobal.org/xsd/qti/qtiv2p1/imsqti_v2p1.xsd"
CP = "http://www.imsglobal.org/xsd/imscp_v1p1"
CP_XSD = "http://www.imsglobal.org/xsd/imscp_v1p1.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ITEM_TYPE = "imsqti_item_xmlv2p1"
# A fixed time in the zip entries: the same variants give the same package, byte for byte.
ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def identifier(index: int, variant: str | None) -> str:
    """An identifier (an XML NCName) for the item: its number and the id's safe characters."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", variant or "exercise")[:60]
    return f"item-{index:04d}-{safe}"


def _feedback_id(k: int, other: lms.Other) -> str:
    return "ROUNDING" if other.key == "rounding" else f"MISTAKE_{k}"


def _field(numbers: dict[int, int]):
    def field(b: lms.Blank) -> str:
        i = numbers[id(b)]
        start = f'<feedbackInline outcomeIdentifier="FEEDBACK_{i}" identifier="'
        inline = "".join(f'{start}{_feedback_id(k, o)}" showHide="show">{lms.text(o.feedback)}</feedbackInline>'
                         for k, o in enumerate(b.others))
        return f'<textEntryInteraction responseIdentifier="RESPONSE_{i}" expectedLength="14"/>{inline}'
    return field


def _add(outcome: str, amount: str) -> str:
    return (f'<setOutcomeValue identifier="{outcome}"><sum><variable identifier="{outcome}"/>'
            f'<baseValue baseType="float">{amount}</baseValue></sum></setOutcomeValue>')


def _set(outcome: str, value: str) -> str:
    return f'<setOutcomeValue identifier="{outcome}"><baseValue baseType="identifier">{value}</baseValue></setOutcomeValue>'


def _processing(i: int, b: lms.Blank) -> str:
    response = f'<variable identifier="RESPONSE_{i}"/>'
    rules = [f'<responseIf><equal toleranceMode="absolute" tolerance="{b.answer.tolerance}">{response}'
             f'<correct identifier="RESPONSE_{i}"/></equal>{_add("SCORE", "1")}</responseIf>']
    then, outcome = f'">{response}<baseValue baseType="float">', f"FEEDBACK_{i}"
    rules += [f'<responseElseIf><equal toleranceMode="absolute" tolerance="{o.number.tolerance}{then}'
              f"{o.number.value}</baseValue></equal>{_credit(o.credit)}{_set(outcome, _feedback_id(k, o))}"
              "</responseElseIf>"
              for k, o in enumerate(b.others)]
    return "<responseCondition>" + "".join(rules) + "</responseCondition>"


@lru_cache(maxsize=None)  # a few percentages
def _credit(percent: int) -> str:
    return _add("SCORE", format(percent / 100, "g")) if percent else ""


def item(solution: Solution, ident: str, image: lms.Image | None = None, src: str = "") -> str:
    """One assessment item, as XML text; ``image`` is shown from ``src`` (relative to the item)."""
    groups = lms.blanks(solution)
    flat = [b for _, group in groups for b in group]
    numbers = {id(b): i for i, b in enumerate(flat, start=1)}
    body = lms.question_html(solution, groups, _field(numbers), lms.img_html(image, src) if image else "")
    declarations = "".join(
        f'<responseDeclaration identifier="RESPONSE_{i}" cardinality="single" baseType="float">'
        f"<correctResponse><value>{b.answer.value}</value></correctResponse></responseDeclaration>"
        for i, b in enumerate(flat, start=1))
    outcomes = (
        '<outcomeDeclaration identifier="SCORE" cardinality="single" baseType="float">'
        "<defaultValue><value>0</value></defaultValue></outcomeDeclaration>"
        '<outcomeDeclaration identifier="MAXSCORE" cardinality="single" baseType="float">'
        f"<defaultValue><value>{len(flat)}</value></defaultValue></outcomeDeclaration>"
        + "".join(f'<outcomeDeclaration identifier="FEEDBACK_{i}" cardinality="single" baseType="identifier"/>'
                  for i in range(1, len(flat) + 1))
        + '<outcomeDeclaration identifier="SOLUTION" cardinality="single" baseType="identifier"/>'
    )
    processing = ("<responseProcessing>" + "".join(_processing(i, b) for i, b in enumerate(flat, start=1))
                  + _set("SOLUTION", "KEY") + "</responseProcessing>")
    label = f" label={quoteattr(lms.xml_safe(solution.variant)[:256])}" if solution.variant is not None else ""
    title = quoteattr(lms.xml_safe(solution.spec.title)[:256])
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<assessmentItem xmlns="{QTI}" xmlns:xsi="{XSI}" xsi:schemaLocation="{QTI} {QTI_XSD}" '
        f'identifier="{ident}" title={title}{label} adaptive="false" timeDependent="false">\n'
        f"{declarations}\n{outcomes}\n"
        f"<itemBody><div>\n{body}\n</div></itemBody>\n"
        f"{processing}\n"
        f'<modalFeedback outcomeIdentifier="SOLUTION" identifier="KEY" showHide="show"><div>\n'
        f"{lms.key_html(solution, groups)}\n</div></modalFeedback>\n"
        "</assessmentItem>\n"
    )


def manifest(entries: list[tuple[str, str, tuple[str, ...]]], title: str) -> str:
    """``entries``: each item's identifier, its file and the files it uses (its figure)."""
    resources = "".join(
        f'<resource identifier="{ident}" type="{ITEM_TYPE}" href="{href}"><file href="{href}"/>'
        + "".join(f'<file href="{f}"/>' for f in files) + "</resource>\n"
        for ident, href, files in entries)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<manifest xmlns="{CP}" xmlns:xsi="{XSI}" xsi:schemaLocation="{CP} {CP_XSD}" identifier="MANIFEST">\n'
        f"<metadata><schema>QTIv2.1 Package</schema><schemaversion>1.0.0</schemaversion></metadata>\n"
        f"<organizations/>\n<resources>\n{resources}</resources>\n"
        f"<!-- {escape(lms.xml_safe(title)).replace('--', '- -')} -->\n"
        "</manifest>\n"
    )


class Qti21Package:
    """The QTI 2.1 content package, written into ``file`` (a zip) one variant at a time:
    each item and its figure as they come, the manifest at ``close``."""

    def __init__(self, file, category: str | None = None):
        del category  # QTI has no question categories; the package is the batch
        self.zip = zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED)
        self.entries: list[tuple[str, str, tuple[str, ...]]] = []
        self.title: str | None = None

    @staticmethod
    def piece(s: Solution, index: int, category: str | None = None) -> tuple:
        """The ``index``-th item: its manifest entry, its files (name, text) and the title."""
        ident = identifier(index + 1, s.variant)
        href = f"items/{ident}.xml"
        image = lms.figure(s)
        picture = f"{ident}-{image.name}"  # beside the item, which refers to it by this relative name
        files = ((href, item(s, ident, image, picture)), (f"items/{picture}", image.svg))
        return (ident, href, (f"items/{picture}",)), files, s.spec.title

    def put(self, piece: tuple) -> None:
        entry, files, title = piece
        self.entries.append(entry)
        self.title = self.title or title
        for name, text in files:
            self.zip.writestr(zipfile.ZipInfo(name, ZIP_TIME), text, zipfile.ZIP_DEFLATED)

    def add(self, s: Solution) -> None:
        self.put(self.piece(s, len(self.entries)))

    def close(self) -> None:
        self.zip.writestr(zipfile.ZipInfo("imsmanifest.xml", ZIP_TIME), manifest(self.entries, self.title or ""),
                          zipfile.ZIP_DEFLATED)
        self.zip.close()


def write_qti21(solutions: Sequence[Solution], category: str | None = None) -> bytes:
    """The QTI 2.1 content package (zip) for these variants."""
    buffer = io.BytesIO()
    package = Qti21Package(buffer, category)
    for s in solutions:
        package.add(s)
    package.close()
    return buffer.getvalue()
