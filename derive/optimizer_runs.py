"""Training runs with an optimizer: the state and the step number carried from step to step,
and runs that compare optimizers.

The run evaluates the one-step graph of the optimizer (``OptimizerDerivation.running``)
once per step, as ``training.Trainer`` does for gradient descent; after each step the new
state (``m_w1[1]``, …) becomes the next step's given state (``m_w1[0]``) and ``t`` counts
up, so Adam's bias correction and every momentum see the whole history.

A run of ``[[training.runs]]`` may name its own optimizer (``optimizer = "adam"`` with its
hyperparameters and conventions, as in ``[training]``): ``RunTrainer`` gives each run the
trainer of its optimizer, so one exercise compares plain gradient descent, momentum and
Adam side by side, one curve and one verdict each. ``label_tex``/``label_text`` name a
run's optimizer with its settings, for the key and for ``derive train``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Sequence

from . import optimizers
from .evaluate import Evaluator
from .latex import Tex, latex_name
from .rounding import given_tex, given_text
from .training import Run, RunSpec, Trainer


class OptimizerTrainer(Trainer):
    def __init__(self, derivation, settings=None):
        one = derivation.running
        super().__init__(derivation.running_evaluator)
        self.settings = settings if settings is not None else derivation.settings
        self.carried = tuple(
            (one.index[q.name], q.name[:-len("[1]")] + "[0]")
            for q in one.quantities if q.name.endswith("[1]") and f"{q.name[:-3]}[0]" in one.index
        )

    # the step number starts at 1 (Adam's bias correction)
    def run(self, givens: Mapping[str, float], run: RunSpec) -> Run:
        return super().run(dict(givens, t=1), run)

    def run_by_steps(self, givens: Mapping[str, float], run: RunSpec) -> Run:
        return super().run_by_steps(dict(givens, t=1), run)

    def verdict(self, givens: Mapping[str, float], run: RunSpec) -> str:
        return super().verdict(dict(givens, t=1), run)

    def carry(self, g: dict, values: list[float]) -> None:
        for slot, name in self.carried:
            g[name] = values[slot]
        g["t"] += 1

    def carried_moves(self, slot: Mapping[str, int]) -> tuple[list[tuple[int, int]], int | None]:
        # a name that is not a given value is read by no step (as in carry)
        return [(slot[name], value) for value, name in self.carried if name in slot], slot["t"]


class _Running:
    """The one-step graph of an optimizer a run names (what ``OptimizerTrainer`` reads)."""

    def __init__(self, network, loss, n_examples: int, settings):
        from .optimizer_graph import optimizer_steps

        self.running = optimizer_steps(network, loss, n_examples, "none", settings, running=True)
        self.running_evaluator = Evaluator(self.running)
        self.settings = settings


class RunTrainer:
    """The trainer of each run: its own optimizer's where it names one, else the
    exercise's (``base``: a ``Trainer`` or ``OptimizerTrainer``)."""

    def __init__(self, base: Trainer, network, loss, n_examples: int):
        self.base = base
        self.network, self.loss, self.n_examples = network, loss, n_examples
        self._own: dict[str, OptimizerTrainer] = {}  # one per distinct optimizer setting, compiled once

    def trainer(self, run: RunSpec):
        s = getattr(run, "optimizer", None)
        if s is None:
            return self.base
        key = repr(s)
        if key not in self._own:
            self._own[key] = OptimizerTrainer(_Running(self.network, self.loss, self.n_examples, s))
        return self._own[key]

    def _for_run(self, givens: Mapping[str, float], run: RunSpec) -> tuple[Trainer, Mapping[str, float]]:
        """The run's trainer, and the givens with the run's own hyperparameters and
        initial state where it names an optimizer."""
        s = getattr(run, "optimizer", None)
        if s is not None:
            givens = {**givens, **optimizers.givens(s, self.network)}
        return self.trainer(run), givens

    def run(self, givens: Mapping[str, float], run: RunSpec) -> Run:
        trainer, givens = self._for_run(givens, run)
        return trainer.run(givens, run)

    def run_by_steps(self, givens: Mapping[str, float], run: RunSpec) -> Run:
        trainer, givens = self._for_run(givens, run)
        return trainer.run_by_steps(givens, run)

    def verdicts(self, givens: Mapping[str, float], runs: Sequence[RunSpec]) -> tuple[str, ...]:
        return tuple(self.run(givens, r).verdict for r in runs)

    def verdict(self, givens: Mapping[str, float], run: RunSpec) -> str:
        trainer, givens = self._for_run(givens, run)
        return trainer.verdict(givens, run)

    def verdict_of_values(self, run: RunSpec, evaluator: Evaluator, fixed: Mapping[str, float] | None = None,
                          own: bool = False):
        # a run that names its optimizer has its own graph
        if getattr(run, "optimizer", None) is not None:
            return None
        return self.base.verdict_of_values(run, evaluator, fixed, own)

    ends_as = Trainer.ends_as  # the same test, each run judged by its own trainer


def _settings(s) -> list[tuple[str, float]]:
    """The hyperparameters and λ a label names, in the registry's order."""
    out = [(h.name, s.hyper[h.name]) for h in s.entry.hypers]
    if s.weight_decay > 0:
        out.append(("lambda", s.weight_decay))
    return out


