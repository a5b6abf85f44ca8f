"""The key of a larger network as tables: what the key templates receive as ``tables``.

A key written line by line grows with the number of parameters (a 4-16-16-4 network gave
57 pages). For such networks the key shows one worked unit per layer with its numbers put
in, then the layer as a table (forward pass), the error terms δ as a table with the
recursion worked once, the gradients as matrices (a row per source unit, a column per
unit fed), and the update as a table (parameter, old value, gradient, −η·gradient, new
value) or, for many parameters, as matrices of the new weights. Every number is read
from the Solution; nothing is computed here but the layout (which rows go where, where
a long sum breaks, how many columns a matrix block holds).
"""

from __future__ import annotations

import re

from .latex import Tex, latex_name
from .rounding import given_tex

TABLE_PARAMS = 30  # "auto": networks with more parameters than this get the table form
ROW_CHARS = 62  # printed characters of a worked line that fit on one row next to its name
TABLE_ROWS = 62  # rows of one update table (small type); two stand side by side on a page
MATRIX_UPDATE = 2 * TABLE_ROWS  # more parameters than one page of update table: the update as matrices
MATRIX_ROOM = 440.0  # points of the text width a matrix block's number columns may take
MATRIX_CHAR = 4.6  # points per printed character of a number in small type (\footnotesize)
MATRIX_SEP = 6.0  # points between two columns (\tabcolsep 3pt on each side)
SIDE_BY_SIDE = 12  # a layer of more units than this is tabulated in two halves side by side


def chosen(solution) -> bool:
    """Whether the key of this Solution is laid out as tables."""
    spec, der = solution.spec, solution.derivation
    if spec.form != "auto":
        return spec.form == "tables"
    return (der.uses_delta and (der.n_examples == 1 or der.online) and spec.optimizer is None
            and len(solution.network.params) > TABLE_PARAMS)


def width(latex: str) -> int:
    """A rough count of the printed characters of a LaTeX formula."""
    latex = re.sub(r"\\(left|right|,|;|quad|mathrm)", "", latex)
    latex = re.sub(r"\\[a-zA-Z]+", "x", latex)
    return len(re.sub(r"[{}^_ ]", "", latex))


def terms(latex: str) -> list[str]:
    """A sum split before each top-level ``+`` or ``-`` (outside braces and parentheses)."""
    out, depth, start, i = [], 0, 0, 0
    while i < len(latex):
        c = latex[i]
        if c in "{(":
            depth += 1
        elif c in "})":
            depth -= 1
        elif depth == 0 and latex.startswith((" + ", " - "), i) and i > start:
            out.append(latex[start:i])
            start = i + 1
        i += 1
    out.append(latex[start:])
    return [t.strip() for t in out]


def rows(latex: str, room: int = ROW_CHARS) -> list[Tex]:
    """A formula cut into rows of at most ``room`` printed characters, between terms;
    a bracketed sum times a factor (an error term's recursion) is cut inside its brackets,
    which then take a fixed size (``\\left``/``\\right`` cannot span rows)."""
    if width(latex) > room and latex.startswith(r"\left(") and len(terms(latex)) == 1:
        close = _closing(latex)
        if close is not None:
            inner = rows(latex[len(r"\left("):close], room - 4)
            tail = latex[close + len(r"\right)"):]
            inner[0] = Tex(r"\bigl(" + inner[0])
            inner[-1] = Tex(inner[-1] + r"\bigr)" + tail)
            return inner
    out: list[str] = []
    for t in terms(latex):
        if out and width(out[-1]) + width(t) + 2 > room:
            out.append(t)
        elif out:
            out[-1] += " " + t
        else:
            out.append(t)
    return [Tex(r) for r in out]


_PAIR = re.compile(r"\\left\(((?:(?!\\left[(\[.]|\\right[)\].]).)*)\\right\)", re.S)


