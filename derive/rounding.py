"""The number policy: how a value is rounded and written, in the key and in the checker.

"Rounded to 4 decimals" means the same thing everywhere because both use this class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

from .latex import Tex


@dataclass(frozen=True)
class NumberPolicy:
    decimals: int = 4

    def round(self, value: float) -> float:
        return float(fixed_text(value, self.decimals))

    def is_exact(self, value: float) -> bool:
        """Whether the value is written without loss at this many decimals."""
        return math.isfinite(value) and abs(value - self.round(value)) <= 1e-12 * max(1.0, abs(value))

    def relation(self, value: float) -> Tex:
        return Tex("=" if self.is_exact(value) else r"\approx")

    def text(self, value: float) -> str:
        """Plain text, as a terminal or a CSV shows it: always ``decimals`` places (the
        sheet's "Error: 0.0370"); past a million with an exponent, not hundreds of digits."""
        if not math.isfinite(value):
            return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
        if abs(value) >= LARGE:
            return f"{value:.{self.decimals}e}"
        return format(rounded(self._clean(value), -self.decimals), "f")

    def tex(self, value: float) -> Tex:
        """A computed value as the key writes it: exact values in their shortest form
        (2.2, not 2.2000), others with ``decimals`` places; a value that would round to
        zero but is not zero keeps two significant digits (3.2 · 10^{-6})."""
        return Tex(self._written(value)[0])

    def written(self, value: float) -> tuple[Tex, Tex]:
        """``(tex(value), relation(value))``: a value and its = or ≈ as a line of the key
        ends, from one rounding."""
        text, exact = self._written(value)
        return Tex(text), _EQUALS if exact else _APPROX

    def _written(self, value: float) -> tuple[str, bool]:
        if not math.isfinite(value):
            return r"\infty" if value > 0 else (r"-\infty" if value < 0 else r"\mathrm{NaN}"), False
        # Rounded once (the rounding of every value of a large key is what costs): the
        # branches are those of round, is_exact and text, on that one result.
        r = fixed_text(value, self.decimals)
        near = float(r)
        exact = abs(value - near) <= 1e-12 * max(1.0, abs(value))  # is_exact
        if value != 0 and near == 0:
            return scientific(value, 2), exact
        if abs(value) >= LARGE:
            return scientific(value, 3), exact
        if exact:
            return given_text(near), True
        return r, False  # not zero here: a zero value is exact

    def substituted(self, value: float, given: bool = False) -> Tex:
        """A value put into a formula: negatives in parentheses so that 0.2 · (−0.0034)
        never reads as a subtraction."""
        text = given_tex(value) if given else self.tex(value)
        return Tex(f"({text})") if text.startswith("-") else text

    def _clean(self, value: float) -> float:
        # No "-0.0000": a value that rounds to zero is written as zero.
        return 0.0 if self.round(value) == 0 else value


LARGE = 1e6  # from here on a value is written with a power of ten
_EQUALS, _APPROX = Tex("="), Tex(r"\approx")


def scientific(value: float, digits: int) -> Tex:
    """``value`` with ``digits`` significant digits times a power of ten, in LaTeX."""
    spec = _E_FORMAT[digits - 1] if 0 < digits <= len(_E_FORMAT) else f".{digits - 1}e"
    mantissa, _, exponent = format(value, spec).partition("e")
    return Tex(rf"{mantissa} \cdot 10^{{{int(exponent)}}}")


_E_FORMAT = [f".{d}e" for d in range(22)]  # made once: a loss table writes dozens of numbers so


def given_text(value: float) -> Tex:
    """A value from the spec as the instructor wrote it: 0.7, 1, -0.25 (twelve significant
    digits at most, so a value drawn on a grid never shows binary noise like 0.30000000000000004)."""
    if float(value).is_integer() and abs(value) < 1e15:
        return Tex(int(value))
    return Tex(format(float(value), ".12g"))


def given_tex(value: float) -> Tex:
    """A given value in LaTeX: as ``given_text``, but 1e-08 (an optimizer's ε) as 1 · 10^{-8}."""
    text = given_text(value)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return Tex(rf"{mantissa} \cdot 10^{{{int(exponent)}}}")


# --- the checker's side: numbers as a student writes them ---------------------------------
#
# One rounding rule for key and checker: half away from zero, applied to the exact binary
# value (0.125 -> 0.13, as taught at school; Python's round() would give 0.12).


# Enough digits for any float (about 310 before the point) plus the decimals asked for.
_EXACT = Context(prec=400)


def rounded(value: float, exponent: int) -> Decimal:
    """``value`` rounded to the place 10^exponent (exponent -2: two decimals)."""
    return Decimal(value).quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_UP, context=_EXACT)


