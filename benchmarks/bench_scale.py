"""Derive once, evaluate many: gradients of growing networks, timed beside the naive
SymPy route and PyTorch autograd, and checked against an independent high-precision
finite difference.

    python benchmarks/bench_scale.py
    python benchmarks/bench_scale.py --networks 32-128-128-10 --compare ../old --runs 3

For each network it writes a spec, runs `derive solve SPEC --no-pdf` (answers.json and the
key's .tex, δ-form for the deep ones) and reports the wall time with interpreter start.
In the same run it times
- the naive route: sympy.diff of the composed loss for every parameter, then subs and
  evalf (only on the small networks, where it finishes in reasonable time);
- PyTorch autograd (forward and backward in float64), when torch is installed;
and compares every gradient (a sample of 200 for the largest network) with a central
difference computed by an independent forward pass in mpmath at 40 digits.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mpmath
import sympy as sp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from derive import spec as spec_mod  # noqa: E402
from derive.solution import Exercise  # noqa: E402

NETWORKS = [(2, 2, 1), (3, 4, 2), (4, 16, 16, 4), (8, 32, 32, 32, 4)]
NAIVE_UP_TO = 30  # parameters


def spec_toml(sizes: tuple[int, ...], seed: int = 1) -> str:
    rng = random.Random(seed)
    n_in, *hidden, n_out = sizes
    inputs = [f"x{i + 1}" for i in range(n_in)]
    lines = [f'title = "Network {"-".join(map(str, sizes))}"', "[network]",
             f"inputs = {json.dumps(inputs)}", 'bias = "neuron"']
    for l, n in enumerate(hidden):
        units = [f"h{l + 1}_{u + 1}" for u in range(n)]
        lines += ["[[network.layers]]", f"units = {json.dumps(units)}", 'activation = "sigmoid"']
    outs = [f"o{k + 1}" for k in range(n_out)]
    targets = [f"y{k + 1}" for k in range(n_out)]
    lines += ["[[network.layers]]", f"units = {json.dumps(outs)}", 'activation = "identity"',
              f"targets = {json.dumps(targets)}", "[loss]", 'kind = "squared_error"', "[[examples]]"]
    lines += [f"{x} = {rng.uniform(-1, 1):.3f}" for x in inputs]
    lines += [f"{t} = {rng.uniform(-1, 1):.3f}" for t in targets]
    lines += ["[training]", "learning_rate = 0.1", "[weights]"]
    from derive.network import structure
    probe = spec_mod.typed(spec_mod.read_toml("\n".join(lines), "<probe>"), "<probe>")
    _, params = structure(probe)
    lines += [f"{p.name} = {rng.uniform(-1, 1) / max(1, n_in) ** 0.5:.3f}" for p in params]
    return "\n".join(lines) + "\n"


def wall(cmd: list[str], cwd: Path | None = None) -> float:
    return timed(cmd, cwd)[0]


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, float]:
    """Wall time and processor time (user + system) in seconds, and peak memory in MiB, of
    one command. On a shared machine the processor time is what the wall time would be
    with the machine to itself, roughly."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {proc.stderr.read().decode()}")
    proc.stderr.close()
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def compare(networks, other: Path, runs: int) -> None:
    """``derive solve --no-pdf`` of this checkout and of another one (a commit checked out
    in ``other``), alternating, with the load average before and after."""
    py = sys.executable
    here = Path(__file__).resolve().parent.parent
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'network':>14} {'this checkout: wall, cpu, peak':>32} {'the other: wall, cpu, peak':>32} {'ratio (wall)':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for sizes in networks:
            name = "-".join(map(str, sizes))
            spec_path = Path(tmp) / f"net{name}.toml"
            spec_path.write_text(spec_toml(sizes))
            mine, theirs = [], []
            for k in range(runs):
                for where, into in ((here, mine), (other, theirs)):
                    out = Path(tmp) / f"{name}-{k}-{len(into)}-{where.name}"
                    into.append(timed([py, "-m", "derive", "solve", str(spec_path), "--out", str(out), "--no-pdf"],
                                      cwd=where))
            a, b = (statistics.median(t for t, _, _ in x) for x in (mine, theirs))
            ca, cb = (statistics.median(c for _, c, _ in x) for x in (mine, theirs))
            ma, mb = (max(m for _, _, m in x) for x in (mine, theirs))
            print(f"{name:>14} {a:8.2f} s {ca:7.2f} s {ma:6.0f} MiB {b:8.2f} s {cb:7.2f} s {mb:6.0f} MiB {a / b:12.2f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"medians of {runs} runs each, alternating; peak: the largest resident set of a run")


def naive(ex: Exercise) -> float:
    """sympy.diff of the composed loss, subs, evalf: the route the design avoids."""
    start = time.perf_counter()
    subs: dict = {}
    for q in ex.derivation.quantities:
        if q.stage in ("forward", "loss") and q.formula is not None:
            subs[q.symbol] = q.formula.xreplace(subs)
    loss = subs[ex.derivation["L"].symbol].rewrite("explicit")
    values = {sp.Symbol(k): v for k, v in ex.givens().items()}
    for p in ex.network.params:
        sp.diff(loss, sp.Symbol(p.name)).subs(values).evalf()
    return time.perf_counter() - start


def mp_loss(ex: Exercise, weights: dict) -> mpmath.mpf:
    """The loss by a plain forward pass in mpmath, written independently of the derivation."""
    net, g = ex.network, ex.givens()
    act = {u: mpmath.mpf(g[u]) for u in net.inputs}
    for layer in net.layers:
        for u in layer.units:
            z = sum(weights[p.name] * (act[p.source] if p.source else 1) for p in net.incoming(u))
            act[u] = 1 / (1 + mpmath.exp(-z)) if layer.activation == "sigmoid" else z
    return sum((act[o] - g[t]) ** 2 / 2 for o, t in zip(net.outputs, net.targets))


def fd_check(ex: Exercise, values: dict, sample: int | None) -> float:
    mpmath.mp.dps = 40
    g = ex.givens()
    weights = {p.name: mpmath.mpf(g[p.name]) for p in ex.network.params}
    names = [p.name for p in ex.network.params]
    if sample and sample < len(names):
        names = random.Random(0).sample(names, sample)
    h = mpmath.mpf("1e-15")
    worst = 0.0
    for n in names:
        up, down = dict(weights), dict(weights)
        up[n] += h
        down[n] -= h
        fd = (mp_loss(ex, up) - mp_loss(ex, down)) / (2 * h)
        worst = max(worst, abs(float(fd) - values[f"dL/d{n}"]) / max(1e-12, abs(float(fd))))
    return worst


def median_call(fn, runs: int) -> float:
    """Median time of one call, after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def torch_time(ex: Exercise, runs: int = 20) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    net, g = ex.network, ex.givens()
    params = {p.name: torch.tensor(g[p.name], dtype=torch.float64, requires_grad=True) for p in net.params}

    def step():
        act = {u: torch.tensor(g[u], dtype=torch.float64) for u in net.inputs}
        for layer in net.layers:
            for u in layer.units:
                z = sum(params[p.name] * (act[p.source] if p.source else 1) for p in net.incoming(u))
                act[u] = torch.sigmoid(z) if layer.activation == "sigmoid" else z
        loss = sum((act[o] - g[t]) ** 2 / 2 for o, t in zip(net.outputs, net.targets))
        return torch.autograd.grad(loss, list(params.values()))

    return median_call(step, runs)


def torch_tensor_time(ex: Exercise, runs: int = 50) -> float | None:
    """PyTorch as one would write it: a weight matrix and a bias vector per layer."""
    try:
        import torch
    except ImportError:
        return None
    net, g = ex.network, ex.givens()
    previous = list(net.inputs)
    weights, biases = [], []
    for layer in net.layers:
        W = torch.zeros(len(layer.units), len(previous), dtype=torch.float64)
        b = torch.zeros(len(layer.units), dtype=torch.float64)
        for i, u in enumerate(layer.units):
            for p in net.incoming(u):
                if p.source is None:
                    b[i] = g[p.name]
                else:
                    W[i, previous.index(p.source)] = g[p.name]
        weights.append(W.requires_grad_())
        biases.append(b.requires_grad_())
        previous = list(layer.units)
    x = torch.tensor([g[u] for u in net.inputs], dtype=torch.float64)
    y = torch.tensor([g[t] for t in net.targets], dtype=torch.float64)
    acts = [layer.activation for layer in net.layers]

    def step():
        a = x
        for W, b, act in zip(weights, biases, acts):
            z = W @ a + b
            a = torch.sigmoid(z) if act == "sigmoid" else z
        loss = ((a - y) ** 2).sum() / 2
        return torch.autograd.grad(loss, weights + biases)

    return median_call(step, runs)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--networks", nargs="*", metavar="SIZES",
                        help="layer sizes such as 32-128-128-10 (default: the table of the README)")
    parser.add_argument("--compare", type=Path, metavar="DIR",
                        help="only time `derive solve --no-pdf` here and in DIR (another commit's checkout), alternating")
    parser.add_argument("--runs", type=int, default=3, help="runs per checkout with --compare")
    args = parser.parse_args()
    networks = [tuple(map(int, n.split("-"))) for n in args.networks] if args.networks else NETWORKS
    if args.compare:
        compare(networks, args.compare.resolve(), args.runs)
        return
    py = sys.executable
    print(f"{'network':>14} {'params':>6} {'derive solve':>13} {'build+solve':>11} {'evaluate':>10} {'naive sympy':>12} "
          f"{'ratio':>7} {'torch (x eval)':>17} {'torch-mat (x eval)':>18} {'max rel. diff to mpmath FD':>27}")
    with tempfile.TemporaryDirectory() as tmp:
        for sizes in networks:
            name = "-".join(map(str, sizes))
            spec_path = Path(tmp) / f"net{name}.toml"
            spec_path.write_text(spec_toml(sizes))
            out = Path(tmp) / name
            runs = 3 if len(sizes) < 5 and sum(sizes) < 100 else 1
            cli = statistics.median(wall([py, "-m", "derive", "solve", str(spec_path), "--out", str(out), "--no-pdf"])
                                    for _ in range(runs))
            start = time.perf_counter()
            ex = Exercise(spec_mod.load(spec_path))
            ex.solve()
            build = time.perf_counter() - start
            givens = ex.givens()
            per_eval = median_call(lambda: ex.evaluator.evaluate(givens), 20)
            values = json.loads((out / "answers.json").read_text())["quantities"]
            n = len(ex.network.params)
            naive_t = naive(ex) if n <= NAIVE_UP_TO else None
            torch_t = torch_time(ex)
            tensor_t = torch_tensor_time(ex)
            worst = fd_check(ex, values, sample=200 if n > 1000 else None)
            naive_s = f"{naive_t:10.3f} s" if naive_t is not None else f"{'—':>12}"
            ratio = f"{naive_t / build:6.1f}x" if naive_t is not None else f"{'—':>7}"
            torch_s = f"{torch_t * 1e3:6.2f} ms" if torch_t is not None else f"{'—':>9}"
            tensor_s = f"{tensor_t * 1e3:6.3f} ms" if tensor_t is not None else f"{'—':>9}"
            if torch_t is not None:
                torch_s += f" ({torch_t / per_eval:5.1f}x)"
                tensor_s += f" ({tensor_t / per_eval:5.2f}x)"
            print(f"{name:>14} {n:6d} {cli:11.2f} s {build:9.3f} s {per_eval * 1e3:7.3f} ms {naive_s} {ratio} {torch_s} {tensor_s} {worst:27.1e}")
    print("derive solve: wall time of the command with interpreter start (answers.json and the key's .tex).")
    print("evaluate: one evaluation of the compiled graph (all values and gradients), median over 20.")
    print("build+solve: in-process, derivation built once plus one Solution (key forms included).")
    print("ratio: naive sympy route / build+solve.")
    print("torch: forward+backward in float64 with one scalar tensor per parameter (the same graph),")
    print("torch-mat: the same with a weight matrix per layer; medians over 20 and 50 calls;")
    print("in parentheses: the PyTorch time over one evaluation of the compiled graph.")


if __name__ == "__main__":
    main()
