"""Synthetic students of optimizer exercises (see tests/students.py).

A random small network (one or two inputs, none or one hidden layer, one or two outputs,
every bias convention, one or two examples) is trained by hand for two or three steps of
one optimizer (gradient descent, momentum in its four forms, Nesterov with look-ahead or
the libraries' form, AdaGrad, RMSProp, Adam with or without bias correction and with ε in
each place, AdamW), with or without weight decay (L2 or decoupled, biases exempt or not),
and the built-in Adam example on f(θ) = θ². The student writes what the key asks of each
step: the outputs and the loss of each pass, the gradients, and per parameter the
gradient with decay g, the new state, m̂ and v̂, the step Δ and the new value; then the
loss after the last step. The hidden units, local partials and error terms stay in the
calculator, computed from the student's own written parameters.

Everything is worked here in plain Python, never with derive's numbers: the network's
forward pass and backpropagation (tests/hand_network.py) and each optimizer's update as
its source writes it. The optimizer misconceptions are worked here too (among them β and
1 − β swapped in a moving average, and the bias correction of step 1 reused later); the
network's own misconceptions (which apply to the first pass, e.g. ½ forgotten in L) are
taken from the registry's formula, as tests/students.py does for networks, evaluated on
the student's values.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import specs
import students as S
from hand_network import Net
from derive import spec as spec_mod
from derive.optimizer_mistakes import MISTAKES
from derive.solution import Exercise

OPTIMIZER_KEYS = frozenset(m.key for m in MISTAKES)
EXAMPLES = __import__("pathlib").Path(__file__).resolve().parent.parent / "examples"


# --- the optimizer, by hand ----------------------------------------------------------------

@dataclass(frozen=True)
class Opt:
    key: str
    steps: int
    hyper: dict
    momentum: str = "velocity"
    nesterov: str = "lookahead"
    epsilon: str = "outside"
    bias_correction: bool = True
    decay: float = 0.0
    decay_kind: str = "l2"
    decay_biases: bool = False
    ascent: bool = False

    @property
    def states(self) -> tuple[str, ...]:
        return {"momentum": ("v",), "nesterov": ("v",), "adagrad": ("r",), "rmsprop": ("r",),
                "adam": ("m", "v"), "adamw": ("m", "v")}.get(self.key, ())

    def decays(self, is_bias: bool) -> bool:
        return self.decay > 0 and (self.decay_biases or not is_bias)


def param_name(p: str, k: int) -> str:
    return p if k == 0 else f"{p}*" if k == 1 else f"{p}*[{k}]"


def root(x: float, eps: float, place: str) -> float:
    return math.sqrt(x + eps) if place == "inside" else math.sqrt(x) + eps


def lookahead(o: Opt, w: float, v: float, env: dict) -> float:
    mu, eta = env["mu"], env["eta"]
    if o.momentum == "velocity":
        return w + mu * v
    if o.momentum == "velocity_plus":
        return w - mu * v
    return w - eta * mu * v


def momentum_pair(o: Opt, env: dict, g: float, v0: float, w: float, sign: float = 1.0) -> tuple[float, float]:
    """(new velocity, new parameter) of one momentum step; ``sign`` −1 takes the velocity's
    sign of the partner form (velocity ↔ velocity_plus) or flips η in the update."""
    mu, eta = env["mu"], env["eta"]
    if o.key == "nesterov" and o.nesterov == "library":
        v = mu * v0 + g
        return v, w - eta * (g + mu * v)
    if o.momentum == "velocity":
        v = mu * v0 - sign * eta * g
        return v, w + v
    if o.momentum == "velocity_plus":
        v = mu * v0 + sign * eta * g
        return v, w - v
    v = mu * v0 + (g if o.momentum == "accumulate" else (1 - mu) * g)
    return v, w - sign * eta * v


# --- the program ---------------------------------------------------------------------------

@dataclass
class Item:
    exercise: Exercise
    net: Net
    opt: Opt
    program: list[S.Line]
    givens: dict
    truth: dict
    own: dict  # (misconception key, quantity) -> plain-Python wrong formula


def build(ex: Exercise, net: Net, o: Opt) -> tuple[list[S.Line], dict]:
    """The program of the whole exercise, in the key's order (look-ahead, pass, step, for
    each step; then the pass after the last), and the optimizer misconceptions' formulas."""
    lines: list[S.Line] = []
    own: dict = {}
    trained = [(name, is_bias) for name, _, _, is_bias in net.params]
    look = o.key == "nesterov" and o.nesterov == "lookahead"

    def add(name, group, fn):
        lines.append(S.Line(name, group, fn))

    def pass_lines(k: int, tag: str, at_of, backward: bool) -> None:
        names = [p for p, _ in trained]

        def outs(env, e):
            at = {p: env[at_of(p)] for p in names}
            units = net.forward(env, at, e)
            return {o_: units[o_][1] for o_ in net.outputs}

        for e in range(1, net.n_examples + 1):
            sfx = net.suffix(e)
            for o_ in net.outputs:
                add(f"{o_}{tag}{sfx}", f"output{k}", lambda env, e=e, o_=o_: outs(env, e)[o_])
            if net.n_examples > 1:
                add(f"L{tag}{sfx}", f"loss{k}",
                    lambda env, e=e, sfx=sfx: net.loss_of({o_: env[f"{o_}{tag}{sfx}"] for o_ in net.outputs}, env, e))
        if net.n_examples > 1:
            each = [f"L{tag}{net.suffix(e)}" for e in range(1, net.n_examples + 1)]
            add(f"L{tag}", f"loss{k}",
                lambda env: sum(env[n] for n in each) / (len(each) if net.mean_examples else 1))
        else:
            add(f"L{tag}", f"loss{k}", lambda env: net.loss_of({o_: env[f"{o_}{tag}"] for o_ in net.outputs}, env, 1))
        if not backward:
            return

        def grads(env):
            at = {p: env[at_of(p)] for p in names}
            written = {e: {o_: env[f"{o_}{tag}{net.suffix(e)}"] for o_ in net.outputs}
                       for e in range(1, net.n_examples + 1)}
            return net.gradients(env, at, written)

        for p in names:
            add(f"dL{tag}/d{p}", f"gradient{k}", lambda env, p=p: grads(env)[p])

    for k in range(1, o.steps + 1):
        tag = "'" * (k - 1)
        if look:
            for p, _ in trained:
                name = f"{p}~[{k}]"
                add(name, f"lookahead{k}",
                    lambda env, p=p, k=k: lookahead(o, env[param_name(p, k - 1)], env[f"v_{p}[{k - 1}]"], env))
                if k > 1:
                    own[("state_not_carried", name)] = lambda env, p=p, k=k: \
                        lookahead(o, env[param_name(p, k - 1)], 0.0, env)
        pass_lines(k, tag, (lambda p, k=k: f"{p}~[{k}]") if look else (lambda p, k=k: param_name(p, k - 1)), True)
        _step_lines(k, o, trained, add, own)
    tag = "'" * o.steps
    pass_lines(o.steps + 1, tag, lambda p: param_name(p, o.steps), False)
    return lines, own


