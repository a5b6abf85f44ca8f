"""Data for the theory answers: the activations the network uses, and vanishing gradients.

Question 1 (what makes a network non-linear) shows each activation the spec uses, and the
ReLU for contrast, with its definition, its derivative, its largest slope and sampled points
for a small plot of both. Question 2 (vanishing gradients) gets the bound a sigmoid layer
puts on a gradient, (1/4)^k after k layers, beside the ReLU's 1, and for each hidden
activation of this very network its own bound and the factors its units contribute in the
calculation, each marked as below the bound or at it.

Everything here is computed; the wording is in ``templates/theory.tex.j2``.
"""

from __future__ import annotations

import functools
import math
import re
from fractions import Fraction

from .activations import ACTIVATIONS
from . import questions
from .latex import Tex, escape_tex, latex_name, symbol_tex
from .rounding import given_text, scientific

PLOT_RANGE = 4.0  # t from -4 to 4
SAMPLES = 65  # an odd number, so that t = 0 is a sample
LAYERS = 10  # rows of the vanishing-gradient table
SIGMOID_MAX = Fraction(1, 4)  # σ'(0) = σ(0)(1 − σ(0)) = 1/4, its largest value


def _formula(tex: str, symbol: str, slope: float) -> Tex:
    return Tex(tex.replace(r"\sigma", symbol_tex(symbol)).replace(r"\alpha", given_text(slope)))


def _segments(f, kink: bool) -> list[str]:
    """pgfplots coordinates of f on [-4, 4]; a jump at t = 0 splits the curve in two so
    that no vertical line is drawn where the function has none."""
    ts = [-PLOT_RANGE + 2 * PLOT_RANGE * i / (SAMPLES - 1) for i in range(SAMPLES)]
    # escaped here, once per structure, not in every key that prints them
    if not kink:
        return [escape_tex(" ".join(f"({t:.4g},{f(t):.5g})" for t in ts))]
    left = [t for t in ts if t < 0] + [0.0]
    right = [0.0] + [t for t in ts if t > 0]
    return [escape_tex(" ".join(f"({t:.4g},{f(t if t < 0 else -1e-12):.5g})" for t in left)),
            escape_tex(" ".join(f"({t:.4g},{f(t if t > 0 else 1e-12):.5g})" for t in right))]


def softmax_tex(units) -> dict[str, Tex]:
    """The softmax written in the output units' own names (o_k = e^{o_{k,in}} / Σ_j e^{o_{j,in}})
    and its derivative with an Iverson bracket [k = j], since δ names the error terms.
    Units without a common letter and a number (cat, dog) are written s_k of t_k."""
    m = [re.fullmatch(r"([A-Za-z]+?)(\d+)", u) for u in units]
    heads = {x.group(1) for x in m if x}
    head = latex_name(heads.pop()) if all(m) and len(heads) == 1 else None
    k, j = (f"{head}_{{{i}}}" for i in "kj") if head else ("s_k", "s_j")
    tk, tj = (f"{head}_{{{i},\\mathrm{{in}}}}" for i in "kj") if head else ("t_k", "t_j")
    return {"unit": Tex(k), "input": Tex(tj),
            "definition": Tex(rf"\frac{{e^{{{tk}}}}}{{\sum_j e^{{{tj}}}}}"),
            "derivative": Tex(rf"{k}\,\bigl([k = j] - {j}\bigr)")}


