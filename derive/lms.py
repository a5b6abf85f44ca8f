"""What a learning-platform question of one variant holds, whatever the platform.

Moodle (``moodle``), QTI 2.1 (``qti``) and Canvas (``canvas``) lay out the same content:

- a question text that stands alone: the network, every convention that changes the
  numbers, the given values, and one numeric blank per asked quantity;
- per blank the answer as a student types it (plain decimal, never an exponent), its
  tolerance from the shown precision, a band of partial credit for a value a few units
  of the last digit off, and the wrong values each registered misconception gives for
  this variant, with the feedback that names the mistake;
- the worked key as HTML with ``\\(...\\)`` TeX, shown after the attempt.

Variant and roster ids never appear here: with random selection every student would see
them. The writers put them into the question's name and id only.

All free text (title, course, names from the spec) goes through ``text``: escaped for
HTML, with the characters that mean something to Moodle's cloze parser or to MathJax
written as character references and the span marked for MathJax to leave alone.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Callable, NamedTuple

from . import optimizer_key, svg, solution as D  # the key's stages
from .activations import ACTIVATIONS
from .latex import latex_name, tex
from .losses import LOSSES
from .rounding import NumberPolicy, fixed, given_text
from .solution import ChainLine, Exercise, Solution

TOLERANCE_UNITS = Decimal("1.5")  # units of the last typed digit: full marks
PARTIAL_UNITS = Decimal("4.5")  # up to here: half marks, for a slip in rounding
PARTIAL_CREDIT = 50  # percent

# Stages whose quantities are asked, with the heading each group gets in the question.
ASKED = (
    (D.FORWARD, "Forward pass"),
    (D.LOSS, "Loss"),
    (D.GRADIENT, "Gradients"),
    (D.UPDATE, "Gradient-descent update"),
    (D.FORWARD_AFTER, "Forward pass with the updated parameters"),
    (D.LOSS_AFTER, "Loss after the update"),
)
KEY_STAGES = (
    (D.FORWARD, "Forward pass"), (D.LOSS, "Loss"), (D.LOCAL, "Local partial derivatives"),
    (D.DELTA, "Error terms"), (D.GRADIENT, "Gradients"), (D.UPDATE, "Gradient-descent update"),
    (D.FORWARD_AFTER, "Forward pass with the updated parameters"), (D.LOSS_AFTER, "Loss after the update"),
)

ROUNDING_FEEDBACK = ("close, but not the value rounded as asked: check the rounding of this value "
                     "and of the values it is computed from")


# --- numbers as typed ----------------------------------------------------------------------

def exponent(value: float, policy: NumberPolicy) -> int:
    """The place of the last digit a student types: the sheet's decimals; for a value those
    decimals would show as zero, two significant digits (as the key shows it)."""
    d = policy.decimals
    # A value of at least one unit of the last decimal cannot round to zero: only smaller
    # ones are rounded to find out (tests/test_lms_fast.py holds the two to each other).
    if 0 <= d < len(_UNIT) and abs(value) >= _UNIT[d]:
        return -d
    if value != 0 and math.isfinite(value) and policy.round(value) == 0:
        return Decimal(value).adjusted() - 1
    return -d


_UNIT = [10.0 ** -d for d in range(23)]  # within a few ulps of 10^-d, far above half of it


def units(k: Decimal, exp: int) -> str:
    """k units of the place 10^exp, in plain decimal: units(1.5, -4) == "0.00015"."""
    return format(k.scaleb(exp), "f")


# Number, Other and Blank are named tuples, not frozen dataclasses: a question holds some
# three hundred of them, and a dataclass's __init__ made a fifth of the question's time.

class Number(NamedTuple):
    """A value and its absolute tolerance, both in plain decimal."""

    value: str
    tolerance: str

    @property
    def low(self) -> Decimal:
        return Decimal(self.value) - Decimal(self.tolerance)

    @property
    def high(self) -> Decimal:
        return Decimal(self.value) + Decimal(self.tolerance)


class Other(NamedTuple):
    """A value other than the answer that a blank recognises: partial credit or a mistake."""

    number: Number
    credit: int  # percent of the blank's mark
    feedback: str  # plain text
    key: str  # "rounding", or the misconception's key(s)


class Blank(NamedTuple):
    name: str
    answer: Number
    others: tuple[Other, ...]  # the partial-credit band first, then the mistakes

    @property
    def tex(self) -> str:
        return latex_name(self.name)


def asked_names(solution: Solution | Exercise) -> list[tuple[str, list[str]]]:
    """The quantities that get a blank, grouped under their headings.

    Left out: givens and local partials (the sheet does not ask for them on their own),
    per-example gradients when there are several examples (the total is asked), held
    parameters' "updates", and a quantity that only copies another (an identity output
    ŷ = ŷ_in: the blank is ŷ)."""
    der = solution.derivation
    many = der.n_examples > 1
    out = []
    stages = optimizer_key.moodle_stages(der, ASKED, D.UPDATE)  # optimizer steps (derive/optimizer_key.py)
    for stage, heading in stages:
        # a copy within one stage (ŷ = ŷ_in); across stages (∂f/∂z = q) both are asked
        copied = {str(q.formula) for q in der.stage(stage) if q.formula is not None and q.formula.is_Symbol}
        names = [q.name for q in der.stage(stage)
                 if q.name not in copied and q.note != "frozen"
                 and not (many and stage == D.GRADIENT and q.example is not None)]
        if names:
            out.append((heading, names))
    return out


def mistakes(solution: Solution) -> dict[str, list[tuple[float, str, str]]]:
    """For each asked quantity, (value, misconception key, feedback) of every registered
    mistake that changes it in this variant (``wrong_values``, as triples)."""
    return {name: [(v, key, why) for v, (key, why) in zip(found, reasons)]
            for name, (found, reasons) in wrong_values(solution).items()}


def wrong_values(solution: Solution) -> dict[str, tuple[list[float], list[tuple[str, str]]]]:
    """For each asked quantity that some mistake changes, the values the registered
    mistakes give it in this variant and beside them (misconception key, feedback), in
    the order of the mistakes.

    Two values per mistake: the quantity computed with the mistake from correct inputs
    (what a student gets who makes it in this step), and the whole calculation done with
    the mistake (what follows in later steps; for a quantity whose formula the mistake
    swaps, only where it differs from the first). Both come from the checker's swapped
    graphs: the first is ``recompute(givens, values)``, the second ``evaluate(givens)``,
    each worked out only where the mistake changes anything (``Evaluator.changed_code``).
    A mistake whose ``recompute`` raises, or whose ``evaluate`` would, gives no values."""
    shared = solution.exercise.shared(Shared)
    values, givens = solution.values, solution.givens
    return shared.wrong([values[name] for name in shared.order], [givens[name] for name in shared.given_names])


def _wrong_function(mistakes: list[Mistake], changed: tuple[str, ...], order: tuple[str, ...],
                    given: tuple[int, ...], namespace: dict):
    """``wrong_values``'s work as one function ``(correct values in Shared.order, given
    values in Shared.given_names) -> {name: (values, reasons)}``, written out once per
    structure: each mistake computes only what it changes (``Mistake``), from the
    variant's correct values, and the loops over mistakes and slots are left out of the
    three hundred values of every variant."""
    slot = {name: i for i, name in enumerate(changed)}
    space = {**namespace, "names": changed, "isfinite": math.isfinite}
    lines = ["def wrong(correct, inputs):",
             "    " + "".join(f"a{k}, " for k in range(len(order))) + "= correct",
             "    " + "".join(f"g{k}, " for k in given) + "= inputs"]
    lines += [f"    v{i}, r{i} = [], []" for i in slot.values()]
    for q, m in enumerate(mistakes):
        space.update({f"R{q}": (m.key, m.why), f"S{q}": (m.key, m.carried_why)})
        indent = "    "
        if m.local or m.lines:
            lines += ["    try:", *(f"        {line}" for line in (*m.local, *m.lines)),
                      "    except (ArithmeticError, ValueError):", "        pass", "    else:"]
            indent += "    "
        if m.tested:  # (a sum of finite values that overflows is a false alarm, as in ``Evaluator.values``)
            total = " + ".join(m.tested) if len(m.tested) <= 200 else f"sum(({', '.join(m.tested)},))"
            each = "".join(f"{v}, " for v in m.tested)
            lines.append(f"{indent}if isfinite({total}) or all(map(isfinite, ({each}))):")
            indent += "    "
        body = []
        for name, x, y in m.swapped:
            i = slot[name]
            body += [f"v{i}.append({x})", f"r{i}.append(R{q})", f"if abs({y} - {x}) > 1e-12 * max(1.0, abs({x})):",
                     f"    v{i}.append({y})", f"    r{i}.append(S{q})"]
        for name, y in m.reached:
            i = slot[name]
            body += [f"v{i}.append({y})", f"r{i}.append(S{q})"]
        lines += [indent + line for line in body or ["pass"]]
    lines.append("    return dict(zip(names, (" + "".join(f"(v{i}, r{i}), " for i in slot.values()) + ")))")
    exec(compile("\n".join(lines), "<derive:wrong>", "exec"), space)
    return space["wrong"]


class Mistake:
    """One misconception graph as ``wrong_values`` uses it, as code of ``_wrong_function``
    (``Evaluator.changed_code``): ``local`` computes the swapped quantities from the
    correct values, ``lines`` what the graph's ``evaluate`` changes, ``tested`` its values
    to be found finite; ``swapped`` holds (name, its value from correct inputs, its value
    carried through) of the ``asked`` quantities whose formula the mistake swaps,
    ``reached`` (name, its value carried through) of those only computed from one."""

    def __init__(self, alt, changed: frozenset[str], slot: dict[str, int], asked: list[str]):
        m = alt.misconception
        self.key = m.key
        self.why = m.title + (f" ({alt.detail})" if alt.detail else "") + ": " + m.explanation
        self.carried_why = self.why + " (the mistake made in every step up to here)"
        swapped = [name for name in asked if name in changed]
        self.local, values, self.lines, self.tested = alt.evaluator.changed_code(changed, slot, swapped)
        self.swapped = tuple((name, f"l{slot[name]}", values[name]) for name in swapped)
        self.reached = tuple((name, values[name]) for name in asked if name in values and name not in changed)


def blank(name: str, value: float, policy: NumberPolicy, wrong: list[tuple[float, str, str]]) -> Blank:
    """The blank of a quantity, given (value, misconception key, feedback) of its mistakes."""
    return _blank(name, value, policy, [w[0] for w in wrong], [(w[1], w[2]) for w in wrong])


def _blank(name: str, value: float, policy: NumberPolicy, found: list[float], reasons: list[tuple[str, str]]) -> Blank:
    exp, answer, kept = kept_values(value, policy, found, reasons)
    tolerance, band = _tolerances(exp)
    others = [Other(Number(answer, band), PARTIAL_CREDIT, ROUNDING_FEEDBACK, "rounding")]
    # (made as plain tuples: a named tuple's own __new__ is a Python call more, per value)
    for _, shown, keys, whys in kept:
        if keys.__class__ is str:
            others.append(_tuple(Other, (_tuple(Number, (shown, tolerance)), 0, whys, keys)))
        else:
            others.append(_tuple(Other, (_tuple(Number, (shown, tolerance)), 0, "; or: ".join(whys), "+".join(keys))))
    return Blank(name, Number(answer, tolerance), tuple(others))


def kept_values(value: float, policy: NumberPolicy, found: list[float],
                reasons: list[tuple[str, str]]) -> tuple[int, str, list[list]]:
    """What ``blank`` shows of the wrong values ``found`` (beside each its misconception
    key and feedback, as ``wrong_values`` gives them): the place of the last typed digit,
    the answer as typed, and per value shown [n, the value as typed, key(s), feedback(s)],
    n its whole number of the last digit; one mistake's key and feedback as strings,
    several's as lists (most values have one)."""
    exp = exponent(value, policy)
    answer = fixed(value, exp)
    # Rounded values are compared as whole numbers of the last typed digit, n (exact, and
    # cheap: a blank meets some thirty misconception values).
    target = _count(answer)
    # The values shown, in order. The kept values' n shifted right by _WIDTH bits (buckets
    # wider than the 2 _SAME + 1 numbers within _SAME of a value): a value within _SAME of
    # a kept one finds that one's bucket at its own n - _SAME or n + _SAME; only then are
    # the kept values looked through.
    kept: list[list] = []
    near: set[int] = set()
    scale = _SCALE.get(exp, math.nan)  # 10^-exp, exact; NaN: no float path at this place
    form = f"%.{-exp}f"
    # Several mistakes often give the same value: it goes where it went the first time
    # (the first kept value within _SAME of it is still that one: later ones come after).
    # A value that gets no feedback (not finite, or too close to the answer) goes nowhere.
    went: dict[float, list | None] = {}
    isfinite = math.isfinite
    for v, (key, why) in zip(found, reasons):
        same = went.get(v, _NEW)
        if same is _NEW:
            # n = _count(fixed(v, exp)), by float arithmetic unless that could differ: the
            # product v 10^-exp is off the exact one by at most half an ulp, below 1.2e-7
            # under 10^9, so a product further than 10^-6 from halfway rounds as the exact
            # one does (and round's ties to even never meet one). A value too close to the
            # answer for feedback is dropped below by its n alone.
            x = v * scale
            if -1e9 < x < 1e9:  # (also: finite)
                n = round(x)
                d = None if -0.499999 < x - n < 0.499999 else fixed(v, exp)
                if d is not None:
                    n = int(d.replace(".", ""))  # _count
            elif isfinite(v):
                d = fixed(v, exp)
                n = int(d.replace(".", ""))
            else:
                went[v] = None
                continue
            if -_CLEAR <= n - target <= _CLEAR:
                went[v] = None  # indistinguishable from the answer or from a rounding slip: no feedback
                continue
            same = None
            if (n - _SAME) >> _WIDTH in near or (n + _SAME) >> _WIDTH in near:
                same = next((k for k in kept if -_SAME <= k[0] - n <= _SAME), None)
            if same is None:
                if d is None:  # (n by floats: below 10^9 and not halfway, so "%f" gives its digits)
                    d = form % (v if n else 0.0)  # (no "-0.0")
                elif not -_LONG < n < _LONG:
                    # A value is written as the float it stands for, rounded again: the same
                    # digits up to fifteen (a float holds them), so only longer ones go through a float.
                    d = fixed(float(d), exp)
                went[v] = entry = [n, d, key, why]
                kept.append(entry)
                near.add(n >> _WIDTH)
                continue
            went[v] = same
        if same is not None:
            keys = same[2]
            if keys.__class__ is str:
                if key != keys:
                    same[2], same[3] = [keys, key], [same[3], why]
            elif key not in keys:
                keys.append(key)
                same[3].append(why)
    return exp, answer, kept


