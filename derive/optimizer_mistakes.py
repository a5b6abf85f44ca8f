"""Common mistakes in optimizer steps, as formula swaps in the optimizer's quantity graph.

Registered in ``misconceptions.MISCONCEPTIONS`` like every other mistake: each says which
formulas a student who makes it uses instead of the right ones, and the checker names it
when the swapped graph gives the student's number. They apply only to graphs with
optimizer steps (``optimizer_graph``); elsewhere they yield nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterator

import sympy as sp

from .misconceptions import Swaps, described
from .optimizer_graph import gradient_name, param_name, stage_step, state_name
from .optimizers import H


def _settings(der):
    return getattr(der, "settings", None)


def _step_quantities(der, *notes: str) -> Iterator:
    for q in der.quantities:
        found = stage_step(q.stage)
        if found and found[0] == "optimizer" and q.note in notes:
            yield q, found[1]


def _other_graph(der, **changes) -> Swaps:
    """The step formulas of the same exercise under other conventions, where they differ."""
    from .optimizer_graph import optimizer_steps

    if hasattr(der, "with_settings"):  # an optimizer on a computational graph (derive/graph_optimizer.py)
        other = der.with_settings(replace(_settings(der), **changes))
    else:
        other = optimizer_steps(der.network, der.loss, der.n_examples, tuple(der.chain_params) or "none",
                                replace(_settings(der), **changes))
    mine = {q.name: q for q in der.quantities}
    return {q.name: q.formula for q in other.quantities
            if q.name in mine and stage_step(q.stage) and q.formula != mine[q.name].formula}


def _bias_correction_forgotten(der):
    s = _settings(der)
    if s is None or s.optimizer not in ("adam", "adamw") or not s.bias_correction or s.epsilon == "hat":
        return
    swaps = {q.name: sp.Symbol(state_name(q.note[0], q.param, k)) for q, k in _step_quantities(der, "mhat", "vhat")}
    if swaps:
        yield "", swaps


def _sqrt_left_out(der):
    s = _settings(der)
    if s is None:
        return
    swaps = {}
    for q, _ in _step_quantities(der, "step"):
        swaps[q.name] = q.formula.replace(lambda e: e.is_Pow and e.exp == sp.Rational(1, 2), lambda e: e.base)
    if swaps:
        yield "", swaps


def _epsilon_misplaced(der):
    s = _settings(der)
    if s is None or "epsilon" not in s.hyper or s.epsilon == "hat":
        return
    swaps = _other_graph(der, epsilon="inside" if s.epsilon == "outside" else "outside")
    if swaps:
        yield f"ε {'inside' if s.epsilon == 'outside' else 'outside'} the square root", swaps


def _momentum_sign_mixed(der):
    """Half of one momentum form with half of another: the velocity's sign taken from a
    form that subtracts it, or the parameter update's sign from one that adds it."""
    s = _settings(der)
    if s is None or s.entry.states != ("v",) or (s.optimizer == "nesterov" and s.nesterov == "library"):
        return
    if s.momentum in ("velocity", "velocity_plus"):
        partner = "velocity_plus" if s.momentum == "velocity" else "velocity"
        other = _other_graph(der, momentum=partner)
        swaps = {q.name: other[q.name] for q, _ in _step_quantities(der, "v") if q.name in other}
    else:
        eta = H["eta"]
        swaps = {q.name: q.formula.xreplace({eta: -eta}) for q, _ in _step_quantities(der, "update")}
    if swaps:
        yield "", swaps


def _state_not_carried(der):
    """Step 2 (and later) started again from the initial state of zero."""
    s = _settings(der)
    if s is None or not s.entry.states:
        return
    swaps = {}
    for q, k in _step_quantities(der, *s.entry.states, "lookahead"):
        if k > 1:
            prev = {sp.Symbol(state_name(st, q.param, k - 1)): 0 for st in s.entry.states}
            swaps[q.name] = q.formula.xreplace(prev)
    if swaps:
        yield "", swaps