def _step_lines(k: int, o: Opt, trained, add, own, gradient=None) -> None:
    """Step k's lines per parameter; ``gradient(p, k)`` names p's gradient in step k's pass
    (a network's ∂L/∂p by default; a graph's is ∂f/∂x, tests/graph_students.py)."""
    sign = -1.0 if o.ascent else 1.0
    eta_t_written = False
    for p, is_bias in trained:
        w_name = param_name(p, k - 1)
        grad_name = gradient(p, k) if gradient else f"dL{chr(39) * (k - 1)}/d{p}"
        g_name, new = f"g_{p}[{k}]", param_name(p, k)
        l2 = o.decays(is_bias) and o.decay_kind == "l2"
        decoupled = o.decays(is_bias) and o.decay_kind == "decoupled"

        def g_fn(env, l2=l2, w_name=w_name, grad_name=grad_name):
            return sign * env[grad_name] + (env["lambda"] * env[w_name] if l2 else 0.0)
        add(g_name, f"g{k}", g_fn)
        if is_bias and o.decay > 0 and not o.decay_biases and not o.ascent and o.decay_kind == "l2":
            own[("decay_on_biases", g_name)] = lambda env, w_name=w_name, grad_name=grad_name: \
                env[grad_name] + env["lambda"] * env[w_name]

        def decay_term(env, w_name=w_name, decoupled=decoupled):
            return -env["eta"] * env["lambda"] * env[w_name] if decoupled else 0.0

        prev = {s: f"{s}_{p}[{k - 1}]" for s in o.states}
        cur = {s: f"{s}_{p}[{k}]" for s in o.states}
        if o.key == "sgd":
            add(new, f"update{k}", lambda env, g_name=g_name, w_name=w_name, dt=decay_term:
                env[w_name] - env["eta"] * env[g_name] + dt(env))
        elif o.states == ("v",):
            add(cur["v"], f"v{k}", lambda env, g_name=g_name, w_name=w_name, pv=prev["v"]:
                momentum_pair(o, env, env[g_name], env[pv], env[w_name])[0])
            library = o.key == "nesterov" and o.nesterov == "library"
            if o.momentum == "average" and not library:
                own[("rate_swapped", cur["v"])] = lambda env, g_name=g_name, pv=prev["v"]: \
                    (1 - env["mu"]) * env[pv] + env["mu"] * env[g_name]

            def update(env, g_name=g_name, w_name=w_name, cv=cur["v"], dt=decay_term, flip=1.0):
                mu, eta, v, w, g = env["mu"], env["eta"], env[cv], env[w_name], env[g_name]
                if library:
                    return w - eta * (g + mu * v) + dt(env)
                if o.momentum == "velocity":
                    return w + v + dt(env)
                if o.momentum == "velocity_plus":
                    return w - v + dt(env)
                return w - flip * eta * v + flip * dt(env)
            add(new, f"update{k}", update)
            if not library:
                if o.momentum in ("velocity", "velocity_plus"):
                    own[("momentum_sign_mixed", cur["v"])] = lambda env, g_name=g_name, w_name=w_name, pv=prev["v"]: \
                        momentum_pair(o, env, env[g_name], env[pv], env[w_name], -1.0)[0]
                else:
                    own[("momentum_sign_mixed", new)] = lambda env, u=update: u(env, flip=-1.0)
            if k > 1:
                own[("state_not_carried", cur["v"])] = lambda env, g_name=g_name, w_name=w_name: \
                    momentum_pair(o, env, env[g_name], 0.0, env[w_name])[0]
        else:
            adam = o.key in ("adam", "adamw")
            if adam:
                b1, b2 = "beta1", "beta2"
                m_fn = lambda env, pm, g_name=g_name: env[b1] * pm + (1 - env[b1]) * env[g_name]  # noqa: E731
                v_fn = lambda env, pv, g_name=g_name: env[b2] * pv + (1 - env[b2]) * env[g_name] ** 2  # noqa: E731
                add(cur["m"], f"m{k}", lambda env, f=m_fn, pm=prev["m"]: f(env, env[pm]))
                add(cur["v"], f"v{k}", lambda env, f=v_fn, pv=prev["v"]: f(env, env[pv]))
                if k > 1:
                    own[("state_not_carried", cur["m"])] = lambda env, f=m_fn: f(env, 0.0)
                    own[("state_not_carried", cur["v"])] = lambda env, f=v_fn: f(env, 0.0)
                own[("rate_swapped", cur["m"])] = lambda env, pm=prev["m"], g_name=g_name: \
                    (1 - env[b1]) * env[pm] + env[b1] * env[g_name]
                own[("rate_swapped", cur["v"])] = lambda env, pv=prev["v"], g_name=g_name: \
                    (1 - env[b2]) * env[pv] + env[b2] * env[g_name] ** 2
                if o.epsilon == "hat":
                    if not eta_t_written:
                        add(f"eta_t[{k}]", f"eta_t{k}", lambda env, k=k:
                            env["eta"] * math.sqrt(1 - env[b2] ** k) / (1 - env[b1] ** k))
                        if k > 1:
                            own[("correction_not_raised", f"eta_t[{k}]")] = lambda env: \
                                env["eta"] * math.sqrt(1 - env[b2]) / (1 - env[b1])
                        eta_t_written = True
                    num, den, rate = cur["m"], cur["v"], f"eta_t[{k}]"
                elif o.bias_correction:
                    mh, vh = f"mhat_{p}[{k}]", f"vhat_{p}[{k}]"
                    add(mh, f"mhat{k}", lambda env, m=cur["m"], k=k: env[m] / (1 - env[b1] ** k))
                    add(vh, f"vhat{k}", lambda env, v=cur["v"], k=k: env[v] / (1 - env[b2] ** k))
                    own[("bias_correction_forgotten", mh)] = lambda env, m=cur["m"]: env[m]
                    own[("bias_correction_forgotten", vh)] = lambda env, v=cur["v"]: env[v]
                    if k > 1:
                        own[("correction_not_raised", mh)] = lambda env, m=cur["m"]: env[m] / (1 - env[b1])
                        own[("correction_not_raised", vh)] = lambda env, v=cur["v"]: env[v] / (1 - env[b2])
                    num, den, rate = mh, vh, "eta"
                else:
                    num, den, rate = cur["m"], cur["v"], "eta"
            else:
                rho = o.key == "rmsprop"
                r_fn = lambda env, pr, g_name=g_name: (  # noqa: E731
                    env["rho"] * pr + (1 - env["rho"]) * env[g_name] ** 2 if rho else pr + env[g_name] ** 2)
                add(cur["r"], f"r{k}", lambda env, f=r_fn, pr=prev["r"]: f(env, env[pr]))
                if rho:
                    own[("rate_swapped", cur["r"])] = lambda env, pr=prev["r"], g_name=g_name: \
                        (1 - env["rho"]) * env[pr] + env["rho"] * env[g_name] ** 2
                if k > 1:
                    own[("state_not_carried", cur["r"])] = lambda env, f=r_fn: f(env, 0.0)
                num, den, rate = g_name, cur["r"], "eta"
            place = "outside" if o.epsilon == "hat" else o.epsilon
            delta = f"Delta_{p}[{k}]"
            add(delta, f"Delta{k}", lambda env, num=num, den=den, rate=rate, place=place:
                -env[rate] * env[num] / root(env[den], env["epsilon"], place))
            own[("sqrt_left_out", delta)] = lambda env, num=num, den=den, rate=rate: \
                -env[rate] * env[num] / (env[den] + env["epsilon"])
            if o.epsilon != "hat":
                other = "inside" if place == "outside" else "outside"
                own[("epsilon_misplaced", delta)] = lambda env, num=num, den=den, rate=rate, other=other: \
                    -env[rate] * env[num] / root(env[den], env["epsilon"], other)
            add(new, f"update{k}", lambda env, delta=delta, w_name=w_name, dt=decay_term:
                env[w_name] + env[delta] + dt(env))
        if is_bias and o.decay > 0 and not o.decay_biases and not o.ascent and o.decay_kind == "decoupled":
            own[("decay_on_biases", new)] = ("decoupled", new, w_name)  # the right update − ηλb: see ``finish``


