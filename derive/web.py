"""What the checking page shows: the sheet in HTML, the form, and the feedback on a submission.

Reads an Exercise (per structure) and a Solution (per variant) and computes nothing: the
checker (``check.check``) does the checking, this module only lays out its report. The
page must never hold an answer, so what reaches a template is chosen field by field: the
given values, the network figure, the conventions and the questions, never the key's
steps; a report's expected values reach it only with ``reveal``.

Formulas are typeset as MathML (Chromium, Firefox and Safari render it; no script, no
font files, works offline), converted once per structure from the key's LaTeX.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Mapping, Sequence

from latex2mathml.converter import convert
from markupsafe import Markup

from . import derivation as D, render, svg, typed as typed_mod
from .check import OK, VERDICTS, Answer, Report, truncated
from .feedback import inline_name
from .figure import layout
from .latex import latex_name
from .misconceptions import MISCONCEPTIONS
from .optimizer_graph import pass_stage, step_stage
from .rounding import Written, fixed
from .solution import Exercise, Solution

# The calculation question's parts, as the sheet letters them, and the stages each asks for.
PARTS = (
    ("forward", "Forward pass", (D.FORWARD, D.LOSS)),
    ("gradients", "Gradients", (D.LOCAL, D.DELTA, D.GRADIENT)),
    ("updates", "Update", (D.UPDATE,)),
    ("after", "Check: after the update", (D.FORWARD_AFTER, D.LOSS_AFTER)),
)
MAX_TEXT = typed_mod.MAX_TEXT
OPTIMIZER_STAGES = ("optimizer[", "pass[")  # an optimizer's steps (derive/optimizer_graph.py) are the update
GRAPH_PASS = {"forward": "forward", "gradients": "backward"}  # a graph's passes, by part

# d''^{2}, a pass's value squared (the graph optimizer's later passes): TeX puts the primes
# into the exponent, the MathML converter takes them for a second superscript, so they go there
# by hand (one prime it merges itself).
PRIMES_RAISED = re.compile(r"('{2,})\^(?:\{([^{}]*)\}|(\w))")

SIDE_BY_SIDE = re.compile(r",\s*\\(?:quad|qquad|\s)\s*")  # ",\quad", ",\ ": two equations in one line

VERDICT_TITLES = {"correct": "correct", "carried": "carried forward", "coarse": "too coarse", "wrong": "wrong"}


def html_templates() -> Path:
    return Path(str(resources.files("derive.templates").joinpath("html")))


@lru_cache(maxsize=4096)
def mathml(latex: str, display: bool = False) -> Markup:
    """LaTeX of the key as MathML, ready to put into a page."""
    latex = latex.replace(r"\bigl", "").replace(r"\bigr", "").replace(r"\,", " ")
    latex = PRIMES_RAISED.sub(_raised, latex)
    return Markup(convert(latex, display="block" if display else "inline"))


def _raised(m: re.Match) -> str:
    return "^{" + r"\prime" * len(m.group(1)) + " " + (m.group(2) or m.group(3)) + "}"


# --- the form --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    name: str  # the quantity's name, as in answers.json: the form field's name
    id: str  # an HTML id made only of letters and digits
    label: Markup  # the name in the key's notation
    formula: Markup  # "name = formula over its direct inputs", no numbers


@dataclass(frozen=True)
class Part:
    key: str
    letter: str
    title: str  # or Markup, where it names a quantity
    fields: tuple[Field, ...]


@lru_cache(maxsize=64)
def parts(exercise: Exercise) -> tuple[Part, ...]:
    """The form's fields, grouped as the sheet's question parts, in the key's order."""
    der = exercise.derivation
    asked = getattr(exercise.spec, "asked", None)  # a graph's passes ("forward", "backward")
    out = []
    for k, (key, title, stages) in enumerate(PARTS):
        if asked is not None and GRAPH_PASS.get(key) not in asked:
            continue
        names = [q.name for q in der.quantities
                 if q.stage in stages or (key == "updates" and q.stage.startswith(OPTIMIZER_STAGES))]
        if names:
            out.append(Part(key, "abcd"[k if asked is None else len(out)], title, _fields(exercise, names)))
    if asked is not None and getattr(der, "settings", None) is not None:
        out += _graph_steps(exercise, "abcd"[len(out)])
    return tuple(out)