_NEW = object()  # (a value not met before in this blank)
_tuple = tuple.__new__
_LONG = 10 ** 15
_SCALE = {-k: 10.0 ** k for k in range(23)}  # (exact in binary floating point)


@lru_cache(maxsize=None)  # a handful of places per exercise
def _tolerances(exp: int) -> tuple[str, str]:
    """The answer's tolerance and the rounding band's, at the place 10^exp."""
    return units(TOLERANCE_UNITS, exp), units(PARTIAL_UNITS, exp)


# In units of the last typed digit: the answer's and the rounding band's intervals together
# (values this close cannot be told apart), and the width of one answer's interval.
_CLEAR = float(PARTIAL_UNITS + TOLERANCE_UNITS)
_SAME = int(2 * TOLERANCE_UNITS)  # (only whole numbers are compared with it)
_WIDTH = (2 * _SAME).bit_length()  # 2^_WIDTH > 2 _SAME


def _count(text: str) -> int:
    """A number written to the place 10^exp (exp <= 0, as ``exponent`` gives) as a whole
    number of that place: "-0.0171" -> -171."""
    return int(text.replace(".", ""))


def blanks(solution: Solution) -> list[tuple[str, list[Blank]]]:
    wrong, values, policy = wrong_values(solution), solution.values, solution.policy
    return [(heading, [_blank(n, values[n], policy, *wrong.get(n, UNCHANGED)) for n in names])
            for heading, names in solution.exercise.shared(Shared).asked]


