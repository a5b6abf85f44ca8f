"""The one LaTeX printer, how quantity names are written in the key, and text escaping.

Names follow the reference sheet (``h1_in`` is h_{1,in}, ``yhat`` is ŷ, ``dL/dw1`` is
∂L/∂w_1, ``w1*`` is w_1^*, ``h1'`` is h_1'); everything that turns a SymPy expression into
LaTeX goes through ``Printer`` so the whole key uses one notation.

For speed, an expression "with the numbers put in" is printed once per network structure
with a marker in place of every symbol, and each variant only fills the markers with its
numbers (``fill``): no SymPy printing happens per variant. Where many variants are made,
``Places`` reads the templates once, so that a variant writes each number once and fills
every template in one ``str.format``.

A number put in is written the way one writes it by hand: a negative number in parentheses
only where a sign or a factor stands before it (``0.2 · (−0.0171)``, ``(−0.25)²``); first in
a sum, a bracket, a fraction or an exponent it stands bare (``−0.3 − 0.9 · 0.007``,
``e^{0.7}``), and after a plus or minus its sign joins that one (``a + (−b)`` is written
``a − b``, ``−(−0.7)`` is ``0.7``). So the printer marks each number with its place: bare,
signed (the operator before it is part of the marker), negated, or a factor. A term
``y · log(o)`` of a loss is marked as one that vanishes when ``y`` is 0 (``(1 − y) · log(1 − o)``
when ``y`` is 1), and ``fill`` leaves it out then (the key says so where it states the loss).

``Tex`` marks text that is already LaTeX and safe to put into a document. Only this
module (the printer, names, ``escape_tex``) and the number policy make it; everything
else that reaches a template is a plain ``str`` and is escaped there (``render``), so a
name or a title from a spec can never run TeX code.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Callable, Mapping

import sympy as sp
from sympy.printing.latex import LatexPrinter

GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "Delta", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega",
}
MARK = "\x00"


class Tex(str):
    """Text that is already LaTeX: put into a document as it is.

    Operations on it (``+``, ``replace``, ``format``) give a plain ``str`` again, which a
    template escapes: only what is made as ``Tex`` is trusted."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Tex({str.__repr__(self)})"


_TEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", '"': r"\textquotedbl{}",
    "\n": " ", "\t": " ", "\r": " ",
    # Mathematical characters that reasons and titles use in plain text (pdflatex has no
    # Unicode fonts for them).
    "η": r"$\eta$", "σ": r"$\sigma$", "δ": r"$\delta$", "∂": r"$\partial$", "½": r"$\tfrac12$",
    "′": r"$'$", "−": r"$-$", "→": r"$\to$", "·": r"$\cdot$", "≈": r"$\approx$", "ŷ": r"$\hat y$",
    "×": r"$\times$", "≤": r"$\le$", "≥": r"$\ge$", "∑": r"$\sum$", "∇": r"$\nabla$",
}
# Greek letters are typeset as math; capitals that look like Latin ones are those.
_GREEK_LETTERS = dict(zip(
    "αβγδεζηθικλμνξοπρςστυφχψω",
    ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi o pi rho varsigma "
     "sigma tau upsilon phi chi psi omega").split()))
_GREEK_CAPITALS = dict(zip("ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ",
                           "A B Gamma Delta E Z H Theta I K Lambda M N Xi O Pi P Sigma T Upsilon Phi X Psi Omega".split()))
for _c, _n in _GREEK_LETTERS.items():
    _TEX_SPECIALS.setdefault(_c, rf"\ensuremath{{\{_n}}}" if _n != "o" else "o")
for _c, _n in _GREEK_CAPITALS.items():
    _TEX_SPECIALS.setdefault(_c, rf"\ensuremath{{\{_n}}}" if len(_n) > 1 else _n)
# Latin letters beyond ASCII that pdflatex with T1 fonts has no glyph for (tried one by one).
_NO_GLYPH = set("ĦħĸĿŀŉŦŧſ")
_PUNCTUATION = set("–—‘’“”„…•€†‡‰‹›™")


# Printable ASCII that TeX takes as it is: text made only of these is its own escaping.
_AS_IS = re.compile("[" + re.escape("".join(chr(o) for o in range(0x20, 0x7F) if chr(o) not in _TEX_SPECIALS))
                    + "]*")