def _fields(exercise: Exercise, names: Sequence[str]) -> tuple[Field, ...]:
    """The form's fields of these quantities: each labelled with its name and, for the
    feedback, its formula over its direct inputs."""
    der = exercise.derivation
    out = []
    for name in names:
        i = der.index[name]
        forms = exercise.forms[i]
        rhs = forms.symbolic if forms.closed is None else forms.closed
        formula = f"{forms.lhs} = {rhs}" if rhs and rhs != forms.lhs else forms.lhs
        out.append(Field(name, f"q{i}", mathml(inline_name(name)), mathml(formula)))
    return tuple(out)


def _graph_steps(exercise: Exercise, letter: str) -> list[Part]:
    """An optimizer on a graph, as the sheet's last question: one group per step, in the
    key's order (the look-ahead point, the pass it takes its gradient from, the update),
    then the output where the last step left the parameters. Step 1 takes the backward
    pass above, or works it itself where the sheet does not ask for it."""
    der = exercise.derivation
    steps = der.settings.steps
    output = mathml(latex_name(exercise.spec.graph.output))
    backward = "backward" in exercise.spec.asked

    def stage(*stages: str) -> list:
        return [q for q in der.quantities if q.stage in stages]

    out = []
    for k in range(1, steps + 1):
        update = stage(step_stage(k))
        if k > 1:
            gradient = stage(pass_stage(k))
        else:
            gradient = [] if backward else stage(D.LOCAL, D.DELTA, D.GRADIENT)
        ahead = [q for q in update if q.note == "lookahead"]
        penalty = [q for q in update if q.note in ("penalty", "objective")]
        rest = [q for q in update if q not in ahead and q not in penalty]
        title = Markup("Minimising {}: step {} of {}").format(output, k, steps)
        names = [q.name for q in ahead + gradient + penalty + rest]
        out.append(Part(f"step{k}", letter, title, _fields(exercise, names)))
    after = [q.name for q in stage(D.FORWARD_AFTER, D.LOSS_AFTER)]
    title = Markup("Minimising {}: after {} step{}").format(output, steps, "s" if steps > 1 else "")
    out.append(Part("after", letter, title, _fields(exercise, after)))
    return out


def field_names(exercise: Exercise) -> tuple[str, ...]:
    return tuple(f.name for p in parts(exercise) for f in p.fields)


class FormError(ValueError):
    """A submission that cannot be checked as it stands (the page says why)."""


def answers(exercise: Exercise, typed: Mapping[str, str]) -> tuple[tuple[Answer, ...], dict[str, str]]:
    """The submitted values as the checker's Answers, blank fields left out; and, per field
    that is not a number, what is wrong with it. Unknown names raise FormError."""
    names = field_names(exercise)
    unknown = [n for n in typed if n not in names]
    if unknown:
        raise FormError(f"unknown field {unknown[0][:40]!r}; expected only the quantities of this exercise")
    return typed_mod.answers(names, typed)


# --- the sheet -------------------------------------------------------------------------------

@lru_cache(maxsize=64)
def figure(exercise: Exercise) -> Markup:
    return Markup(svg.network(layout(exercise.network), f"The network of {exercise.spec.title}"))


def sheet(solution: Solution, exercise: Exercise) -> dict:
    """What the page shows of the exercise: chosen item by item from the key's context, so
    that nothing of the key's steps (the answers) can reach the page."""
    if exercise.network is None:
        return graph_sheet(solution)
    ctx = render.context(solution, "Exercise sheet")
    conv = ctx["conventions"]
    layers = []
    for layer in conv["layers"]:
        units = ", ".join(layer["units"])
        symbol = layer["symbol"]
        definition = derivative = None
        if layer["activation"] != "identity":
            name = r"\mathrm{softmax}(t)_k" if layer["activation"] == "softmax" else f"{symbol}(t)"
            definition = mathml(f"{name} = {layer['definition']}")
            if layer["activation"] != "softmax":
                derivative = mathml(f"{symbol}'(t) = {layer['derivative']}")
        layers.append({"output": layer["output"], "units": mathml(units), "title": layer["title"],
                       "linear": layer["activation"] == "identity", "definition": definition,
                       "derivative": derivative})
    loss = conv["loss"]
    given = ctx["given"]
    return {
        "kind": "network",
        "title": solution.spec.title,
        "course": solution.spec.course,
        "variant": solution.variant,
        "figure": figure(exercise),
        "layers": layers,
        "loss": {"title": loss["title"], "formula": mathml(r"\mathcal{L} = " + loss["formula"]),
                 "total": mathml(r"\mathcal{L} = " + loss["total"]) if loss["total"] else None},
        "frozen": mathml(", ".join(conv["frozen"])) if conv["frozen"] else None,
        "decimals": conv["decimals"],
        "carry": conv["carry"],
        "online": conv["update_mode"] == "online" and loss["n_examples"] > 1,
        "examples": [[(mathml(v["tex"]), v["value"]) for v in ex["inputs"] + ex["targets"]]
                     for ex in given["examples"]],
        "bias_units": [(mathml(v["tex"]), v["value"]) for v in given["bias_units"]],
        "weights": [(mathml(w["tex"]), w["value"], w["connection"]) for row in given["weight_rows"] for w in row],
        "eta": given["eta"],
        "optimizer": _optimizer(ctx["optimizer"]),
        "question": ctx["questions"]["number"].get("calculation"),
    }


