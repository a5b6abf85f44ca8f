"""The Solution: one frozen record per variant, and the orchestrator that makes it.

``Exercise`` holds what is built once per network structure (the network, the symbolic
derivation, the printed forms, the compiled evaluator); ``Exercise.solve`` turns one set
of given values into a ``Solution`` with plain float arithmetic and string filling.
Templates, writers and the checker read the Solution and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Mapping

import sympy as sp

from . import derivation as D
from .derivation import Derivation, Quantity, derive
from .errors import DeriveError
from .evaluate import Evaluator
from .latex import fill, numeric_template, tex
from .network import Network, build
from .rounding import NumberPolicy, given_text
from .spec import Spec


@dataclass(frozen=True)
class Line:
    """One quantity as the key writes it: lhs = form = form … relation value."""

    name: str
    lhs: str
    forms: tuple[str, ...]
    value: str
    relation: str
    note: str = ""
    first_row: int = 0  # how many forms stand on the first row; the rest on a second one


@dataclass(frozen=True)
class Factor:
    partial: str
    closed: str
    value: str


@dataclass(frozen=True)
class ChainLine:
    """A gradient written as chain-rule products: one tuple of factors per path."""

    name: str
    lhs: str
    paths: tuple[tuple[Factor, ...], ...]
    numbers: tuple[str, ...]  # the product of each path with its factors' values
    value: str
    relation: str


@dataclass(frozen=True)
class _Forms:
    """What the key prints for one quantity, computed once per structure."""

    lhs: str
    symbolic: str | None
    closed: str | None
    numeric: str | None  # template with markers
    expanded: str | None  # template with markers
    chain: tuple[tuple[tuple[str, str, int | None], ...], ...]  # (partial, closed, value slot)


@dataclass(frozen=True)
class Solution:
    spec: Spec
    derivation: Derivation
    policy: NumberPolicy
    values: Mapping[str, float]
    givens: Mapping[str, float]
    sections: Mapping[str, tuple]  # stage -> lines, in the key's order
    seed: int | None = None
    variant: str | None = None

    @property
    def network(self) -> Network:
        return self.derivation.network

    @property
    def loss_before(self) -> float:
        return self.values["L"]

    @property
    def loss_after(self) -> float:
        return self.values["L'"]

    @property
    def loss_decreased(self) -> bool:
        return self.loss_after < self.loss_before

    def shown(self, name: str) -> str:
        return self.policy.tex(self.values[name])


class Exercise:
    """A spec made ready to solve: everything that depends only on its structure."""

    def __init__(self, spec: Spec):
        self.spec = spec
        if hasattr(spec, "graph"):  # hook: a computational graph (derive/graph.py) has no network
            from .graph import derive as derive_graph
            self.network, self.derivation = None, derive_graph(spec.graph)
        else:
            self.network: Network = build(spec)
            self.derivation: Derivation = derive(self.network, spec.loss, len(spec.examples), spec.chains, spec.update)
        self.policy = NumberPolicy(spec.decimals)
        self.evaluator = Evaluator(self.derivation, spec.decimals if spec.carry == "rounded" else None)

    def givens(self, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
        """The given values of the spec (inputs, targets, bias units, parameters, η)."""
        spec, net = self.spec, self.network
        if net is None:  # hook: a computational graph is given its inputs only
            return {**spec.graph.values, **(overrides or {})}
        g: dict[str, float] = {}
        many = len(spec.examples) > 1
        for e, example in enumerate(spec.examples, start=1):
            for name, value in example.items():
                g[f"{name}[{e}]" if many else name] = value
        for layer in net.layers:
            if layer.bias_unit:
                g[layer.bias_unit] = layer.bias_value
        g.update(spec.weights)
        g["eta"] = spec.learning_rate
        if overrides:
            g.update(overrides)
        return g

    @cached_property
    def forms(self) -> tuple[_Forms, ...]:
        der = self.derivation
        slots = der.by_symbol
        local = {q.symbol: q for q in der.quantities if q.stage == D.LOCAL}

        def factor_closed(symbol: sp.Expr) -> str:
            q = local.get(symbol)
            return tex(q.closed if q.closed is not None else q.formula) if q else tex(symbol)

        out = []
        for q in der.quantities:
            f = q.formula
            out.append(_Forms(
                lhs=q.latex,
                symbolic=tex(f) if f is not None else None,
                closed=tex(q.closed) if q.closed is not None else None,
                numeric=numeric_template(f, slots) if f is not None and f.free_symbols and not f.is_Symbol else None,
                expanded=numeric_template(q.expanded, slots) if q.expanded is not None else None,
                chain=tuple(
                    tuple((fc.partial, factor_closed(fc.symbol), slots.get(fc.symbol)) for fc in path)
                    for path in q.chain
                ),
            ))
        return tuple(out)

    def solve(self, overrides: Mapping[str, float] | None = None, *, seed: int | None = None,
              variant: str | None = None) -> Solution:
        givens = self.givens(overrides)
        try:
            raw = self.evaluator.evaluate(givens)
        except (ArithmeticError, ValueError) as exc:  # log(0) of a saturated unit, exp overflow
            raise DeriveError(f"{self.spec.source}: weights: the values cannot be computed in floating point "
                              f"({exc}); a unit saturates or a value overflows: expected smaller weights or inputs") from None
        values = {q.name: float(v) for q, v in zip(self.derivation.quantities, raw)}
        sections = self._sections(raw)
        return Solution(self.spec, self.derivation, self.policy, MappingProxyType(values),
                        MappingProxyType(dict(givens)), MappingProxyType(sections), seed, variant)

    def _sections(self, raw: list[float]) -> dict[str, tuple]:
        policy = self.policy
        qs = self.derivation.quantities
        given = [q.formula is None for q in qs]

        def put(i: int, bare: bool = False) -> str:
            if bare:
                return given_text(raw[i]) if given[i] else policy.tex(raw[i])
            return policy.substituted(raw[i], given[i])

        sections: dict[str, list] = {}
        for i, (q, forms) in enumerate(zip(qs, self.forms)):
            if q.formula is None:
                continue
            value = raw[i]
            if forms.chain:
                paths = tuple(
                    tuple(Factor(p, c, put(s) if s is not None else "1") for p, c, s in path)
                    for path in forms.chain
                )
                numbers = tuple(r" \cdot ".join(f.value for f in path) for path in paths)
                line = ChainLine(q.name, forms.lhs, paths, numbers, policy.tex(value), policy.relation(value))
            else:
                shown = self._forms_of(q, forms, put)
                line = Line(q.name, forms.lhs, shown, policy.tex(value), policy.relation(value), q.note,
                            _first_row(forms.lhs, shown))
            sections.setdefault(q.stage, []).append(line)
        return {stage: tuple(lines) for stage, lines in sections.items()}

    @staticmethod
    def _forms_of(q: Quantity, forms: _Forms, put) -> tuple[str, ...]:
        seq = [forms.closed, forms.symbolic]
        if forms.numeric:
            seq.append(fill(forms.numeric, put))
        if forms.expanded:
            seq.append(fill(forms.expanded, put))
        out: list[str] = []
        for s in seq:
            if s and s not in out:
                out.append(s)
        return tuple(out)


ROW_WIDTH = 80  # characters of printed math that fit on one row of the key, roughly


def _width(latex: str) -> int:
    """A rough count of the printed characters of a LaTeX formula."""
    latex = re.sub(r"\\(left|right|,|;|quad)", "", latex)
    latex = re.sub(r"\\[a-zA-Z]+", "x", latex)
    return len(re.sub(r"[{}^_ ]", "", latex))


def _first_row(lhs: str, forms: tuple[str, ...]) -> int:
    """Break a long line after its symbolic form, so the numbers start a second row."""
    if len(forms) > 1 and _width(lhs) + sum(_width(f) + 3 for f in forms) + 10 > ROW_WIDTH:
        return 1
    return len(forms)