def typesettable(c: str) -> bool:
    """Whether pdflatex (T1 fonts, UTF-8 input) can typeset the character in text."""
    if c in _TEX_SPECIALS and c not in "\n\t\r":
        return True
    o = ord(c)
    return (0x20 <= o < 0x7F or 0xA1 <= o < 0x180 and c not in _NO_GLYPH) or c in _PUNCTUATION


def untypesettable(text: str) -> str | None:
    """The first character of ``text`` that cannot be typeset, or None."""
    return next((c for c in text if not typesettable(c)), None)


def escape_tex(text) -> Tex:
    """Any text made safe to put into LaTeX (text mode): the one escaping function.

    TeX's special characters are written as commands, Greek letters as math; a character
    pdflatex cannot typeset becomes "?" (free texts of a spec are refused on load instead,
    see ``untypesettable``). Text that is already ``Tex`` is returned as it is."""
    if isinstance(text, Tex):
        return text
    text = str(text)
    if _AS_IS.fullmatch(text):  # most text: nothing to replace, and no character to look at twice
        return Tex(text)
    return Tex("".join(_TEX_SPECIALS[c] if c in _TEX_SPECIALS else c if typesettable(c) else "?"
                       for c in text))


def math_text(text: str) -> Tex:
    """A name that is not one of the sheet's forms, for math mode: escaped, upright."""
    return Tex(rf"\text{{\upshape {escape_tex(text)}}}")


_OPERATORS = {"tanh", "sinh", "cosh", "exp", "log", "ln", "sin", "cos", "arctan", "max", "min"}
_GREEK_NAMES = {"varphi", "vartheta", "varepsilon", "varrho", "varsigma", "varpi"} | {
    n.lower() for n in _GREEK_CAPITALS.values() if len(n) > 1} | {
    n for n in _GREEK_LETTERS.values() if n != "o"} | {n for n in _GREEK_CAPITALS.values() if len(n) > 1}


def symbol_tex(symbol: str) -> Tex:
    """An activation's symbol from a spec (``\\phi``, ``\\mathrm{ReLU}``, ``g``) as math.

    Only a Greek letter, a known operator, ``\\mathrm{…}``/``\\operatorname{…}``/``\\mathit{…}``
    of letters, or plain letters pass as TeX; anything else is shown as escaped text, so a
    symbol can never be a TeX command such as ``\\input``."""
    if isinstance(symbol, Tex):
        return symbol
    m = re.fullmatch(r"\\([A-Za-z]+)", symbol)
    if m and (m.group(1) in _GREEK_NAMES or m.group(1) in _OPERATORS):
        return Tex(symbol)
    if re.fullmatch(r"\\(mathrm|operatorname|mathit)\{[A-Za-z]+\}|[A-Za-z]+", symbol):
        return Tex(symbol)
    return math_text(symbol)


@cache
def latex_name(name: str) -> Tex:
    """LaTeX for a quantity name (see the module docstring)."""
    m = re.fullmatch(r"d([^/]+)/d(.+)\[(\d+)\]", name)
    if m:  # a partial for example n: the example's mark goes on each per-example quantity
        top, bottom, e = m.groups()
        bottom = bottom if top == "L" else f"{bottom}[{e}]"  # L⁽ⁿ⁾ alone says which example
        return partial(f"{top}[{e}]", bottom)
    return Tex(_name(name))


def _name(name: str) -> str:
    m = re.fullmatch(r"(.*)\[(\d+)\]", name)
    if m:  # per-example quantity: h1[2] is h_1^{(2)}; w1*[2] (online) is w_1^{*(2)}
        base, e = m.groups()
        if base.endswith("*"):
            return rf"{latex_name(base[:-1])}^{{*({e})}}"
        return rf"{latex_name(base)}^{{({e})}}"
    m = re.fullmatch(r"d([^/]+)/d(.+)", name)
    if m:
        return partial(m.group(1), m.group(2))
    if name.endswith("'"):
        return latex_name(name[:-1]) + "'"
    if name.endswith("*"):
        return latex_name(name[:-1]) + "^*"
    if name.endswith("~"):  # Nesterov's look-ahead point
        return rf"\tilde{{{latex_name(name[:-1])}}}"
    if name.startswith("delta_"):
        return rf"\delta_{{{latex_name(name[6:])}}}"
    if name.endswith("_in"):
        head, sub = _split(name[:-3])
        return f"{head}_{{{sub + ',' if sub else ''}\\mathrm{{in}}}}"
    head, sub = _split(name)
    return f"{head}_{{{sub}}}" if sub else head