def _optimizer(opt: dict | None) -> dict | None:
    """An optimizer's steps as the sheet states them: name, number of steps, the rule of
    one step, the hyperparameters and the initial state (all given, none an answer)."""
    if opt is None:
        return None
    opt = opt["settings"]  # never its steps: they hold the answers
    return {"title": opt["title"], "steps": opt["steps"], "ascent": opt["ascent"],
            "rules": [mathml(r) for r in opt["rules"]],
            "givens": [(mathml(h["tex"]), _given(h["value"])) for h in opt["hypers"] + opt["state_per_param"]]}


def _side_by_side(rule: str) -> list[str]:
    """A rule's equations set side by side in one line of the key (m̂ and v̂ of Adam, the
    look-ahead point and where g is taken), one by one: MathML does not wrap, so on a
    narrow screen the page wraps between them."""
    pieces, last = [], 0
    for m in SIDE_BY_SIDE.finditer(rule):
        before = rule[:m.start()].replace(r"\{", "").replace(r"\}", "")
        if before.count("{") == before.count("}"):  # not inside a group
            pieces.append(rule[last:m.start()].strip())
            last = m.end()
    return pieces + [rule[last:].strip()]


def _given(value: str) -> Markup | str:
    """A given number as the sheet writes it: MathML where it is TeX (1 · 10⁻⁸)."""
    return mathml(value) if "\\" in value else value


def graph_sheet(solution: Solution) -> dict:
    """A computational graph's sheet: the nodes' formulas, the given inputs, the circuit.
    The circuit is the sheet's (``graph_key``): values on its wires only where the sheet
    gives them (only the backward pass asked), gradients never."""
    ctx = render.context(solution, "Exercise sheet")
    spec = solution.spec
    return {
        "kind": "graph",
        "title": spec.title,
        "course": spec.course,
        "variant": solution.variant,
        "figure": Markup(svg.circuit(ctx["figure"]["sheet"], f"The circuit of {spec.title}")),
        "values_on_wires": any(w["value"] for w in ctx["figure"]["sheet"]["wires"]),
        "wrapped": bool(ctx["figure"]["sheet"]["links"]),
        "output": mathml(ctx["output"]),
        "gradient": mathml(rf"\partial {ctx['output']}/\partial {ctx['output']} = 1"),
        "nodes": [mathml(f"{n['name']} = {n['formula']}") for n in ctx["nodes"]],
        "inputs": [(mathml(v["tex"]), v["value"]) for v in ctx["inputs"]],
        "functions": [mathml(fn["definition"]) for fn in ctx["functions"]],
        "asked": ctx["asked"],
        "decimals": ctx["decimals"],
        "carry": ctx["carry"],
        "optimizer": _graph_optimizer(ctx["optimizer"]),
    }


