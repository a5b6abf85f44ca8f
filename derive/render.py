"""LaTeX documents from templates: the Jinja2 environment and the data each template gets.

Delimiters that cannot collide with LaTeX: ``\\BLOCK{...}`` for statements, ``\\VAR{...}``
for values, ``\\#{...}`` for comments; a line starting with ``%%`` is a line statement.
A missing variable is an error (never a blank number in a key), and no SymPy object may
reach a template: every expression goes through the one printer first.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import sympy as sp

from . import questions, theory, training
from .activations import ACTIVATIONS
from .derivation import Quantity
from .errors import DeriveError
from .figure import layout
from .latex import latex_name, tex
from .losses import LOSSES
from .network import Network
from .rounding import given_text

SHEET, KEY = "sheet.tex.j2", "solution.tex.j2"

_TEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    # Mathematical characters that reasons and titles use in plain text (pdflatex has no
    # Unicode fonts for them).
    "η": r"$\eta$", "σ": r"$\sigma$", "δ": r"$\delta$", "∂": r"$\partial$", "½": r"$\tfrac12$",
    "′": r"$'$", "−": r"$-$", "→": r"$\to$", "·": r"$\cdot$", "≈": r"$\approx$", "ŷ": r"$\hat y$",
    "×": r"$\times$", "≤": r"$\le$", "≥": r"$\ge$", "∑": r"$\sum$", "∇": r"$\nabla$",
}


def escape_tex(text: Any) -> str:
    """Text (titles, names) made safe to put into LaTeX."""
    return "".join(_TEX_SPECIALS.get(c, c) for c in str(text))


def _finalize(value: Any) -> Any:
    if isinstance(value, sp.Basic):
        raise TypeError(f"a SymPy object reached a template unprinted: {value!r}")
    return value


def builtin_templates() -> Path:
    return Path(str(resources.files("derive.templates")))


def environment(template_dir: Path | None = None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        if not Path(template_dir).is_dir():
            raise DeriveError(f"{template_dir}: --templates: expected a folder of *.tex.j2 templates")
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(jinja2.FileSystemLoader(str(builtin_templates())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        block_start_string=r"\BLOCK{",
        block_end_string="}",
        variable_start_string=r"\VAR{",
        variable_end_string="}",
        comment_start_string=r"\#{",
        comment_end_string="}",
        line_statement_prefix="%%",
        line_comment_prefix="%#",
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        keep_trailing_newline=True,
    )
    env.filters["e"] = escape_tex
    return env


def to_context(obj: Any) -> Any:
    """Frozen dataclasses into plain dicts and lists: what templates receive."""
    if is_dataclass(obj):
        return asdict(obj)
    if isinstance(obj, dict):
        return {k: to_context(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_context(v) for v in obj]
    return obj


def render(env: jinja2.Environment, name: str, context: dict) -> str:
    if "kind" in context:  # hook: another exercise kind has its own templates (graph_sheet.tex.j2, …)
        name = f"{context['kind']}_{name}"
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise DeriveError(f"template {exc.name}: not found in the template folder or the built-in templates") from None
    except (jinja2.TemplateSyntaxError, jinja2.UndefinedError) as exc:
        where = getattr(exc, "filename", None) or name
        line = f":{exc.lineno}" if getattr(exc, "lineno", None) else ""
        raise DeriveError(f"{where}{line}: template error: {exc.message}") from None


def context(solution, document: str) -> dict:
    """Everything the sheet and key templates receive for one Solution (see README)."""
    if solution.network is None:  # hook: a computational graph's template data (derive/graph_key.py)
        from .graph_key import context as graph_context
        return graph_context(solution, document)
    net = solution.network
    der = solution.derivation
    spec = solution.spec
    g = solution.givens

    def given(name: str, **extra) -> dict:
        return {"name": name, "tex": latex_name(name), "value": given_text(g[name]), **extra}

    many = der.n_examples > 1
    examples = [
        {"inputs": [given(f"{x}[{e}]" if many else x) for x in net.inputs],
         "targets": [given(f"{y}[{e}]" if many else y) for y in net.targets]}
        for e in range(1, der.n_examples + 1)
    ]
    layers = []
    for i, layer in enumerate(net.layers):
        act = ACTIVATIONS[layer.activation]
        layers.append({
            "index": layer.index,
            "output": i == len(net.layers) - 1,
            "units": [latex_name(u) for u in layer.units],
            "activation": layer.activation,
            "title": act.title,
            "symbol": layer.symbol or act.symbol,
            "definition": act.definition_tex.replace(r"\alpha", given_text(layer.slope)),
            "derivative": act.derivative_tex.replace(r"\sigma", layer.symbol or act.symbol)
                                            .replace(r"\alpha", given_text(layer.slope)),
            "cases": r"\begin{cases}" in act.definition_tex,
            "bias_unit": latex_name(layer.bias_unit) if layer.bias_unit else None,
            "bias_value": given_text(layer.bias_value),
        })
    sections = {stage: [dict(to_context(line), kind="chain" if hasattr(line, "paths") else "line")
                        for line in lines]
                for stage, lines in solution.sections.items()}
    policy = solution.policy
    before, after = solution.loss_before, solution.loss_after
    runs = training.runs_for(solution)
    return {
        "exercise": {"title": spec.title, "course": spec.course, "variant": solution.variant,
                     "seed": solution.seed},
        "document": document,
        "figure": _figure(net),
        "given": {
            "examples": examples,
            "bias_units": [given(l.bias_unit) for l in net.layers if l.bias_unit],
            "weight_rows": _rows([given(p.name, connection=p.connection, bias=p.is_bias) for p in net.params]),
            "eta": given_text(g["eta"]),
        },
        "conventions": {
            "layers": layers,
            "loss": {
                "kind": spec.loss.kind,
                "title": LOSSES[spec.loss.kind].title,
                "half": spec.loss.half,
                "outputs": spec.loss.outputs,
                "examples": spec.loss.examples,
                "formula": _formula(der["L[1]" if many else "L"]),
                "total": _formula(der["L"]) if many else None,
                "n_outputs": len(net.outputs),
                "n_examples": der.n_examples,
                "cancels": der.cancels,
                "cancel": [{"lhs": latex_name(q.name), "rhs": _formula(q)} for q in der.quantities
                           if q.note == "cancel" and q.example in (None, 1)],
            },
            "bias": net.bias,
            "trained_bias": spec.train_bias,
            "frozen": [latex_name(n) for n in sorted(net.frozen, key=[p.name for p in net.params].index)],
            "update_mode": spec.update,
            "decimals": policy.decimals,
            "carry": spec.carry,
            "chains_only": not der.uses_delta,
        },
        "steps": sections,
        "summary": {
            "before": policy.tex(before),
            "after": policy.tex(after),
            "decreased": solution.loss_decreased,
            "change": f"{abs(after - before) / before * 100:.1f}" if before else "0",
        },
        "questions": questions.context(spec, len(runs)),
        "theory": theory.context(solution),
        "training": training.context(solution, runs),
    }


# Per structure, not per variant: a batch of variants shares these (templates only read them).
@lru_cache(maxsize=64)
def _figure(net: Network) -> dict:
    return to_context(layout(net))


@lru_cache(maxsize=256)
def _formula(q: Quantity) -> str:
    return tex(q.formula)


def _rows(items: list, width: int = 10) -> list[list]:
    """Rows of at most ``width``, as even as possible (15 items: 8 and 7, not 10 and 5)."""
    n_rows = -(-len(items) // width)
    size = -(-len(items) // n_rows) if items else width
    return [items[i:i + size] for i in range(0, len(items), size)]