def breakable(latex: str) -> Tex:
    """A formula for running text, where TeX may break a line after a + or a = only outside
    groups: brackets sized by \\left...\\right (a group) become fixed \\bigl...\\bigr
    where nothing tall (a fraction) stands inside them."""
    kept: list[str] = []

    def swap(m: re.Match) -> str:
        if r"\frac" in m.group(1):
            kept.append(m.group())
            return f"\x00{len(kept) - 1}\x00"
        return rf"\bigl({m.group(1)}\bigr)"

    while True:
        latex, n = _PAIR.subn(swap, latex)
        if not n:
            break
    while "\x00" in latex:
        latex = re.sub("\x00(\\d+)\x00", lambda m: kept[int(m.group(1))], latex)
    return Tex(latex)


def _closing(latex: str) -> int | None:
    """Where the ``\\right)`` that closes a formula's opening ``\\left(`` starts."""
    depth = 0
    for m in re.finditer(r"\\left[(\[.]|\\right[)\].]", latex):
        depth += 1 if m.group().startswith(r"\left") else -1
        if depth == 0:
            return m.start()
    return None


def worked(line, numbers_only: bool = False) -> dict:
    """One line of the key (lhs = forms ≈ value) as rows that stay inside the margin:
    each form starts a row with "=", its continuation rows start with an indent.
    ``numbers_only``: the symbolic form left out (the key showed it before)."""
    out: list[dict] = []
    for form in line.forms[1:] if numbers_only and len(line.forms) > 1 else line.forms:
        if out and width(out[-1]["tex"]) + width(form) + 2 <= ROW_CHARS:  # fits the row it follows
            out[-1]["tex"] = Tex(f"{out[-1]['tex']} = {form}")
            continue
        for i, r in enumerate(rows(form)):
            out.append({"op": Tex("=" if i == 0 else r"\quad"), "tex": r})
    if line.value not in line.forms:
        out[-1]["tex"] = Tex(f"{out[-1]['tex']} {line.relation} {line.value}")
    return {"lhs": line.lhs, "rows": out}


def context(solution) -> dict | None:
    """The table form's data, or None when the key is written line by line. With online
    updates, ``examples`` holds one example's tables (as the keys above, for that example)
    per example, in the order they are computed."""
    if not chosen(solution):
        return None
    net, shown = solution.network, solution.shown
    der = solution.derivation
    lines = {l.name: l for stage in solution.sections.values() for l in stage}

    def after_rows(layer, s: str) -> list[dict]:
        return [{"unit": Tex(latex_name(u)), "pre": shown(f"{u}_in'{s}"), "act": shown(f"{u}'{s}")}
                for u in layer.units]

    if not der.online:
        out = _example(solution, lines, "", solution.givens, "*")
        out["after"] = [{"index": l.index, "output": l is net.layers[-1], "rows": after_rows(l, "")}
                        for l in net.layers]
        out["loss_after"] = worked(lines["L'"], numbers_only=True)
        out["given_matrices"] = given_matrices(solution)
        return out
    n = der.n_examples
    examples = []
    for e in range(1, n + 1):
        before = solution.givens if e == 1 else {p.name: solution.values[f"{p.name}*[{e - 1}]"] for p in net.params}
        examples.append(_example(solution, lines, f"[{e}]", before, "*" if e == n else f"*[{e}]"))
    return {
        "examples": examples,
        "pass_loss": [worked(lines["L"])],
        "after": [{"example": e, "layers": [{"index": l.index, "output": l is net.layers[-1],
                                            "rows": after_rows(l, f"[{e}]")} for l in net.layers]}
                  for e in range(1, n + 1)],
        "loss_after": [worked(lines[f"L'[{e}]"], numbers_only=True) for e in range(1, n + 1)]
        + [worked(lines["L'"])],
        "start": [worked(l) for l in solution.start],
        "given_matrices": given_matrices(solution),
    }


