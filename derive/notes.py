"""The note on a checked value: why it got its verdict, in the exercise's own names.

A note is a list of segments, so that the terminal, ``--json``, the feedback sheet and a
web page say the same thing, each in its own notation:

- ``("t", text)``: prose (escape it for TeX or HTML);
- ``("n", name)``: a quantity's name as in answers files (``dL/dw7``, ``w7*``, ``h1'``);
- ``("v", number)``: a number, as text;
- ``("m", title)``: a misconception's title;
- ``("x", latex)``: a bit of mathematics between names (``\\eta\\,``, `` + ``, ``\\frac{1}{2}``).

Every number in a note is one the student can find: the exact value at the sheet's
precision, and what the student's own values give, at the digits the student wrote, with
the values it came from named.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Mapping, Sequence

from .misconceptions import MISCONCEPTIONS
from .rounding import _EXACT, Written, fixed, rounded

if TYPE_CHECKING:
    from .check import Report, Result

Segment = tuple[str, str]
LISTED = 6  # more inputs than this are summed up as "your values"

# The LaTeX the misconception notes use between names, as plain text.
_PLAIN = ((r"\frac{1}{2}", "½"), (r"\eta", "η"), (r"\,", " "), ("-", "−"))


def number(value: float, decimals: int, strip: bool = True) -> str:
    """A computed value for a note: ``decimals`` places (trailing zeros dropped unless
    ``strip`` is false); a value too small for them keeps two significant digits."""
    if not math.isfinite(value):
        return str(value)
    if value != 0 and rounded(value, -decimals) == 0:
        return f"{value:.2g}"
    text = fixed(value, -decimals)
    return text.rstrip("0").rstrip(".") or "0" if strip and "." in text else text


def plain(segments: Sequence[Segment]) -> str:
    out = []
    for kind, s in segments:
        if kind == "x":
            for tex, text in _PLAIN:
                s = s.replace(tex, text)
        out.append(s)
    return "".join(out).strip()


def notes(r: "Result", report: "Report", inputs: Sequence[str],
          how: Mapping[str, tuple[str, tuple[str, ...], tuple[str, ...]]] | None = None) -> list[Segment]:
    """Why ``r`` got its verdict; empty for a value that is simply right. ``inputs`` are
    the student's written values its formula was recomputed from; ``how`` gives, for each
    misconception named, where it changes a formula, the names that formula took and the
    ones they stand in place of."""
    sol = report.solution
    w = report.written[r.name]
    exact = number(r.expected, max(sol.policy.decimals, w.decimals), strip=False)

    def values(names: Sequence[str]) -> list[Segment]:
        out: list[Segment] = []
        for k, n in enumerate(names):
            out += [("t", ", " if k else ""), ("n", n), ("x", " = "), ("v", report.written[n].text)]
        return out

    def own(digits: int | None = None) -> list[Segment]:
        """What the student's own values give, and which values those are: at the digits
        the student wrote, or (``digits``) with the few more that show a cut-off."""
        text = number(r.recomputed, w.decimals if digits is None else digits, strip=digits is not None)
        if 0 < len(inputs) <= LISTED:
            return [("t", "your ")] + values(inputs) + [("t", " gives " if len(inputs) == 1 else " give "),
                                                         ("v", text)]
        return [("t", "your values give "), ("v", text)]

    if r.verdict == "correct" and r.rounding:
        return [("t", "follows from your rounded ")] + values(r.because) + [("t", "; the exact value is "),
                                                                           ("v", exact)]
    if r.verdict == "coarse":
        places = max(1, -math.floor(math.log10(abs(r.expected))))
        return [("t", "too few digits to show the value "), ("v", exact), ("t", f"; write {places} decimal{'' if places == 1 else 's'} or more")]
    if r.verdict == "carried":
        out = [("t", "follows from your rounded " if r.rounding else "follows from your ")] + values(r.because)
        if number(r.recomputed, w.decimals, strip=False) != r.given:
            out += [("t", ": ")] + own()
        return out + [("t", "; the exact value is "), ("v", exact)]
    if r.verdict != "wrong":
        return []

    finite = r.recomputed is not None and math.isfinite(r.recomputed)
    if r.because and finite:  # the true value, though the student's own values give another
        return [("t", "the exact value, but it does not follow from your own values: ")] + own()
    out = _diagnosis(r, report, finite, how or {})
    if out and out[0] == ("t", "cut off instead of rounded: "):
        return out + own(max(sol.policy.decimals, w.decimals + 1)) + \
            [("t", ", which rounds to "), ("v", fixed(r.recomputed, w.exponent))]
    if out:
        out.append(("t", "; "))
    out += [("t", "should be "), ("v", exact)]
    if finite and number(r.recomputed, w.decimals, strip=False) != fixed(r.expected, w.exponent):
        out += [("t", "; ")] + own()
    return out


def _diagnosis(r: "Result", report: "Report", finite: bool, how) -> list[Segment]:
    """What went wrong, where the numbers tell: misconceptions, then slips."""
    der = report.solution.derivation
    w = report.written[r.name]
    out: list[Segment] = []
    if r.misconceptions:
        if len(r.misconceptions) > 1:
            out.append(("t", "one of: "))
        for k, key in enumerate(r.misconceptions):
            m = MISCONCEPTIONS[key]
            place, took, instead = how[key]
            out += ([("t", "; or ")] if k else []) + [("m", m.title), ("t", ": ")]
            if place != r.name:  # the mistake lies in a value the student did not write
                out += [("t", "in "), ("n", place), ("t", " (not written), ")]
            out += m.explain(der, place, took, instead)
        return out
    if not finite:
        return out
    if truncated(w, r.recomputed):
        return [("t", "cut off instead of rounded: ")]
    mine = fixed(r.recomputed, w.exponent)
    if w.value != 0 and w.value == -rounded(r.recomputed, w.exponent):
        return [("t", "the sign is flipped")]
    if _transposed(r.given, mine):
        return [("t", "two digits swapped")]
    def stage(name: str) -> str | None:  # the losses at the starting parameters have none
        return der[name].stage if name in der.index else None

    for other, ow in report.written.items():
        if other != r.name and ow.text == r.given and stage(other) == stage(r.name):
            return [("t", "the value of your "), ("n", other)]
    return out


def truncated(w: Written, value: float) -> bool:
    """Whether the written digits are ``value`` cut off rather than rounded."""
    if not math.isfinite(value) or w.is_rounding_of(value):
        return False
    # in the exact context: a value of 10^30 at 4 decimals has more digits than the default 28
    return Decimal(value).quantize(Decimal(1).scaleb(w.exponent), rounding=ROUND_DOWN, context=_EXACT) == w.value


def _transposed(a: str, b: str) -> bool:
    """Whether ``a`` is ``b`` with two neighbouring digits swapped."""
    if len(a) != len(b) or a == b:
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]] \
        and re.fullmatch(r"\d\d", a[diff[0]:diff[1] + 1]) is not None
