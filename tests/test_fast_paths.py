"""What was made faster gives what it gave before: answer and LMS files written one variant
at a time are the bytes of the files made from all Solutions at once, a variants run keeps
no list of Solutions, and the key's numbers follow the number policy's rules."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings, strategies as st

from conftest import run_cli
from derive import canvas, export, moodle, qti, variants as V, workers

CATEGORY = "$course$/Backpropagation by hand/seed 7"


@pytest.fixture(scope="module")
def solutions(reference_exercise):
    drawn = V.Sampler(reference_exercise).draw_many(V.numbered(6), base_seed=7)
    return [reference_exercise.solve(v.overrides, seed=v.seed, variant=v.id) for v in drawn]


@pytest.mark.parametrize("fmt, whole", [
    ("moodle", lambda sols: moodle.write_moodle(sols, CATEGORY).encode("utf-8")),
    ("qti21", qti.write_qti21),
    ("canvas", canvas.write_canvas),
])
def test_streamed_lms_files_equal_the_writers_of_all_variants_at_once(solutions, fmt, whole):
    # the LMS modules' own writers take the whole list; the streams take one Solution at a time
    assert export.write(fmt, iter(solutions), CATEGORY if fmt == "moodle" else None) == whole(solutions)


def test_one_exercise_answers_json_is_the_whole_document(reference):
    import json
    data = json.loads(export.write("json", [reference]))
    assert data["variant"] is None and "spec" in data and "quantities" in data


def test_a_variants_run_writes_what_its_solutions_give(tmp_path, reference_exercise):
    formats = ["json", "csv", "moodle", "qti21", "canvas"]
    out = tmp_path / "v"
    count = 3 * workers.CHUNK + 2  # made by two worker processes, in several chunks
    done = run_cli("variants", "--count", count, "--seed", "3", "--no-pdf", "--out", out, "--jobs", "2",
                   *(a for f in formats for a in ("--format", f)))
    assert done.returncode == 0, done.stderr
    drawn = V.Sampler(reference_exercise).draw_many(V.numbered(count), 3)
    sols = [reference_exercise.solve(v.overrides, seed=v.seed, variant=v.id) for v in drawn]
    category = moodle.default_category(reference_exercise.spec.title, "seed 3")
    for fmt in formats:
        name = export.STREAMS[fmt][0]
        assert (out / name).read_bytes() == export.write(fmt, sols, category if fmt == "moodle" else None), name


def test_the_variants_command_keeps_no_solution(tmp_path, monkeypatch, reference_exercise):
    """Every Solution is gone (garbage) before the next is made: the memory of a run does
    not grow with the number of variants."""
    import gc
    import weakref

    from click.testing import CliRunner

    from derive import cli as cli_mod
    from derive.solution import Exercise

    made: list[weakref.ref] = []
    alive_at_each_solve: list[int] = []
    original = Exercise.solve

    def solve(self, *args, **kwargs):
        gc.collect()
        alive_at_each_solve.append(sum(r() is not None for r in made))
        s = original(self, *args, **kwargs)
        made.append(weakref.ref(s))
        return s

    monkeypatch.setattr(Exercise, "solve", solve)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli_mod.cli, ["variants", "--count", "8", "--no-pdf", "--out", "v", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert len(made) == 8 and isinstance(made[0], weakref.ref)
    assert max(alive_at_each_solve) <= 1  # at most the one just written, still in the loop's variable


def test_the_keys_number_text_follows_round_is_exact_and_text():
    """NumberPolicy.tex rounds each value once; it must give what its three rules give."""
    import math
    import random
    import struct

    from derive.rounding import LARGE, NumberPolicy, given_text, scientific

    rng = random.Random(9)
    values = [0.0, -0.0, 1.0, 0.125, 0.00005, -0.00005, 0.000049999, 1e6, 999999.99995, 1e-300, 2.2]
    values += [rng.choice([rng.uniform(-2, 2), rng.gauss(0, 1) * 10 ** rng.randint(-8, 8),
                           round(rng.uniform(-3, 3), rng.randint(0, 6)),
                           struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]]) for _ in range(20000)]
    for decimals in (0, 2, 4):
        p = NumberPolicy(decimals)
        for v in values:
            if not math.isfinite(v):
                continue
            if v != 0 and p.round(v) == 0:
                expected = scientific(v, 2)
            elif abs(v) >= LARGE:
                expected = scientific(v, 3)
            elif p.is_exact(v):
                expected = given_text(p.round(v))
            else:
                expected = p.text(v)
            assert p.tex(v) == expected, (decimals, v)


# --- the printers' common shapes ----------------------------------------------------------
#
# The key's LaTeX and the evaluator's code print the common shapes (quantities, products,
# sums, updates) without SymPy's dispatch. Every formula of these specs is printed both
# ways and compared: the fast path must give what the Printer (and the code printer) give,
# whatever those are made to print.

def _exercises():
    import random

    from conftest import DATA, EXAMPLES
    from derive import spec as spec_mod
    from derive.solution import Exercise
    from specs import load, table

    specs = [spec_mod.load(p) for p in sorted(EXAMPLES.glob("*.toml"))]
    specs += [spec_mod.load(DATA / "tanh_softmax_3_4_4_2.toml"), spec_mod.load(DATA / "wide_4_16_16_4.toml")]
    rng = random.Random(4)
    # names of several letters (printed with a dot between), several examples, online
    # updates, frozen and untrained biases, ReLU and leaky ReLU, chains written out
    specs.append(load(table(inputs=("in1", "x2"), hidden=(("hid1", "h2"), ("g1", "gate2")), outputs=("out1", "o2"),
                            hidden_act="leaky_relu", n_examples=2, rng=rng, frozen=("w1",))))
    raw = table(hidden=(("h1", "h2", "h3"),), hidden_act="relu", output_act="sigmoid",
                loss={"kind": "binary_cross_entropy"}, n_examples=3, rng=rng, bias="layer", train_bias=False)
    raw["training"]["update"] = "online"
    specs.append(load(raw))
    raw = table(hidden=(("h1", "h2"), ("g1", "g2")), outputs=("o1", "o2", "o3"), output_act="softmax",
                loss={"kind": "cross_entropy"}, rng=rng, bias="none")
    raw["display"] = {"chains": "all"}
    specs.append(load(raw))
    return [Exercise(s) for s in specs]


def _expressions(der):
    import sympy as sp

    for q in der.quantities:
        for e in (q.formula, q.closed, q.expanded):
            if e is not None:
                yield e
        for path in q.chain:
            for f in path:
                yield f.symbol
    a, b, c = (sp.Symbol(n) for n in ("h1", "w7", "eta"))
    num, den = sp.Symbol("num"), sp.Symbol("invden")
    neg = sp.Mul(-1, c, b, evaluate=False)
    # shapes the derivations may not have: each must be printed as the Printer prints it
    # (or left to it)
    yield from (sp.Add(neg, a, evaluate=False), sp.Add(a, sp.Mul(-1, b, evaluate=False), evaluate=False),
                sp.Add(a, neg, neg, b, evaluate=False), sp.Mul(num, den, evaluate=False),
                sp.Add(sp.Mul(a, num, evaluate=False), sp.Mul(-1, num, den, evaluate=False), evaluate=False),
                sp.Mul(2, a, evaluate=False), sp.Add(a, sp.Integer(1), evaluate=False),
                sp.Add(a, sp.Mul(sp.Rational(1, 2), b, evaluate=False), evaluate=False), sp.Dummy("d"))


@pytest.fixture(scope="module")
def exercises():
    return _exercises()


def test_the_latex_fast_path_prints_what_the_printer_prints(exercises):
    import sympy as sp
    from sympy.printing.latex import LatexPrinter

    from derive.latex import Printer, _placed, common_shape

    fast = slow = 0
    for ex in exercises:
        der = ex.derivation
        symbols = dict(der.by_symbol)
        for name in ("h1", "w7", "eta", "num", "invden"):
            symbols.setdefault(sp.Symbol(name), len(symbols))
        for printer in (Printer(), Printer(symbols)):
            for e in _expressions(der):
                got = common_shape(printer, e)
                if got is None:
                    slow += 1
                    continue
                fast += 1
                assert got == LatexPrinter.doprint(printer, e), (ex.spec.source, e)
                # the places of the numbers are marked after printing, whichever path printed
                assert printer.doprint(e) == (got if printer.markers is None else _placed(got))
    assert fast > 2000 and slow > 100  # both routes were taken, many times


def test_the_code_fast_path_prints_what_the_code_printer_prints(exercises):
    import sympy as sp

    from derive.evaluate import _Code, common_code

    fast = slow = 0
    for ex in exercises:
        small = ex.network is None or len(ex.network.params) < 100  # misconceptions: the small ones suffice
        ders = [ex.derivation] + ([alt.derivation for alt in ex.alternatives] if small else [])
        for der in ders:
            symbols = dict(der.by_symbol)
            for name in ("h1", "w7", "eta", "num", "invden"):
                symbols.setdefault(sp.Symbol(name), len(symbols))
            printer = _Code(symbols)
            names = {s.name: f"v{i}" for s, i in symbols.items()}
            for e in _expressions(der):
                if e.free_symbols - symbols.keys():
                    continue
                got = common_code(e, names)
                if got is None:
                    slow += 1
                    continue
                fast += 1
                assert got == printer._print(e), (ex.spec.source, e)
    assert fast > 2000 and slow > 100


def test_the_float_formatter_rounds_as_decimal_does():
    """fixed_text gives Decimal's half-away-from-zero digits, halfway cases included."""
    import random
    import struct

    from derive.rounding import fixed_text, rounded

    rng = random.Random(11)
    values = [0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.125, -0.125, 0.375, 0.03125, -0.03125, 0.00005,
              1e22, 2.0 ** 60 + 0.5 * 0, 1e-300, 5e-324, 123456.78125, 0.1 + 0.2]
    # exactly halfway at some number of decimals: odd multiples of 2^-k
    values += [rng.choice([-1, 1]) * (2 * rng.randrange(1, 10 ** 6) + 1) / 2 ** rng.randint(1, 12) for _ in range(5000)]
    # decimal strings ending in 5 (near halfway, but not exactly, in binary)
    values += [float(f"{rng.uniform(-10, 10):.{rng.randint(0, 7)}f}5") for _ in range(5000)]
    values += [rng.gauss(0, 1) * 10 ** rng.randint(-9, 9) for _ in range(5000)]
    values += [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(2000)]
    halfway = 0
    for v in values:
        for decimals in range(0, 9):
            expected = format(rounded(v, -decimals), "f") if v == v and abs(v) != float("inf") else None
            if expected is None:
                continue
            assert fixed_text(v, decimals) == expected, (v, decimals)
            halfway += format(v, f".{decimals}f") != expected
    assert halfway > 1000  # the float formatter alone would have got these wrong


