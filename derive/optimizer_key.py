"""What the key's optimizer part receives (templates/optimizer*.tex.j2): the conventions in
words and formulas, and per step the lines or the table of the step's quantities.

Everything here is read from the Solution (its lines and values); nothing is computed
beyond choosing what to show and rounding it with the number policy.
"""

from __future__ import annotations

from typing import Any

from .latex import Tex, latex_name
from .optimizer_graph import OBJECTIVE, PENALTY, gradient_name, param_name, pass_stage, state_name, step_stage
from .optimizers import MOMENTUM_FORMS, Settings
from .rounding import given_tex as given_text

FULL_LINES = 3  # up to this many trained parameters the key writes every line; more get a table

# The rules as the key states them, per optimizer and convention (w the parameter, g its
# gradient, t the step); hand-written LaTeX, one entry per form.
_MOMENTUM_TEX = {
    "velocity": (r"v_t = \mu v_{t-1} - \eta g_t", r"w_t = w_{t-1} + v_t"),
    "accumulate": (r"v_t = \mu v_{t-1} + g_t", r"w_t = w_{t-1} - \eta v_t"),
    "velocity_plus": (r"v_t = \mu v_{t-1} + \eta g_t", r"w_t = w_{t-1} - v_t"),
    "average": (r"v_t = \mu v_{t-1} + (1 - \mu) g_t", r"w_t = w_{t-1} - \eta v_t"),
}
_LOOK_TEX = {
    "velocity": r"\tilde w_t = w_{t-1} + \mu v_{t-1}",
    "velocity_plus": r"\tilde w_t = w_{t-1} - \mu v_{t-1}",
    "accumulate": r"\tilde w_t = w_{t-1} - \eta\mu v_{t-1}",
    "average": r"\tilde w_t = w_{t-1} - \eta\mu v_{t-1}",
}


def _root(x: str, place: str) -> str:
    return rf"\sqrt{{{x} + \epsilon}}" if place == "inside" else rf"\sqrt{{{x}}} + \epsilon"


def rules_tex(s: Settings) -> list[str]:
    """The update rule of one step, as the key's conventions state it."""
    key = s.optimizer
    if key == "sgd":
        return [r"w_t = w_{t-1} - \eta g_t"]
    if key == "momentum":
        return list(_MOMENTUM_TEX[s.momentum])
    if key == "nesterov":
        if s.nesterov == "library":
            return [r"v_t = \mu v_{t-1} + g_t", r"w_t = w_{t-1} - \eta\,(g_t + \mu v_t)"]
        return [_LOOK_TEX[s.momentum] + r",\ g_t \text{ taken at } \tilde w_t", *_MOMENTUM_TEX[s.momentum]]
    if key == "adagrad":
        return [r"r_t = r_{t-1} + g_t^2", rf"w_t = w_{{t-1}} - \eta\,\frac{{g_t}}{{{_root('r_t', s.epsilon)}}}"]
    if key == "rmsprop":
        return [r"r_t = \rho r_{t-1} + (1 - \rho)\, g_t^2",
                rf"w_t = w_{{t-1}} - \eta\,\frac{{g_t}}{{{_root('r_t', s.epsilon)}}}"]
    out = [r"m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t", r"v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2"]
    if s.epsilon == "hat":
        out += [r"\eta_t = \eta\,\frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}",
                rf"w_t = w_{{t-1}} - \eta_t\,\frac{{m_t}}{{{_root('v_t', 'outside')}}}"]
    elif s.bias_correction:
        root = _root(r"\hat v_t", s.epsilon)
        out += [r"\hat m_t = \frac{m_t}{1 - \beta_1^t},\quad \hat v_t = \frac{v_t}{1 - \beta_2^t}",
                rf"w_t = w_{{t-1}} - \eta\,\frac{{\hat m_t}}{{{root}}}"]
    else:
        out += [rf"w_t = w_{{t-1}} - \eta\,\frac{{m_t}}{{{_root('v_t', s.epsilon)}}}"]
    return out


def settings_text(s: Settings, givens=None) -> dict[str, Any]:
    """The conventions as data: hyperparameters, decay, direction, state, source. ``givens``:
    the variant's given values, whose hyperparameters and λ may be drawn ([vary])."""
    entry = s.entry
    given = {**s.hyper, "lambda": s.weight_decay, **(givens or {})}
    hypers = [{"tex": latex_name(h.name), "value": given_text(given[h.name]), "source": h.source}
              for h in entry.hypers]
    states = [{"tex": latex_name(st), "value": given_text(s.state.get(st, 0.0))} for st in entry.states]
    return {
        "key": s.optimizer,
        "title": entry.title,
        "source": entry.source,
        "rules": [Tex(r) for r in rules_tex(s)],  # hand-written above, trusted
        "hypers": hypers,
        "states": states,
        "state_per_param": [{"tex": latex_name(f"{n.split('_', 1)[0]}_{n.split('_', 1)[1]}[0]"),
                             "value": given_text(v)} for n, v in s.state.items() if "_" in n],
        "momentum": MOMENTUM_FORMS.get(s.momentum) if entry.states == ("v",) else None,
        "nesterov": s.nesterov if s.optimizer == "nesterov" else None,
        "epsilon": s.epsilon if "epsilon" in s.hyper else None,
        "bias_correction": s.bias_correction if s.optimizer in ("adam", "adamw") else None,
        "decay": given_text(given["lambda"]) if s.weight_decay > 0 else None,
        "decay_kind": s.decay,
        "decay_biases": s.decay_biases,
        "ascent": s.direction == "ascent",
        "steps": s.steps,
    }