UNCHANGED = ((), ())  # ``wrong_values`` of a quantity no mistake changes


class Shared:
    """What the questions of every variant of one exercise have in common, made once per
    structure (``Exercise.shared``): the blanks asked, the misconception graphs' slots,
    and for a network the figure and the text that holds no given value."""

    def __init__(self, exercise: Exercise):
        der = exercise.derivation
        self.asked = asked_names(exercise)
        asked = {n for _, names in self.asked for n in names}
        # Per misconception graph: the asked quantities whose formula it swaps and those
        # only computed from a swapped one. A quantity that no swapped formula reaches has
        # the same code and the same inputs in the mistake's graph as in the exercise's:
        # its value is the answer, which ``blank`` drops, so it is left out; a graph
        # without any is not evaluated at all.
        self.order = tuple(q.name for q in der.quantities)
        self.given_names = tuple(q.name for q in der.givens)
        slot = {name: k for k, name in enumerate(self.order)}
        self.mistakes = []
        namespace = {}
        for alt, changed in zip(exercise.alternatives, exercise.swapped):
            m = Mistake(alt, changed, slot, [n for n in self.order if n in asked])
            if not m.swapped and not m.reached:
                continue
            self.mistakes.append(m)
            for name, f in alt.evaluator.namespace.items():  # one function holds every graph's code
                if not _same(namespace.setdefault(name, f), f):
                    raise ValueError(f"two misconception graphs call different functions {name}")
        with_slot = {n for m in self.mistakes for n, *_ in m.swapped + m.reached}
        self.changed = tuple(n for _, names in self.asked for n in names if n in with_slot)  # some mistake changes
        self.wrong = _wrong_function(self.mistakes, self.changed, self.order,
                                     tuple(slot[n] for n in self.given_names), namespace)
        self.key_stages = tuple((stage, f"<h4>{html.escape(heading)}</h4>") for stage, heading
                                in optimizer_key.moodle_stages(der, KEY_STAGES, D.UPDATE))
        if exercise.network is not None:  # a graph's figure and text show its forward values
            self.figure = _network_figure(exercise)
            # (question_html's text holds only characters XML can hold: these parts are
            # names, numbers and the registries' words, and are made sure of once here)
            self.network_html = xml_safe(network_html(exercise))
            self.conventions_html = xml_safe(conventions_html(exercise))
            self.given_rows = given_rows(exercise)


