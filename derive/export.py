"""Writers: each output format is one small function and one entry in ``WRITERS``.

A writer takes the Solutions it is given and returns the text of its file; writing to
disk happens in one place (``write_files``), after every text has been made, so that a
failure never leaves half a set of files behind.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Callable, Sequence

from . import training
from .derivation import GIVEN
from .errors import DeriveError
from .losses import LOSSES
from .canvas import write_canvas
from .moodle import write_moodle
from .qti import write_qti21
from .solution import Solution
from .spec import Spec

MARKER = "answers.json"  # the file that says which exercise a folder holds


def _plain(value):
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
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
        },
        "given": {q.name: solution.givens[q.name] for q in solution.derivation.givens},
        "quantities": {q.name: solution.values[q.name] for q in solution.derivation.quantities
                       if q.stage != GIVEN},
        "training": training.answers(solution),
        "spec": _plain(spec.raw),
    }


def write_json(solutions: Sequence[Solution]) -> str:
    if len(solutions) == 1 and solutions[0].variant is None:
        data = answers(solutions[0])
    else:
        # Variants share one spec: written once, beside the exercise title the folder check reads.
        data = {"exercise": solutions[0].spec.title, "source": source_name(solutions[0].spec),
                "spec": _plain(solutions[0].spec.raw),
                "variants": [{k: v for k, v in answers(s).items() if k != "spec"} for s in solutions]}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_csv(solutions: Sequence[Solution]) -> str:
    """One row per variant: its id and seed, the given values, then every quantity, under
    the names of answers.json, at full precision (the grader rounds, not the file)."""
    der = solutions[0].derivation
    givens = [q.name for q in der.givens]
    names = [q.name for q in der.quantities if q.stage != GIVEN]
    out = io.StringIO()
    rows = csv.writer(out, lineterminator="\n")
    rows.writerow(["variant", "seed", *givens, *names])
    for s in solutions:
        rows.writerow([s.variant or "", "" if s.seed is None else s.seed,
                       *(repr(s.givens[n]) for n in givens), *(repr(s.values[n]) for n in names)])
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


def check_out_dir(out: Path, spec: Spec, force: bool = False) -> None:
    """Refuse a folder that holds another exercise's files (or files we did not write)."""
    if force or not out.exists():
        return
    if not out.is_dir():
        raise DeriveError(f"{out}: --out: expected a folder, found a file")
    marker = out / MARKER
    if marker.exists():
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
            held = (data.get("exercise"), data.get("source"))
        except (json.JSONDecodeError, AttributeError):
            held = (None, None)
        if held != (spec.title, source_name(spec)):
            raise DeriveError(f"{out}: --out: the folder holds the files of another exercise "
                              f"({held[0]!r} from {held[1]}); choose another folder or pass --force to overwrite")
    elif any(out.iterdir()):
        raise DeriveError(f"{out}: --out: the folder is not empty and holds no {MARKER}; "
                          "choose another folder or pass --force to overwrite")


def write_files(out: Path, files: dict[str, str | bytes]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        if isinstance(text, bytes):  # a package (zip)
            tmp.write_bytes(text)
        else:
            tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written
