"""The key of a larger network as tables: what the key templates receive as ``tables``.

A key written line by line grows with the number of parameters (a 4-16-16-4 network gave
57 pages). For such networks the key shows one worked unit per layer with its numbers put
in, then the layer as a table (forward pass), the error terms δ as a table with the
recursion worked once, and the update as a table (parameter, old value, gradient,
−η·gradient, new value). Every number is read from the Solution; nothing is computed
here but the layout (which rows go where, where a long sum breaks).
"""

from __future__ import annotations

import re

from .latex import Tex, latex_name

TABLE_PARAMS = 30  # "auto": networks with more parameters than this get the table form
ROW_CHARS = 62  # printed characters of a worked line that fit on one row next to its name
TABLE_ROWS = 62  # rows of one update table (small type); two stand side by side on a page


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
                        "rows": table, "derivative": all(r["derivative"] is not None for r in table),
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
        "updates": pages(update_rows),
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


def pages(items: list, size: int = TABLE_ROWS) -> list[list[list]]:
    """Rows in pairs of columns of ``size`` rows, a page each; the last pair shares its
    rows evenly, so the page it ends on has room for what follows."""
    out = []
    for i in range(0, len(items), 2 * size):
        group = items[i:i + 2 * size]
        half = size if len(group) == 2 * size else -(-len(group) // 2)
        out.append([part for part in (group[:half], group[half:]) if part])
    return out