def _activation(key: str, symbol: str, slope: float, units: list[str], contrast: bool) -> dict:
    act = ACTIVATIONS[key]
    entry = {
        "key": key,
        "title": act.title,
        "symbol": symbol_tex(symbol),
        "definition": _formula(act.definition_tex, symbol, slope),
        "derivative": _formula(act.derivative_tex, symbol, slope),
        "units": units,
        "contrast": contrast,
        "saturates": act.saturates,
        "elementwise": act.elementwise,
        "plot": None,
        "max_slope": None,
    }
    if not act.elementwise:
        return entry
    f = lambda t: act.numeric(t, slope)
    d = lambda t: act.numeric_prime(t, slope)
    kink = d(-1e-12) != d(1e-12)
    ts = [-PLOT_RANGE + 2 * PLOT_RANGE * i / (SAMPLES - 1) for i in range(SAMPLES)]
    entry["max_slope"] = given_text(round(max(d(t) for t in ts), 6))
    entry["plot"] = {"function": _segments(f, False), "derivative": _segments(d, kink),
                     "xmin": -PLOT_RANGE, "xmax": PLOT_RANGE}
    return entry


def activations(network) -> tuple[dict, ...]:
    """Each activation the network uses (once per function and slope), then the ReLU.
    Per structure: ``Exercise.theory`` keeps it; templates only read it."""
    seen: dict[tuple, dict] = {}
    for layer in network.layers:
        act = ACTIVATIONS[layer.activation]
        symbol = layer.symbol or act.symbol
        key = (layer.activation, symbol, layer.slope if act.has_slope else None)
        if key not in seen:
            seen[key] = _activation(layer.activation, symbol, layer.slope, [], False)
            if not act.elementwise:  # the softmax, in the names of its own units
                seen[key].update(softmax_tex(layer.units))
        seen[key]["units"].extend(latex_name(u) for u in layer.units)
    out = list(seen.values())
    for a in out:  # a long layer is named by its first and last unit
        if len(a["units"]) > 4:
            a["units"] = [a["units"][0], Tex(r"\dots"), a["units"][-1]]
    if not any(a["key"] == "relu" for a in out):
        out.append(_activation("relu", ACTIVATIONS["relu"].symbol, 0.0, [], True))
    return tuple(out)


def significant(value: float, digits: int = 3, zeros: bool = False) -> str:
    """A small positive number for the table, in LaTeX: 0.0625, 3.81 · 10^{-6}; with
    ``zeros`` always ``digits`` significant digits, trailing zeros kept (0.690, not 0.69,
    in a column of 0.884 and 0.831)."""
    if value == 0 or not math.isfinite(value):
        return given_text(value) if math.isfinite(value) else Tex(r"\infty")
    return f"{value:{'#' if zeros else ''}.{digits}g}" if value >= 1e-2 else scientific(value, digits)


def bound(key: str, slope: float = 0.0) -> Fraction | float:
    """The largest value the activation's derivative takes: the most one unit of that kind
    can pass back of a gradient. The sigmoid's 1/4 is at t = 0; tanh's 1 too, but only
    there; a ReLU passes 1 when active, a leaky one its slope when not."""
    if key == "sigmoid":
        return SIGMOID_MAX
    if key == "leaky_relu":
        return max(1.0, slope)
    return 1  # tanh, relu, identity


def _hidden(exercise) -> tuple[dict, tuple]:
    """Per distinct hidden activation its bound and the hidden layers (numbered from 1) that
    use it (keyed by activation, symbol and slope), and per hidden layer which entry it adds to and the names of its units' local factors
    ∂h/∂h_in (first example): what a variant's factors are read by and compared with."""
    net = exercise.network
    suffix = "[1]" if exercise.derivation.n_examples > 1 else ""
    entries: dict[tuple, dict] = {}
    layers = []
    for number, layer in enumerate(net.layers[:-1], 1):
        act = ACTIVATIONS[layer.activation]
        if not act.elementwise:
            continue
        slope = layer.slope if act.has_slope else 0.0
        top = bound(layer.activation, slope)
        key = (layer.activation, layer.symbol or act.symbol, slope)
        entries.setdefault(key, {
            "key": layer.activation, "title": act.title, "symbol": symbol_tex(layer.symbol or act.symbol),
            "slope": given_text(slope), "bound": _fraction_tex(top), "layers": [],
        })["layers"].append(number)
        layers.append((key, float(top) * (1 - 1e-9),
                       tuple((f"d{u}/d{u}_in{suffix}", latex_name(f"d{u}/d{u}_in")) for u in layer.units)))
    return entries, tuple(layers)


