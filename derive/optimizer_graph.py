"""The quantity graph of an optimizer exercise: k steps, each with its own gradient.

Step 1 takes its gradient from the forward and backward pass of the given parameters (the
same quantities, under the same names, as the single gradient-descent step). Step k ≥ 2
needs the gradient at the parameters step k − 1 left: its pass is built again by the same
builder, from those parameters, and its quantities are marked with k − 1 primes, as the
pass after an update always is (``h1'``, ``L'``; ``dL'/dw1`` is the gradient of that pass,
``dh1'/dh1_in'`` its local partials). After the last step a forward pass gives the loss
there (``L''`` after two steps).

Every step adds, per parameter: the gradient with its weight-decay term (``g_w1[k]``,
only when there is one), the new state (``v_w1[k]``; ``m_w1[k]``, ``v_w1[k]``), derived
values (``mhat_w1[k]``, ``vhat_w1[k]``), the step (``Delta_w1[k]``, adaptive optimizers)
and the new parameter: ``w1*`` after step 1 (the name the single step uses), ``w1*[k]``
after step k. The initial state is given (``m_w1[0]``, zero unless the spec sets it).
With Nesterov's look-ahead, step k's pass is taken at ``w1~[k]`` (the look-ahead point).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import sympy as sp

from . import derivation as D
from .derivation import Derivation, Quantity, _Builder
from .evaluate import Evaluator
from .losses import LOSSES
from .network import Network
from .optimizers import H, Settings, Symbols, lookahead
from .spec import LossSpec

PASS, STEP = "pass", "optimizer"  # stage prefixes: pass[k] (k ≥ 2), optimizer[k]


def pass_stage(k: int) -> str:
    return f"{PASS}[{k}]"


def step_stage(k: int) -> str:
    return f"{STEP}[{k}]"


def stage_step(stage: str) -> tuple[str, int] | None:
    """("pass" or "optimizer", k) for an optimizer stage, None for the others."""
    m = re.fullmatch(rf"({PASS}|{STEP})\[(\d+)\]", stage)
    return (m.group(1), int(m.group(2))) if m else None


@dataclass(frozen=True)
class OptimizerDerivation(Derivation):
    """A Derivation with the optimizer's steps; ``settings`` says which and how."""

    settings: Any = None

    @cached_property
    def running(self) -> "OptimizerDerivation":
        """One step with its number given, for training runs (built once per structure)."""
        return optimizer_steps(self.network, self.loss, self.n_examples, "none", self.settings, running=True)

    @cached_property
    def running_evaluator(self) -> Evaluator:
        return Evaluator(self.running)


def param_name(p: str, k: int) -> str:
    """The parameter after step k (k = 0: the given value)."""
    return p if k == 0 else f"{p}*" if k == 1 else f"{p}*[{k}]"


def state_name(s: str, p: str, k: int) -> str:
    return f"{s}_{p}[{k}]"


def gradient_name(p: str, k: int) -> str:
    return f"dL{chr(39) * (k - 1)}/d{p}"


def _tagged(name: str, tag: str, is_gradient: bool) -> str:
    """The name of a pass quantity in the pass marked ``tag`` (primes)."""
    m = re.fullmatch(r"(.*?)(\[\d+\])?", name)
    base, example = m.group(1), m.group(2) or ""
    if base.startswith("d") and "/d" in base:
        top, bottom = base[1:].split("/d", 1)
        return f"d{top}{tag}/d{bottom}{'' if is_gradient else tag}{example}"
    return f"{base}{tag}{example}"