def finish(lines: list[S.Line], own: dict) -> dict:
    """The mistakes that are the right formula plus a term, made from the right line."""
    by = {line.name: line for line in lines}
    out = {}
    for key, value in own.items():
        if isinstance(value, tuple) and value[0] == "decoupled":
            _, new, w_name = value
            out[key] = lambda env, fn=by[new].fn, w_name=w_name: fn(env) - env["eta"] * env["lambda"] * env[w_name]
        else:
            out[key] = value
    return out


# --- random exercises ------------------------------------------------------------------------

def random_settings(rng: random.Random) -> tuple[dict, Opt]:
    key = rng.choice(("sgd", "momentum", "momentum", "nesterov", "nesterov", "adagrad", "rmsprop", "adam", "adam",
                      "adamw"))
    training: dict = {"optimizer": key, "steps": rng.choice((2, 2, 3))}
    hyper: dict = {}
    o = dict(key=key, steps=training["steps"])
    if key in ("momentum", "nesterov"):
        hyper["mu"] = rng.choice((0.9, 0.5, 0.8))
        form = rng.choice(("velocity", "accumulate", "velocity_plus", "average"))
        if key == "nesterov" and rng.random() < 0.4:
            training["nesterov"] = o["nesterov"] = "library"
            form = "accumulate"
        training["momentum"] = o["momentum"] = form
    if key in ("adagrad", "rmsprop", "adam", "adamw"):
        hyper["epsilon"] = rng.choice((1e-8, 0.01, 0.1)) if key in ("adam", "adamw") else rng.choice((1e-7, 0.01, 0.1))
        places = ("outside", "inside", "hat") if key in ("adam", "adamw") else ("outside", "inside")
        training["epsilon_at"] = o["epsilon"] = rng.choice(places)
    if key == "rmsprop":
        hyper["rho"] = rng.choice((0.9, 0.5))
    if key in ("adam", "adamw"):
        hyper["beta1"], hyper["beta2"] = rng.choice(((0.9, 0.999), (0.8, 0.9), (0.5, 0.75)))
        if o.get("epsilon") != "hat" and rng.random() < 0.25:
            training["bias_correction"] = o["bias_correction"] = False
    training.update(hyper)
    if rng.random() < 0.5 or key == "adamw":
        training["weight_decay"] = o["decay"] = rng.choice((0.1, 0.05, 0.5))
        kind = "decoupled" if key == "adamw" else rng.choice(("l2", "decoupled"))
        training["decay"] = o["decay_kind"] = kind
        if rng.random() < 0.2:
            training["decay_biases"] = o["decay_biases"] = True
    if rng.random() < 0.1:
        training["direction"] = "ascent"
        o["ascent"] = True
    return training, Opt(hyper=hyper, **o)


