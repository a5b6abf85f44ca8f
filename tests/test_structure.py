"""The architecture's rules, checked on the code: writers only lay out a Solution, caches
have one home, a structure is printed and compiled once."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import derive
from derive import evaluate, export, render, spec as spec_mod
from derive.solution import Exercise

PACKAGE = Path(derive.__file__).parent
WRITERS = ("render", "export", "moodle", "feedback", "html", "qti", "canvas", "lms", "training_tex")
COMPUTING = {"training", "derivation", "evaluate"}


def _imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("derive"):
            rest = node.module.split(".")[1:]
            out.update(rest[:1] or [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("derive."))
    return out


def test_writers_import_nothing_that_computes():
    present = [m for m in WRITERS if (PACKAGE / f"{m}.py").exists()]
    assert {"render", "export", "moodle"} <= set(present)
    for module in present:
        assert not _imports(module) & COMPUTING, f"{module} imports {_imports(module) & COMPUTING}"


def test_the_direction_test_sees_an_import():
    # the checker of the rule must itself be able to fail
    assert "training" in _imports("cli") and "derivation" in _imports("solution")


def test_no_class_name_twice():
    seen: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                assert node.name not in seen, f"class {node.name} in {path.name} and {seen[node.name]}"
                seen[node.name] = path.name


def test_no_id_keyed_caches():
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        # a module-level table keyed by id(): _CACHE.get(id(x)), _RUNS[id(x)]
        assert not re.search(r"\b_?[A-Z_]{3,}(\.get\(|\[)id\(", text), f"{path.name} keys a cache by id()"
        assert "weakref" not in text, path.name


def _count_printers(monkeypatch) -> list:
    made = []
    original = evaluate._Code.__init__

    def counting(self, slots):
        made.append(slots)
        original(self, slots)

    monkeypatch.setattr(evaluate._Code, "__init__", counting)
    return made


def _everything(exercise):
    solution = exercise.solve()
    for document in ("Exercise sheet", "Answer key"):
        render.context(solution, document)
    for _, writer in export.WRITERS.values():
        writer([solution])
    return solution


def test_a_structure_without_runs_is_compiled_once(monkeypatch):
    text = spec_mod.builtin_path().read_text()
    text = re.sub(r"\[\[training\.runs\]\]\n(.+\n)*", "", text)
    text = text.replace('include = ["nonlinearity", "vanishing", "calculation", "training"]',
                        'include = ["nonlinearity", "vanishing", "calculation"]')
    exercise = Exercise(spec_mod.parse(text, "no-runs.toml"))
    made = _count_printers(monkeypatch)
    solution = _everything(exercise)
    assert solution.runs == ()
    # the evaluator was compiled when the exercise was made, and not again (the LMS writers
    # compile the misconception graphs, which are other graphs, once per structure)
    assert not [m for m in made if m is exercise.derivation.by_symbol]
    assert "trainer" not in vars(exercise)  # no step function was made


def test_a_structure_with_runs_is_printed_once(monkeypatch):
    made = _count_printers(monkeypatch)
    exercise = Exercise(spec_mod.load())
    solution = _everything(exercise)
    _everything(exercise)
    assert len(solution.runs) == 2
    assert len([m for m in made if m is exercise.derivation.by_symbol]) == 1
    assert len(made) == 1 + len(exercise.alternatives)  # each graph printed once, whatever the variants


def test_per_structure_data_is_shared_by_variants():
    exercise = Exercise(spec_mod.load())
    a, b = exercise.solve(), exercise.solve({"w1": 0.5})
    ca, cb = render.context(a, "Answer key"), render.context(b, "Answer key")
    assert ca["figure"] is cb["figure"] is exercise.figure
    assert ca["theory"]["activations"] is cb["theory"]["activations"]
    assert a.runs != b.runs  # the runs are the variant's own


def test_writers_lay_out_the_solutions_runs():
    solution = Exercise(spec_mod.load()).solve()
    import json
    data = json.loads(export.write_json([solution]))
    assert [r["losses"] for r in data["training"]] == [list(r.losses) for r in solution.runs]
    context = render.context(solution, "Answer key")
    assert [r["eta"] for r in context["training"]] == ["0.2", "1"]


def test_jinja_reads_lines_without_copies():
    solution = Exercise(spec_mod.load()).solve()
    context = render.context(solution, "Answer key")
    assert context["steps"]["forward"][0] is solution.sections["forward"][0]
    assert "asdict" not in inspect.getsource(render)
