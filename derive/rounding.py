"""The number policy: how a value is rounded and written, in the key and in the checker.

"Rounded to 4 decimals" means the same thing everywhere because both use this class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class NumberPolicy:
    decimals: int = 4

    def round(self, value: float) -> float:
        return round(value, self.decimals)

    def is_exact(self, value: float) -> bool:
        """Whether the value is written without loss at this many decimals."""
        return math.isfinite(value) and abs(value - self.round(value)) <= 1e-12 * max(1.0, abs(value))

    def relation(self, value: float) -> str:
        return "=" if self.is_exact(value) else r"\approx"

    def text(self, value: float) -> str:
        """Plain text, as a terminal or a CSV shows it: always ``decimals`` places."""
        if not math.isfinite(value):
            return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
        return f"{self._clean(value):.{self.decimals}f}"

    def tex(self, value: float) -> str:
        """A computed value as the key writes it: exact values in their shortest form
        (2.2, not 2.2000), others with ``decimals`` places; a value that would round to
        zero but is not zero keeps two significant digits (3.2 · 10^{-6})."""
        if not math.isfinite(value):
            return r"\infty" if value > 0 else (r"-\infty" if value < 0 else r"\mathrm{NaN}")
        if value != 0 and self.round(value) == 0:
            mantissa, exponent = f"{value:.1e}".split("e")
            return rf"{mantissa} \cdot 10^{{{int(exponent)}}}"
        if self.is_exact(value):
            return given_text(self.round(value))
        return f"{self._clean(value):.{self.decimals}f}"

    def substituted(self, value: float, given: bool = False) -> str:
        """A value put into a formula: negatives in parentheses so that 0.2 · (−0.0034)
        never reads as a subtraction."""
        text = given_text(value) if given else self.tex(value)
        return f"({text})" if text.startswith("-") else text

    def _clean(self, value: float) -> float:
        # No "-0.0000": a value that rounds to zero is written as zero.
        return 0.0 if self.round(value) == 0 else value


def given_text(value: float) -> str:
    """A value from the spec as the instructor wrote it: 0.7, 1, -0.25."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))