def _graph_optimizer(opt: dict | None) -> dict | None:
    """The optimizer question of a graph's sheet as the sheet states it (see
    graph_optimizer.tex.j2): what moves, the rule of one step, the number of steps, the
    learning rate, the hyperparameters and the state at the start; never the steps."""
    if opt is None:
        return None
    s = opt["settings"]
    sign = "-" if s["ascent"] else ""  # ascent: the step goes up the gradient
    return {
        "title": s["title"],
        "source": s["source"],
        "steps": s["steps"],
        "ascent": s["ascent"],
        "output": mathml(opt["output"]),
        "parameters": [mathml(x) for x in opt["parameters"]],
        "gradient": mathml(rf"g_t = {sign}\partial {opt['output']}/\partial x"
                           + (r" + \lambda x_{t-1}" if s["decay"] and s["decay_kind"] == "l2" else "")),
        "lookahead": opt["lookahead"],
        "rules": [[mathml(piece) for piece in _side_by_side(str(r))] for r in s["rules"]],
        "givens": [(mathml(r"\eta"), _given(s["eta"]))] + [(mathml(h["tex"]), _given(h["value"])) for h in s["hypers"]],
        "epsilon": s["epsilon"] if s["epsilon"] != "hat" else None,
        "folded": s["epsilon"] == "hat",
        "uncorrected": s["bias_correction"] is False,
        "states": [mathml(f"{{{st['tex']}}}_0 = {st['value']}") for st in s["states"]],
        "own_states": [mathml(f"{st['tex']} = {st['value']}") for st in s["state_per_param"]],
        "decay": (s["decay_kind"], mathml(rf"\lambda = {s['decay']}")) if s["decay"] else None,
        "fixed": bool(opt["fixed"]),
    }


# --- feedback --------------------------------------------------------------------------------

def _name(name: str) -> Markup:
    return mathml(inline_name(name))


def _values(names: Sequence[str], typed: Mapping[str, str]) -> Markup:
    return Markup(", ").join(Markup("{} = {}").format(_name(n), typed.get(n, "")) for n in names)


def reason(r, report: Report, typed: Mapping[str, str], reveal: bool) -> Markup:
    """Why a value got its verdict, in words, without the true value unless ``reveal``."""
    w = report.written[r.name]
    true = _true(r.expected, w) if reveal else None
    if r.verdict == "correct":
        if r.rounding and r.because:
            return Markup("right, from your rounded {}").format(_values(r.because, typed))
        return Markup("")
    if r.verdict == "carried":
        lead = "follows from your rounded " if r.rounding else "follows from your "
        text = Markup("{}{}: right for your values").format(lead, _values(r.because, typed))
        return text + (Markup("; the exact value is {}").format(true) if true else "")
    if r.verdict == "coarse":
        places = max(1, -_floor_log10(abs(r.expected)))
        return Markup("too few digits to show the value; write {} decimal{} or more").format(
            places, "" if places == 1 else "s") + (
            Markup(" ({})").format(true) if true else "")
    out = Markup("")
    if r.misconception in MISCONCEPTIONS:
        m = MISCONCEPTIONS[r.misconception]
        out += Markup("<strong>{}</strong>: {}").format(m.title, m.explanation)
        detail = getattr(r, "detail", "")
        for k, pair in enumerate(detail.split(", ") if detail else []):
            took, _, instead = pair.partition(" in place of ")
            out += Markup("; " if k == 0 else ", ") + Markup("{} in place of {}").format(_name(took), _name(instead))
    elif r.recomputed is not None and truncated(w, r.recomputed):
        out += Markup("cut off instead of rounded: round the last digit")
    else:
        out += Markup("not what the formula gives from the given values and your earlier values")
    if true:
        out += Markup("; it should be {}").format(true)
    return out


def _floor_log10(x: float) -> int:
    return math.floor(math.log10(x)) if x > 0 and math.isfinite(x) else 0


def _true(expected: float, w: Written) -> str:
    """The true value at the student's digits (or two more where those show nothing)."""
    if not math.isfinite(expected):
        return str(expected)
    text = fixed(expected, w.exponent)
    return text if float(text) != 0 or expected == 0 else f"{expected:.2g}"


def feedback(report: Report, exercise: Exercise, typed: Mapping[str, str], reveal: bool) -> dict:
    """Per field its verdict and reason; the summary line; the root errors in the
    checker's order (they come first in its report)."""
    fields = {}
    for r in report.results:
        fields[r.name] = {"verdict": r.verdict, "title": VERDICT_TITLES.get(r.verdict, r.verdict),
                          "reason": reason(r, report, typed, reveal), "ok": r.verdict in OK}
    ids = {f.name: f.id for p in parts(exercise) for f in p.fields}
    roots = [{"id": ids[r.name], "label": _name(r.name), "typed": typed.get(r.name, ""),
              "misconception": MISCONCEPTIONS[r.misconception].title if r.misconception in MISCONCEPTIONS else None}
             for r in report.results if r.verdict == "wrong"]
    counts = report.counts()
    total = len(report.results)
    blank = len(field_names(exercise)) - total
    return {"fields": fields, "roots": roots, "ok": report.ok,
            "counts": [(VERDICT_TITLES[v], counts[v], v) for v in VERDICTS if counts.get(v)],
            "checked": total, "blank": blank}