def _pass(net: Network, loss: LossSpec, n_examples: int, chains, current: dict[str, sp.Expr],
          tag: str, stage: str | None, backward: bool = True) -> tuple[list[Quantity], frozenset, bool]:
    """One forward (and backward) pass from the parameters ``current``, built by the
    derivation's own builder; its quantities renamed with ``tag`` and put in ``stage``
    (None: the builder's own stages)."""
    b = _Builder(net, loss, n_examples, chains)
    b.current = dict(current)
    chain = b.chain_params()
    uses_delta = len(chain) < len(net.params)
    for e in b.examples():
        b.forward(e, after=False)
        b.loss_of(e, after=False)
    b.total_loss(after=False)
    if backward:
        for e in b.examples():
            b.local(e)
            if uses_delta:
                b.deltas(e)
        b.gradients(chain)
    qs = b.out
    if tag:
        names = {q.symbol: sp.Symbol(_tagged(q.name, tag, q.stage == D.GRADIENT)) for q in qs}

        def move(x):
            # Unevaluated, so that the pass is written as the first one is: in the order
            # its terms were built, −(y log ŷ + …) not −y log ŷ − ….
            if x is None:
                return None
            with sp.evaluate(False):
                return x.xreplace(names)

        qs = [replace(q, name=names[q.symbol].name, symbol=names[q.symbol], formula=move(q.formula),
                      closed=move(q.closed), expanded=move(q.expanded)) for q in qs]
    if stage is not None:
        qs = [replace(q, stage=stage) for q in qs]
    return qs, chain, uses_delta


def optimizer_steps(net: Network, loss: LossSpec, n_examples: int, chains, settings: Settings,
                    running: bool = False) -> OptimizerDerivation:
    """The quantity graph of ``settings.steps`` optimizer steps (see the module docstring).

    ``running``: one step whose number is the given ``t`` and without the pass after it,
    for training runs, which evaluate it once per step with the state carried over."""
    b = _Builder(net, loss, n_examples, chains)
    b.givens()
    out: list[Quantity] = list(b.out)

    def given(name: str, **kw) -> None:
        out.append(Quantity(name, sp.Symbol(name), None, D.GIVEN, **kw))

    entry = settings.entry
    for h in entry.hypers:
        given(h.name)
    if settings.weight_decay > 0:
        given("lambda")
    if running:
        given("t")
    trained = [p for p in net.params if p.name not in net.frozen]
    for p in trained:
        for s in entry.states:
            given(state_name(s, p.name, 0), param=p.name)

    look = settings.optimizer == "nesterov" and settings.nesterov == "lookahead"
    chain, uses_delta, cancels = frozenset(), True, False
    for k in range(1, (1 if running else settings.steps) + 1):
        at = {p.name: sp.Symbol(param_name(p.name, k - 1)) for p in net.params}
        if look:
            for p in trained:
                name = f"{p.name}~[{k}]"
                la = lookahead(settings, at[p.name], sp.Symbol(state_name("v", p.name, k - 1)))
                out.append(Quantity(name, sp.Symbol(name), la, step_stage(k), param=p.name, note="lookahead"))
                at[p.name] = sp.Symbol(name)
        tag = "'" * (k - 1)
        qs, c, u = _pass(net, loss, n_examples, chains if k == 1 else "none", at, tag,
                         None if k == 1 else pass_stage(k))
        if k == 1:
            chain, uses_delta = c, u
            cancels = net.layers[-1].activation in LOSSES[loss.kind].cancels_with
        out.extend(qs)
        out.extend(penalty(net, settings, at, tag, next(q.stage for q in qs if q.name == f"L{tag}")))
        out.extend(step_quantities(net.params, net.frozen, settings, k, sp.Symbol("t") if running else sp.Integer(k),
                                   gradient_name))
    if running:
        return OptimizerDerivation(net, loss, n_examples, tuple(out), chain, uses_delta, cancels, False, settings)
    final = "'" * settings.steps
    after = {p.name: sp.Symbol(param_name(p.name, settings.steps)) for p in net.params}
    qs, _, _ = _pass(net, loss, n_examples, "none", after, final, None, backward=False)
    out.extend(replace(q, stage=D.LOSS_AFTER if q.stage == D.LOSS else D.FORWARD_AFTER) for q in qs)
    out.extend(penalty(net, settings, after, final, D.LOSS_AFTER))
    return OptimizerDerivation(net, loss, n_examples, tuple(out), chain, uses_delta, cancels, False, settings)


PENALTY, OBJECTIVE = "R", "J"  # with L2 decay: R = λ/2·Σw², J = L + R (Goodfellow et al. §7.1.1)


def penalty(net: Network, s: Settings, at: dict[str, sp.Expr], tag: str, stage: str) -> list[Quantity]:
    """With L2 weight decay, the penalty at the pass's parameters and the objective the
    optimizer minimises, ``R`` and ``J = L + R`` (marked like the pass: ``R'``, ``J'``);
    nothing without it. The penalty's gradient λw is the term the step adds to g."""
    return penalty_quantities(net.params, net.frozen, s, at, tag, stage, f"L{tag}")