def test_written_out_activations_are_what_the_activation_writes(exercises):
    """The derivation renames one unit's written-out activation for the others instead of
    building each anew: every one must be the expression the activation itself builds."""
    import sympy as sp

    from derive.activations import ACTIVATIONS

    seen = set()
    for ex in exercises:
        if ex.network is None:
            continue
        for q in ex.derivation.quantities:
            if q.expanded is None or q.unit is None:
                continue
            layer = ex.network.layer_of(q.unit)
            (z,) = q.formula.args
            assert sp.srepr(q.expanded) == sp.srepr(ACTIVATIONS[layer.activation].explicit(z, layer.slope)), q.name
            seen.add(layer.activation)
    assert "sigmoid" in seen
    # tanh is written as tanh, never expanded, so it has no written-out form to rename
    assert all(ACTIVATIONS[a].written_out for a in seen)

def tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_workers_write_the_bytes_one_process_writes(tmp_path):
    """Same seed, one process or several: every file of the folder the same, byte for byte
    (a count that leaves a last chunk short; every answer and LMS format)."""
    args = ("variants", "--count", 2 * workers.CHUNK + 3, "--seed", "11", "--no-pdf",
            *(a for f in ["json", "csv", "moodle", "qti21", "canvas"] for a in ("--format", f)))
    folders = []
    for jobs in (1, 2, 3):
        out = tmp_path / f"jobs{jobs}"
        done = run_cli(*args, "--out", out, "--jobs", jobs)
        assert done.returncode == 0, done.stderr
        folders.append(tree(out))
    assert len(folders[0]) == 2 * (2 * workers.CHUNK + 3) + 5
    assert folders[1] == folders[0] and folders[2] == folders[0]


