"""A class roster: the students who each get their own variant.

A CSV file with a header row; the column ``id`` (or ``student_id``, or the one named with
``--id-column``) holds one id per student. Other columns (names, e-mail addresses) are
ignored: they never reach a sheet or an answer file. An id becomes part of file names,
so it is kept to letters, digits and ``. _ - @ +``.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from . import limits
from .errors import SpecError, shown

ID_COLUMNS = ("id", "student_id", "student id", "studentid")
VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")


def read(path: str | Path, column: str | None = None) -> tuple[str, ...]:
    """The student ids of the roster, in file order."""
    path = Path(path)
    source = str(path)
    expected = "a CSV roster with an id column"
    # decode drops a BOM: spreadsheets often start with one
    text = limits.decode(limits.read_bytes(path, limits.ROSTER_BYTES, "file", expected), source, "file", expected)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise SpecError(source, "header", "missing; expected a first row naming the columns, one of them 'id'")
    try:
        dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(lines, dialect)
    try:
        rows = list(reader)
    except csv.Error as exc:  # a field over the csv module's limit, a stray quote
        raise SpecError(source, f"row {reader.line_num}", f"not readable as CSV ({exc})") from None
    header = [h.strip() for h in rows[0]]
    wanted = (column,) if column else ID_COLUMNS
    found = [i for i, h in enumerate(header) if h.lower() in {w.lower() for w in wanted}]
    if not found:
        names = f"'{column}'" if column else " or ".join(f"'{w}'" for w in ID_COLUMNS[:2])
        raise SpecError(source, "header", f"no id column; expected a column named {names} "
                        f"(found {', '.join(shown(h) for h in header[:12]) or 'none'}; --id-column picks another)")
    col = found[0]
    ids: list[str] = []
    where: dict[str, int] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank lines at the end of exported sheets
        sid = row[col].strip() if col < len(row) else ""
        field = f"row {n}: {header[col]}"
        if not sid:
            raise SpecError(source, field, "empty; expected a student id")
        if not VALID_ID.fullmatch(sid):
            raise SpecError(source, field, f"expected letters, digits and . _ - @ + (at most 64), got {shown(sid)}")
        if sid in where:
            raise SpecError(source, field, f"'{sid}' is already on row {where[sid]}; expected each student once")
        where[sid] = n
        ids.append(sid)
    limits.at_most(source, "rows", len(ids), limits.VARIANTS, "students")
    if not ids:
        raise SpecError(source, "rows", "none; expected at least one student below the header")
    return tuple(ids)