def penalty_quantities(params, frozen, s: Settings, at: dict[str, sp.Expr], tag: str, stage: str,
                       loss: str) -> list[Quantity]:
    """``penalty`` for any parameters (``params`` as in ``step_quantities``), added to the
    quantity named ``loss`` (a network's L, a graph's output)."""
    if not (s.weight_decay > 0 and s.decay == "l2"):
        return []
    decayed = [p.name for p in params if p.name not in frozen and s.decays(p.is_bias)]
    if not decayed:
        return []
    squares = sp.Add(*(sp.Pow(at.get(p, sp.Symbol(p)), 2, evaluate=False) for p in decayed), evaluate=False)
    r, j = sp.Symbol(f"{PENALTY}{tag}"), sp.Symbol(f"{OBJECTIVE}{tag}")
    return [Quantity(r.name, r, sp.Mul(sp.Rational(1, 2), H["lambda"], squares, evaluate=False), stage, note="penalty"),
            Quantity(j.name, j, sp.Add(sp.Symbol(loss), r, evaluate=False), stage, note="objective")]


def step_quantities(params, frozen, s: Settings, k: int, number: sp.Expr, gradient) -> list[Quantity]:
    """Per parameter, what step k computes: gradient with decay, state, step, parameter.

    ``params``: objects with ``name`` and ``is_bias`` (a network's parameters, or the
    inputs a computational graph's optimizer moves); ``frozen``: names held fixed;
    ``gradient(p, k)``: the name of p's gradient in step k's pass."""
    entry = s.entry
    stage = step_stage(k)
    out: list[Quantity] = []
    sign = -1 if s.direction == "ascent" else 1
    shared = False
    for p in params:
        w = sp.Symbol(param_name(p.name, k - 1))
        new = param_name(p.name, k)
        if p.name in frozen:
            out.append(Quantity(new, sp.Symbol(new), w, stage, param=p.name, note="frozen"))
            continue
        grad = sp.Symbol(gradient(p.name, k))
        decays = s.decays(p.is_bias)
        # g is its own quantity even where it is the gradient itself: the key writes g_t as
        # the sources do, and g² never prints as the power of a fraction.
        terms = [grad if sign > 0 else sp.Mul(-1, grad, evaluate=False)]
        if decays and s.decay == "l2":  # the gradient of the penalty λ/2·w², as its own term
            terms.append(sp.Mul(H["lambda"], w, evaluate=False))
        g = sp.Symbol(state_name("g", p.name, k))
        out.append(Quantity(g.name, g, sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0],
                            stage, param=p.name, note="g"))
        y = Symbols(
            g=g, w=w,
            prev={st: sp.Symbol(state_name(st, p.name, k - 1)) for st in entry.states},
            new={st: sp.Symbol(state_name(st, p.name, k)) for st in entry.states},
            extra={"mhat": sp.Symbol(state_name("mhat", p.name, k)), "vhat": sp.Symbol(state_name("vhat", p.name, k)),
                   "eta_t": sp.Symbol(f"eta_t[{k}]")},  # the corrected rate is the same for every parameter
            step=sp.Symbol(state_name("Delta", p.name, k)),
            k=number,
        )
        rule = entry.rules(s, y)
        for st, expr in rule.states:
            out.append(Quantity(y.new[st].name, y.new[st], expr, stage, param=p.name, note=st))
        for x, expr in rule.extras:
            if x == "eta_t" and shared:  # one corrected rate per step, written once
                continue
            shared |= x == "eta_t"
            out.append(Quantity(y.extra[x].name, y.extra[x], expr, stage, param=p.name, note=x))
        update = rule.update
        if rule.step is not None:
            out.append(Quantity(y.step.name, y.step, rule.step, stage, param=p.name, note="step"))
        if decays and s.decay == "decoupled":  # Loshchilov & Hutter: w shrinks by ηλw beside the step
            update = sp.Add(*update.args, sp.Mul(-1, H["eta"], H["lambda"], w, evaluate=False), evaluate=False)
        out.append(Quantity(new, sp.Symbol(new), update, stage, param=p.name, note="update"))
    return out