def random_item(rng: random.Random) -> Item:
    while True:
        if rng.random() < 0.08:
            ex = Exercise(spec_mod.load(EXAMPLES / "optim_adam_quadratic.toml"))
            s = ex.spec.optimizer
            o = Opt("adam", s.steps, dict(s.hyper))
        else:
            out_act, loss = rng.choice((("identity", {"kind": "squared_error", "half": True}),
                                        ("identity", {"kind": "squared_error", "half": False}),
                                        ("sigmoid", {"kind": "squared_error", "half": True}),
                                        ("sigmoid", {"kind": "binary_cross_entropy"}),
                                        ("identity", {"kind": "squared_error", "half": False, "outputs": "mean"})))
            n_out = rng.choice((1, 1, 2)) if loss.get("outputs") != "mean" else 2
            hidden = rng.choice(((), ("h1",), ("h1", "h2")))
            raw = specs.table(
                inputs=("x1", "x2")[:rng.choice((1, 2))], hidden=(hidden,) if hidden else (),
                outputs=("o1", "o2") if n_out == 2 else ("yhat",),
                hidden_act=rng.choice(("sigmoid", "tanh", "relu", "identity")),
                output_act=out_act, loss=dict(loss), bias=rng.choice(("unit", "neuron", "layer", "none")),
                n_examples=rng.choice((1, 1, 2)), rng=rng, eta=rng.choice((0.1, 0.5, 0.05)), train_bias=True)
            if len(raw["examples"]) > 1:
                raw["loss"]["examples"] = rng.choice(("sum", "mean"))
            training, o = random_settings(rng)
            raw["training"].update(training)
            raw["display"] = {"decimals": 4, "carry": "full"}
            try:
                ex = Exercise(specs.load(raw))
            except Exception:  # noqa: BLE001  (a combination the spec refuses: draw again)
                continue
        net = Net.of(ex)
        lines, own = build(ex, net, o)
        own = finish(lines, own)
        givens = ex.givens()
        try:
            true = S.truth(lines, givens)
        except (ArithmeticError, ValueError):
            continue
        # Values a hand exercise has (ReLU kinks are refused by the forward pass).
        values = [v for n, v in true.items() if n not in givens]
        if not all(math.isfinite(v) and abs(v) < 100 for v in values):
            continue
        return Item(ex, net, o, lines, givens, true, own)


def spots(item: Item) -> list[S.Mistake]:
    """Every (misconception, written value) where a registered misconception changes the
    formula: the optimizer's with their plain-Python formula, the network's with the
    registry's (an Alternative)."""
    ex = item.exercise
    written = {line.name for line in item.program}
    out: dict[tuple[str, str], S.Mistake] = {}
    for alt in ex.alternatives:
        key = alt.misconception.key
        for q in ex.derivation.quantities:
            if q.name not in written or q.formula is None or alt.derivation[q.name].formula == q.formula:
                continue
            if (key, q.name) in out:
                continue
            if key in OPTIMIZER_KEYS:
                out[(key, q.name)] = S.Mistake(key, q.name, item.own[(key, q.name)])
            else:
                out[(key, q.name)] = S.Mistake(key, q.name, alt)
    return list(out.values())


def population(seed: int, n: int, mistakes: int = 1, exercises: int = 40):
    rng = random.Random(seed)
    pool = [random_item(rng) for _ in range(exercises)]
    by_ex = {id(i.exercise): spots(i) for i in pool}
    items = [(i.exercise, i.program, i.givens, i.truth) for i in pool]
    yield from S.program_population(seed + 1, n, mistakes, items, lambda item: by_ex[id(item[0])])
