"""The network figure as SVG, from the same layout as the TikZ figure (``figure.layout``).

For the checking page, and for any other output that cannot run TeX (an LMS question).
Positions come in cm with y pointing up; SVG wants pixels with y pointing down. Every
coordinate is written as a whole number of pixels, so the figure carries no decimal
that could be mistaken for a value of the exercise. Labels are the key's LaTeX names,
written with Unicode letters and SVG subscripts (``h_{1}`` is h₁, ``\\hat{y}`` is ŷ).
"""

from __future__ import annotations

import math
import re
from html import escape
from typing import Iterator

from .figure import BIAS_R, LABEL_H, UNIT_R, Figure, label_width

SCALE = 56  # pixels per cm of the TikZ figure
PAD = 30  # pixels around the figure, room for the bias arrows' labels
FONT = 17  # px, unit labels
SMALL = 14  # px, weight labels

_SYMBOLS = {
    r"\hat{y}": "ŷ", r"\mathcal{L}": "ℒ", r"\vdots": "⋮", r"\eta": "η", r"\theta": "θ", r"\delta": "δ",
    r"\alpha": "α", r"\beta": "β", r"\gamma": "γ", r"\lambda": "λ", r"\mu": "μ", r"\sigma": "σ",
    r"\omega": "ω", r"\phi": "φ", r"\psi": "ψ", r"\tau": "τ", r"\xi": "ξ", r"\pi": "π", r"\rho": "ρ",
    r"\nu": "ν", r"\kappa": "κ", r"\epsilon": "ε", r"\zeta": "ζ", r"\iota": "ι", r"\chi": "χ",
}


def _parts(tex: str) -> Iterator[tuple[str, bool]]:
    """(text, is_subscript) pieces of a name's LaTeX; a nested subscript joins its parent's."""
    for command, char in _SYMBOLS.items():
        tex = tex.replace(command, char)
    tex = re.sub(r"\\math(?:rm|it|bf)\{([^{}]*)\}", r"\1", tex)
    tex = tex.replace("^*", "*")
    i, depth, buf, sub = 0, 0, "", False
    while i < len(tex):
        c = tex[i]
        if c == "_" and depth == 0:
            if buf:
                yield buf, sub
            buf, sub = "", True
            if i + 1 < len(tex) and tex[i + 1] != "{":  # x_1
                yield tex[i + 1], True
                sub, i = False, i + 2
                continue
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0 and sub:
                yield buf, True
                buf, sub = "", False
        elif c not in "_\\":
            buf += c
        i += 1
    if buf:
        yield buf, sub


def text(tex: str, x: float, y: float, size: int, css: str = "") -> str:
    """An SVG <text> centred on (x, y) for a name's LaTeX."""
    spans = []
    for piece, sub in _parts(tex):
        piece = escape(piece)
        if sub:
            spans.append(f'<tspan font-size="{round(size * 0.72)}" baseline-shift="sub">{piece}</tspan>')
        else:
            spans.append(f"<tspan>{piece}</tspan>")
    cls = f' class="{css}"' if css else ""
    return (f'<text x="{round(x)}" y="{round(y + size * 0.35)}" font-size="{size}" text-anchor="middle" '
            f'stroke="none" fill="#111"{cls}>'
            + "".join(spans) + "</text>")