def _decay_on_biases(der):
    s = _settings(der)
    if s is None or s.weight_decay <= 0 or s.decay_biases or s.direction == "ascent":
        return
    lam, eta = H["lambda"], H["eta"]
    biases = {p.name for p in der.network.params if p.is_bias} if der.network is not None else set()
    swaps = {}
    for q in der.quantities:
        found = stage_step(q.stage)
        if not found or found[0] != "optimizer" or q.param not in biases or q.note in ("frozen", None):
            continue
        k = found[1]
        w = sp.Symbol(param_name(q.param, k - 1))
        if s.decay == "l2":
            grad = sp.Symbol(gradient_name(q.param, k))
            if grad in q.formula.free_symbols:
                swaps[q.name] = q.formula.xreplace({grad: sp.Add(grad, sp.Mul(lam, w, evaluate=False), evaluate=False)})
        elif q.note == "update":
            swaps[q.name] = sp.Add(q.formula, sp.Mul(-1, eta, lam, w, evaluate=False), evaluate=False)
    if swaps:
        yield "", swaps


def _rate_swapped(der):
    """A moving average with its rate and the rate's complement swapped: (1 − β)·m + β·g."""
    s = _settings(der)
    if s is None:
        return
    if s.optimizer in ("adam", "adamw"):
        rates = {"m": H["beta1"], "v": H["beta2"]}
    elif s.optimizer == "rmsprop":
        rates = {"r": H["rho"]}
    elif s.entry.states == ("v",) and s.momentum == "average":
        rates = {"v": H["mu"]}
    else:
        return
    swaps = {q.name: q.formula.xreplace({rates[q.note]: sp.Add(1, sp.Mul(-1, rates[q.note], evaluate=False),
                                                               evaluate=False)})
             for q, _ in _step_quantities(der, *rates)}
    if swaps:
        yield "", swaps


def _correction_not_raised(der):
    """Adam's bias correction of step 1, 1 − β, used again in later steps instead of 1 − βᵗ."""
    s = _settings(der)
    if s is None or s.optimizer not in ("adam", "adamw"):
        return
    rates = {H["beta1"], H["beta2"]}
    swaps = {q.name: q.formula.replace(lambda e: e.is_Pow and e.base in rates, lambda e: e.base)
             for q, k in _step_quantities(der, "mhat", "vhat", "eta_t") if k > 1}
    if swaps:
        yield "", swaps


MISTAKES = (
    described("bias_correction_forgotten", "bias correction forgotten",
              "Adam's m and v are used without the bias correction, not divided by 1 − β1 and 1 − β2 "
              "raised to the step number t", _bias_correction_forgotten),
    # (the texts keep to characters the feedback sheet can typeset: no √, no ᵗ)
    described("sqrt_left_out", "square root left out",
              "the step divides by the second moment itself instead of its square root", _sqrt_left_out),
    described("epsilon_misplaced", "ε in the wrong place",
              "ε is added inside the square root instead of outside it, or the other way round",
              _epsilon_misplaced),
    described("momentum_sign_mixed", "momentum sign convention mixed",
              "the velocity and the parameter update come from two different momentum forms, "
              "so one of them has the wrong sign", _momentum_sign_mixed),
    described("state_not_carried", "state not carried to the next step",
              "a later step starts from the initial state (zero) instead of the state the step "
              "before left", _state_not_carried),
    described("decay_on_biases", "decay applied to biases",
              "the weight decay is applied to the biases too, which the exercise exempts", _decay_on_biases),
    described("rate_swapped", "β and 1 − β swapped",
              "in a moving average the rate and its complement are swapped: (1 − β)·m + β·g instead of "
              "β·m + (1 − β)·g", _rate_swapped),
    described("correction_not_raised", "bias correction not raised to the step",
              "a later step divides by 1 − β, the correction of step 1, instead of by 1 − β raised to "
              "the step number t",
              _correction_not_raised),
)
