"""Reading what a student or a grader wrote: an answers file of ``derive check``, and the
answers.json of ``derive variants`` that holds a variant's given values.

Both are untrusted. Each is read no further than its size limit, must be UTF-8 text (a
byte-order mark is dropped), and every way it can be malformed, too large, too deeply
nested or too long a number ends in one ``SpecError`` line naming the file and the field.
A written number keeps its digits (0.70 says more than 0.7) and must lie within what floats
and the number policy handle: at most ``limits.NUMBER_CHARS`` characters, its size and its
last digit's place between 1e-300 and 1e300.

``number_text`` is the one rule for reading a number a student wrote, wherever it comes
from: an answers file here, a class's CSV and the page (``derive.typed``). Spreadsheets and
keyboards in many locales write a decimal comma (``0,0171``) and word processors a Unicode
minus (``−0.0034``); both are read. A number has one decimal separator and no thousands
separators, so ``1,234`` is 1.234 and ``1.234,5`` or ``1,234,567`` are refused: guessing
which mark groups thousands would turn a student's 1,234 into 1234 in one locale and not
in another.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence


from . import limits
from .errors import SpecError, shown
from .rounding import Written

FORMATS = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".csv": "csv"}
EXPONENT = 300  # a written number's size and its last digit's place stay within 10^±300
YAML_DEPTH = 16  # an answers file is one mapping; a little nesting is reported, not read
EXPECTED = "a .toml, .yaml or .csv file of name = value lines"
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?")
SEPARATORS = "one decimal separator (0.02 or 0,02) and no thousands separators"


@dataclass(frozen=True)
class Answer:
    name: str
    written: Written
    line: int


def read_answers(path: str | Path, names: Sequence[str]) -> tuple[Answer, ...]:
    """The answers of ``path``, each name one of ``names``; bad input raises SpecError."""
    path = Path(path)
    source = str(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise SpecError(source, "ANSWERS", f"expected {EXPECTED}")
    data = limits.read_bytes(path, limits.ANSWER_BYTES, "ANSWERS", EXPECTED, missing="file not found")
    text = limits.decode(data, source, "ANSWERS", EXPECTED)
    raw = {"toml": _toml, "yaml": _yaml, "csv": _csv}[kind](source, text)
    known = set(names)
    seen: dict[str, int] = {}
    out = []
    for name, value, line in raw:
        where = f"{source}:{line}"
        if name in seen:
            raise SpecError(where, name, f"given twice (also on line {seen[name]}); expected each name once")
        seen[name] = line
        if name not in known:
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.5) if len(name) <= 64 else []
            hint = f"did you mean '{close[0]}'?" if close else f"names as in the key, such as {', '.join(names[-4:])}"
            raise SpecError(where, shown(name)[1:-1], f"not a quantity of this exercise; {hint}")
        out.append(Answer(name, written(where, name, value), line))
    if not out:
        raise SpecError(source, "ANSWERS", "no values found; expected lines such as \"dL/dw1\" = 0.02")
    return tuple(out)


def number_text(typed: str) -> str:
    """The text ``Written.parse`` reads for a number as a student wrote it (see the module
    docstring); raises ValueError, whose text says what was expected."""
    text = typed.strip().replace("\u2212", "-").replace("\u2013", "-")
    if "," in text:
        if "." in text or text.count(",") > 1:
            raise ValueError(SEPARATORS)
        text = text.replace(",", ".")
    if not _NUMBER.fullmatch(text):
        raise ValueError("a number")
    Written.parse(text)
    return text


def written(where: str, name: str, value: str) -> Written:
    """A written number, within the range the checker computes with."""
    if len(value) > limits.NUMBER_CHARS:
        raise SpecError(where, name, f"a number of {len(value):,} characters; expected at most {limits.NUMBER_CHARS}")
    try:
        number = Written.parse(number_text(value))
    except ValueError as exc:
        what = str(exc) if str(exc) == SEPARATORS else "a number such as 0.02"
        raise SpecError(where, name, f"expected {what}, got {shown(value)}") from None
    if number.value and not (-EXPONENT <= number.exponent and number.value.adjusted() <= EXPONENT):
        raise SpecError(where, name, f"expected a number between 1e-{EXPONENT} and 1e{EXPONENT} in size, "
                        f"with at most {EXPONENT} decimal places, got {shown(value)}")
    if not number.value and number.exponent < -EXPONENT:
        raise SpecError(where, name, f"expected at most {EXPONENT} decimal places, got {shown(value)}")
    return number


_TOML_LINE = re.compile(r"""^\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*=\s*(.*?)\s*$""")


def _toml(source: str, text: str) -> list[tuple[str, str, int]]:
    """TOML keeps no number's text, so each value's text is taken from its own line;
    the file is still parsed by tomllib, which must agree."""
    scanned = []
    for no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _TOML_LINE.match(line)
        if not m:
            raise SpecError(f"{source}:{no}", "ANSWERS", 'expected a line NAME = NUMBER, such as "dL/dw1" = 0.02')
        name = next(g for g in m.group(1, 2, 3) if g is not None)
        value = re.sub(r"\s*#.*$", "", m.group(4))
        scanned.append((name, value, no))
    first: dict[str, int] = {}
    for name, _, no in scanned:
        if name in first:
            raise SpecError(f"{source}:{no}", name, f"given twice (also on line {first[name]}); expected each name once")
        first[name] = no
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(source, "ANSWERS", f"not valid TOML ({exc}); expected lines such as \"dL/dw1\" = 0.02") from None
    except (RecursionError, ValueError):  # nesting too deep; an integer too long to convert
        raise SpecError(source, "ANSWERS", "not a list of NAME = NUMBER lines (a value too long or too deeply "
                        "nested); expected lines such as \"dL/dw1\" = 0.02") from None
    if len(data) != len(scanned):
        raise SpecError(source, "ANSWERS", "expected only NAME = NUMBER lines at the top level (no tables)")
    out = []
    for (key, value), (_, token, no) in zip(data.items(), scanned):
        if isinstance(value, str):  # "0.02" in quotes: its text is the number's text
            token = value
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            pass  # a date, an array, true: reported as written, then refused
        else:
            token = token.replace("_", "")  # TOML allows 1_000
        out.append((key, token, no))
    return out


def _yaml(source: str, text: str) -> list[tuple[str, str, int]]:
    import yaml  # late: only answer files in YAML need it

    # Composing builds nodes only: no tag is constructed and an alias is one shared node,
    # so neither code nor an alias bomb runs; the size limit bounds the work.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        # libyaml's composer recurses in C, and a deep enough nesting crashes the process:
        # the events are read first (flat, no recursion) and the depth bounded.
        depth = 0
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > YAML_DEPTH:
                    raise SpecError(source, "ANSWERS", f"nested more than {YAML_DEPTH} levels deep; "
                                    "expected a mapping of NAME: NUMBER lines")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
        root = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise SpecError(source, "ANSWERS", f"not valid YAML ({' '.join(str(exc).split())})") from None
    except RecursionError:
        raise SpecError(source, "ANSWERS", "nested too deeply; expected a mapping of NAME: NUMBER lines") from None
    if not isinstance(root, yaml.MappingNode):
        raise SpecError(source, "ANSWERS", "expected a mapping of NAME: NUMBER lines")
    out = []
    for key, value in root.value:
        no = key.start_mark.line + 1
        if not isinstance(key, yaml.ScalarNode):
            raise SpecError(f"{source}:{no}", "ANSWERS", "expected a quantity name as the key")
        token = value.value if isinstance(value, yaml.ScalarNode) else "(a list or mapping)"
        out.append((key.value, token, no))
    return out


def _csv(source: str, text: str) -> list[tuple[str, str, int]]:
    lines = text.splitlines()
    header = lines[0] if lines else ""
    # Spreadsheets in locales with a decimal comma separate columns with ';'.
    delimiter = next((d for d in (",", ";", "\t") if d in header), ",")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        head = next(reader, None)
        if head is None or [h.strip().lower() for h in head] != ["name", "value"]:
            raise SpecError(f"{source}:1", "header", "expected the header line name,value (or name;value)")
        out = []
        for row in reader:
            if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
                continue
            if len(row) != 2:
                # name,0,02: a decimal comma in a comma-separated file splits the number
                hint = " (a decimal comma: separate the columns with ';' or quote the number)" \
                    if delimiter == "," and len(row) == 3 else ""
                raise SpecError(f"{source}:{reader.line_num}", "ANSWERS",
                                f"expected two columns name{delimiter}value; got {len(row)}{hint}")
            out.append((row[0].strip(), row[1].strip(), reader.line_num))
    except csv.Error as exc:  # a field over the csv module's limit, a NUL byte, a stray quote
        raise SpecError(f"{source}:{reader.line_num}", "ANSWERS", f"not readable as CSV ({exc})") from None
    return out


# --- the answers.json of `derive variants` ---------------------------------------------------

def read_key(path: Path, field: str = "--key") -> Any:
    """The parsed answers.json of ``derive variants`` (``check --key``, ``check --class
    --variants``, ``serve VARIANTS_DIR``), within the size limit of such a file."""
    source = str(path)
    expected = "the answers.json written by derive variants"
    data = limits.read_bytes(path, limits.KEY_BYTES, field, expected, missing="file not found")
    text = limits.decode(data, source, field, expected)

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not a number JSON allows")

    try:
        return json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError as exc:
        raise SpecError(source, field, f"expected {expected} (not valid JSON: {exc})") from None
    except (RecursionError, ValueError) as exc:  # nesting too deep; NaN; an integer too long
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(":")[0]
        raise SpecError(source, field, f"expected {expected} ({reason})") from None