def _example(solution, lines: dict, s: str, before, star: str) -> dict:
    """The tables of one forward and backward pass and its update: of the exercise, or of
    example ``s`` ("[2]") of an online pass, whose parameters are ``before`` and whose
    updated parameters are named with ``star`` ("*[2]", or "*" for the last)."""
    net, values, shown = solution.network, solution.values, solution.shown
    has_delta = solution.derivation.uses_delta

    def layer_rows(layer) -> list[dict]:
        out = []
        for u in layer.units:
            d = f"d{u}/d{u}_in{s}"
            out.append({"unit": Tex(latex_name(u)),
                        "pre": shown(f"{u}_in{s}"), "act": shown(f"{u}{s}"),
                        "derivative": shown(d) if d in values else None,
                        "delta": shown(f"delta_{u}{s}") if has_delta else None})
        return out

    forward = []
    for layer in net.layers:
        first = layer.units[0]
        shown_lines = [lines[n] for n in (f"{first}_in{s}", f"{first}{s}", f"d{first}/d{first}_in{s}") if n in lines]
        table = layer_rows(layer)
        forward.append({"index": layer.index, "output": layer is net.layers[-1],
                        "first": Tex(latex_name(first)), "worked": [worked(l) for l in shown_lines],
                        "rows": table, "pairs": halves(table), "derivative": all(r["derivative"] is not None for r in table),
                        "delta": has_delta})

    # The recursion written once with numbers: the first unit of the last hidden layer
    # (the output layer's δ are the loss's own derivatives, worked in the forward tables).
    deltas = []
    if has_delta:
        outputs = net.layers[-1].units
        deltas = [worked(lines[f"delta_{outputs[0]}{s}"])] if f"delta_{outputs[0]}{s}" in lines else []
        if len(net.layers) > 1 and f"delta_{net.layers[-2].units[0]}{s}" in lines:
            deltas.append(worked(lines[f"delta_{net.layers[-2].units[0]}{s}"]))

    params = [p for p in net.params if f"{p.name}{star}" in values]
    named = solution.spec.chains if isinstance(solution.spec.chains, tuple) else ()
    chains = [lines[f"dL/d{n}{s}"] for n in named if f"dL/d{n}{s}" in lines]
    gradient_examples, seen = [], set()
    for p in params:  # one worked gradient per layer of targets
        layer = net.layer_of(p.targets[0]).index
        if layer not in seen:
            seen.add(layer)
            line = lines[f"dL/d{p.name}{s}"]
            if line.kind != "chain" or line.via_delta:  # a chain (few paths) is shown with the named ones
                gradient_examples.append(worked(line))
            elif line not in chains:
                chains.insert(0, line)
    update_rows = [UpdateRow(solution, lines, p.name, s, before, star) for p in params]
    return {
        "forward": forward,
        "deltas": deltas,
        "gradient_examples": gradient_examples,
        "chains": chains,
        "update_example": worked(lines[f"{params[0].name}{star}"]) if params else None,
        "gradient_matrices": matrices(solution, lambda p: f"dL/d{p.name}{s}"),
        "updates": pages(update_rows) if len(update_rows) <= MATRIX_UPDATE else [],
        "update_matrices": matrices(solution, lambda p: f"{p.name}{star}") if len(update_rows) > MATRIX_UPDATE else [],
        "update_others": pages([r for r, p in zip(update_rows, params) if not _in_matrix(p)])
                         if len(update_rows) > MATRIX_UPDATE else [],
        "frozen": [Tex(latex_name(p.name)) for p in net.params if f"{p.name}{star}" not in values],
        "loss": [worked(lines[f"L{s}"])],
    }


class UpdateRow:
    """One row of the update table: parameter, old value, gradient, −η·gradient, new value.

    Its numbers are written when a template reads them (the sheet's data holds the tables
    too, and a large network's table has tens of thousands of rows); the gradient and the
    new value are the key's own lines' values. ``s``, ``before`` and ``star`` as for
    ``_example``."""

    __slots__ = ("_solution", "_lines", "_param", "_s", "_before", "_star")

    def __init__(self, solution, lines: dict, param: str, s: str, before, star: str):
        self._solution, self._lines, self._param = solution, lines, param
        self._s, self._before, self._star = s, before, star

    @property
    def name(self) -> Tex:
        return latex_name(self._param)

    @property
    def old(self) -> Tex:
        return self._solution.policy.tex(self._before[self._param])

    @property
    def gradient(self) -> str:
        return self._lines[f"dL/d{self._param}{self._s}"].value

    @property
    def step(self) -> Tex:
        # −η·∂L/∂w as the update applied it: the new value less the old one
        new = self._solution.values[f"{self._param}{self._star}"]
        return self._solution.policy.tex(new - self._before[self._param])

    @property
    def new(self) -> str:
        return self._lines[f"{self._param}{self._star}"].value