def context(solution) -> dict | None:
    """What optimizer.tex.j2 receives, or None for the single gradient-descent step."""
    der = solution.derivation
    s = getattr(der, "settings", None)
    if s is None:
        return None
    net = der.network
    sections = solution.sections
    policy = solution.policy
    values = solution.values
    trained = [p.name for p in net.params if p.name not in net.frozen]
    full = len(trained) <= FULL_LINES
    steps = []
    for k in range(1, s.steps + 1):
        lines = sections.get(step_stage(k), ())
        by_param: dict[str, list] = {}
        shared = []
        for line in lines:
            q = der[line.name]
            (by_param.setdefault(q.param, []) if q.param else shared).append(line)
        tag = "'" * (k - 1)
        pass_lines = [l for l in sections.get(pass_stage(k), ())
                      if l.name in (f"L{tag}", f"{PENALTY}{tag}", f"{OBJECTIVE}{tag}") or (l.name.startswith(f"dL{tag}/d") and der[l.name].param
                                                  and der[l.name].example is None)]
        notes = list(dict.fromkeys(der[l.name].note for l in lines if der[l.name].param))
        columns = [{"tex": latex_name(gradient_name("w", k)), "note": "gradient"}]
        plain_g = not (s.weight_decay > 0 and s.decay == "l2") and s.direction == "descent"  # g = the gradient
        columns += [{"tex": _generic(n, k), "note": n} for n in notes
                    if n not in ("frozen", "update", "eta_t") and not (n == "g" and plain_g)]
        columns.append({"tex": latex_name(param_name("w", k)), "note": "update"})
        rows = []
        for p in net.params:
            own = {der[l.name].note: l for l in by_param.get(p.name, ())}
            cells = []
            for c in columns:
                if c["note"] == "gradient":
                    name = gradient_name(p.name, k)
                    cells.append(policy.tex(values[name]) if p.name in trained else "")
                elif c["note"] == "update":
                    cells.append(policy.tex(values[param_name(p.name, k)]))
                else:
                    line = own.get(c["note"])
                    cells.append(policy.tex(values[line.name]) if line is not None else "")
            rows.append({"param": latex_name(p.name), "cells": cells, "frozen": p.name not in trained})
        first = trained[0] if trained else None
        steps.append({
            "k": k,
            "at": latex_name(param_name("w", k - 1)) if k > 1 else latex_name("w"),
            "lookahead": latex_name(f"w~[{k}]") if any(der[l.name].note == "lookahead" for l in lines) else None,
            "pass": list(pass_lines),
            "pass_losses": [l for l in pass_lines if not l.name.startswith("d")],  # L, and R and J with decay
            "shared": list(shared),
            "full": full,
            "lines": [l for p in trained for l in by_param.get(p, ())],
            "example": {"param": latex_name(first), "lines": list(by_param.get(first, ()))}
            if first else None,
            "columns": columns,
            "rows": rows,
        })
    shown = [k for k in range(s.steps + 1) if f"L{chr(39) * k}" in values
             and not (k > 0 and k < s.steps and s.optimizer == "nesterov" and s.nesterov == "lookahead")]
    losses = [{"tex": latex_name(f"L{chr(39) * k}"), "value": policy.tex(values[f"L{chr(39) * k}"])} for k in shown]
    objectives = [{"tex": latex_name(f"{OBJECTIVE}{chr(39) * k}"), "value": policy.tex(values[f"{OBJECTIVE}{chr(39) * k}"])}
                  for k in shown if f"{OBJECTIVE}{chr(39) * k}" in values]
    return {
        "settings": settings_text(s, solution.givens),
        "steps": steps,
        "after": [*sections.get("forward_after", ()), *sections.get("loss_after", ())],
        "losses": losses,
        "objectives": objectives,  # with L2 decay: J = L + R after each step
    }


def moodle_stages(der, asked: tuple, update: str) -> tuple:
    """The stages a Moodle question asks for: the optimizer's steps where gradient descent
    has its single update."""
    s = getattr(der, "settings", None)
    if s is None:
        return asked
    steps = tuple((step_stage(k), f"Step {k} of {s.entry.title}") for k in range(1, s.steps + 1))
    return tuple(x for stage, heading in asked for x in (steps if stage == update else ((stage, heading),)))


def _generic(note: str, k: int) -> str:
    """The column heading of one kind of step quantity: m_w^{(k)}, \\Delta w^{(k)}, …"""
    if note == "step":
        return latex_name(state_name("Delta", "w", k))
    if note == "lookahead":
        return latex_name(f"w~[{k}]")
    return latex_name(state_name(note, "w", k))

