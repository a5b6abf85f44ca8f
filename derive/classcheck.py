"""Checking a whole class: ``derive check --class``.

A class's answers come as a folder with one answers file per student (the file name is the
student's id: ``00417.toml``) or as one CSV file with a row per student (an ``id`` column,
then one column per quantity, named as in ``answers.csv``; blank cells are blank). Every
student is checked with the same checker as ``derive check``, against their own variant
when the variants' ``answers.json`` is given. Out come ``grades.csv`` (a row per student),
a feedback sheet per student, and a summary of the class: per quantity how many got it
right, and the mistakes that were made most often.

A bad input (an unreadable file, an unknown name, a value that is not a number, an id
with no variant) is reported for every student at once, one line each, and nothing is
written, so the grader fixes everything in one go.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from . import check as check_mod, derivation as D, typed
from .answers import FORMATS, read_key
from .check import OK, VERDICTS, Report
from .errors import DeriveError, SpecError, did_you_mean, one_line
from .misconceptions import MISCONCEPTIONS
from .roster import ID_COLUMNS, VALID_ID
from .output import FEEDBACK, GRADES  # noqa: F401 (this command's files, named beside the others)
from .solution import Exercise, Solution

DEFAULT_POINTS = {"correct": 1.0, "carried": 1.0, "coarse": 0.5, "wrong": 0.0}
COLUMNS = ("correct", "carried", "coarse", "wrong")  # grades.csv, best first
ASKED = (D.FORWARD, D.LOSS, D.LOCAL, D.DELTA, D.GRADIENT, D.UPDATE, D.FORWARD_AFTER, D.LOSS_AFTER)


@dataclass(frozen=True)
class Student:
    id: str
    source: str  # the file (and row) the answers came from
    answers: tuple[check_mod.Answer, ...]


@dataclass(frozen=True)
class Graded:
    student: Student
    report: Report
    score: float


class ClassError(DeriveError):
    """Several students' inputs are bad: one line each (each line escaped on its own)."""

    def __str__(self) -> str:
        return "\n".join(one_line(line) for line in Exception.__str__(self).split("\n"))


def asked(exercise: Exercise) -> tuple[str, ...]:
    """The quantities a student is asked for, in the key's order: with online updates the
    losses at the starting parameters (L0[1], …, L0) last, as the key and answers.csv have them."""
    return (*(q.name for q in exercise.derivation.quantities if q.stage in ASKED), *exercise.start_names)


# --- reading -----------------------------------------------------------------------------------

def read(path: Path, exercise: Exercise) -> list[Student]:
    """Every student's answers from a folder of answers files or one CSV file."""
    names = check_mod.names(exercise)
    if path.is_dir():
        return _folder(path, names)
    if path.suffix.lower() == ".csv":
        return _table(path, names)
    raise SpecError(str(path), "--class", "expected a folder of answers files (one per student) or a CSV file")


def _folder(folder: Path, names: list[str]) -> list[Student]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FORMATS)
    if not files:
        raise SpecError(str(folder), "--class", "no answers files (.toml, .yaml, .csv); expected one per student, "
                        "named by the student's id")
    students, problems, seen = [], [], {}
    for file in files:
        sid = file.stem
        if not VALID_ID.fullmatch(sid):
            problems.append(f"{file}: file name: expected the student's id (letters, digits and . _ - @ +), got {sid!r}")
            continue
        if sid in seen:
            problems.append(f"{file}: file name: the id '{sid}' is also {seen[sid].name}; expected one file per student")
            continue
        seen[sid] = file
        try:
            students.append(Student(sid, str(file), check_mod.read_answers(file, names)))
        except SpecError as exc:
            problems.append(str(exc))
    _refuse(problems)
    return students


