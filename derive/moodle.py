"""Moodle XML: one Embedded Answers (Cloze) question per variant.

The file follows Moodle's documented XML import format: a ``<quiz>`` holding a category
"question" (``$course$/<exercise title>``; the category is created on import when "Get
category from file" is ticked) and then one ``<question type="cloze">`` per variant. The
question text is HTML in a CDATA section; each asked quantity is a NUMERICAL blank
``{1:NUMERICAL:=value:tolerance}``. Names are written in TeX between ``\\(`` and ``\\)``
for Moodle's MathJax filter, using the same printer as the key.

The tolerance comes from the display rounding: with d decimals a student who carries full
precision and rounds the answer lands within half a unit of the d-th decimal of the key's
value; one more unit allows for an intermediate value rounded by hand. Anything two or
more units off is marked wrong.
"""

from __future__ import annotations

import html
from typing import Sequence

from . import derivation as D
from .latex import latex_name
from .rounding import NumberPolicy, given_text
from .solution import Solution

TOLERANCE_UNITS = 1.5  # in units of the last shown decimal; see the module text
PENALTY = "0.3333333"  # Moodle's default penalty for a retry (adaptive mode)

# Stages whose quantities are asked, with the heading each group gets in the question.
ASKED = (
    (D.FORWARD, "Forward pass"),
    (D.LOSS, "Loss"),
    (D.GRADIENT, "Gradients"),
    (D.UPDATE, "Gradient-descent update"),
    (D.FORWARD_AFTER, "Forward pass with the updated parameters"),
    (D.LOSS_AFTER, "Loss after the update"),
)


def tolerance(policy: NumberPolicy) -> str:
    """The accepted error as Moodle reads it, exactly in decimal (0.00015 for 4 decimals)."""
    return f"{TOLERANCE_UNITS * 10.0 ** -policy.decimals:.{policy.decimals + 1}f}"


def asked(solution: Solution) -> list[tuple[str, list[str]]]:
    """The quantities that get a blank, grouped under their headings.

    Left out: givens and local partials (the sheet does not ask for them on their own),
    per-example gradients when there are several examples (the total is asked), held
    parameters' "updates", and a quantity that only copies another (an identity output
    ŷ = ŷ_in: the blank is ŷ)."""
    der = solution.derivation
    copied = {str(q.formula) for q in der.quantities if q.formula is not None and q.formula.is_Symbol}
    many = der.n_examples > 1
    out = []
    for stage, heading in ASKED:
        names = [q.name for q in der.stage(stage)
                 if q.name not in copied and q.note != "frozen"
                 and not (many and stage == D.GRADIENT and q.example is not None)]
        if names:
            out.append((heading, names))
    return out


def blank(value: float, policy: NumberPolicy) -> str:
    return f"{{1:NUMERICAL:={policy.text(value)}:{tolerance(policy)}}}"


def _math(name: str) -> str:
    return rf"\({latex_name(name)}\)"


def _connection(p) -> str:
    """Where a parameter sits, in the sheet's notation: x_1 → h_1, or the bias of a unit."""
    if p.source is not None:
        return rf"\({latex_name(p.source)} \to {latex_name(p.targets[0])}\)"
    return "bias of " + ", ".join(_math(t) for t in p.targets)


def _cdata(text: str) -> str:
    # "]]>" cannot occur inside CDATA; split it across two sections if it ever does.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def question_text(solution: Solution) -> str:
    spec, policy = solution.spec, solution.policy
    net = solution.network
    g = solution.givens
    parts = []
    who = f"variant {html.escape(solution.variant)}" if solution.variant is not None else "the exercise"
    seed = f" (seed {solution.seed})" if solution.seed is not None else ""
    parts.append(f"<p>Work through {who}{seed} of <em>{html.escape(spec.title)}</em> with these given values; "
                 "the network is drawn on your exercise sheet.</p>")
    rows = []
    for q in solution.derivation.givens:
        name = q.name
        if q.param is not None:
            label = f"{_math(name)} ({_connection(net.param(q.param))})"
        else:
            label = _math(name)
        rows.append(f"<tr><td>{label}</td><td>{given_text(g[name])}</td></tr>")
    parts.append("<table>" + "".join(rows) + "</table>")
    carried = ("each intermediate value rounded the same way before you use it" if spec.carry == "rounded"
               else "computed from unrounded intermediate values")
    parts.append(f"<p>Enter every value rounded to {policy.decimals} decimals, {carried}.</p>")
    for heading, names in asked(solution):
        parts.append(f"<h4>{html.escape(heading)}</h4>")
        cells = "".join(f"<tr><td>{_math(n)}</td><td>{blank(solution.values[n], policy)}</td></tr>"
                        for n in names)
        parts.append(f"<table>{cells}</table>")
    return "\n".join(parts)


def _question(solution: Solution) -> str:
    spec = solution.spec
    name = spec.title if solution.variant is None else f"{spec.title}, variant {solution.variant}"
    idnumber = f"\n    <idnumber>{html.escape(solution.variant)}</idnumber>" if solution.variant is not None else ""
    feedback = (f"The answer key of variant {html.escape(solution.variant)} works every step."
                if solution.variant is not None else "The answer key works every step.")
    return (
        '  <question type="cloze">\n'
        f"    <name><text>{html.escape(name)}</text></name>\n"
        f'    <questiontext format="html"><text>{_cdata(question_text(solution))}</text></questiontext>\n'
        f'    <generalfeedback format="html"><text>{_cdata("<p>" + feedback + "</p>")}</text></generalfeedback>\n'
        f"    <penalty>{PENALTY}</penalty>\n"
        f"    <hidden>0</hidden>{idnumber}\n"
        "  </question>\n"
    )


def category(title: str) -> str:
    # A "/" in a category name is written "//" (a single one separates levels).
    return "$course$/" + title.replace("/", "//")


def write_moodle(solutions: Sequence[Solution]) -> str:
    """The Moodle XML quiz file for these variants (or the one exercise)."""
    title = solutions[0].spec.title
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<quiz>\n"
        '  <question type="category">\n'
        f"    <category><text>{html.escape(category(title))}</text></category>\n"
        "  </question>\n"
    )
    return head + "".join(_question(s) for s in solutions) + "</quiz>\n"
