"""A variant's key and answer pieces made the fast way are what the plain way makes: the
key lines of the function written per structure are the lines filled by the marker rules
(the way the first Solution of an Exercise is made), and answers.json and answers.csv
pieces are what ``indented(answers(s))`` and ``csv.writer`` write."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import pickle
from types import SimpleNamespace

import pytest
from hypothesis import given, settings, strategies as st

from derive import export, variants as V
from derive.solution import GIVEN, ChainLine, Line, ShownFactor, _record
from test_fast_paths import _exercises


@pytest.fixture(scope="module")
def exercises():
    return _exercises()


def _variants(ex, count: int):
    try:
        drawn = V.Sampler(ex).draw_many(V.numbered(count), base_seed=11)
    except Exception:  # an exercise without anything to vary: its own values, with a seed
        return [({}, 11, "00001")]
    return [(dict(v.overrides), v.seed, v.id) for v in drawn]


def _plain(ex, overrides, seed, variant):
    """The Solution as the first one of an Exercise is made: templates unread, every line
    filled by the marker rules (``latex.fill``) and measured by ``_width``."""
    ex._solved = 0
    return ex.solve(overrides, seed=seed, variant=variant)


def _fields(x):
    """Every field, with the type of each text (a Tex is not a plain str to the templates)."""
    if dataclasses.is_dataclass(x):
        return type(x), tuple((f.name, _fields(getattr(x, f.name))) for f in dataclasses.fields(x))
    if isinstance(x, tuple):
        return tuple(map(_fields, x))
    if isinstance(x, dict):
        return tuple((k, _fields(v)) for k, v in x.items())
    return type(x), x


def test_the_key_lines_written_out_per_structure_are_the_lines_filled_by_the_marker_rules(exercises):
    lines = chains = 0
    for ex in exercises:
        for overrides, seed, variant in _variants(ex, 6):
            plain = _plain(ex, overrides, seed, variant)
            fast = ex.solve(overrides, seed=seed, variant=variant)
            assert ex._solved > 1  # the second path was taken
            assert _fields(dict(fast.sections)) == _fields(dict(plain.sections)), ex.spec.source
            assert list(fast.sections) == list(plain.sections)  # the stages in the key's order
            assert fast.values == plain.values and fast.givens == plain.givens and fast.runs == plain.runs
            for stage_lines in fast.sections.values():
                lines += len(stage_lines)
                chains += sum(line.kind == "chain" for line in stage_lines)
    assert lines > 1000 and chains > 100


def test_a_line_made_without_init_is_the_line_init_makes():
    made = [
        (Line, {"name": "h1", "lhs": "h_1", "forms": ("a", "b"), "value": "0.5", "relation": "=", "note": "n",
                "first_row": 1}),
        (ShownFactor, {"partial": "p", "closed": "c", "value": "1"}),
        (ChainLine, {"name": "w1", "lhs": "l", "paths": ((ShownFactor("p", "c", "v"),),), "numbers": ("1",),
                     "value": "2", "relation": r"\approx", "forms": ()}),
    ]
    for cls, fields in made:
        fast, plain = _record(cls, dict(fields)), cls(**fields)
        assert type(fast) is cls and fast == plain and hash(fast) == hash(plain) and repr(fast) == repr(plain)
        assert vars(fast) == vars(plain) and list(vars(fast)) == list(vars(plain))
        assert pickle.loads(pickle.dumps(fast)) == plain
        with pytest.raises(dataclasses.FrozenInstanceError):
            fast.value = "3"


def test_the_answers_pieces_are_what_the_plain_writers_write(exercises):
    for ex in exercises:
        for k, (overrides, seed, variant) in enumerate(_variants(ex, 4)):
            s = ex.solve(overrides, seed=seed, variant=variant)
            if s.network is not None:
                assert export._item(s) == export.indented(export.answers(s), 2), ex.spec.source
            assert export.piece("csv", s, k) == _csv_piece(s, k), ex.spec.source


def _csv_piece(s, index: int) -> bytes:
    """answers.csv's row of ``s`` as csv.writer writes it."""
    der = s.derivation
    givens, names = [q.name for q in der.givens], [q.name for q in der.quantities if q.stage != GIVEN]
    out = io.StringIO()
    rows = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    if index == 0:  # online updates: the losses at the starting parameters last (L0[1], …, L0)
        rows.writerow(["variant", "seed", *givens, *names, *s.start_values])
    rows.writerow([s.variant or "", "" if s.seed is None else s.seed,
                   *(s.givens[n] for n in givens), *(s.values[n] for n in names), *s.start_values.values()])
    return out.getvalue().encode("utf-8")


@settings(max_examples=200, deadline=None, derandomize=True)
@given(variant=st.one_of(st.none(), st.text()), seed=st.one_of(st.none(), st.integers(-2**70, 2**70)))
def test_a_csv_row_quotes_any_variant_id_as_csv_writer_does(reference, variant, seed):
    s = dataclasses.replace(reference, variant=variant, seed=seed)
    try:
        expected = _csv_piece(s, 1)
    except UnicodeEncodeError:  # a lone surrogate: no file can hold it
        with pytest.raises(UnicodeEncodeError):
            export.piece("csv", s, 1)
        return
    assert export.piece("csv", s, 1) == expected


_SCALARS = st.one_of(st.floats(), st.integers(-10**20, 10**20), st.booleans(), st.none(), st.text(max_size=5))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.text(max_size=6), st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                                                          _SCALARS)),
                max_size=6, unique_by=lambda kv: kv[0]),
       st.integers(min_value=0, max_value=4))
def test_a_block_of_numbers_is_the_indented_dict(items, level):
    names, values = [k for k, _ in items], [v for _, v in items]
    keys = export._keys(names, level + 1)
    try:
        expected = export.indented(dict(items), level)
    except ValueError:  # a float JSON has no word for
        with pytest.raises(ValueError):
            export._numbers(keys, values, level)
        return
    assert export._numbers(keys, values, level) == expected


_RUNS = st.lists(st.builds(
    SimpleNamespace,
    learning_rate=st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(0, 10)),
    steps=st.integers(0, 1000),
    frozen=st.lists(st.text(max_size=4), max_size=3).map(tuple),
    losses=st.lists(st.floats(), max_size=6),
    verdict=st.text(max_size=10)), max_size=3)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_RUNS, st.integers(min_value=0, max_value=4))
def test_the_training_runs_are_written_as_indented_writes_them(runs, level):
    expected = export.indented(export._training(SimpleNamespace(runs=runs)), level)
    assert export._training_text(runs, level) == expected


def test_the_written_out_pieces_are_strict_json(reference_exercise):
    import json

    s = reference_exercise.solve({}, seed=3, variant="0001")
    data = json.loads(export._item(s))
    assert data["variant"] == "0001" and data["seed"] == 3
    assert data["quantities"]["L"] == s.values["L"] and math.isfinite(data["quantities"]["L"])


@pytest.mark.parametrize("eta", [0.5, -0.0, 2, 1e-7, 1e300])
def test_the_settings_are_written_with_any_learning_rate(reference, eta):
    s = dataclasses.replace(reference, givens={**reference.givens, "eta": eta}, variant="7", seed=7)
    assert export._item(s) == export.indented(export.answers(s), 2)
    assert f'"learning_rate": {eta!r},' in export._item(s)
