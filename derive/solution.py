"""The Solution: one frozen record per variant, and the orchestrator that makes it.

``Exercise`` holds everything built once per network structure (the network, the symbolic
derivation, the printed forms, the compiled evaluator, and, made when first asked for,
the training steps, the misconception graphs, the figure layout and the theory data);
``Exercise.solve`` turns one set of given values into a ``Solution`` with plain float
arithmetic and string filling: every value, every line of the key, the training runs.
Templates, writers and the checker read the Solution and nothing else; none of them
computes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Callable, Mapping, TypeVar

import sympy as sp

from . import derivation as D, figure, optimizers, theory, training
from .optimizer_graph import optimizer_steps
from .derivation import Derivation, derive
from .errors import DeriveError
from .evaluate import Evaluator, NotFinite
from .latex import MARK, Numbers, Places, Printer, Template, Tex, fill, tex
from .network import Network, build
from .rounding import NumberPolicy, given_text
from .spec import Spec
from .training import Run, RunSpec, Trainer

# The key's stages, for the writers (which read a Solution and import nothing that computes).
STAGES = (D.GIVEN, D.FORWARD, D.LOSS, D.LOCAL, D.DELTA, D.GRADIENT, D.UPDATE, D.FORWARD_AFTER, D.LOSS_AFTER)
GIVEN, FORWARD, LOSS, LOCAL, DELTA, GRADIENT, UPDATE, FORWARD_AFTER, LOSS_AFTER = STAGES
T = TypeVar("T")
START_LOSS = "L0"  # online updates: the loss at the starting parameters (L0[1], …, L0 by example)
ROW_WIDTH = 80  # characters of printed math that fit on one row of the key, roughly


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
    kind = "line"


@dataclass(frozen=True)
class ShownFactor:
    """One factor of a chain-rule product as the key writes it: the partial, what it
    equals (a local formula, or the δ it is), and its value."""

    partial: str
    closed: str
    value: str


@dataclass(frozen=True)
class ChainLine:
    """A gradient written as chain-rule products: one tuple of factors per path."""

    name: str
    lhs: str
    paths: tuple[tuple[ShownFactor, ...], ...]
    numbers: tuple[str, ...]  # the product of each path with its factors' values; after the first, with its + or −
    value: str
    relation: str
    forms: tuple[str, ...] = ()  # through δ: the short form δ · x and its numbers, as a Line has them
    kind = "chain"

    @property
    def via_delta(self) -> bool:
        return bool(self.forms)


@dataclass(frozen=True)
class _Forms:
    """What the key prints for one quantity, computed once per structure."""

    lhs: str
    symbolic: str | None
    closed: str | None
    numeric: str | None  # template with markers
    expanded: str | None  # template with markers
    chain: tuple[tuple[tuple[str, str, int | None], ...], ...]  # (partial, closed, value slot)
    chain_numbers: tuple[str, ...] = ()  # templates: each path's product, after the first with its sign
    # For writing a line (Exercise._plan): closed and symbolic, each once; the templates of
    # numeric and expanded; the width that breaks a line into two rows, less that of lhs
    # and the plain forms.
    plain: tuple[str, ...] = ()
    numbered: tuple[str, ...] = ()
    room: int = ROW_WIDTH


@dataclass(frozen=True)
class Solution:
    exercise: "Exercise"  # what this variant shares with every other: structure, layout, theory
    values: Mapping[str, float]  # every quantity, finite
    givens: Mapping[str, float]
    sections: Mapping[str, tuple]  # stage -> lines, in the key's order
    runs: tuple[Run, ...] = ()  # the training runs the spec asks for, from these values
    seed: int | None = None
    variant: str | None = None
    # Online updates: the loss of each example, then of all, at the starting parameters
    # (lines "L0[1]", …, "L0"), the yardstick for the loss after the pass; and their values
    # at full precision by the same names (Exercise.start_names), for answers.json and the
    # checker: the derivation holds no such quantity.
    start: tuple[Line, ...] = ()
    start_values: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def start_loss(self) -> float | None:
        return self.start_values.get(START_LOSS)

    @property
    def spec(self) -> Spec:
        return self.exercise.spec

    @property
    def derivation(self) -> Derivation:
        return self.exercise.derivation

    @property
    def policy(self) -> NumberPolicy:
        return self.exercise.policy

    @property
    def network(self) -> Network:
        return self.exercise.network

    def symbolic(self, name: str) -> Tex:
        """A quantity's formula as the key prints it (printed once per structure)."""
        return self.exercise.forms[self.derivation.index[name]].symbolic

    @property
    def loss_before(self) -> float:
        """The loss of all examples at the starting parameters: ``L``, except after online
        updates, whose ``L`` meets each example at the parameters the one before left."""
        return self.values["L"] if self.start_loss is None else self.start_loss

    def by_example(self) -> tuple[dict[str, tuple], ...]:
        """Online updates: the key's lines in the order they are computed, example by
        example (stage -> lines of that example); the pass's loss and everything after the
        pass stay in ``sections``."""
        der = self.derivation
        out = [dict() for _ in range(der.n_examples)]
        for stage, lines in self.sections.items():
            for line in lines:
                e = der[line.name].example
                if e is not None and stage in (FORWARD, LOSS, LOCAL, DELTA, GRADIENT, UPDATE):
                    out[e - 1].setdefault(stage, []).append(line)
        return tuple({stage: tuple(lines) for stage, lines in d.items()} for d in out)

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
        elif spec.optimizer is None:
            self.network: Network = build(spec)
            self.derivation: Derivation = derive(self.network, spec.loss, len(spec.examples), spec.chains, spec.update)
        else:  # k optimizer steps (derive/optimizer_graph.py)
            self.network = build(spec)
            optimizers.check_names(spec.optimizer, self.network, spec.source)
            self.derivation = optimizer_steps(self.network, spec.loss, len(spec.examples), spec.chains, spec.optimizer)
        self.policy = NumberPolicy(spec.decimals)
        self._solved = 0  # variants solved: from the second on, the templates are read into places
        self.evaluator = Evaluator(self.derivation, spec.decimals if spec.carry == "rounded" else None)

    # --- per structure, made when first needed ------------------------------------------

    @cached_property
    def runs(self) -> tuple[RunSpec, ...]:
        """The training runs the spec asks for (none: no training question)."""
        return training.spec_runs(self.spec, self.network)

    @cached_property
    def trainer(self) -> Trainer:
        # The steps are compiled from the evaluator's own printed code, at full precision
        # whatever the key carries: a structure is printed once, with or without runs.
        base = Trainer(self.evaluator)
        if self.spec.optimizer is not None:  # the optimizer's state goes from step to step
            from .optimizer_runs import OptimizerTrainer
            base = OptimizerTrainer(self.derivation)
        from .optimizer_runs import RunTrainer  # a run may name its own optimizer, to compare them
        return RunTrainer(base, self.network, self.spec.loss, len(self.spec.examples))

    @cached_property
    def alternatives(self) -> tuple:
        """Every applicable misconception's graph, compiled (for the checker)."""
        from . import misconceptions  # late: `derive solve` does without them
        return misconceptions.alternatives(self.derivation, self.evaluator.carry_decimals)

    @cached_property
    def swapped(self) -> tuple[frozenset[str], ...]:
        """For each misconception graph, the quantities whose formula it swaps."""
        der = self.derivation
        return tuple(frozenset(q.name for q in der.quantities if alt.derivation[q.name].formula != q.formula)
                     for alt in self.alternatives)

    @cached_property
    def figure(self) -> figure.Figure:
        return figure.layout(self.network)

    @cached_property
    def theory(self) -> tuple[dict, ...]:
        """The activations the theory answer shows, with their plots."""
        return theory.activations(self.network)

    def shared(self, make: Callable[["Exercise"], T]) -> T:
        """``make(self)``, made once per Exercise: what a writer derives from the structure
        alone (an LMS question's figure and conventions) without this module knowing it."""
        made = self.__dict__.setdefault("_shared", {})
        if make not in made:
            made[make] = make(self)
        return made[make]

    def train(self, runs: tuple[RunSpec, ...], overrides: Mapping[str, float] | None = None) -> tuple[Run, ...]:
        """Training runs from the spec's given values (or these overrides)."""
        givens = self.givens(overrides)
        return tuple(self.trainer.run(givens, r) for r in runs)

    def verdicts(self, givens: Mapping[str, float], runs: tuple[RunSpec, ...]) -> tuple[str, ...]:
        return self.trainer.verdicts(givens, runs)

    def givens(self, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
        """The given values of the spec (inputs, targets, bias units, parameters, η)."""
        g = dict(self._givens)  # a variant's are the spec's with its own in their places
        if overrides:
            g.update(overrides)
        return g

    @cached_property
    def _givens(self) -> dict[str, float]:
        spec, net = self.spec, self.network
        if net is None:  # hook: a computational graph is given its inputs only
            return dict(spec.graph.values)
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
        g.update(optimizers.givens(spec.optimizer, net))
        return g

    @cached_property
    def templates(self) -> tuple[Places, dict[str, tuple[Template, int | None]]]:
        """The key's templates read into places (``latex.Places``), each text once, with
        the width of its text between the numbers (None: measured when filled). Read when a
        second variant is solved: one is filled as fast by the marker rules alone."""
        places, read = Places(), {}
        for forms in self.forms:
            for text in (*forms.numbered, *forms.chain_numbers):
                if text not in read:
                    template = places.template(text)
                    read[text] = template, _literal_width(template)
        return places, read

    @cached_property
    def _names(self) -> tuple[str, ...]:
        return tuple(q.name for q in self.derivation.quantities)

    @cached_property
    def given(self) -> tuple[bool, ...]:
        """For each quantity, whether it is a given value."""
        return tuple(q.formula is None for q in self.derivation.quantities)

    @cached_property
    def forms(self) -> tuple[_Forms, ...]:
        der = self.derivation
        slots = der.by_symbol
        local = {q.symbol: q for q in der.quantities if q.stage == D.LOCAL}
        marked = Printer(slots)  # one printer for every "numbers put in" form

        def factor_closed(symbol: sp.Expr) -> str:
            # The form the numbers go into (h1(1 − h1)): short, so that it fits under its brace.
            q = local.get(symbol)
            return tex(q.formula) if q else tex(symbol)

        out = []
        for q in der.quantities:
            f = q.formula
            chain = q.chain or q.by_delta
            products = [sp.Mul(*[fc.symbol for fc in path], evaluate=False) if len(path) > 1 else path[0].symbol
                        for path in chain]
            symbolic = tex(f) if f is not None else None
            closed = tex(q.closed) if q.closed is not None else None
            numeric = _with_numbers(marked.doprint(f)) if f is not None and not f.is_Symbol else None
            expanded = marked.doprint(q.expanded) if q.expanded is not None else None
            plain = tuple(dict.fromkeys(s for s in (closed, symbolic) if s))  # each once
            out.append(_Forms(
                lhs=q.latex,
                symbolic=symbolic,
                closed=closed,
                numeric=numeric,
                expanded=expanded,
                chain=tuple(
                    tuple((fc.partial, factor_closed(fc.symbol), slots.get(fc.symbol)) for fc in path)
                    for path in chain
                ),
                chain_numbers=tuple(marked.doprint(x) if i == 0 else marked.term(x) for i, x in enumerate(products)),
                plain=plain,
                room=ROW_WIDTH - 10 - _width(q.latex) - sum(_width(s) + 3 for s in plain)
                if f is not None and not chain else 0,  # a line (chains are not broken this way)
                numbered=tuple(t for t in (numeric, expanded) if t),
            ))
        return tuple(out)

    def solve(self, overrides: Mapping[str, float] | None = None, *, seed: int | None = None,
              variant: str | None = None) -> Solution:
        givens = self.givens(overrides)
        try:
            raw = self.evaluator.evaluate(givens)
        except NotFinite as exc:
            raise DeriveError(self.not_finite(exc, givens)) from None
        values = dict(zip(self._names, map(float, raw)))
        sections = self._sections(raw)
        runs = tuple(self.trainer.run(givens, r) for r in self.runs) if self.runs else ()
        start, start_values = self._start(givens, raw) if self.derivation.online else ((), {})
        return Solution(self, MappingProxyType(values), MappingProxyType(dict(givens)),
                        MappingProxyType(sections), runs, seed, variant, start, MappingProxyType(start_values))

    @cached_property
    def start_names(self) -> tuple[str, ...]:
        """Online updates: the names of the losses at the starting parameters, example by
        example, then of all (``L0[1]``, …, ``L0``); none otherwise."""
        if not self.derivation.online:
            return ()
        return (*(f"{START_LOSS}[{e}]" for e in range(1, self.derivation.n_examples + 1)), START_LOSS)

    def _start(self, givens: Mapping[str, float], raw: list[float]) -> tuple[tuple[Line, ...], dict[str, float]]:
        """Online updates: the loss of every example at the starting parameters, and their
        mean (or sum), as lines with the numbers put in, and their values by name. Example 1
        meets the starting parameters in the pass; example e's loss there is example 1's
        computation with e's inputs and targets in their place."""
        der, policy = self.derivation, self.policy
        net = self.network
        first = der.index["L[1]"]
        given = [q.formula is None for q in der.quantities]
        losses, lines = [], []
        for e in range(1, der.n_examples + 1):
            values = raw
            if e > 1:
                swapped = dict(givens)
                for name in (*net.inputs, *net.targets):
                    swapped[f"{name}[1]"] = givens[f"{name}[{e}]"]
                try:
                    values = self.evaluator.evaluate(swapped)
                except NotFinite as exc:  # beyond example 1 of this reordered pass: not needed
                    if exc.index <= first:
                        raise DeriveError(f"{self.spec.source}: examples[{e - 1}]: the loss of example {e} at the "
                                          "starting parameters cannot be computed in floating point; "
                                          "expected smaller inputs or weights") from None
                    values = exc.values
            losses.append(float(values[first]))
            numbers = fill(self.forms[first].numeric, _putter(values, given, policy))
            lines.append(Line(self.start_names[e - 1], Tex(rf"\mathcal{{L}}_0^{{({e})}}"), (numbers,),
                              *policy.written(values[first]), first_row=1))
        total = der.index["L"]
        slots = {der.index[f"L[{e}]"]: v for e, v in enumerate(losses, 1)}
        value = sum(losses) / (len(losses) if self.spec.loss.examples == "mean" else 1)
        if self.evaluator.carry_decimals is not None:  # carried rounded, as every other value
            value = NumberPolicy(self.evaluator.carry_decimals).round(value)
        numbers = fill(self.forms[total].numeric, lambda i, bare: policy.tex(slots[i]))
        lines.append(Line(START_LOSS, Tex(r"\mathcal{L}_0"), (numbers,), *policy.written(value), first_row=1))
        return tuple(lines), dict(zip(self.start_names, (*losses, value)))

    def not_finite(self, exc: NotFinite, givens: Mapping[str, float]) -> str:
        """One line: the first quantity that is not finite, what it came from, and which
        given value (or setting) to make smaller."""
        der, source = self.derivation, self.spec.source
        q = der.quantities[exc.index]
        what = {"inf": "overflows to inf", "-inf": "overflows to -inf", "nan": "is not a number (NaN)",
                "overflow": "overflows", "division by zero": "divides by zero",
                "domain": "takes the log of 0 (a saturated unit)"}[exc.reason]
        if q.formula is None:
            return f"{source}: {self.given_field(q.name)}: {q.name} is {givens[q.name]}: expected a finite number"
        inputs = sorted(((n, exc.values[der.index[n]]) for n in der.inputs_of[q.name]), key=lambda x: -abs(x[1]))
        shown = " and ".join(f"{n} = {v:.3g}" for n, v in inputs[:3])
        layer = self.network.layer_of(q.unit) if q.unit else None
        if layer is not None and abs(layer.slope) > 1e6 and q.stage in (D.FORWARD, D.FORWARD_AFTER):
            return (f"{source}: network.layers[{layer.index - 1}].slope: {q.name} {what} (slope {layer.slope:.3g} "
                    f"at {shown}): expected a smaller slope")
        culprit, value = self._largest_given(q.name, exc.values)
        return (f"{source}: {self.given_field(culprit)}: {q.name} {what} (from {shown}; the largest given value "
                f"behind it is {culprit} = {value:.3g}): expected smaller inputs, weights or learning rate")

    def _largest_given(self, name: str, values) -> tuple[str, float]:
        der = self.derivation
        seen, todo, best = set(), [name], None
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            q = der[n]
            if q.formula is None:
                v = values[der.index[n]]
                if best is None or abs(v) > abs(best[1]):
                    best = (n, v)
            else:
                todo.extend(der.inputs_of[n])
        return best

    def given_field(self, name: str) -> str:
        """The spec field a given value comes from (or, for a computed one, its name)."""
        q = self.derivation[name]
        if q.formula is not None:
            return name
        if self.network is None:  # hook: a computational graph's givens (derive/graph_optimizer.py)
            from .graph_optimizer import given_field
            return given_field(self.spec.graph, name)
        if q.param is not None:
            return f"weights.{q.param}"
        if name == "eta":
            return "training.learning_rate"
        for layer in self.network.layers:
            if layer.bias_unit == name:
                return f"network.layers[{layer.index - 1}].bias_value"
        base = name.split("[")[0]
        e = int(name.split("[")[1][:-1]) - 1 if "[" in name else 0
        return f"examples[{e}].{base}"

    def _numbers(self, raw: list[float]) -> tuple[list, list, list]:
        """Every value as a line ends (``policy.written``, None for a given one), and as the
        formulas take it: bare (standing alone) and put in (a negative in parentheses)."""
        policy, given_texts = self.policy, self._given_texts
        ends, bare, put = [None] * len(raw), [None] * len(raw), [None] * len(raw)
        given, computed = self._split
        for i in given:
            value = raw[i]
            texts = given_texts.get(value)
            if texts is None:  # a given value is drawn from a grid: the same few, written once
                if len(given_texts) > 4096:
                    given_texts.clear()
                texts = given_texts[value] = given_text(value), policy.substituted(value, True)
            bare[i], put[i] = texts
        written = policy.written
        for i in computed:
            ends[i] = end = written(raw[i])
            text = bare[i] = end[0]
            put[i] = Tex(f"({text})") if text.startswith("-") else text
        return ends, bare, put

    @cached_property
    def _split(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The indices of the given values and of the computed ones."""
        return (tuple(i for i, g in enumerate(self.given) if g),
                tuple(i for i, g in enumerate(self.given) if not g))

    @cached_property
    def _given_texts(self) -> dict[float, tuple[Tex, Tex]]:
        return {}

    def _sections(self, raw: list[float]) -> dict[str, tuple]:
        ends, bare, put = self._numbers(raw)

        def shown(i: int, alone: bool = False) -> str:
            return bare[i] if alone else put[i]

        self._solved += 1
        if self._solved == 1:  # filled by the marker rules, the templates left unread
            plan = self._plan(lambda text: (Template(text), None))
            numbers, widths = Numbers(shown, [], []), None
        else:  # every number written once, every template filled at once, line by line
            places, lines, measured = self._compiled
            numbers = places.numbers(shown)
            texts, widths = numbers.texts, [0] * len(numbers.texts)
            for p in measured:
                text = texts[p]
                widths[p] = len(text.translate(_SILENT)) if "\\" not in text else _width(text)  # _width, inlined
            return lines(ends, bare, numbers, list(map(Tex, numbers.filled)), widths)

        sections: dict[str, list] = {}
        one, record, factor = Tex("1"), _record, ShownFactor
        for i, stage, name, note, lhs, chain, products, numbered, plain, room in plan:
            value, relation = ends[i]
            if numbered is not None:  # the forms a line shows, each once (see _Forms)
                texts, width = list(plain), 0
                for template, between in numbered:
                    text = template.fill(numbers)
                    if text and text not in texts:
                        texts.append(text)
                        width += 3 + (_width(text) if between is None else
                                      between + sum([widths[p] for p in template.positions]))
                # a long line shows its first form alone on the first row, the numbers below
                first_row = 1 if len(texts) > 1 and width > room else len(texts)
                texts = tuple(texts)
            if chain:
                paths = tuple(
                    tuple([record(factor, {"partial": p, "closed": c, "value": bare[s] if s is not None else one})
                           for p, c, s in path])
                    for path in chain
                )
                line = record(ChainLine, {
                    "name": name, "lhs": lhs, "paths": paths,
                    "numbers": tuple([template.fill(numbers) for template, _ in products]),
                    "value": value, "relation": relation, "forms": () if numbered is None else texts})
            else:
                line = record(Line, {"name": name, "lhs": lhs, "forms": texts, "value": value,
                                     "relation": relation, "note": note, "first_row": first_row})
            lines = sections.get(stage)
            if lines is None:
                sections[stage] = [line]
            else:
                lines.append(line)
        return {stage: tuple(lines) for stage, lines in sections.items()}

    @cached_property
    def _compiled(self) -> tuple[Places, Callable, tuple[int, ...]]:
        """``_read_plan`` as one function of a variant's numbers (``_line_code``), and the
        places whose widths a line measures."""
        places, plan, measured = self._read_plan
        code, constants = _line_code(plan)
        scope = {"C": constants, "new": object.__new__, "setd": _set, "Line": Line, "ChainLine": ChainLine,
                 "ShownFactor": ShownFactor, "width_of": _width, "ONE": Tex("1")}
        exec(compile(code, "<derive:key lines>", "exec"), scope)
        return places, scope["lines"], measured

    def _plan(self, read: Callable[[str], tuple[Template, int | None]]) -> tuple[tuple, ...]:
        """For each computed quantity, in order, what its line takes from the structure,
        its templates as ``read`` gives them (with the width between their numbers, or
        None): index, stage, name, note, lhs, chain, the chain's products, the forms with
        numbers put in (None: a chain not through δ shows none), the plain forms, the room."""
        qs, out = self.derivation.quantities, []
        for i, forms in enumerate(self.forms):
            q = qs[i]
            if q.formula is None:
                continue
            shows = not forms.chain or bool(q.by_delta)
            out.append((i, q.stage, q.name, q.note, forms.lhs, forms.chain, tuple(map(read, forms.chain_numbers)),
                        tuple(map(read, forms.numbered)) if shows else None, forms.plain, forms.room))
        return tuple(out)

    @cached_property
    def _read_plan(self) -> tuple[Places, tuple[tuple, ...], tuple[int, ...]]:
        """``_plan`` with the templates read into places, and the places whose widths a
        line measures."""
        places, read = self.templates
        plan = self._plan(read.__getitem__)
        measured = {p for line in plan if line[7] for template, between in line[7] if between is not None
                    for p in template.positions}
        return places, plan, tuple(sorted(measured))


def _line_code(plan: tuple[tuple, ...]) -> tuple[str, list]:
    """The source of ``lines(ends, bare, numbers, filled, widths)``: what the loop of
    ``Exercise._sections`` does for a variant, written out line by line with the
    structure's parts as constants (``C``), so that a variant only fills in its numbers.
    ``filled``: the variant's filled templates (``Numbers.filled``), ``widths``: of its
    numbers, as ``_sections`` measures them."""
    constants: list = []

    def const(x) -> str:
        constants.append(x)
        return f"C[{len(constants) - 1}]"

    def fill(template: Template) -> str:
        if template.positions is None:  # filled by the marker rules
            return f"{const(template)}.fill(numbers)"
        return f"filled[{template.number}]"

    out, stages = ["def lines(ends, bare, numbers, filled, widths):"], {}
    for k, (i, stage, name, note, lhs, chain, products, numbered, plain, room) in enumerate(plan):
        out.append(f"    value, relation = ends[{i}]")
        if numbered is not None:  # the forms a line shows, each once (see _Forms)
            out.append(f"    texts, width = [{', '.join(map(const, plain))}], 0")
            for template, between in numbered:
                measure = ("width_of(text)" if between is None else
                           " + ".join([str(between), *(f"widths[{p}]" for p in template.positions)]))
                out += [f"    text = {fill(template)}",
                        "    if text and text not in texts:",
                        "        texts.append(text)",
                        f"        width += 3 + {measure}"]
            # a long line shows its first form alone on the first row, the numbers below
            out.append(f"    first_row = 1 if len(texts) > 1 and width > {room} else len(texts)")
        if chain:
            paths, n = [], 0  # each factor its own name within the line
            for path in chain:
                factors = []
                for p, c, s in path:
                    factors.append(f"f{n}")
                    n += 1
                    out += [f"    {factors[-1]} = new(ShownFactor)",
                            f"    setd({factors[-1]}, '__dict__', {{'partial': {const(p)}, 'closed': {const(c)}, "
                            f"'value': {'ONE' if s is None else f'bare[{s}]'}}})"]
                paths.append(_tuple(factors))
            fields = (f"'name': {const(name)}, 'lhs': {const(lhs)}, 'paths': {_tuple(paths)}, "
                      f"'numbers': {_tuple([fill(t) for t, _ in products])}, 'value': value, "
                      f"'relation': relation, 'forms': {'()' if numbered is None else 'tuple(texts)'}")
            kind = "ChainLine"
        else:
            fields = (f"'name': {const(name)}, 'lhs': {const(lhs)}, 'forms': tuple(texts), 'value': value, "
                      f"'relation': relation, 'note': {const(note)}, 'first_row': first_row")
            kind = "Line"
        # _record, written out: a line is made without the frozen dataclass's __init__
        out += [f"    l{k} = new({kind})", f"    setd(l{k}, '__dict__', {{{fields}}})"]
        stages.setdefault(stage, []).append(f"l{k}")
    out.append("    return {" + ", ".join(f"{const(stage)}: {_tuple(names)}" for stage, names in stages.items()) + "}")
    return "\n".join(out) + "\n", constants


def _tuple(items: list[str]) -> str:
    return f"({''.join(x + ', ' for x in items)})"


def _record(cls: type[T], fields: dict) -> T:
    """``cls(**fields)`` for a frozen dataclass given every field in its order: the same
    object without the generated ``__init__``, which sets each field through
    ``object.__setattr__`` (a key's lines are most of the objects a variant makes)."""
    made = object.__new__(cls)
    _set(made, "__dict__", fields)
    return made


_set = object.__setattr__


def _with_numbers(template: str) -> str | None:
    """A "numbers put in" template, None when it has no number to put in (a formula
    without symbols: every symbol of a formula is a quantity, and so has a marker)."""
    return template if MARK in template else None


def _putter(raw: list[float], given: list[bool], policy: NumberPolicy, made: dict | None = None):
    """``put(i, bare)``: value ``i`` as the key puts it into a formula (``bare``: standing
    alone, without the parentheses of a negative). ``made``: texts already written."""
    made = {} if made is None else made  # a value is put into many formulas: written once

    def put(i: int, bare: bool = False) -> str:
        text = made.get((i, bare))
        if text is None:
            if bare:
                text = given_text(raw[i]) if given[i] else policy.tex(raw[i])
            elif given[i]:
                text = policy.substituted(raw[i], True)
            else:  # policy.substituted, from the bare text
                text = put(i, True)
                text = Tex(f"({text})") if text.startswith("-") else text
            made[i, bare] = text
        return text

    return put


_SPACING, _COMMAND = re.compile(r"\\(left|right|,|;|quad)"), re.compile(r"\\[a-zA-Z]+")
_WORD = re.compile(r"\\(log|ln)\b")  # printed as their letters
_SILENT = str.maketrans("", "", "{}^_ ")


def _width(latex: str) -> int:
    """A rough count of the printed characters of a LaTeX formula."""
    if "\\" not in latex:  # no command (most numbers): only the silent characters go
        return len(latex.translate(_SILENT))
    return len(_COMMAND.sub("x", _WORD.sub(r"\1", _SPACING.sub("", latex))).translate(_SILENT))


def _literal_width(template: Template) -> int | None:
    """The width of a template less its numbers, when a filled template is as wide as that
    and its numbers together (``Template.between``); None when it is not."""
    between = template.between()
    return None if between is None else _width(between)