def _split(name: str) -> tuple[str, str]:
    """Head and subscript of a plain name: h1 -> (h, 1), yhat2 -> (\\hat{y}, 2)."""
    if name == "L":
        return r"\mathcal{L}", ""
    if name == "L0":  # online updates: the loss at the starting parameters, as the key writes it
        return r"\mathcal{L}", "0"
    if name.isascii() and name.isdigit():  # units named by number, as in some textbooks: o_4
        return "o", name
    if "_" in name:  # h1_2 is h_{1,2}; b_h1 is b_{h_1}
        head, rest = name.split("_", 1)
        letters, digits = _split(head) if head else (head, "")
        inner = rest if rest.isascii() and rest.isdigit() else latex_name(rest)
        return letters, f"{digits},{inner}" if digits else inner
    m = re.fullmatch(r"([A-Za-z]+?)(\d*)", name)
    if not m:  # anything else (spec names are checked on load, but never trusted here)
        return math_text(name), ""
    letters, digits = m.groups()
    if len(letters) == 4 and letters.endswith("hat"):  # yhat, and Adam's mhat, vhat
        head = rf"\hat{{{letters[0]}}}"
    elif letters in GREEK:
        head = "\\" + letters
    elif len(letters) == 1:
        head = letters
    else:
        head = rf"\mathit{{{letters}}}"
    return head, digits


def partial(top: str, bottom: str) -> Tex:
    """∂top/∂bottom for two quantity names."""
    return Tex(rf"\frac{{\partial {latex_name(top)}}}{{\partial {latex_name(bottom)}}}")


class Printer(LatexPrinter):
    """SymPy's LaTeX printer with the sheet's names, sums and products in the order they
    were built, and ½ written in front of its factor."""

    def __init__(self, markers: Mapping[sp.Symbol, int] | None = None):
        super().__init__({"order": "none", "mul_symbol": "dot" if markers is not None else None})
        self.markers = markers

    def _print_Symbol(self, expr, style="plain"):
        if self.markers is not None and expr in self.markers:
            return f"{MARK}{self.markers[expr]}{MARK}"
        return latex_name(expr.name)

    def doprint(self, expr) -> str:
        # Every "numbers put in" template gets its numbers' places here, after printing
        # (whichever path printed it), so the rules live in one function, ``_placed``.
        fast = common_shape(self, expr)
        text = fast if fast is not None else super().doprint(expr)
        return _placed(text) if self.markers is not None else text

    def term(self, expr) -> str:
        """A term of a sum written after others, with its operator: `` + 0.5 · 0.2``, or
        `` - 0.5 · 0.2`` where the first number is negative (a chain's second path)."""
        text = super().doprint(expr)
        sign, text = ("-", text[1:].lstrip()) if text.startswith("-") else ("+", text)
        return _placed(f" {sign} {text}") if self.markers is not None else f" {sign} {text}"

    def _print_Mul(self, expr):
        text = self._print_product(expr)
        if self.markers is not None and _vanishes(expr):
            # A term y · log(o): nothing to add when the given y is 0, nor a term
            # (1 − y) · log(1 − o) when it is 1 (fill drops it).
            guards = ",".join(f"{self.markers[y]}={at}" for y, at in _guards(expr) if y in self.markers)
            return f"{_DROP}{guards}{_DROP}{text}{_END}"
        return text

    def _print_Add(self, expr, order=None):
        if all(t.is_Symbol or (t.is_Mul and all(a.is_Symbol for a in t.args)) for t in expr.args):
            return " + ".join(self._print(t) for t in expr.args)
        text = super()._print_Add(expr, order)
        vanishing = self.markers is not None and any(t.is_Mul and _vanishes(t) for t in expr.args)
        return f"{_SUM}{text}{_SUM}" if vanishing else text

    def _print_ExpBase(self, expr, exp=None):
        # e^{t}: the exponent is a group of its own (no brackets around a number there).
        body = rf"e^{{{self._print(expr.args[0])}}}"
        return body if exp is None else rf"\left({body}\right)^{{{exp}}}"

    def bare(self, expr) -> str:
        """A symbol standing alone (a function's argument): its number goes in without the
        parentheses a negative number gets inside a product."""
        if self.markers is not None and expr in self.markers:
            return f"{MARK}={self.markers[expr]}{MARK}"
        return self._print(expr)

    # Fast paths for the shapes most of a large network's formulas have (x1·w1 + x2·w3 + …,
    # δ·h): SymPy's general methods test each factor for signs, fractions and brackets,
    # which none of these needs; the output is the same.
    def _print_product(self, expr):
        if all(a.is_Symbol for a in expr.args):
            sep = self._settings["mul_symbol_latex"]
            if self.markers is None and any(latex_name(a.name).startswith(r"\mathit") for a in expr.args):
                sep = r" \cdot "  # names of several letters side by side would read as one (num invden)
            return sep.join(self._print(a) for a in expr.args)
        first = expr.args[0]
        if isinstance(first, sp.Rational) and not first.is_Integer and len(expr.args) > 1:
            rest = sp.Mul(*expr.args[1:], evaluate=False)
            sep = r" \cdot " if self.markers is not None else " "
            body = self._print(rest)
            if isinstance(rest, sp.Add):
                body = rf"\left({body}\right)"
            return rf"\frac{{{first.p}}}{{{first.q}}}{sep}{body}"
        if self.markers is None and any(a.is_Symbol and latex_name(a.name).startswith(r"\mathit") for a in expr.args):
            # Names of several letters side by side would read as one (num invden): a dot between.
            plain, self._settings["mul_symbol_latex"] = self._settings["mul_symbol_latex"], r" \cdot "
            try:
                return super()._print_Mul(expr)
            finally:
                self._settings["mul_symbol_latex"] = plain
        return super()._print_Mul(expr)