def given_matrices(solution) -> list[dict]:
    """The sheet's given weights, as matrices (see ``matrices``)."""
    return matrices(solution, lambda p: p.name, lambda n: given_tex(solution.givens[n]))


def halves(rows: list) -> list[tuple]:
    """A long table's rows as pairs (row i of the first half beside row i of the second),
    so that a wide layer takes half the height; a short one keeps one row a line."""
    if len(rows) <= SIDE_BY_SIDE:
        return [(r, None) for r in rows]
    half = -(-len(rows) // 2)
    return [(rows[i], rows[half + i] if half + i < len(rows) else None) for i in range(half)]


def _in_matrix(p) -> bool:
    """Whether a parameter has a cell of its own: one source (or its own bias) and one target."""
    return len(p.targets) == 1


def matrices(solution, quantity, show=None) -> list[dict]:
    """One matrix per layer: a row per source unit (the layer's bias last), a column per
    unit of the layer, in the cell the value ``quantity(param)`` names, written by ``show``
    (default: at the key's precision; blank for a parameter that has no such value, such
    as a frozen one's new value). The columns are cut into blocks that fit the text width,
    with as many columns in each block as the others."""
    net, values = solution.network, solution.values
    show = show or solution.shown
    out = []
    for layer in net.layers:
        cells: dict[tuple[str | None, str], str] = {}
        named: dict[tuple[str | None, str], str] = {}
        for p in net.params:
            if _in_matrix(p) and p.targets[0] in layer.units:
                name = quantity(p)
                cells[p.source, p.targets[0]] = show(name) if name in values else ""
                named[p.source, p.targets[0]] = p.name
        if not cells:
            continue
        sources = list(dict.fromkeys(s for s, _ in cells))
        # the parameters' names, when they run row by row (as the default numbering does)
        reading = [named[s, t] for s in sources for t in layer.units if (s, t) in named]
        in_order = reading == [n for n in named.values()] and len(reading) > 2
        # as many columns a block as the widest of them leave room for
        widest = sorted((max(_printed(cells.get((s, t), "")) for s in sources) * MATRIX_CHAR + MATRIX_SEP
                         for t in layer.units), reverse=True)
        fit = max(1, sum(1 for i in range(len(widest)) if sum(widest[:i + 1]) <= MATRIX_ROOM))
        count = -(-len(layer.units) // fit)
        size = -(-len(layer.units) // count)
        blocks = []
        for i in range(0, len(layer.units), size):
            targets = layer.units[i:i + size]
            blocks.append({"targets": [Tex(latex_name(t)) for t in targets],
                           "rows": [{"source": Tex(latex_name(s)) if s else Tex(r"\text{bias}"),
                                     "cells": [Tex(cells.get((s, t), "")) for t in targets]}
                                    for s in sources]})
        out.append({"index": layer.index, "output": layer is net.layers[-1], "blocks": blocks,
                    "names": [Tex(latex_name(reading[i])) for i in (0, 1, -1)] if in_order else None,
                    "bias": any(p.is_bias and p.targets[0] in layer.units for p in net.params if _in_matrix(p))})
    return out


def _printed(number: str) -> float:
    """Characters a number takes in print; an exponent's digits are set small, the dot
    before the power of ten takes the room of two characters with its spaces."""
    base, _, power = number.partition("^")
    return width(base) + 0.8 * width(power) + (1.5 if r"\cdot" in base else 0)


def pages(items: list, size: int = TABLE_ROWS) -> list[list[list]]:
    """Rows in pairs of columns of ``size`` rows, a page each; the last pair shares its
    rows evenly, so the page it ends on has room for what follows."""
    out = []
    for i in range(0, len(items), 2 * size):
        group = items[i:i + 2 * size]
        half = size if len(group) == 2 * size else -(-len(group) // 2)
        out.append([part for part in (group[:half], group[half:]) if part])
    return out
