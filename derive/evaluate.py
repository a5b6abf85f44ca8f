"""Numbers: the quantity graph compiled once into plain Python, evaluated with floats.

SymPy never sees a number here. Each formula is printed as Python code once per network
structure (in the order it was built: no term sorting); a variant, a training step or a
checker's recomputation is then one call of an ordinary function (microseconds for the
reference network).

Every value is finite or refused: ``evaluate`` and ``step`` raise ``NotFinite`` naming
the first quantity (in the graph's order, so where the trouble was made) that overflowed,
divided by zero, left a function's domain or came out as NaN or ±inf. Values propagate
NaN and ±inf (a ReLU of NaN is NaN, not 0), so one check of the result finds them all.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from functools import cached_property
from typing import Callable, Collection, Iterable, Mapping, Sequence

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from .derivation import FORWARD_AFTER, LOSS_AFTER, UPDATE, Derivation
from .rounding import NumberPolicy


class NotFinite(ArithmeticError):
    """A quantity that cannot be computed in floating point.

    ``index`` is its place in the derivation, ``values`` the values computed before it
    (its inputs among them), ``reason`` what went wrong: "inf", "-inf", "nan" (the value
    it came out as), "overflow", "division by zero" or "domain" (a log of 0)."""

    def __init__(self, index: int, values: Sequence[float], reason: str):
        super().__init__(f"quantity {index}: {reason}")
        self.index = index
        self.values = values
        self.reason = reason


class _Code(PythonCodePrinter):
    def __init__(self, slots: Mapping[sp.Symbol, int]):
        # order="none": terms as they were built; sorting them costs a fifth of a large solve
        super().__init__({"fully_qualified_modules": True, "order": "none"})
        self.slots = slots

    def _print_Symbol(self, expr):
        return f"v{self.slots[expr]}"

    # Sums of products of quantities (most of a large network's formulas), printed
    # without SymPy's general checks for signs and brackets.
    def _print_Add(self, expr, order=None):
        if all(t.is_Symbol or (t.is_Mul and all(a.is_Symbol for a in t.args)) for t in expr.args):
            return " + ".join(self._print(t) for t in expr.args)
        return super()._print_Add(expr, order)

    def _print_Mul(self, expr):
        if all(a.is_Symbol for a in expr.args):
            return "*".join(self._print(a) for a in expr.args)
        return super()._print_Mul(expr)


def common_code(expr, names: Mapping[str, str]) -> str | None:
    """``expr`` as ``_Code`` prints it, when it is a quantity, a product of quantities
    (and of such sums), or a sum of those and of negated products (an update,
    w − η·∂L/∂w): nearly every formula of a large network, printed here without SymPy's
    dispatch. ``names``: each quantity's name and its variable (``v12``). None for any
    other shape (tests/test_fast_paths.py compares the two printers on every formula of
    several specs)."""
    if type(expr) is sp.Symbol:
        return names[expr.name]
    if expr.is_Mul:
        return _code_product(expr.args, names)
    if not expr.is_Add:
        return None
    parts = []
    for i, term in enumerate(expr.args):
        if type(term) is sp.Symbol:
            parts.append(" + " + names[term.name] if i else names[term.name])
            continue
        if not term.is_Mul:
            return None
        args = term.args
        if args[0] is sp.S.NegativeOne and i and len(args) > 2:
            text, sign = _code_product(args[1:], names), " - "
        else:
            text, sign = _code_product(args, names), " + " if i else ""
        if text is None:
            return None
        parts.append(sign + text)
    return "".join(parts)


def _code_product(args, names: Mapping[str, str]) -> str | None:
    """A product of quantities and of bracketed sums of the common shapes (an error
    term, (w·δ + …)·∂h/∂h_in)."""
    shown = []
    for a in args:
        if type(a) is sp.Symbol:
            shown.append(names[a.name])
        elif a.is_Add:
            text = common_code(a, names)
            if text is None:
                return None
            shown.append(f"({text})")
        else:
            return None
    return "*".join(shown)


_ARITHMETIC = (ArithmeticError, ValueError)  # overflow, division by zero, log of 0
# Sums, differences and products of variables and literals: float arithmetic that never
# raises (an overflow comes out as inf); no power, no division, no function.
_PLAIN = re.compile(r"[v0-9 +\-*().]*")
_VARIABLE = re.compile(r"\bv(\d+)\b")
_PRODUCT = re.compile(r"v\d+(?:\*v\d+)+")


def _plain(code: str) -> bool:
    return _PLAIN.fullmatch(code) is not None and "**" not in code


def _shared_products(code: Mapping[int, str]) -> dict[int, list[str]]:
    """The products among these formulas (``v22*v23*v11*v24*v0``: the gradients) written
    with their common beginnings computed once, as ``p1 = v22*v23`` before the first that
    uses it: slot -> its lines. Python multiplies from the left, so a shared beginning is
    the very product each formula computes and the values are the same to the bit."""
    chains = {i: tuple(c.split("*")) for i, c in code.items() if _PRODUCT.fullmatch(c)}
    counts = Counter(ch[:k] for ch in chains.values() for k in range(2, len(ch)))
    longer = Counter()  # the most formulas any one longer beginning is shared by
    for p, n in counts.items():
        longer[p[:-1]] = max(longer[p[:-1]], n)
    # a beginning worth a name is shared, and shared by more than any one of its extensions
    shared = {p for p, n in counts.items() if n > 1 and n > longer[p]}
    names: dict[tuple[str, ...], str] = {}
    out: dict[int, list[str]] = {}

    def product(factors: tuple[str, ...], lines: list[str], whole: bool = False) -> str:
        # a formula may be a shared beginning of others itself (a frozen weight's gradient)
        for k in range(len(factors) - (not whole), 1, -1):
            head = factors[:k]
            if head in shared:
                if head not in names:
                    text = product(head, lines)
                    names[head] = f"p{len(names)}"
                    lines.append(f"{names[head]} = {text}")
                return "*".join((names[head], *factors[k:]))
        return "*".join(factors)

    for i, factors in chains.items():
        lines: list[str] = []
        text = product(factors, lines, whole=True)
        if text != code[i]:
            out[i] = [*lines, f"v{i} = {text}"]
    return out


_CONSTANT = re.compile(r"\d+(?:\.\d+)?")  # a formula that is a number (∂ŷ/∂ŷ_in = 1 of a linear output)
# A factor 1 of plain arithmetic, where nothing binds tighter than the product it stands
# in: 1·x and x·1 are x. The integer 1 always; 1.0 next to a quantity that is a float
# whatever the given values are (1.0·x makes an integer x a float).
_ONE = re.compile(r"(?<![\w.*])1\*|(?<!\*)\*1(?![\w.])")
_ONE_POINT_ZERO = re.compile(r"\b(v\d+)\*1\.0(?![\w.])|(?<![\w.])1\.0\*(v\d+)\b")
_FLOAT = re.compile(r"(?<![\w.])\d+\.\d+")  # a float literal
_CALL = re.compile(r"\b(\w+)\((v\d+)\)")
# A whole number minus a float (σ' = σ(1 − σ), tanh' = 1 − tanh²): written as a float,
# the subtraction is the same (a whole number below 10^15 is exact as a float) without
# the conversion of mixed types at run time.
_WHOLE_MINUS = re.compile(r"\((\d{1,15}) - (v(\d+)(?:\*\*\d+)?)\)")
_TAKEN = re.compile(r"(\s*)v(\d+) = first\[(\d+)\]")  # a first step's value read from the evaluator's
_RUN_NAME = re.compile(r"\b([vp]\d+)\b")  # a run's variable: a quantity's value or a shared product
_RENAMED = r"r\1"


def _literal(value: float) -> str | None:
    """A given value as a number in code (bracketed when negative), if it can be one."""
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return f"({value!r})" if repr(value).startswith("-") else repr(value)  # -0.0 too
    return None


def _folded(code: Mapping[int, str], inline: Mapping[str, str], kept: set[int],
            numbers: Mapping[int, str] | None = None, floats: Iterable[int] = ()) -> tuple[dict[int, str], dict[int, str]]:
    """Formulas made cheaper to evaluate, every value the same to the bit: a formula that
    is another quantity or a number is put into the formulas that use it (a linear
    output ŷ = ŷ_in, ∂ŷ/∂ŷ_in = 1), and so are the given values in ``numbers`` (slot ->
    its value as code); a factor 1 of plain arithmetic is left out (x·1 is x, also for
    ±inf and NaN); a function of a variable that has a written-out form
    (``Activation.inline``) is evaluated in place. ``kept``: slots whose variables must
    stay (given values, which a run reassigns; update slots it pins); ``floats``: given
    slots known to hold floats. Returns the formulas left and, for each slot put in
    place, what stands for it."""
    # keyed by the variable's digits, as _VARIABLE finds them: a formula's variables are
    # looked up at C speed (a large network has thousands of formulas)
    stands: dict[str, str] = {str(i): text for i, text in (numbers or {}).items()}
    floats = {str(i) for i in floats}  # slots that hold a float whatever the given values are
    typed = bool(numbers or floats)  # (without numbers or float givens, 1.0 never drops out)
    kept = {str(i) for i in kept}
    out: dict[int, str] = {}

    def put(m: re.Match) -> str:
        return stands.get(m.group(1), m.group(0))

    def written_out(m: re.Match) -> str:
        form = inline.get(m.group(1))
        return m.group(0) if form is None else f"({form.format(t=m.group(2))})"

    def unit_factor(m: re.Match) -> str:
        v = m.group(1) or m.group(2)
        return v if v[1:] in floats else m.group(0)

    for i, c in code.items():
        if stands and not stands.keys().isdisjoint(_VARIABLE.findall(c)):
            c = _VARIABLE.sub(put, c)
        plain = _plain(c)
        while plain and _ONE.search(c):
            c = _ONE.sub("", c)
        if typed and plain and "1.0" in c:
            c = _ONE_POINT_ZERO.sub(unit_factor, c)
        key = str(i)
        if key not in kept and (_CONSTANT.fullmatch(c) or (_VARIABLE.fullmatch(c) and c[1:] not in kept)):
            stands[key] = c
            continue
        if inline and "(" in c:
            whole = _CALL.fullmatch(c)
            c = _CALL.sub(written_out, c)
            if whole and whole.group(1) in inline:  # a written-out form is a float
                floats.add(key)
        if floats and "(" in c:  # (1 - σ): the whole number a float, as the subtraction makes it anyway
            c = _WHOLE_MINUS.sub(lambda m: f"({m.group(1)}.0 - {m.group(2)})" if m.group(3) in floats else m.group(0), c)
        # a sum, difference or product with a float in it is a float
        if typed and plain and (_FLOAT.search(c) or not floats.isdisjoint(_VARIABLE.findall(c))):
            floats.add(key)
        out[i] = c
    return out, {int(k): text for k, text in stands.items()}


def _tested_once(lines: list[str], bail: str) -> list[str]:
    """A written-out run's tests of its values (``if not isfinite(…): bail``) made one
    test at the end of a running sum, ``rt``: a sum that is not finite stays so, whatever
    is added to it. A run that goes on after a value that is not finite gives what it
    would have given (``bail``, or an ArithmeticError); a sum of finite values that
    overflows is a false alarm, which the careful path settles."""
    out: list[str] = []
    tested = False
    for line in lines:
        if line.startswith("    if not isfinite(") and line.endswith("):"):
            tested_value = line[len("    if not isfinite("):-2]
            # only a test of one value can become a term of the sum: anything else would
            # still compile, and test something else
            if "isfinite" in tested_value or tested_value.count("(") != tested_value.count(")"):
                raise ValueError(f"a run's test of its values has an unexpected form: {line.strip()}")
            out.append(f"    rt = {'rt + ' if tested else ''}({tested_value})")
            tested = True
        elif "isfinite(" in line and line.strip() != "if not isfinite(rt):":
            raise ValueError(f"a run's test of its values has an unexpected form: {line.strip()}")
        elif line.strip() == bail and out and out[-1].startswith("    rt = "):
            continue
        else:
            out.append(line)
    return [*out, "    if not isfinite(rt):", f"        {bail}"] if tested else out


def _total(names: Sequence[str]) -> str:
    """Code for the sum of these variables: finite only if every one is. A long chain of
    ``+`` would nest too deep for the compiler; a large network's values go through sum()."""
    return " + ".join(names) if len(names) <= 200 else f"sum(({', '.join(names)},))"