def network(fig: Figure, title: str = "The network") -> str:
    """The figure as one <svg> element (no XML prolog: for inline use in HTML)."""
    xs = [n.x for n in fig.nodes] + [p.x for p in fig.pins]
    ys = [n.y for n in fig.nodes] + [p.y + LABEL_H for p in fig.pins]
    left, right = min(xs) - UNIT_R, max(xs) + UNIT_R
    top, bottom = max(ys) + UNIT_R, min(ys) - UNIT_R
    width = round((right - left) * SCALE) + 2 * PAD
    height = round((top - bottom) * SCALE) + 2 * PAD

    def px(x: float, y: float) -> tuple[float, float]:
        return (x - left) * SCALE + PAD, (top - y) * SCALE + PAD

    where = {n.id: n for n in fig.nodes}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="network" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#222"/></marker></defs>']

    def arrow(x0: float, y0: float, node) -> str:
        """A line from (x0, y0) (cm) to the border of ``node``."""
        r = BIAS_R if node.kind == "bias" else UNIT_R
        dx, dy = node.x - x0, node.y - y0
        length = math.hypot(dx, dy) or 1
        a, b = px(x0, y0)
        c, d = px(node.x - dx / length * r, node.y - dy / length * r)
        return f'<line x1="{round(a)}" y1="{round(b)}" x2="{round(c)}" y2="{round(d)}" marker-end="url(#arrow)"/>'

    # Presentation attributes, not a <style>: the figure looks the same inline, standalone
    # and under a page's content security policy.
    out.append('<g class="edges" stroke="#222" stroke-width="2">')
    for e in fig.edges:
        s = where[e.source]
        r = BIAS_R if s.kind == "bias" else UNIT_R
        dx, dy = where[e.target].x - s.x, where[e.target].y - s.y
        length = math.hypot(dx, dy) or 1
        out.append(arrow(s.x + dx / length * r, s.y + dy / length * r, where[e.target]))
    for p in fig.pins:
        target = where[p.target]
        out.append(arrow(p.x, p.y, target))
    out.append("</g>")
    out.append('<g class="units" stroke="#222" stroke-width="2" font-family="serif" font-style="italic">')
    for n in fig.nodes:
        x, y = px(n.x, n.y)
        if n.kind == "dots":
            out.append(text(n.label, x, y, FONT))
            continue
        if n.kind == "bias":
            r = BIAS_R * SCALE
            out.append(f'<rect class="bias" x="{round(x - r)}" y="{round(y - r)}" width="{round(2 * r)}" '
                       f'height="{round(2 * r)}" fill="#eee"/>')
        else:
            r = round(UNIT_R * SCALE)
            fill = "#eee" if n.kind == "input" else "#fff"
            out.append(f'<circle class="{n.kind}" cx="{round(x)}" cy="{round(y)}" r="{r}" fill="{fill}"/>')
            if n.kind == "output":  # drawn double, as in the TikZ figure
                out.append(f'<circle cx="{round(x)}" cy="{round(y)}" r="{r - 4}" fill="none" stroke-width="1"/>')
        out.append(text(n.label, x, y, FONT))
    out.append("</g>")
    out.append('<g class="labels" font-family="serif" font-style="italic">')
    for e in fig.edges:
        if not e.label:
            continue
        x, y = px(e.x, e.y)
        w = label_width(e.label) * SCALE * 0.9
        h = LABEL_H * SCALE
        out.append(f'<rect class="label" x="{round(x - w / 2)}" y="{round(y - h / 2)}" width="{round(w)}" '
                   f'height="{round(h)}" fill="#fff"/>')
        out.append(text(e.label, x, y, SMALL))
    for p in fig.pins:
        x, y = px(p.x, p.y + LABEL_H / 2 + 0.08)
        out.append(text(p.label, x, y, SMALL))
    out.append("</g></svg>")
    return "\n".join(out)


# --- the circuit of a computational graph --------------------------------------------------

_GATE_SYMBOLS = {r"\times": "×", r"\div": "÷", r"\cdot": "·", r"\max": "max", r"\min": "min", r"\exp": "exp",
                 r"\log": "log", r"\tanh": "tanh", r"\sqrt": "√", r"\left": "", r"\right": ""}


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _gate_text(tex: str) -> str:
    tex = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"\1/\2", tex)  # a/3, not "fraca3"
    for command, char in _GATE_SYMBOLS.items():
        tex = tex.replace(command, char)
    # a whole-number power (xpy^{2}) as superscript digits; other TeX stays as written
    return re.sub(r"\^\{?(-?\d+)\}?", lambda m: m.group(1).translate(_SUPERSCRIPT), tex)