def _conventions(s, short: bool = False) -> list[tuple[str, str]]:
    """(LaTeX, plain text) of each convention a label names besides the numbers: the
    momentum form of a momentum run (books write it several ways, and the numbers depend
    on which), the others where they depart from the registry's default. Two compared runs
    that differ only in a convention are then told apart. ``short`` (a legend): the form
    only where it is not the default, by its velocity rule alone, which tells the forms apart."""
    out = []
    if s.optimizer == "nesterov" and s.nesterov == "library":
        out.append(("the libraries' form", "the libraries' form") if short else
                   _words(f"the libraries' form: {optimizers.NESTEROV_LIBRARY}"))
    elif s.entry.states == ("v",) and not (short and s.momentum == "velocity"):
        rule = optimizers.MOMENTUM_FORMS[s.momentum]
        out.append(_words(rule.split(", ")[0] if short else rule))
    if "epsilon" in s.hyper and s.epsilon != s.entry.epsilon:
        out.append(_words(_EPSILON_AT[s.epsilon]))
    if s.optimizer in ("adam", "adamw") and s.epsilon != "hat" and not s.bias_correction:
        out.append(("without bias correction", "without bias correction"))
    if s.weight_decay > 0 and s.decay != s.entry.decay:
        out.append(_words(_DECAY[s.decay]))
    if s.weight_decay > 0 and s.decay_biases:
        out.append(("biases decayed too", "biases decayed too"))
    if s.direction == "ascent":
        out.append(("gradient ascent", "gradient ascent"))
    for name, value in s.state.items():
        if value != 0:
            state, _, param = name.partition("_")
            tex = latex_name(f"{state}_{param}[0]" if param else f"{state}[0]")
            out.append((f"${tex} = {given_tex(value)}$", f"{name} = {given_text(value)} at the start"))
    return out


_EPSILON_AT = {"outside": "ε outside the root", "inside": "ε inside the root",
               "hat": "the bias correction folded into η"}
_DECAY = {"l2": "weight decay as an L2 penalty", "decoupled": "decoupled weight decay"}
# The registry's words (optimizers.py) as LaTeX: the few symbols they use.
_TEX_SYMBOLS = str.maketrans({"←": r"\leftarrow", "μ": r"\mu ", "η": r"\eta ", "ε": r"\epsilon ",
                              "−": "-", "ρ": r"\rho "})


def _words(text: str) -> tuple[str, str]:
    """A convention in the registry's words, for the key (each formula in math mode) and
    for the command line (as written)."""
    if "←" not in text:
        tex = text.replace("ε", r"$\epsilon$").replace("η", r"$\eta$")
    else:
        head, _, rule = text.rpartition(": ")
        tex = (head + ": " if head else "") + ", ".join(f"${part.translate(_TEX_SYMBOLS).strip()}$"
                                                        for part in rule.split(", "))
    return tex, text


def label_tex(run: Run, named: bool = False, short: bool = False, capital: bool = False) -> Tex:
    """A run's name in the key: ``$\\eta = 0.1$`` for gradient descent, ``Adam ($\\eta =
    0.01$, $\\beta_1 = 0.9$, …)`` for an optimizer. ``named``: gradient descent is named
    too (the runs compare optimizers); ``short``: the optimizer and η only, and the
    conventions that depart from the default (a legend); ``capital``: for a heading."""
    eta = rf"$\eta = {given_tex(run.learning_rate)}$"
    s = getattr(run, "settings", None)
    if s is None and not named:
        return Tex(eta)
    title = s.entry.title if s is not None else "gradient descent"
    if capital:
        title = title[0].upper() + title[1:]
    conventions = [tex for tex, _ in _conventions(s, short)] if s is not None else []
    if short:
        return Tex(", ".join([f"{title}, {eta}", *conventions]))
    parts = [eta, *(f"${latex_name(n)} = {given_tex(v)}$" for n, v in (_settings(s) if s is not None else ()))]
    return Tex(f"{title} ({', '.join(parts)}" + (f"; {'; '.join(conventions)}" if conventions else "") + ")")


def label_text(run: Run) -> str:
    """The same in plain text, for ``derive train``: ``adam (beta1 = 0.9, …)``."""
    s = getattr(run, "settings", None)
    if s is None:
        return ""
    parts = [f"{n} = {given_text(v)}" for n, v in _settings(s)]
    conventions = [text for _, text in _conventions(s)]
    inner = ", ".join(parts) + ("; " if parts and conventions else "") + "; ".join(conventions)
    return f"{s.optimizer}" + (f" ({inner})" if inner else "")


def with_optimizers(runs: Sequence[RunSpec], names: Sequence[str], source: str) -> tuple[RunSpec, ...]:
    """``derive train --optimizer NAME …``: every run once per optimizer named, each with
    the defaults of its registry entry (hyperparameters, form, ε's place, decay kind);
    without names the runs as they are."""
    from .errors import DeriveError, did_you_mean

    if not names:
        return tuple(runs)
    chosen = []
    for name in names:
        if name not in optimizers.OPTIMIZERS:
            known = tuple(optimizers.OPTIMIZERS)
            raise DeriveError(f"{source}: --optimizer: expected one of {', '.join(known)}, got '{name}'"
                              f"{did_you_mean(name, known)}")
        entry = optimizers.OPTIMIZERS[name]
        chosen.append(optimizers.Settings(optimizer=name, hyper={h.name: h.default for h in entry.hypers},
                                          epsilon=entry.epsilon, decay=entry.decay))
    return tuple(replace(r, optimizer=s) for s in chosen for r in runs)