def test_an_error_in_a_worker_is_one_message_and_leaves_no_folder(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from derive import cli as cli_mod
    from derive.errors import DeriveError
    from derive.solution import Exercise

    original = Exercise.solve

    def solve(self, *args, variant=None, **kwargs):
        if variant == "013":  # made by a worker: the parent makes the first variant only
            raise DeriveError("variant 013: a value that is not finite")
        return original(self, *args, variant=variant, **kwargs)

    monkeypatch.setattr(Exercise, "solve", solve)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli_mod.cli, ["variants", "--count", "30", "--no-pdf", "--out", "v", "--jobs", "2"])
    assert isinstance(result.exception, DeriveError), result.output
    assert str(result.exception) == "variant 013: a value that is not finite"
    assert list(tmp_path.iterdir()) == []


def test_fixed_gives_the_digits_of_exact_decimal_rounding():
    """``fixed`` takes a shortcut through Python's own "%f" (which rounds ties to even);
    the digits must stay those of the exact binary value rounded half away from zero, as
    ``decimal`` and ``fractions`` compute them, halfway cases above all."""
    import random
    from decimal import ROUND_HALF_UP, Context, Decimal
    from fractions import Fraction

    from derive.rounding import fixed

    def exact(value: float, exponent: int) -> str:
        q = Decimal(value).quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_UP, context=Context(prec=400))
        return format(q.copy_abs() if q.is_zero() else q, "f")

    def is_tie(value: float, exponent: int) -> bool:
        twice = Fraction(value) * 2 / Fraction(10) ** exponent
        return twice.denominator == 1 and twice.numerator % 2 == 1

    rng = random.Random(20261202)
    cases = [(v, e) for v in (0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.125, -0.125, 0.375, 1e-300, -1e-300,
                              5e-324, 2.0 ** 52, 2.0 ** 53 + 2, -(2.0 ** 60), 1e22, 123456789.125)
             for e in range(-12, 1)]
    for _ in range(100_000):
        e = -rng.randint(0, 12)
        kind = rng.randrange(5)
        if kind == 0:
            v = rng.uniform(-5, 5)
        elif kind == 1:  # a dyadic value: exactly halfway for many exponents
            v = rng.randint(-2 ** 20, 2 ** 20) / 2 ** rng.randint(0, 40)
        elif kind == 2:  # the decimal halfway point, which a float misses by a little
            v = (2 * rng.randint(-10 ** 6, 10 ** 6) + 1) / 2 / 10 ** -e
        elif kind == 3:
            v = rng.uniform(-1, 1) * 10.0 ** rng.randint(-30, 30)
        else:
            v = rng.randint(-10 ** 6, 10 ** 6) * 10.0 ** e
        cases.append((v, e))
    assert sum(is_tie(v, e) for v, e in cases) > 1000  # the halfway cases are really there
    wrong = [(v, e, fixed(v, e), exact(v, e)) for v, e in cases if fixed(v, e) != exact(v, e)]
    assert wrong == []
    assert fixed(0.125, -2) == "0.13" and fixed(-0.125, -2) == "-0.13" and fixed(-0.00001, -4) == "0.0000"


_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-10**30, max_value=10**30)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text())
_JSON_DATA = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=30)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(_JSON_DATA, st.integers(min_value=0, max_value=3))
def test_the_indented_json_writer_writes_what_json_dumps_writes(value, level):
    # json.dumps at depth ``level`` of a document: its lines indented by 2 * level spaces
    expected = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False).replace("\n", "\n" + "  " * level)
    assert export.indented(value, level) == expected


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, [1.0, {"x": math.nan}]])
def test_the_indented_json_writer_refuses_what_strict_json_refuses(bad):
    with pytest.raises(ValueError):
        json.dumps(bad, allow_nan=False)
    with pytest.raises(ValueError):
        export.indented(bad)


def test_the_indented_json_writer_writes_tuples_and_control_characters_as_json_does():
    value = {"a\u2028\"\\\x01": ("é", 1e-310, -0.0, 10**20, 1.5e300), "": [], "e": {}}
    assert export.indented(value) == json.dumps(value, indent=2, ensure_ascii=False)