def circuit(fig: dict, title: str = "The circuit") -> str:
    """A computational graph's circuit as one <svg> element, from the figure data the sheet's
    TikZ macro draws (``graph_key._figure_context``: boxes, wires with their branches, links,
    in cm, y up): a box per gate with its operation and its name above, wires with the value
    above and the gradient below where the data holds them."""
    boxes = {b["id"]: b for b in fig["boxes"]}
    name_w = 0.8  # cm: room for a name written left of its wire or right of the output
    xs = [b["x"] - (name_w if b["input"] else b["width"] / 2) for b in boxes.values()]
    xs += [b["x"] + b["width"] / 2 for b in boxes.values()]
    xs += [k["x"] - name_w for k in fig["links"]]
    xs += [w["x_end"] + (0.4 + name_w if w["output"] else name_w if w["tag"] else 0) for w in fig["wires"]]
    ys = [b["y"] for b in fig["boxes"]] + [p[1] for w in fig["wires"] for br in w["branches"] for p in br["points"]]
    left, right = min(xs), max(xs)
    top, bottom = max(ys) + 0.9, min(ys) - 0.7
    width = round((right - left) * SCALE) + 2 * PAD
    height = round((top - bottom) * SCALE) + 2 * PAD

    def px(x: float, y: float) -> tuple[int, int]:
        return round((x - left) * SCALE + PAD), round((top - y) * SCALE + PAD)

    def path(points: list[tuple[int, int]], arrow: bool) -> str:
        d = " ".join(f"{'M' if i == 0 else 'L'}{x},{y}" for i, (x, y) in enumerate(points))
        return f'<path d="{d}" fill="none"' + (' marker-end="url(#arrow)"/>' if arrow else "/>")

    def label(tex: str, x: float, y: float, size: int, anchor: str = "middle", fill: str = "#111") -> str:
        # names and numbers only (the data's LaTeX): written as text, escaped, never as markup
        return text(tex, x, y, size).replace('text-anchor="middle"', f'text-anchor="{anchor}"').replace(
            'fill="#111"', f'fill="{fill}"')

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="circuit" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#222"/></marker></defs>',
           '<g class="wires" stroke="#222" stroke-width="1.6" stroke-linejoin="round" font-family="serif" '
           'font-style="italic">']
    for w in fig["wires"]:
        source = boxes[w["source"]]
        a, end = px(source["x"] + source["width"] / 2, w["y"]), px(w["x_end"], w["y"])
        out.append(f'<line x1="{a[0]}" y1="{a[1]}" x2="{end[0]}" y2="{end[1]}"/>')
        mid = px(w["label_x"], w["y"])[0]
        if w["value"]:
            out.append(label(w["value"], mid, a[1] - 0.28 * SCALE, SMALL))
        if w["gradient"]:
            out.append(label(w["gradient"], mid, a[1] + 0.3 * SCALE, SMALL, fill="#8b1a1a"))
        for br in w["branches"]:
            out.append(path([px(*p) for p in br["points"]], bool(br["target"])))
        for d in w["dots"]:
            x, y = px(*d)
            out.append(f'<circle cx="{x}" cy="{y}" r="3" fill="#222"/>')
        if w["tag"]:
            x, y = px(w["tag"][0], w["tag"][1])
            if w["tag"][2] == "north":
                out.append(label(w["name"], x, y + 0.25 * SCALE, SMALL))
            else:
                out.append(label(w["name"], x + 4, y, SMALL, anchor="start"))
        if w["output"]:
            tip = end[0] + round(0.4 * SCALE)
            out.append(f'<line x1="{end[0]}" y1="{end[1]}" x2="{tip}" y2="{end[1]}" marker-end="url(#arrow)"/>')
            out.append(label(fig["output"], tip + 4, end[1], FONT, anchor="start"))
    for k in fig["links"]:
        target = boxes[k["target"]]
        out.append(label(k["name"], px(k["x"], k["y"])[0] - 2, px(k["x"], k["y"])[1], SMALL, anchor="end"))
        out.append(path([px(k["x"], k["y"]), px(target["x"] - target["width"] / 2, k["y"])], True))
    out.append("</g>")
    out.append('<g class="gates" stroke="#222" stroke-width="1.6" font-family="serif" font-style="italic">')
    for i, b in boxes.items():
        x, y = px(b["x"], b["y"])
        if b["input"]:
            out.append(label(b["name"], x - 4, y, FONT, anchor="end"))
            continue
        w, h = round(b["width"] * SCALE), round(b["height"] * SCALE)
        out.append(f'<rect x="{x - w // 2}" y="{y - h // 2}" width="{w}" height="{h}" rx="4" fill="#f4f4f4"/>')
        out.append(label(_gate_text(b["label"]), x, y, FONT))
        out.append(label(b["name"], x, y - h // 2 - 0.22 * SCALE, SMALL))
    out.append("</g></svg>")
    return "\n".join(out)