def _table(path: Path, names: list[str]) -> list[Student]:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # spreadsheets often start with a BOM
    except FileNotFoundError:
        raise SpecError(source, "--class", "file not found; expected a CSV file with a row per student") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(source, "--class", f"expected a readable UTF-8 CSV file ({exc})") from None
    first = text.splitlines()[0] if text.strip() else ""
    try:
        dialect = csv.Sniffer().sniff(first, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = csv.reader(io.StringIO(text), dialect)
    header = [h.strip() for h in next(rows, [])]
    id_cols = [i for i, h in enumerate(header) if h.lower() in (*ID_COLUMNS, "variant")]
    if not id_cols:
        raise SpecError(source, "header", "no id column; expected a column 'id' (or 'student_id', 'variant') "
                        "and one column per quantity, as in answers.csv")
    col = id_cols[0]
    problems = []
    columns: dict[int, str] = {}
    for i, h in enumerate(header):
        if i == col or h.lower() == "seed" or not h:
            continue
        if h not in names:
            problems.append(f"{source}: header: column '{h}' is not a quantity of this exercise{did_you_mean(h, names)}")
        columns[i] = h
    _refuse(problems)
    students, seen = [], {}
    for row in rows:
        line = rows.line_num
        if not any(cell.strip() for cell in row):
            continue
        where = f"{source}:{line}"
        sid = row[col].strip() if col < len(row) else ""
        if not VALID_ID.fullmatch(sid):
            problems.append(f"{where}: {header[col]}: expected a student id (letters, digits and . _ - @ +), got {sid!r}")
            continue
        if sid in seen:
            problems.append(f"{where}: {header[col]}: '{sid}' is already on line {seen[sid]}; expected each student once")
            continue
        seen[sid] = line
        cells = {columns[i]: cell for i, cell in enumerate(row) if i in columns}
        answers, bad = typed.answers(names, cells)
        problems += [f"{where}: {name}: {why}, got {cells[name].strip()!r}" for name, why in bad.items()]
        students.append(Student(sid, where, answers))
    if not students and not problems:
        problems.append(f"{source}: rows: none; expected a row per student below the header")
    _refuse(problems)
    return students


def _refuse(problems: Sequence[str]) -> None:
    if problems:
        raise ClassError("\n".join(f"derive: {p}" if not p.startswith("derive: ") else p for p in problems)
                         .removeprefix("derive: "))


# --- the variants ------------------------------------------------------------------------------

def variant_givens(path: Path, exercise: Exercise) -> dict[str, tuple[dict[str, float], int | None]]:
    """id -> (given values, seed) of every variant in a folder's (or a file's) answers.json."""
    file = path / "answers.json" if path.is_dir() else path
    data = read_key(file, "--variants")
    if not isinstance(data, dict) or not isinstance(data.get("variants"), list):
        raise SpecError(str(file), "variants", "expected the answers.json of derive variants, with a list of variants")
    if data.get("exercise") != exercise.spec.title:
        raise SpecError(str(file), "exercise", f"holds variants of {data.get('exercise')!r}; expected variants of "
                        f"{exercise.spec.title!r} (give the spec they were made from)")
    known = set(exercise.derivation.index)
    out = {}
    for k, record in enumerate(data["variants"]):
        try:
            given = {n: float(v) for n, v in record["given"].items() if n in known}
            out[str(record["variant"])] = (given, record.get("seed"))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise SpecError(str(file), f"variants[{k}]", "expected a variant id and its given values") from None
    return out


def solutions(exercise: Exercise, students: Sequence[Student], variants: Mapping | None) -> dict[str, Solution]:
    """Each student's Solution: their own variant, or the spec's numbers without variants."""
    if variants is None:
        one = exercise.solve()
        return {s.id: one for s in students}
    missing = [s for s in students if s.id not in variants]
    _refuse([f"{s.source}: id: no variant '{s.id}' in the variants; expected the id the student's sheet was "
             f"made for{did_you_mean(s.id, variants)}" for s in missing])
    return {s.id: exercise.solve(variants[s.id][0], seed=variants[s.id][1], variant=s.id) for s in students}


# --- checking and grading ----------------------------------------------------------------------

def parse_points(text: str | None) -> dict[str, float]:
    """``correct=1,carried=1,coarse=0.5,wrong=0`` (any subset) over the defaults."""
    points = dict(DEFAULT_POINTS)
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, _, value = part.partition("=")
        key = key.strip()
        if key not in points:
            raise DeriveError(f"--points: '{key}' is not a verdict; expected VERDICT=POINTS with VERDICT one of "
                              f"{', '.join(VERDICTS)}{did_you_mean(key, VERDICTS)}")
        try:
            points[key] = float(value)
        except ValueError:
            raise DeriveError(f"--points: {key}: expected a number of points, got {value.strip()!r}") from None
    return points


def grade(exercise: Exercise, students: Sequence[Student], solved: Mapping[str, Solution],
          points: Mapping[str, float], allowance: float = 1.0) -> list[Graded]:
    out = []
    for s in students:
        report = check_mod.check(exercise, solved[s.id], s.answers, allowance, source=s.source)
        score = sum(points[r.verdict] for r in report.results)
        out.append(Graded(s, report, score))
    return out


def root_errors(report: Report) -> list[str]:
    return [r.name for r in report.results if r.verdict == "wrong"]


def spreadsheet_text(text: str) -> str:
    """Text a spreadsheet shows as text: a leading = + - @ (or tab, return) would start a
    formula, so it gets an apostrophe in front (OWASP's advice for CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def grades_csv(graded: Sequence[Graded], exercise: Exercise, points: Mapping[str, float]) -> str:
    """grades.csv: text in quotes (ids keep their leading zeros), numbers bare."""
    names = asked(exercise)
    n_asked = len(names)
    out = io.StringIO()
    rows = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    rows.writerow(["id", *COLUMNS, "blank", "score", "max_score", "root_errors", "misconceptions"])
    for g in graded:
        counts = g.report.counts()
        mistakes = [f"{r.name}: {MISCONCEPTIONS[r.misconception].title}" for r in g.report.results
                    if r.misconception in MISCONCEPTIONS]
        rows.writerow([spreadsheet_text(g.student.id), *(counts[v] for v in COLUMNS),
                       n_asked - len(set(names).intersection(g.report.written)), _number(g.score), _number(n_asked * max(points.values())),
                       spreadsheet_text(" ".join(root_errors(g.report))), spreadsheet_text("; ".join(mistakes))])
    return out.getvalue()


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else round(x, 6)


def summary(graded: Sequence[Graded], exercise: Exercise, top: int = 8) -> str:
    """The class at a glance: per quantity how many were right (correct or carried), wrong,
    too coarse or blank; then the mistakes named most often."""
    names = asked(exercise)
    per: dict[str, Counter] = {n: Counter() for n in names}
    mistakes: Counter = Counter()
    roots: Counter = Counter()
    for g in graded:
        for r in g.report.results:
            if r.name in per:
                per[r.name][r.verdict] += 1
            if r.misconception in MISCONCEPTIONS:
                mistakes[MISCONCEPTIONS[r.misconception].title] += 1
            if r.verdict == "wrong":
                roots[r.name] += 1
    n = len(graded)
    table = [("quantity", "right", "correct", "carried", "coarse", "wrong", "blank")]
    for name in names:
        c = per[name]
        blank = n - sum(c.values())
        table.append((name, str(c["correct"] + c["carried"]), str(c["correct"]), str(c["carried"]),
                      str(c["coarse"]), str(c["wrong"]), str(blank)))
    widths = [max(len(row[k]) for row in table) for k in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(w) if k == 0 else cell.rjust(w) for k, (cell, w) in enumerate(zip(row, widths)))
             for row in table]
    ok = sum(g.report.ok for g in graded)
    lines += ["", f"{n} student{'' if n == 1 else 's'}; {ok} with every value they wrote correct or carried forward"]
    if roots:
        lines.append("most frequent root errors: " + ", ".join(f"{k} ({v})" for k, v in roots.most_common(top)))
    if mistakes:
        lines.append("most frequent mistakes:")
        lines += [f"  {v:4d}  {k}" for k, v in mistakes.most_common(top)]
    return "\n".join(lines)


def all_ok(graded: Sequence[Graded]) -> bool:
    return all(r.verdict in OK for g in graded for r in g.report.results)


# --- the command -------------------------------------------------------------------------------

def out_dir_ok(out: Path) -> None:
    """A class's folder may be written again; a folder holding anything else is refused."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / GRADES).exists())):
        raise DeriveError(f"{out}: --out: expected an empty folder or one written by derive check --class "
                          f"(with {GRADES}); choose another folder")


def files(graded: Sequence[Graded], exercise: Exercise, points: Mapping[str, float], env) -> dict[str, str]:
    """grades.csv and one feedback .tex per student, by path inside the output folder."""
    from . import feedback, render

    out = {GRADES: grades_csv(graded, exercise, points)}
    for g in graded:
        out[f"{FEEDBACK}/{g.student.id}.tex"] = render.render(env, feedback.TEMPLATE, feedback.feedback_context(g.report))
    return out