def fixed_text(value: float, decimals: int) -> str:
    """``format(rounded(value, -decimals), "f")``, by the float formatter where it gives the
    same digits: it rounds the exact binary value too, but half to even, so a value that
    could be exactly halfway (one with at most ``decimals`` + 1 decimals: 0.125, 2.5) goes
    through Decimal. The rounding of every value of a large key is what this saves."""
    # A value with at most decimals + 1 decimals times 10^(decimals + 1) is an integer, and
    # so is its float product (exact below 2^53, and every float above is an integer):
    # a product that is not an integer rules a halfway case out.
    if 0 <= decimals < 22 and not (value * _SCALE[decimals]).is_integer() and math.isfinite(value):
        return format(value, _FORMAT[decimals])
    return format(rounded(value, -decimals), "f")


_SCALE = [10.0 ** (d + 1) for d in range(22)]  # exact in binary floating point
_FORMAT = [f".{d}f" for d in range(22)]


def fixed(value: float, exponent: int) -> str:
    """``value`` rounded to the place 10^exponent, as text; never "-0.0"."""
    if -22 <= exponent <= 0:
        # Python's "%f" rounds the exact binary value correctly, ties to even: the same
        # digits unless the value lies exactly halfway, i.e. twice it times 10^decimals is
        # an odd whole number (exact in floats below 2^52, as 10^decimals is up to 10^22).
        twice = value * _TWICE[-exponent]
        if abs(twice) < 2.0 ** 52 and not (twice.is_integer() and twice % 2 == 1):
            text = "%.*f" % (-exponent, value)
            return text[1:] if text[0] == "-" and not text.strip("-0.") else text
    r = rounded(value, exponent)
    return format(r.copy_abs() if r.is_zero() else r, "f")


_TWICE = [2.0 * 10.0 ** k for k in range(23)]


@dataclass(frozen=True)
class Written:
    """A number as written, its text kept: 0.70 says more than 0.7."""

    text: str
    value: Decimal

    @classmethod
    def parse(cls, text: str) -> "Written":
        """Raises ValueError unless ``text`` is a finite decimal number (1e-3 allowed)."""
        clean = text.strip().replace("\u2212", "-")
        try:
            value = Decimal(clean)
        except InvalidOperation:
            raise ValueError(text) from None
        if not value.is_finite() or not clean or "_" in clean:
            raise ValueError(text)
        return cls(text.strip(), value)

    @property
    def exponent(self) -> int:
        """The place of the last written digit: -2 for 0.02, 0 for 5, -3 for 1e-3."""
        return self.value.as_tuple().exponent

    @property
    def decimals(self) -> int:
        return max(0, -self.exponent)

    @property
    def unit(self) -> float:
        return 10.0 ** self.exponent

    def is_rounding_of(self, value: float) -> bool:
        """Whether this is ``value`` rounded to the digits written."""
        return math.isfinite(value) and self.value == rounded(value, self.exponent)

    def units_from(self, value: float) -> float:
        """How far from ``value``, in units of the last written digit."""
        return abs(float(self.value) - value) / self.unit

    def accepts(self, value: float, allowance: float = 1.0, spread: float = 0.0) -> bool:
        """Whether this stands for ``value`` at the precision written.

        It does when it is ``value`` rounded to the digits written; or when it is off by
        no more than ``allowance`` units of its last digit *and* no more than rounding
        explains: half a unit of its own last digit plus ``spread``, the change that
        rounding the intermediate values it was computed from (half a unit of their last
        digit each) makes to it. So 0 - 0.2 * 0.02 = -0.004 stands for -0.0034 (the 0.02
        was rounded), while 0.7 does not stand for 0.8 - 0.2 * 0.22 = 0.756.
        """
        if self.is_rounding_of(value):
            return True
        if not math.isfinite(value):
            return False
        limit = min(allowance, 0.5 + spread / self.unit)
        return self.units_from(value) <= limit * (1 + 1e-9) + 1e-9