# --- the common shapes, printed without SymPy's dispatch -----------------------------------
#
# Nearly every formula of a large network is one of a few shapes: a quantity (δ), a product
# of quantities (δ·h, a chain of partials), a sum of those (x1·w1 + x2·w3 + … + b), an
# update (w − η·∂L/∂w). SymPy's printer looks up a method per node and tests each factor
# for signs, fractions and brackets: for a 22k-parameter network that is most of the
# time of a solve. These functions print the same strings directly and give None for
# any other shape, which then goes to the Printer; tests/test_fast_paths.py prints every
# formula of several specs both ways and compares.

def common_shape(printer: "Printer", expr) -> str | None:
    """``expr`` as ``printer.doprint`` prints it, when it is one of the common shapes."""
    names = _names(printer)
    if type(expr) is sp.Symbol:
        return _symbol(printer, names, expr)[0]
    if expr.is_Mul:
        return _product(printer, names, expr.args)
    if not expr.is_Add:
        return None
    parts = []
    for i, term in enumerate(expr.args):
        if type(term) is sp.Symbol:
            text = _symbol(printer, names, term)[0]
            parts.append(" + " + text if i else text)
            continue
        if not term.is_Mul:
            return None
        args = term.args
        if args[0] is sp.S.NegativeOne and i and len(args) > 2:  # − η·∂L/∂w
            text, sign = _product(printer, names, args[1:]), " - "
        else:
            text, sign = _product(printer, names, args), " + " if i else ""
        if text is None:
            return None
        parts.append(sign + text)
    return "".join(parts)


def _product(printer: "Printer", names: dict, args) -> str | None:
    """A product of symbols as the Printer writes it (its separator; a dot between names
    of several letters); None for any other product."""
    shown = []
    several = False
    for a in args:
        if type(a) is not sp.Symbol:
            return None
        text, letters = _symbol(printer, names, a)
        shown.append(text)
        several = several or letters
    sep = printer._settings["mul_symbol_latex"]
    if several and printer.markers is None:
        sep = r" \cdot "
    return sep.join(shown)


def _names(printer: "Printer") -> dict[str, tuple[str, bool]]:
    """What each symbol prints as, kept per printer by name (the derivation's symbols are
    plain: one name, one symbol), so a symbol met again costs one look-up of a string."""
    names = printer.__dict__.get("_common_names")
    if names is None:
        names = printer.__dict__["_common_names"] = {}
    return names


def _symbol(printer: "Printer", names: dict, symbol: sp.Symbol) -> tuple[str, bool]:
    """A symbol as the printer prints it, and whether its name has several letters."""
    hit = names.get(symbol.name)
    if hit is None:
        hit = names[symbol.name] = (printer._print_Symbol(symbol),
                                    latex_name(symbol.name).startswith(r"\mathit"))
    return hit


