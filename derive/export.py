"""Writers: each output format is one small class and one entry in ``STREAMS``.

A writer is given an open file and then one Solution at a time, and writes its piece at
once; the files live in one place (``output.Stage``), which swaps a run's whole folder in
only when every file is made, so that a failure never leaves half a set of files behind.
``write`` gives a whole file in memory, for one exercise or a few variants.
"""

from __future__ import annotations

import csv
import io
import json
import functools
import math
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Mapping, Protocol, Sequence

from . import optimizers
from .losses import LOSSES
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


def indented(value: Any, level: int = 0) -> str:
    """``json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)`` for the data
    ``answers`` makes (dicts with text keys, lists, text, numbers, booleans, None). With an
    indent, ``json`` takes its pure-Python encoder, about twice as slow on a variant's
    answers as this, which writes every scalar with the encoder's own C functions."""
    kind = type(value)
    if kind is float and math.isfinite(value):  # most values: written without a call further
        return float.__repr__(value)
    if kind is dict or kind is list or kind is tuple or isinstance(value, (dict, list, tuple)):
        if not value:
            return "{}" if isinstance(value, dict) else "[]"
        inner = "\n" + "  " * (level + 1)
        deeper, isfinite, number = level + 1, math.isfinite, float.__repr__
        if isinstance(value, dict):
            for key in value:
                if not isinstance(key, str):
                    raise TypeError(f"answers.json keys are text, got {key!r}")
            items = [f"{encode_basestring(k)}: "
                     f"{number(v) if type(v) is float and isfinite(v) else indented(v, deeper)}"
                     for k, v in value.items()]
            opening, closing = "{", "}"
        else:
            items = [number(v) if type(v) is float and isfinite(v) else indented(v, deeper) for v in value]
            opening, closing = "[", "]"
        return opening + inner + ("," + inner).join(items) + "\n" + "  " * level + closing
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None or value is True or value is False:
        return _CONSTANTS[value]
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
        return float.__repr__(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_CONSTANTS = {None: "null", True: "true", False: "false"}


def answers(solution: Solution) -> dict:
    """One variant's answers as data: every quantity of the key at full precision (the spec,
    the same for every variant, is the file's to add)."""
    if solution.network is None:  # hook: a computational graph has no network settings (derive/graph_key.py)
        from .graph_key import answers as graph_answers
        return graph_answers(solution)
    spec = solution.spec
    return {
        "exercise": spec.title,
        "source": source_name(spec),
        "variant": solution.variant,
        "seed": solution.seed,
        "settings": _settings(solution),
        "given": {q.name: solution.givens[q.name] for q in solution.derivation.givens},
        "quantities": {**{q.name: solution.values[q.name] for q in solution.derivation.quantities
                          if q.stage != GIVEN}, **solution.start_values},
        "training": _training(solution),
    }


def _settings(solution: Solution) -> dict:
    return _settings_of(solution.spec, solution.network, solution.givens)


def _settings_of(spec: Spec, network, givens: Mapping[str, float]) -> dict:
    return {
        "loss": {"kind": spec.loss.kind,
                 "half": spec.loss.half if LOSSES[spec.loss.kind].uses_half else None,
                 "outputs": spec.loss.outputs,
                 "examples": spec.loss.examples},
        "bias": spec.bias,
        "train_bias": spec.train_bias,
        "learning_rate": givens["eta"],
        "frozen": sorted(network.frozen),
        "update": spec.update,
        "decimals": spec.decimals,
        **({"optimizer": optimizers.describe(spec.optimizer, givens)} if spec.optimizer else {}),  # derive/optimizers.py
    }


def _training(solution: Solution) -> list:
    return [  # a loss that could not be computed (the run diverged) is null
        {"learning_rate": run.learning_rate, "steps": run.steps, "frozen": list(run.frozen),
         "losses": [v if math.isfinite(v) else None for v in run.losses],
         "verdict": run.verdict}
        for run in solution.runs
    ]


class _Names:
    """What answers.json and answers.csv write the same for every variant of an exercise:
    the names of the given values and of the quantities, and their keys as written at the
    depth a variant's answers have in answers.json, so that a variant writes its numbers."""

    def __init__(self, exercise):
        der = exercise.derivation
        self.givens = tuple(q.name for q in der.givens)
        self.computed = tuple(q.name for q in der.quantities if q.stage != GIVEN)
        self.quantities = (*self.computed, *exercise.start_names)  # online: L0[1], …, L0 last, as in the key
        # a quantity's name is its key (Derivation.index): were one written twice, answers'
        # dicts would hold it once, and answers.json is left to them
        self.unique = len({*self.givens}) == len(self.givens) and len({*self.quantities}) == len(self.quantities)
        self.given_keys, self.quantity_keys = _keys(self.givens, 4), _keys(self.quantities, 4)
        self.csv_head = _csv_row(["variant", "seed", *self.givens, *self.quantities])
        self.spec, self.network = exercise.spec, exercise.network

    @functools.cached_property
    def settings(self) -> tuple[str, str] | None:
        """The settings as answers.json writes them, before and after the learning rate (with
        an optimizer, whose state is written from the variant's values: None)."""
        if self.spec.optimizer is not None:
            return None
        text = indented(_settings_of(self.spec, self.network, {"eta": _HERE}), 3)
        before, here, after = text.partition(encode_basestring(_HERE))
        assert here and _HERE not in after
        return before, after

    @functools.cached_property
    def head(self) -> str:
        """What a variant's answers begin with in answers.json, up to its id."""
        inner = "\n" + "  " * 3
        return (f"{{{inner}\"exercise\": {indented(self.spec.title)},{inner}\"source\": "
                f"{indented(source_name(self.spec))},{inner}\"variant\": ")


def _keys(names: Sequence[str], level: int) -> tuple[str, ...]:
    """Each name as a key of a dict at ``level`` - 1 writes it, with what comes before it."""
    inner = "\n" + "  " * level
    return tuple(f"{',' if k else ''}{inner}{encode_basestring(name)}: " for k, name in enumerate(names))


def _numbers(keys: tuple[str, ...], values: list, level: int) -> str:
    """``indented(dict(zip(names, values)), level)`` for the names of ``keys`` (``_keys(names,
    level + 1)``): most often every value a finite float, written by float's own repr."""
    if not keys:
        return "{}"
    if all([type(v) is float for v in values]) and math.isfinite(sum(values)):
        texts = map(float.__repr__, values)
    else:
        texts = [indented(v, level + 1) for v in values]
    return "{" + "".join(map(str.__add__, keys, texts)) + "\n" + "  " * level + "}"


def _item(s: Solution) -> str:
    """``indented(answers(s), 2)``, each name written once per exercise (``_Names``)."""
    names = s.exercise.shared(_Names) if s.network is not None else None
    if names is None or not names.unique:
        return indented(answers(s), 2)
    givens = s.givens
    inner = ",\n" + "  " * 3
    return "".join([
        names.head, indented(s.variant), inner, '"seed": ', indented(s.seed), inner,
        '"settings": ', _settings_text(names, s), inner,
        '"given": ', _numbers(names.given_keys, [givens[n] for n in names.givens], 3), inner,
        '"quantities": ', _numbers(names.quantity_keys, _quantities(names, s), 3), inner,
        '"training": ', _training_text(s.runs, 3), "\n", "  " * 2, "}"])


def _quantities(names: _Names, s: Solution) -> list:
    """The values of ``names.quantities``: the derivation's, then the losses at the starting
    parameters of online updates."""
    values = s.values
    out = [values[n] for n in names.computed]
    if s.start_values:
        out += s.start_values.values()
    return out


def _settings_text(names: _Names, s: Solution) -> str:
    """``indented(_settings(s), 3)``, the learning rate put in."""
    eta, around = s.givens["eta"], names.settings
    if around is None or isinstance(eta, (dict, list, tuple)):  # one written deeper: by indented
        return indented(_settings(s), 3)
    return indented(eta).join(around)


_HERE = "\x00learning rate\x00"  # no setting is written so


def _training_text(runs, level: int) -> str:
    """``indented(_training(s), level)`` of a Solution with these runs, a run's losses
    written at once."""
    if not runs:
        return "[]"
    run_, key, loss = ("\n" + "  " * (level + k) for k in (1, 2, 3))
    between, isfinite = "," + loss, math.isfinite
    items = []
    for run in runs:
        losses = run.losses
        if losses and all([type(v) is float for v in losses]):  # null for a loss that could not be computed
            losses = f"[{loss}{between.join([float.__repr__(v) if isfinite(v) else 'null' for v in losses])}{key}]"
        else:
            losses = indented([v if isfinite(v) else None for v in losses], level + 2)
        items.append(f'{{{key}"learning_rate": {indented(run.learning_rate)},{key}"steps": {indented(run.steps)},'
                     f'{key}"frozen": {indented(list(run.frozen), level + 2)},{key}"losses": {losses},'
                     f'{key}"verdict": {indented(run.verdict)}{run_}}}')
    return f"[{run_}{(',' + run_).join(items)}\n{'  ' * level}]"


def _csv_row(row: list) -> str:
    out = io.StringIO()
    # Text in quotes, numbers bare: a spreadsheet keeps an id such as 00417 as text.
    csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n").writerow(row)
    return out.getvalue()


class _Json:
    """answers.json, one variant at a time: a strict JSON reader must be able to read it
    (allow_nan=False; Solutions are finite)."""

    def __init__(self, file: BinaryIO, category: str | None = None):
        self.file, self.count, self.single = file, 0, False

    @staticmethod
    def piece(s: Solution, index: int, category: str | None = None) -> bytes:
        """Variant ``s`` as the ``index``-th of the file (the first with the file's head)."""
        if index == 0:
            # Variants share one spec: written once, beside the exercise title the folder check reads.
            head = json.dumps({"exercise": s.spec.title, "source": source_name(s.spec),
                               "spec": _plain(s.spec.raw), "variants": []}, indent=2, ensure_ascii=False)
            assert head.endswith("[]\n}")
            start = f"{head[:-3]}\n    "
        else:
            start = ",\n    "
        # Written at the depth it has in the document (the variants list's items): the
        # bytes of the whole document dumped in one go.
        return (start + _item(s)).encode("utf-8")

    def put(self, piece: bytes) -> None:
        self.file.write(piece)
        self.count += 1

    def add(self, s: Solution) -> None:
        if self.count == 0 and s.variant is None:  # `derive solve`: the one exercise, spec included
            self.single = True
            self.file.write((indented({**answers(s), "spec": _plain(s.spec.raw)}) + "\n").encode("utf-8"))
            self.count += 1
            return
        assert not self.single, "a single exercise's answers.json holds one Solution"
        self.put(self.piece(s, self.count))

    def close(self) -> None:
        if not self.single:
            self.file.write(b"\n  ]\n}\n")


class _Csv:
    """One row per variant: its id and seed, the given values, then every quantity, under
    the names of answers.json, at full precision (the grader rounds, not the file)."""

    def __init__(self, file: BinaryIO, category: str | None = None):
        self.file, self.count = file, 0

    @staticmethod
    def piece(s: Solution, index: int, category: str | None = None) -> bytes:
        names = s.exercise.shared(_Names)
        givens = s.givens
        numbers = [*(givens[n] for n in names.givens), *_quantities(names, s)]
        head = names.csv_head if index == 0 else ""
        if type(s.variant) is str and type(s.seed) is int and all([type(v) is float for v in numbers]):
            # what csv.writer writes for these types: the text quoted, its quotes doubled;
            # numbers as str() writes them
            variant = s.variant.replace('"', '""')
            return f'{head}"{variant}",{s.seed},{",".join(map(float.__repr__, numbers))}\n'.encode("utf-8")
        return (head + _csv_row([s.variant or "", "" if s.seed is None else s.seed, *numbers])).encode("utf-8")

    def put(self, piece: bytes) -> None:
        self.file.write(piece)
        self.count += 1

    def add(self, s: Solution) -> None:
        self.put(self.piece(s, self.count))

    def close(self) -> None:
        pass


class _Moodle:
    """moodle.xml (derive/moodle.py): the category, one cloze question per variant."""

    def __init__(self, file: BinaryIO, category: str | None = None):
        self.file, self.category, self.count = file, category, 0

    @staticmethod
    def piece(s: Solution, index: int, category: str | None = None) -> bytes:
        from . import moodle  # late: only the LMS formats need the LMS modules
        head = moodle.head(category or moodle.default_category(s.spec.title, None)) if index == 0 else ""
        return (head + moodle.question(s)).encode("utf-8")

    def put(self, piece: bytes) -> None:
        self.file.write(piece)
        self.count += 1

    def add(self, s: Solution) -> None:
        self.put(self.piece(s, self.count, self.category))

    def close(self) -> None:
        from . import moodle
        self.file.write(moodle.TAIL.encode("utf-8"))


def _qti21() -> type:
    from .qti import Qti21Package  # late: only the LMS formats need the LMS modules
    return Qti21Package


def _canvas() -> type:
    from .canvas import CanvasPackage
    return CanvasPackage


# Each format streams. Its class, made with the open file (and the batch's category, for
# the writers that take one), writes each Solution given to ``add`` at once, and its end
# at ``close``, so that thousands of variants are never held together. ``add`` is
# ``put(piece(s, index, category))``: ``piece`` (a static method, pure, picklable result)
# may run in another process, ``put`` writes the pieces in order.
STREAMS: dict[str, tuple[str, Callable[[], type]]] = {
    "json": ("answers.json", lambda: _Json),
    "csv": ("answers.csv", lambda: _Csv),
    "moodle": ("moodle.xml", lambda: _Moodle),
    "qti21": ("qti21.zip", _qti21),
    "canvas": ("canvas-qti12.zip", _canvas),
}


class Stream(Protocol):
    @staticmethod
    def piece(s: Solution, index: int, category: str | None = None) -> Any: ...
    def put(self, piece: Any) -> None: ...
    def add(self, solution: Solution) -> None: ...
    def close(self) -> None: ...


def stream(fmt: str, file: BinaryIO, category: str | None = None) -> Stream:
    """The writer of one format into ``file``."""
    return STREAMS[fmt][1]()(file, category)


def piece(fmt: str, s: Solution, index: int, category: str | None = None) -> Any:
    """What the writer of ``fmt`` puts in its file for ``s``, the ``index``-th Solution."""
    return STREAMS[fmt][1]().piece(s, index, category)


def write(fmt: str, solutions: Iterable[Solution], category: str | None = None) -> bytes:
    """The whole file of one format for these Solutions, in memory."""
    buffer = io.BytesIO()
    out = stream(fmt, buffer, category)
    for s in solutions:
        out.add(s)
    out.close()
    return buffer.getvalue()


def write_json(solutions: Sequence[Solution]) -> str:
    return write("json", solutions).decode("utf-8")


def write_csv(solutions: Sequence[Solution]) -> str:
    return write("csv", solutions).decode("utf-8")


WRITERS: dict[str, tuple[str, Callable[..., bytes]]] = {
    fmt: (name, functools.partial(write, fmt)) for fmt, (name, _) in STREAMS.items()}
DEFAULT_FORMATS = ("json", "csv", "moodle")
CATEGORIZED = frozenset({"moodle", "qti21", "canvas"})  # writers that take the batch's category
# Writers whose ``put`` writes the piece's bytes as they are: a file of such pieces end to
# end is what the writer writes (derive/workers.py copies them so).
APPENDED = frozenset({"json", "csv", "moodle"})


def source_name(spec: Spec) -> str:
    """The spec's file name: with the title, what tells one exercise's folder from another's."""
    return Path(spec.source).name