def _same(f, g) -> bool:
    """Whether two graphs' code means the same by one name: the same function, or the same
    method of equal objects (each graph's ``carry`` rounds with a policy of its own)."""
    return f == g or (hasattr(f, "__func__") and hasattr(g, "__func__")
                      and f.__func__ is g.__func__ and f.__self__ == g.__self__)


# --- text -----------------------------------------------------------------------------------

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# Characters with a meaning to Moodle's cloze parser ({ } ~ # \), to MathJax (\ $ %) or to
# a template language ([ ]): written as character references, which every HTML reader
# shows as the character itself.
_REFS = str.maketrans({**{c: f"&#{ord(c)};" for c in "{}~#\\$%[]"},
                       "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})


def xml_safe(s: str) -> str:
    """Without the characters XML 1.0 cannot hold (control characters, stray surrogates)."""
    s = str(s)
    if len(s) > 200 and _holds_only_xml(s):  # a question's text or feedback, which almost always does
        return s
    return _NOT_XML.sub("", s)


# The control characters of _NOT_XML, as bytes: in UTF-8 each is one byte, never part of
# another character's bytes.
_CONTROL_BYTES = bytes(c for c in range(0x20) if chr(c) not in "\t\n\r")


def _holds_only_xml(s: str) -> bool:
    """Whether ``_NOT_XML`` finds nothing in ``s``; some times faster on a long text than
    the pattern, which takes a step per character."""
    try:
        data = s.encode("utf-8")  # a stray surrogate cannot be encoded
    except UnicodeEncodeError:
        return False
    return len(data.translate(None, _CONTROL_BYTES)) == len(data) and "\ufffe" not in s and "\uffff" not in s


@lru_cache(maxsize=4096)  # the same feedback texts recur in every variant
def text(s: str) -> str:
    """Free text as HTML that no platform reads as markup, a blank or math."""
    body = xml_safe(s).translate(_REFS)
    return f'<span class="nolink tex2jax_ignore mathjax_ignore">{body}</span>'


def math_html(latex: str) -> str:
    """Inline TeX for MathJax; braces as references so no cloze parser can read a blank in it."""
    body = html.escape(latex, quote=False).replace("{", "&#123;").replace("}", "&#125;")
    return rf"\({body}\)"


@lru_cache(maxsize=4096)  # names recur in every variant
def _math(name: str) -> str:
    return math_html(latex_name(name))


def _table(rows: list[str]) -> str:
    return "<table><tbody>" + "".join(rows) + "</tbody></table>"


# --- the figure -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Image:
    """The exercise's figure as an SVG file that travels with the question."""

    name: str  # file name inside the question or package
    svg: str  # a standalone SVG document
    width: int  # px
    height: int
    alt: str  # plain text


def figure(solution: Solution) -> Image:
    """The network (or a graph's circuit) as the sheet draws it, as an SVG file. The only
    free text in it is the title, in the label, escaped by ``svg``; names are the spec's,
    which hold letters, digits and ``_`` only."""
    if solution.network is not None:
        return solution.exercise.shared(Shared).figure
    title = " ".join(xml_safe(solution.spec.title).split())[:200]
    from .render import context  # the sheet's circuit: forward values only where the sheet gives them
    alt = f"The circuit of {title}"
    return _image("circuit.svg", svg.circuit(context(solution, "Exercise sheet")["figure"]["sheet"], alt), alt)


def _network_figure(exercise: Exercise) -> Image:
    alt = f"The network of {' '.join(xml_safe(exercise.spec.title).split())[:200]}"
    return _image("network.svg", svg.network(exercise.figure, alt), alt)


def _image(name: str, drawing: str, alt: str) -> Image:
    width, height = (int(v) for v in re.search(r'width="(\d+)" height="(\d+)"', drawing).groups())
    return Image(name, '<?xml version="1.0" encoding="UTF-8"?>\n' + drawing + "\n", width, height, alt)


def img_html(image: Image, src: str, **extra: str) -> str:
    """The figure in a question text, at most as wide as the text."""
    attrs = "".join(f' {k}="{v}"' for k, v in extra.items())
    # the alt text holds the title: its braces too must not reach a cloze parser as braces
    return (f'<p><img src="{html.escape(src)}" alt="{xml_safe(image.alt).translate(_REFS)}" width="{image.width}" '
            f'height="{image.height}"{attrs}/></p>')


# --- the question ---------------------------------------------------------------------------

def conventions_html(solution: Solution | Exercise) -> str:
    """The conventions the key states, in the same words (see templates/conventions.tex.j2);
    they depend on the structure alone."""
    spec, net, der = solution.spec, solution.network, solution.derivation
    items = []
    for i, layer in enumerate(net.layers):
        act = ACTIVATIONS[layer.activation]
        kind = "Output" if i == len(net.layers) - 1 else "Hidden"
        units_tex = math_html(", ".join(latex_name(u) for u in layer.units))
        symbol = layer.symbol or act.symbol
        slope = given_text(layer.slope)
        if layer.activation == "identity":
            what = "linear, the activation equals the pre-activation."
        elif layer.activation == "softmax":
            what = "softmax over the output units, " + math_html(
                r"\mathrm{softmax}(t)_k = " + act.definition_tex) + "."
        else:
            definition = act.definition_tex.replace(r"\alpha", slope)
            derivative = act.derivative_tex.replace(r"\sigma", symbol).replace(r"\alpha", slope)
            f_def = math_html(f"{symbol}(t) = {definition}")
            f_der = math_html(f"{symbol}'(t) = {derivative}")
            what = f"{html.escape(act.title)}, {f_def} with {f_der}."
        items.append(f"{kind} layer {units_tex}: {what}")
    loss = spec.loss
    many = der.n_examples > 1
    title = LOSSES[loss.kind].title
    if loss.kind == "squared_error":
        title += " with the factor ½" if loss.half else " without a factor ½"
    lhs = r"\mathcal{L}^{(n)}" if many else r"\mathcal{L}"
    formula = math_html(lhs + " = " + tex(der["L[1]" if many else "L"].formula))
    line = f"Loss: {html.escape(title)}, {formula}"
    if len(net.outputs) > 1:
        line += f" (the {html.escape(loss.outputs)} over the {len(net.outputs)} outputs)"
    line += "."
    if many:
        total = math_html(r"\mathcal{L} = " + tex(der["L"].formula))
        line += f" Over the {der.n_examples} examples the loss is the {html.escape(loss.examples)}, {total}."
    items.append(line)
    if net.bias == "unit":
        values = ", ".join(f"{latex_name(l.bias_unit)} = {given_text(l.bias_value)}" for l in net.layers if l.bias_unit)
        bias = (f"each layer receives a bias unit with a constant value ({math_html(values)}), "
                "and its weights are parameters like any other.")
    elif net.bias == "neuron":
        bias = "every unit has its own bias parameter, added to its pre-activation."
    elif net.bias == "layer":
        bias = "every layer has one bias parameter, shared by all its units."
    else:
        bias = "the network has none."
    if not spec.train_bias:
        bias += " The biases are not trained."
    items.append("Biases: " + bias)
    if der.online and many:
        update = ("Update: online gradient descent, example by example in the order given: after example "
                  + math_html("n") + ", " + math_html(r"w \leftarrow w - \eta\, \partial\mathcal{L}^{(n)}/\partial w")
                  + ", and the next example is computed with the updated parameters")
    else:
        update = ("Update: gradient descent, " + math_html(r"w^* = w - \eta\, \partial\mathcal{L}/\partial w")
                  + ", all gradients computed from the parameters before the update")
    frozen = sorted(net.frozen, key=[p.name for p in net.params].index)
    if frozen:
        update += "; " + math_html(", ".join(latex_name(n) for n in frozen)) + (
            " are held fixed" if len(frozen) > 1 else " is held fixed")
    items.append(update + ".")
    items.append(numbers_rule(solution))
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def numbers_rule(solution: Solution | Exercise) -> str:
    d = solution.policy.decimals
    d = f"{d} decimal{'' if d == 1 else 's'}"
    carried = ("every intermediate result is rounded to {d} before it is used further, as in a "
               "calculation by hand" if solution.spec.carry == "rounded"
               else "values are carried at full precision and written rounded to {d}").format(d=d)
    return (f"Numbers: {carried}. Enter each answer as a plain decimal number rounded to {d} "
            "(a value that would round to zero: with two significant digits, e.g. 0.0000032).")


def network_html(solution: Solution | Exercise) -> str:
    net = solution.network
    inputs = math_html(", ".join(latex_name(x) for x in net.inputs))
    layers = "; ".join(math_html(", ".join(latex_name(u) for u in layer.units)) for layer in net.layers)
    return (f"<p>A feed-forward network with inputs {inputs} and the layers {layers} (the last one is the "
            "output). Each weight below names the connection it sits on.</p>")


def given_rows(exercise: Exercise) -> tuple[tuple[str, str], ...]:
    """Each given value's name and the start of its row, up to the value."""
    net, rows = exercise.network, []
    for q in exercise.derivation.givens:
        label = _math(q.name)
        if q.param is not None:
            p = net.param(q.param)
            where = (math_html(f"{latex_name(p.source)} \\to {latex_name(p.targets[0])}") if p.source is not None
                     else "bias of " + ", ".join(_math(t) for t in p.targets))
            label += f" ({where})"
        rows.append((q.name, f"<tr><td>{label}</td><td>"))
    return tuple(rows)


def givens_html(solution: Solution) -> str:
    g = solution.givens
    return _table([f"{row}{given_text(g[name])}</td></tr>" for name, row in solution.exercise.shared(Shared).given_rows])


def question_html(solution: Solution, groups: list[tuple[str, list[Blank]]], field: Callable[[Blank], str],
                  image: str = "") -> str:
    """The question text; ``field`` writes the platform's input for one blank, ``image``
    is the figure's HTML (``img_html``) or empty.

    It holds only characters XML can hold, provided ``field``'s text does: the free text
    in it went through ``text``, the rest is names, numbers and fixed words. The writers
    put it into their XML as it is (it is the longest text of a question)."""
    if solution.network is None:  # hook: a computational graph describes itself (derive/graph_key.py)
        from .graph_key import question_html as graph_question_html
        return graph_question_html(solution, groups, field, image)
    spec = solution.spec
    shared = solution.exercise.shared(Shared)
    course = f" ({text(spec.course)})" if spec.course else ""
    parts = [
        f"<p><em>{text(spec.title)}</em>{course}: one step of gradient descent on the network described here, "
        "by hand, with the conventions and the given values stated here.</p>",
        shared.network_html,
        image,
        shared.conventions_html,
        "<h4>Given values</h4>",
        givens_html(solution),
    ]
    for heading, group in groups:
        parts.append(_heading(heading))
        parts.append(_table([f"<tr><td>{_math(b.name)}</td><td>{field(b)}</td></tr>" for b in group]))
    return "\n".join(p for p in parts if p)


@lru_cache(maxsize=64)  # the same few headings in every variant
def _heading(heading: str) -> str:
    return f"<h4>{html.escape(heading)}</h4>"


def key_html(solution: Solution, groups: list[tuple[str, list[Blank]]]) -> str:
    """The worked key: every step in its three forms, then the answers as typed. It holds
    no free text (names, numbers and the printer's LaTeX), so only characters XML can hold."""
    parts = ["<p>The worked solution.</p>"]
    for stage, heading in solution.exercise.shared(Shared).key_stages:
        lines = solution.sections.get(stage)
        if not lines:
            continue
        parts.append(heading)
        parts += [f"<p>{math_html(key_line(line))}</p>" for line in lines]
    rows = [f"<tr><td>{_math(b.name)}</td><td>{b.answer.value}</td></tr>" for _, group in groups for b in group]
    parts.append("<h4>The answers as entered</h4>")
    parts.append(_table(rows))
    return "\n".join(parts)


def key_line(line) -> str:
    if isinstance(line, ChainLine):
        paths = " + ".join(r"\,".join(f.partial for f in path) for path in line.paths)
        return f"{line.lhs} = {paths} = {''.join(line.numbers)} {line.relation} {line.value}"
    forms = " = ".join(line.forms)
    tail = "" if line.value in line.forms else f" {line.relation} {line.value}"
    return f"{line.lhs} = {forms}{tail}"