def tex(expr: sp.Expr) -> Tex:
    """The symbolic form of an expression, in the key's notation."""
    return Tex(_PLAIN.doprint(expr))


_PLAIN = Printer()  # keeps only what a name prints as: one serves every symbolic form


def numeric_template(expr: sp.Expr, index: Mapping[sp.Symbol, int]) -> str:
    """The expression printed with a marker for every symbol, to be filled per variant."""
    return Printer(index).doprint(expr)


# The places of a number (see the module docstring). A marker is MARK, a kind, the symbol's
# index, MARK: kind "" a factor, "=" bare, "~" negated, "+"/"-" signed (the operator before
# it is part of the marker). _DROP guards _DROP term _END is a term that vanishes when one
# of its guards holds (i=v: symbol i is shown as v); _SUM … _SUM is a sum holding such terms.
_DROP, _END, _SUM = "\x01", "\x02", "\x03"
_NUMBER = f"{MARK}(\\d+){MARK}(?!\\^)"  # a number that is not the base of a power
_LEADING = re.compile(r"(^|\{|\\left\(|\(|[\x01\x03])(- )?" + _NUMBER)
_SIGNED = re.compile(r" ([+-]) " + _NUMBER)
_MARKER = re.compile(f"{MARK}([=~+-]?)(\\d+){MARK}")
_DROPPED = re.compile(f"{_DROP}([\\d,=]+){_DROP}(.*?){_END}", re.S)
_SUMS = re.compile(f"{_SUM}(.*?){_SUM}", re.S)
_BRACKETED_SUM = re.compile(f"\\(({_SUM}.*?{_SUM})\\)", re.S)


def _guards(term: sp.Expr) -> list[tuple[sp.Symbol, int]]:
    """The factors of a product that are a plain symbol y or 1 − y, each with the value of
    y at which it is 0."""
    out = []
    for a in term.args:
        if a.is_Symbol:
            out.append((a, 0))
        elif (a.is_Add and len(a.args) == 2 and a.args[0] == 1 and a.args[1].is_Mul
              and len(a.args[1].args) == 2 and a.args[1].args[0] == -1 and a.args[1].args[1].is_Symbol):
            out.append((a.args[1].args[1], 1))
    return out


def _vanishes(term: sp.Expr) -> bool:
    """A product of a logarithm and a factor y or 1 − y: y · log(o), (1 − y) · log(1 − o)."""
    return (not all(a.is_Symbol for a in term.args) and bool(_guards(term))
            and any(isinstance(a, sp.log) for a in term.args))


def _operator_inside(m: re.Match) -> str:
    """A term that can vanish takes the operator before it along (the sum's printer put a
    plus before it, and its own minus after the opening)."""
    before, opening, minus = m.groups()
    if not before:
        return opening + (minus or "")
    return f"{opening} {'-' if (before == ' - ') != bool(minus) else '+'} "


def _placed(template: str) -> str:
    """A printed template with each number marked by its place."""
    if _DROP in template:
        template = re.sub(f"( [+-] )?({_DROP}[\\d,=]+{_DROP})(- )?", _operator_inside, template)
    template = _SIGNED.sub(lambda m: f"{MARK}{m.group(1)}{m.group(2)}{MARK}", template)
    return _LEADING.sub(lambda m: f"{m.group(1)}{MARK}{'~' if m.group(2) else '='}{m.group(3)}{MARK}", template)


def fill(template: str, shown: Callable[[int, bool], str]) -> Tex:
    """Put numbers into a template from ``numeric_template``; ``shown(i, bare)`` is the
    number for symbol ``i`` as the key writes it (``bare``: standing alone, no parentheses;
    otherwise a negative number comes in parentheses)."""
    if _DROP in template:
        def vanishes(m: re.Match) -> bool:
            return any(shown(int(i), True) == at for i, at in (g.split("=") for g in m.group(1).split(",")))

        def bracketed(m: re.Match) -> str:
            # −(y log ŷ + (1 − y) log(1 − ŷ)) with one term left is written without the
            # brackets, −1 · log(0.52), as the categorical loss's one term is.
            inner = m.group(1)
            kept = sum(not vanishes(d) for d in _DROPPED.finditer(inner))
            alone = kept == 1 and not _DROPPED.sub("", inner).strip(f"{_SUM} ")
            return inner if alone else f"({inner})"

        template = _BRACKETED_SUM.sub(bracketed, template)
        template = _DROPPED.sub(lambda m: "" if vanishes(m) else m.group(2), template)
    text = _MARKER.sub(lambda m: _number(m.group(1), int(m.group(2)), shown), template)
    if _SUM in text:
        text = _SUMS.sub(lambda m: _opening(m.group(1)), text)
    return Tex(text)