class Evaluator:
    """``evaluate(givens)`` returns every quantity's value, in the derivation's order.

    ``recompute(fixed)`` is the checker's view: quantities listed in ``fixed`` take the
    value given there, every other one is computed from its inputs as they stand, and the
    result also holds what each fixed quantity *would* be, computed from its inputs. It
    does not refuse non-finite values: a student's numbers may leave a formula's domain.

    ``step(givens, fixed)`` is one gradient step for training: the graph up to the
    updates, at full precision, with the update slots in ``fixed`` pinned. It is compiled
    only when first used, from the same printed code.

    With ``carry_decimals`` every computed value is rounded before it is used further, as
    in a calculation by hand that writes each intermediate result down rounded.
    """

    def __init__(self, derivation: Derivation, carry_decimals: int | None = None):
        self.derivation = derivation
        self.carry_decimals = carry_decimals
        qs = derivation.quantities
        slots = derivation.by_symbol
        printer = _Code(slots)
        names = {q.name: f"v{i}" for i, q in enumerate(qs)}
        self._namespace: dict = {"math": math, "exp": math.exp}
        self._inline: dict[str, str] = {}  # function name -> its written-out form (of "{t}")
        self._code: dict[int, str] = {}
        for i, q in enumerate(qs):
            if q.formula is None:
                continue
            text = common_code(q.formula, names)
            if text is None:  # any other shape, functions among them
                for f in q.formula.atoms(sp.Function):
                    cls = type(f)
                    if hasattr(cls, "numeric"):
                        self._namespace[cls.__name__] = cls.numeric
                    if getattr(cls, "inline", None):
                        self._inline[cls.__name__] = cls.inline
                # _print, not doprint: doprint's handling of assignments and constants costs
                # more than the printing itself, and these formulas need neither
                text = printer._print(q.formula)
            self._code[i] = text
        code = self._code
        if carry_decimals is not None:
            self._namespace["carry"] = NumberPolicy(carry_decimals).round
            code = {i: f"carry({c})" for i, c in code.items()}
        self._given_slots = [i for i, q in enumerate(qs) if q.formula is None]
        self.given_names = tuple(qs[i].name for i in self._given_slots)
        n = len(qs)

        fast = ["def run(g):"]
        # one unpacking, not a statement per given value: a large network's function
        # compiles faster (it has as many given values as parameters)
        fast.append("    " + "".join(f"v{i}, " for i in self._given_slots) + "= g")
        stands: dict[int, str] = {}
        if carry_decimals is None:  # (a rounded value is never another's copy)
            code, stands = _folded(code, self._inline, set(self._given_slots))
        fast += [f"    v{i} = {c}" for i, c in code.items()]
        fast.append(f"    return [{', '.join(stands.get(i, f'v{i}') for i in range(n))}]")

        self._run = self._compile(fast, "run", "<derive:evaluate>")
        # For a function that evaluates as ``values`` does and goes on (variants.py): its
        # lines, each value as code, and a sum that is finite only if every value is. A sum,
        # difference or product of a value that is not finite is not finite either (NaN,
        # or ±inf), so the sum leaves out every variable that plain arithmetic reads.
        read = {v for c in code.values() if _plain(c) for v in _VARIABLE.findall(c)}
        tested = [f"v{i}" for i in (*self._given_slots, *code) if str(i) not in read]
        self.values_code = (fast[1:-1], [stands.get(i, f"v{i}") for i in range(n)], _total(tested) if tested else "0.0")
        self._run_code, self._stands = code, stands  # (``changed_code``)
        self._carried = code if carry_decimals is not None else self._code

    @cached_property
    def _run_fixed(self):
        """The checker's pass, compiled when first needed: ``solve`` never needs it, and
        compiling it is a third of a large network's evaluator."""
        n = len(self.derivation.quantities)
        fixed = ["def run_fixed(g, fixed):"]
        fixed += [f"    c{i} = v{i} = fixed.get({i}, g[{k}])" for k, i in enumerate(self._given_slots)]
        for i, c in self._carried.items():
            fixed.append(f"    c{i} = {c}")
            fixed.append(f"    v{i} = fixed.get({i}, c{i})")
        fixed.append(f"    return [{', '.join(f'v{i}' for i in range(n))}], "
                     f"[{', '.join(f'c{i}' for i in range(n))}]")
        return self._compile(fixed, "run_fixed", "<derive:recompute>")

    @property
    def namespace(self) -> dict:
        """What the compiled code calls (math, the activations' float versions), a copy."""
        return dict(self._namespace)

    def _compile(self, lines: list[str], name: str, where: str):
        exec(compile("\n".join(lines), where, "exec"), self._namespace)
        return self._namespace.pop(name)

    def _givens(self, givens: Mapping[str, float]) -> list[float]:
        g = [givens[name] for name in self.given_names]
        for k, v in enumerate(g):
            if not math.isfinite(v):
                raise NotFinite(self._given_slots[k], [], "inf" if math.isinf(v) else "nan")
        return g

    def evaluate(self, givens: Mapping[str, float]) -> list[float]:
        g = self._givens(givens)
        try:
            values = self._run(g)
        except _ARITHMETIC:
            values = None
        if values is None or not all(map(math.isfinite, values)):
            self._locate(g, self._carried, {})
        return values

    def values(self, g: list[float]) -> list[float] | None:
        """``evaluate`` of the given values in ``given_names`` order, None where it would
        raise: for callers that only throw such values away (a variant's draw)."""
        try:
            values = self._run(g)
        except _ARITHMETIC:
            return None
        # the values hold the given ones; a sum is finite only if every term is
        if math.isfinite(sum(values)) or all(map(math.isfinite, values)):
            return values
        return None

    def recompute(self, givens: Mapping[str, float], fixed: Mapping[str, float]) -> tuple[list[float], list[float]]:
        index = self.derivation.index
        return self._run_fixed([givens[name] for name in self.given_names],
                               {index[name]: value for name, value in fixed.items()})

    # --- training steps ---------------------------------------------------------------

    @cached_property
    def _step_code(self) -> dict[int, str]:
        """The graph up to the updates: a step needs nothing after ``w*``, and leaving the
        check pass out keeps a step whose own loss is finite from failing because the
        loss after its update is not."""
        qs = self.derivation.quantities
        return {i: c for i, c in self._code.items() if qs[i].stage not in (FORWARD_AFTER, LOSS_AFTER)}

    @property
    def step_function(self):
        """The compiled step itself, ``(given values in given_names order, fixed) -> values``,
        for callers that run it thousands of times: it checks nothing (it may raise an
        ArithmeticError or return values that are not finite)."""
        return self._step

    @cached_property
    def _step(self):
        qs = self.derivation.quantities
        lines = ["def step(g, fixed):"]
        lines += [f"    v{i} = g[{k}]" for k, i in enumerate(self._given_slots)]
        for i, c in self._step_code.items():
            lines.append(f"    v{i} = fixed.get({i}, {c})" if qs[i].stage == UPDATE else f"    v{i} = {c}")
        # the after-update stages come last in the graph: what is left is a prefix
        n = len(self._given_slots) + len(self._step_code)
        lines.append(f"    return [{', '.join(f'v{i}' for i in range(n))}]")
        return self._compile(lines, "step", "<derive:step>")

    def losses_function(self, loss: int, moves: Sequence[tuple[int, int]], pinned: Mapping[int, int],
                        counter: int | None = None, numbers: Mapping[int, float] | None = None,
                        fresh: Sequence[int] | None = None, floats: bool = False):
        """A whole run compiled, ``(given values, steps) -> the loss of each step``, for
        callers that only judge the losses (a variant's draw, thousands per sheet set): the
        steps loop inside the generated code, every value a local variable.

        ``loss``: the loss's slot; ``moves``: (given slot, update slot) of each parameter
        that moves, set after every step; ``pinned``: update slot -> the given slot whose
        value it keeps; ``counter``: a given slot that counts up by one after every step
        (an optimizer's step number); ``numbers``: given slots whose value is the same in
        every call (η, a bias unit), written into the code as numbers; ``fresh``: given
        slots (η) whose values may differ from those of a third argument, every quantity's
        value as ``values`` gives them (all finite): the first step takes from there
        whatever those slots and the pinned ones do not reach (a run of at least two
        steps); ``floats``: every given value not in ``numbers`` is a float (as a variant
        draws them), so a factor 1.0 next to one drops out.

        It returns None instead of losses when any value of any step (the given values
        included) is not finite, exactly where ``step`` would refuse one, except after the
        loss of the last step, which does not change the losses; it may raise an
        ArithmeticError or ValueError as the step itself does."""
        moving = {k for k, _ in moves} | {counter}
        literals = {i: _literal(v) for i, v in (numbers or {}).items() if i not in moving}
        literals = {i: text for i, text in literals.items() if text is not None}
        fresh = None if fresh is None else tuple(fresh)
        key = (loss, tuple(moves), tuple(sorted(pinned.items())), counter, tuple(sorted(literals.items())), fresh, floats)
        made = self.__dict__.setdefault("_losses_functions", {})
        if key not in made:
            lines = self._losses_lines(loss, moves, pinned, counter, literals, fresh, floats)
            made[key] = self._compile(lines, "run", "<derive:losses>")
        return made[key]

    def losses_code(self, loss: int, moves: Sequence[tuple[int, int]], pinned: Mapping[int, int],
                    counter: int | None, numbers: Mapping[int, float] | None, fresh: Sequence[int],
                    floats: bool, steps: int, first: Callable[[int], str], bail: str) -> tuple[list[str], list[str]]:
        """``losses_function``'s run of ``steps`` steps (at least two) as lines of another
        generated function (a variant's whole try in one call), reading the given values
        from its ``g``, and the names of the losses they leave: every variable renamed
        (``v12`` is ``rv12``, ``p0`` is ``rp0``) so that the function's own stay as they
        are, the first step's values that it takes read from ``first(slot)`` (code in the
        function's names), each ``return None`` made ``bail``, and the steps written out
        one after the other, each loss in a variable of its own (``rl0``, ``rl1``, …)
        instead of a list."""
        moving = {k for k, _ in moves} | {counter}
        literals = {i: _literal(v) for i, v in (numbers or {}).items() if i not in moving}
        literals = {i: text for i, text in literals.items() if text is not None}
        lines = self._losses_lines(loss, moves, pinned, counter, literals, tuple(fresh), floats, sliced=False)[1:-1]
        loop = next(k for k, line in enumerate(lines) if line.startswith("    for _ in range(steps"))
        body = list(itertools.takewhile(lambda line: line.startswith("        "), lines[loop + 1:]))
        lines = [*lines[:loop], *(line[4:] for line in body * (steps - 2)), *lines[loop + 1 + len(body):]]
        out: list[str] = []
        losses: list[str] = []
        for line in lines:
            text = line.strip()
            taken = _TAKEN.fullmatch(line)
            if taken:
                out.append(f"{taken.group(1)}rv{taken.group(2)} = {first(int(taken.group(3)))}")
            elif text == "return None":
                out.append(line.replace("return None", bail))
            elif text.startswith("append("):
                losses.append(f"rl{len(losses)}")
                out.append(line.replace(text, f"{losses[-1]} = {_RUN_NAME.sub(_RENAMED, text[7:-1])}"))
            elif text not in ("losses = []", "append = losses.append"):
                out.append(_RUN_NAME.sub(_RENAMED, line))
        return _tested_once(out, bail), losses

    def _losses_lines(self, loss: int, moves: Sequence[tuple[int, int]], pinned: Mapping[int, int],
                      counter: int | None, literals: Mapping[int, str], fresh: tuple[int, ...] | None,
                      floats: bool, steps: str = "steps", sliced: bool = True) -> list[str]:
        code, stands = _folded(self._step_code, self._inline, {*self._given_slots, *pinned}, literals,
                               [i for i in self._given_slots if i not in literals] if floats else ())

        def var(i: int) -> str:
            return stands.get(i, f"v{i}")

        # An update that nothing after it in the step reads, of a parameter that nothing
        # after it reads either, is written into the parameter's own variable: no copy
        # after the step.
        read_later: dict[int, set[int]] = {}
        later: set[int] = set()
        for i in reversed(code):
            read_later[i] = set(later)
            later.update(int(v) for v in _VARIABLE.findall(code[i]))
        sources = [slot for _, slot in moves]
        into = {slot: k for k, slot in moves
                if slot in code and slot not in pinned and k not in read_later[slot] and slot not in read_later[slot]
                and sources.count(slot) == 1 and var(loss) != f"v{slot}"}

        # The last step is reported by its loss alone: a value after the loss that is not
        # finite leaves ``Trainer.run`` the same losses (it is the update that broke), so
        # the last step stops at the loss, unless a pinned formula after it could raise
        # (``step`` works those out; see below).
        last = {i: c for i, c in code.items() if i <= loss}
        if any(i > loss and i in pinned and not _plain(c) for i, c in code.items()):
            last = code

        def step(part: Mapping[int, str]) -> tuple[list[str], set[int]]:
            """One step's lines, and the slots its plain formulas use or that are tested
            otherwise."""
            worked_out = [c for i, c in part.items() if i not in pinned or not _plain(c)]  # see below
            used = {int(v) for c in (*worked_out, *on) for v in _VARIABLE.findall(c)}
            shorter = _shared_products({i: c for i, c in part.items() if i not in pinned})
            # A product that another product of the step begins with is tested through
            # that one (∞·x and NaN·x are not finite); one that nothing reads is left out
            # (a gradient of a weight held fixed).
            chains = {i: tuple(c.split("*")) for i, c in part.items() if i not in pinned and _PRODUCT.fullmatch(c)}
            heads = {ch[:k] for ch in chains.values() for k in range(2, len(ch))}
            begun = {i for i, ch in chains.items() if ch in heads}
            lines = []
            for i, c in part.items():
                if i in begun and i not in used:
                    lines += shorter.get(i, [""])[:-1]
                elif i in shorter:
                    *shared, own = shorter[i]
                    lines += [*shared, f"v{into[i]} = {own.split(' = ', 1)[1]}" if i in into else own]
                elif i in pinned:
                    # ``step`` pins the slot to a value that is given and never moves (so finite
                    # once the given values are); its formula is still worked out there, so here
                    # too unless it is plain arithmetic, which cannot raise.
                    if not _plain(c):
                        lines.append(f"_ = {c}")
                    if i in used:
                        lines.append(f"v{i} = v{pinned[i]}")
                else:
                    lines.append(f"v{into.get(i, i)} = {c}")
            tested = {int(v) for i, c in part.items() if i not in pinned and _plain(c) for v in _VARIABLE.findall(c)}
            return lines, tested | begun

        def checks(part: Mapping[int, str], tested: set[int]) -> list[str]:
            checked = [f"v{into.get(i, i)}" for i in part if i not in pinned and i not in tested]
            return [f"if not isfinite({_total(checked)}):", "    return None"] if checked else []

        # A value that is not finite makes every sum, difference or product it enters not
        # finite (inf − inf and 0 · inf are NaN): a value that such a formula of the step
        # uses is tested through that formula's value, and an update whose parameter
        # such a formula uses (in every step that can come next) through the next step's.
        on = [f"append({var(loss)})", *(f"v{k} = {var(slot)}" for k, slot in moves if slot not in into)]
        if counter is not None:
            on.append(f"v{counter} += 1")
        body, tested = step(code)
        end, tested_last = step(last)
        handed = {slot for k, slot in moves if k in tested and k in tested_last}
        body += checks(code, tested | handed)
        end += checks(last, tested_last)
        given = [f"v{i}" for i in self._given_slots]
        # the given values are tested once (with ``first``, only those it does not hold)
        tested_given = given if fresh is None else [f"v{i}" for i in fresh if i not in literals]
        lines = [f"def run(g, steps, {'first, ' if fresh is not None else ''}isfinite=math.isfinite):",
                 "    " + "".join(f"{v}, " for v in given) + "= g",
                 *([f"    if not isfinite({_total(tested_given)}):", "        return None"] if tested_given else []),
                 "    losses = []",
                 "    append = losses.append"]
        if fresh is not None:
            taken = self._taken(code, fresh, pinned, counter)
            own = {i: c for i, c in code.items() if i not in taken}
            first, tested_first = step(own)
            read = {int(v) for line in (*first, *on) for v in _VARIABLE.findall(line)}
            taken = [i for i in taken if i in read]
            if sliced and taken and taken == list(range(taken[0], taken[-1] + 1)):  # one slice
                first.insert(0, f"{''.join(f'v{i}, ' for i in taken)}= first[{taken[0]}:{taken[-1] + 1}]")
            else:
                first[:0] = [f"v{i} = first[{i}]" for i in taken]
            lines += [f"    {line}" for line in (*first, *checks(own, tested_first | handed), *on)]
        lines += [f"    for _ in range({steps} - {1 if fresh is None else 2}):",
                 *(f"        {line}" for line in (*body, *on)),
                 *(f"    {line}" for line in end),
                 f"    append({var(loss)})",
                 "    return losses"]
        return lines

    def _taken(self, code: Mapping[int, str], fresh: Sequence[int], pinned: Mapping[int, int],
               counter: int | None) -> list[int]:
        """The slots of ``code`` whose first-step value a run with ``fresh`` takes from the
        evaluator's values: those the fresh given slots, the pinned ones and the counter
        do not reach (none when those values are rounded)."""
        if self.carry_decimals is not None:
            return []
        reached = {*fresh, *pinned, *([counter] if counter is not None else [])}
        for i, c in self._step_code.items():  # as printed: a number compiled in still counts
            if any(int(v) in reached for v in _VARIABLE.findall(c)):
                reached.add(i)
        return [i for i in code if i not in reached]

    def step(self, givens: Mapping[str, float], fixed: Mapping[int, float] | None = None) -> list[float]:
        """One training step's values (up to the updates); ``fixed`` pins update slots."""
        fixed = fixed or {}
        g = self._givens(givens)
        try:
            values = self._step(g, fixed)
        except _ARITHMETIC:
            values = None
        if values is None or not all(map(math.isfinite, values)):
            self._locate(g, self._step_code, fixed)
        return values

    # --- where it went wrong -------------------------------------------------------------

    def _locate(self, g: list[float], code: Mapping[int, str], fixed: Mapping[int, float]) -> None:
        """Go through the graph one quantity at a time and raise ``NotFinite`` for the
        first that is not finite (only reached when the fast path found one)."""
        local: dict[str, float] = {f"v{i}": v for i, v in zip(self._given_slots, g)}
        values: list[float] = [math.nan] * len(self.derivation.quantities)
        for i, v in zip(self._given_slots, g):
            values[i] = v
        for i, c in code.items():
            try:
                v = fixed[i] if i in fixed else eval(c, self._namespace, local)  # noqa: S307 (our own printed code)
            except ZeroDivisionError:
                raise NotFinite(i, values, "division by zero") from None
            except OverflowError:
                raise NotFinite(i, values, "overflow") from None
            except _ARITHMETIC:  # math domain error: log of 0, square root of a negative number
                raise NotFinite(i, values, "domain") from None
            if not math.isfinite(v):
                raise NotFinite(i, values, "inf" if v > 0 else "-inf" if v < 0 else "nan")
            local[f"v{i}"] = values[i] = v
        raise AssertionError("a non-finite value that the step-by-step pass did not find")

    # --- a mistake's values at a variant's correct values ------------------------------------

    def changed_code(self, changed: Collection[str], slot: Mapping[str, int],
                     wanted: Collection[str]) -> tuple[list[str], dict[str, str], list[str], list[str]]:
        """What this graph computes differently from another one, the exercise's, that
        has the same quantities and formulas but for those of ``changed``, as code for a
        function that holds the other graph's values (all finite): quantity n's in
        ``a{slot[n]}``, and a given value as ``values`` takes it (the given value itself,
        not as a float) also in ``g{slot[n]}``.

        Returns (1) lines that compute into ``l{slot[n]}`` the value ``recompute`` gives a
        quantity n of ``changed`` that is ``wanted``, when every value is fixed at the
        other graph's, and into ``_`` that of any other one that could raise; (2) the
        value ``values`` gives each quantity that ``changed`` can reach, as code; (3) the
        lines that compute those, quantity n into ``w{slot[n]}``; (4) the variables of
        these that are all finite only if every one of them is (a sum, difference or
        product of a value that is not finite is not finite: a value that such a formula
        reads is tested through that formula's).

        A quantity that ``changed`` cannot reach has the same formula and the same inputs
        here as there: ``values`` gives it the other graph's value, and ``recompute``
        with every value fixed gives it that same value again, without raising (it was
        computed so). Only the quantities that ``changed`` reaches are worked out, from
        their inputs' values wherever those are, with the very code of ``recompute`` and
        of ``values``: the same values to the bit (tests/test_lms_fast.py holds them to
        the two). Where ``values`` refuses the graph (a value not finite, a formula that
        raises) the caller's lines (3) raise or (4) hold a value that is not finite, and
        where ``recompute`` raises, lines (1) do."""
        qs = self.derivation.quantities
        index = self.derivation.index
        reached = self.derivation.downstream(frozenset(changed))
        fixed = {str(i): f"a{slot[q.name]}" for i, q in enumerate(qs)}
        here = {str(i): ("w" if q.name in reached else "g" if q.formula is None else "a") + str(slot[q.name])
                for i, q in enumerate(qs)}

        def put(names: Mapping[str, str], code: str) -> str:
            return _VARIABLE.sub(lambda m: names[m.group(1)], code)

        swapped = []
        for i in sorted(index[name] for name in changed):
            c = self._carried[i]
            if qs[i].name in wanted:
                swapped.append(f"l{slot[qs[i].name]} = {put(fixed, c)}")
            elif self.carry_decimals is not None or not _plain(c):  # (a carried value is rounded: not finite raises)
                swapped.append(f"_ = {put(fixed, c)}")
        code = {i: c for i, c in self._run_code.items() if qs[i].name in reached}
        lines = [f"{here[str(i)]} = {put(here, c)}" for i, c in code.items()]
        values = {qs[i].name: put(here, self._stands.get(i, f"v{i}")) for i in sorted(index[n] for n in reached)}
        read = {v for c in code.values() if _plain(c) for v in _VARIABLE.findall(c)}
        return swapped, values, lines, [here[str(i)] for i in code if str(i) not in read]