def _fraction_tex(value: Fraction | float) -> str:
    if isinstance(value, Fraction) and value.denominator != 1:
        return Tex(rf"\tfrac{{{value.numerator}}}{{{value.denominator}}}")
    return given_text(float(value))


_ONE, _QUARTER = escape_tex("1"), escape_tex("1/4")  # an active ReLU's factor, the sigmoid's bound


@functools.cache
def _sigmoid_rows() -> tuple[tuple, ...]:
    """The table's rows as far as they hold for any network: k, (1/4)^k as a fraction,
    its value, and whether that value is exact (escaped once, not in every key)."""
    rows = []
    for k in range(1, LAYERS + 1):
        b = SIGMOID_MAX ** k
        rows.append((k, escape_tex(f"1/{b.denominator}"), escape_tex(significant(float(b))),
                     float(f"{float(b):.3g}") == float(b)))
    return tuple(rows)


def _structure(exercise) -> dict:
    """What the vanishing-gradient answer says of a structure whatever its values
    (``Exercise.shared``): the hidden activations, their bounds and where their factors are."""
    net = exercise.network
    entries, layers = _hidden(exercise)
    return {
        "entries": entries,
        "layers": layers,
        # the general text about the sigmoid writes it as the network's own sigmoid layers do
        "sigmoid": next((symbol_tex(l.symbol) for l in net.layers if l.activation == "sigmoid" and l.symbol),
                        symbol_tex(ACTIVATIONS["sigmoid"].symbol)),
        "hidden_layers": len(net.layers) - 1,
        "first_example": exercise.derivation.n_examples > 1,  # the factors are the first example's
        # how the key refers to the calculation the factors come from
        "source": f"question {calc}" if (calc := questions.context(exercise.spec, 0)["number"].get("calculation"))
                  else "the forward pass",
    }


def vanishing(solution) -> dict:
    shared = solution.exercise.shared(_structure)
    values, policy = solution.values, solution.policy
    found: dict[tuple, list[dict]] = {key: [] for key in shared["entries"]}
    raw = []
    for key, limit, units in shared["layers"]:
        for name, tex in units:
            value = values.get(name)
            if value is not None:
                found[key].append({"tex": tex, "value": policy.tex(value), "relation": policy.relation(value),
                                   "below": value < limit})
                raw.append(value)
    hidden = []
    for key, entry in shared["entries"].items():
        below = [f["below"] for f in found[key]]
        hidden.append({**entry, "factors": found[key], "all_below": bool(below) and all(below),
                       "none_below": bool(below) and not any(below)})
    largest = max(raw, default=None)
    # (largest)^k says something only when it shrinks: a factor of 1 (an active ReLU) or 0
    # (an inactive one) repeats to itself
    shrinks = largest is not None and 0 < largest < 1
    return {
        "rows": [{"layers": k, "fraction": fraction, "bound": b, "exact": exact,
                  "network": significant(largest ** k, zeros=True) if shrinks else None, "relu": _ONE}
                 for k, fraction, b, exact in _sigmoid_rows()],
        "sigmoid_max": _QUARTER,
        "sigmoid": shared["sigmoid"],
        "hidden": hidden,
        "factors": [{"tex": f["tex"], "value": f["value"]} for key in found for f in found[key]],
        "largest": policy.tex(largest) if shrinks else None,
        "hidden_layers": shared["hidden_layers"],
        "first_example": shared["first_example"],
        "source": shared["source"],
    }


def context(solution) -> dict:
    """What theory.tex.j2 receives (see the README, "Templates")."""
    net = solution.network
    return {
        "activations": solution.exercise.theory,
        "output_linear": net.layers[-1].activation == "identity",
        "vanishing": vanishing(solution),
    }