def _number(kind: str, i: int, shown: Callable[[int, bool], str]) -> str:
    """The number of a marker of ``kind`` (see above) for symbol ``i``."""
    if kind == "=":
        return shown(i, True)
    text = shown(i, False)
    if not kind:
        return text
    negative = text.startswith("(-")
    text = text[2:-1] if negative else text
    if kind == "~":
        return text if negative else f"- {text}"
    return f" {'-' if (kind == '-') != negative else '+'} {text}"


class Places:
    """Where the numbers of a structure's templates go: each (kind, symbol index) that a
    template has, numbered once, so that a variant writes each such number once and
    fills every template from that one list (``numbers``), all in one ``str.format``."""

    def __init__(self):
        self._index: dict[tuple[str, int], int] = {}
        self._joined: list[str] = []  # the templates' texts with {} for each number
        self._order: list[int] = []  # the places of those {}, one after the other
        self._count = 0  # templates read (once a variant is filled, _joined[0] holds all read before)

    def template(self, text: str) -> "Template":
        template = Template(text)
        if _DROP not in text and _SUM not in text and _APART not in text:
            index = self._index
            positions = tuple([index.setdefault((kind, int(i)), len(index)) for kind, i in _MARKER.findall(text)])
            self._joined.append(_MARKER.sub("{}", text.replace("{", "{{").replace("}", "}}")))
            self._order.extend(positions)
            template.positions, template.number = positions, self._count
            self._count += 1
        return template

    def numbers(self, shown: Callable[[int, bool], str]) -> "Numbers":
        """A variant's numbers: ``shown(i, bare)`` as for ``fill``."""
        texts = [_number(kind, i, shown) for kind, i in self._index]
        if not self._joined:
            return Numbers(shown, texts, [])
        if len(self._joined) > 1:
            self._joined = [_APART.join(self._joined)]
        return Numbers(shown, texts, self._joined[0].format(*map(texts.__getitem__, self._order)).split(_APART))


_APART = "\x1f"  # between two templates filled at once (no template and no number has it)


class Numbers:
    """One variant's numbers (``Places.numbers``): the text of each place, the templates
    filled, and ``shown`` for those that are filled by ``fill``'s rules."""

    __slots__ = ("shown", "texts", "filled")

    def __init__(self, shown: Callable[[int, bool], str], texts: list[str], filled: list[str]):
        self.shown, self.texts, self.filled = shown, texts, filled


class Template:
    """A template from ``numeric_template`` read once per structure (``Places.template``):
    where each of its numbers comes from (``positions`` in the variant's ``Numbers.texts``)
    and which of the variant's filled templates it is. A template with terms that can
    vanish has no positions: it is filled by ``fill`` each time, as which parts stay
    depends on the numbers."""

    __slots__ = ("text", "positions", "number")

    def __init__(self, text: str):
        self.text = text
        self.positions: tuple[int, ...] | None = None
        self.number = -1

    def fill(self, numbers: Numbers) -> Tex:
        if self.positions is None:
            return fill(self.text, numbers.shown)
        return Tex(numbers.filled[self.number])

    def between(self) -> str | None:
        """The text between the numbers, when a filled template is that with the numbers
        put in and no command's letters run on into a number or out of one (a number
        starts with a digit, a sign, a bracket or a backslash): so that the template's
        width is that of this text and of its numbers. None otherwise."""
        if self.positions is None or _RUNS_ON.search(self.text):
            return None
        return _MARKER.sub("", self.text)

    def __repr__(self) -> str:
        return f"Template({self.text!r})"


_RUNS_ON = re.compile(f"(?:[^\\W\\d_]|\\\\){MARK}[=~+-]?\\d+{MARK}|{MARK}[=~+-]?\\d+{MARK}[^\\W\\d_]")


def _opening(total: str) -> str:
    """A sum whose first terms were left out: no operator before the first one left."""
    total = total.lstrip()
    if total.startswith("+ "):
        return total[2:]
    if total.startswith("- "):
        return "- " + total[2:]
    return total or "0"
