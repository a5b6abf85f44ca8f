"""Writers: each output format is one small function and one entry in ``WRITERS``.

A writer takes the Solutions it is given and returns the text of its file; writing to
disk happens in one place (``output.Stage``), which swaps a run's whole folder in only
when every file is made, so that a failure never leaves half a set of files behind.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Callable, Sequence

from . import optimizers
from .losses import LOSSES
from .canvas import write_canvas
from .moodle import write_moodle
from .qti import write_qti21
from .solution import GIVEN, Solution
from .spec import Spec

MARKER = "answers.json"  # the file that says which exercise a folder holds


def _plain(value):
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN or infinity
    return value


def answers(solution: Solution) -> dict:
    """One variant's answers as data: every quantity of the key at full precision."""
    if solution.network is None:  # hook: a computational graph has no network settings (derive/graph_key.py)
        from .graph_key import answers as graph_answers
        return graph_answers(solution)
    spec = solution.spec
    return {
        "exercise": spec.title,
        "source": source_name(spec),
        "variant": solution.variant,
        "seed": solution.seed,
        "settings": {
            "loss": {"kind": spec.loss.kind,
                     "half": spec.loss.half if LOSSES[spec.loss.kind].uses_half else None,
                     "outputs": spec.loss.outputs,
                     "examples": spec.loss.examples},
            "bias": spec.bias,
            "train_bias": spec.train_bias,
            "learning_rate": solution.givens["eta"],
            "frozen": sorted(solution.network.frozen),
            "update": spec.update,
            "decimals": spec.decimals,
            **({"optimizer": optimizers.describe(spec.optimizer)} if spec.optimizer else {}),  # derive/optimizers.py
        },
        "given": {q.name: solution.givens[q.name] for q in solution.derivation.givens},
        "quantities": {q.name: solution.values[q.name] for q in solution.derivation.quantities
                       if q.stage != GIVEN},
        "training": [  # a loss that could not be computed (the run diverged) is null
            {"learning_rate": run.learning_rate, "steps": run.steps, "frozen": list(run.frozen),
             "losses": [v if math.isfinite(v) else None for v in run.losses],
             "verdict": run.verdict}
            for run in solution.runs
        ],
        "spec": _plain(spec.raw),
    }


def write_json(solutions: Sequence[Solution]) -> str:
    if len(solutions) == 1 and solutions[0].variant is None:
        return json.dumps(answers(solutions[0]), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    # Variants share one spec: written once, beside the exercise title the folder check reads.
    head = json.dumps({"exercise": solutions[0].spec.title, "source": source_name(solutions[0].spec),
                       "spec": _plain(solutions[0].spec.raw), "variants": []}, indent=2, ensure_ascii=False)
    # One variant at a time: json.dumps with indent holds every piece of its output at once
    # (over 200 MB for 10,000 variants). Strings in JSON hold no raw newline, so indenting
    # each variant's lines by 4 gives the bytes of the whole document dumped in one go.
    # allow_nan=False: a strict JSON reader must be able to read it (Solutions are finite).
    items = ",\n    ".join(json.dumps({k: v for k, v in answers(s).items() if k != "spec"}, indent=2,
                                      ensure_ascii=False, allow_nan=False).replace("\n", "\n    ")
                            for s in solutions)
    assert head.endswith("[]\n}")
    return f"{head[:-3]}\n    {items}\n  ]\n}}\n"


def write_csv(solutions: Sequence[Solution]) -> str:
    """One row per variant: its id and seed, the given values, then every quantity, under
    the names of answers.json, at full precision (the grader rounds, not the file)."""
    der = solutions[0].derivation
    givens = [q.name for q in der.givens]
    names = [q.name for q in der.quantities if q.stage != GIVEN]
    out = io.StringIO()
    # Text in quotes, numbers bare: a spreadsheet keeps an id such as 00417 as text.
    rows = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    rows.writerow(["variant", "seed", *givens, *names])
    for s in solutions:
        rows.writerow([s.variant or "", "" if s.seed is None else s.seed,
                       *(s.givens[n] for n in givens), *(s.values[n] for n in names)])
    return out.getvalue()


WRITERS: dict[str, tuple[str, Callable[..., str | bytes]]] = {
    "json": ("answers.json", write_json),
    "csv": ("answers.csv", write_csv),
    "moodle": ("moodle.xml", write_moodle),
    "qti21": ("qti21.zip", write_qti21),
    "canvas": ("canvas-qti12.zip", write_canvas),
}
DEFAULT_FORMATS = ("json", "csv", "moodle")
CATEGORIZED = frozenset({"moodle", "qti21", "canvas"})  # writers that take the batch's category


def source_name(spec: Spec) -> str:
    """The spec's file name: with the title, what tells one exercise's folder from another's."""
    return Path(spec.source).name
