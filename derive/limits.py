"""The largest inputs the tool accepts, and reading a file no larger than that.

Each maximum is far beyond what an exercise worked by hand needs and well within what
the machine does in seconds; above it the input is refused on load with one line, so a
typo (``steps = 1000000000``) or a hostile file (``--key /dev/zero``) neither hangs a
command nor exhausts memory. The README lists the same figures.
"""

from __future__ import annotations

from pathlib import Path

from .errors import SpecError

SPEC_BYTES = 1 << 20  # a spec file: 1 MiB
STEPS = 10_000  # gradient steps per training run
RUNS = 20  # training runs in one spec or one `derive train`
EXAMPLES = 100  # [[examples]]: the derivation unrolls every one of them
UNITS = 1_000  # units of the network, inputs and bias units included
PARAMETERS = 50_000  # weights and biases
NAME_CHARS = 32  # a unit or parameter name
VARIANTS = 100_000  # `derive variants --count N`, and students on a roster
ROSTER_BYTES = 16 << 20  # a roster CSV: 16 MiB
STRESS = 1_000_000  # `derive variants --stress N` draws (nothing written)
ANSWER_BYTES = 1 << 20  # an answers file of `derive check`: 1 MiB
NUMBER_CHARS = 100  # one written number in an answers file (digits, sign, exponent)
KEY_BYTES = 256 << 20  # the answers.json of `derive variants` read by `check --key`: 256 MiB
PEEK = 1 << 16  # bytes looked at first, so a binary file is refused before it is read whole


def read_bytes(path: Path, limit: int, field: str, expected: str, missing: str = "not found") -> bytes:
    """The bytes of ``path`` if it is a readable file of at most ``limit`` bytes.

    Reads at most one byte more than the limit, so a device (/dev/zero), a pipe that never
    ends or a huge file is refused without being read whole."""
    source = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read(min(limit + 1, PEEK))
            if b"\0" in data:  # binary (or /dev/zero): refused before reading on
                raise SpecError(source, field, f"a binary file (it holds NUL bytes); expected {expected}")
            if len(data) <= limit and len(data) == PEEK:
                data += f.read(limit + 1 - PEEK)
    except FileNotFoundError:
        raise SpecError(source, field, f"{missing}; expected {expected}") from None
    except IsADirectoryError:
        raise SpecError(source, field, f"is a folder; expected {expected}") from None
    except OSError as exc:
        raise SpecError(source, field, f"cannot be read ({exc.strerror}); expected {expected}") from None
    if len(data) > limit:
        raise SpecError(source, field, f"larger than {size(limit)}; expected {expected} of at most that size")
    return data


def decode(data: bytes, source: str, field: str, expected: str) -> str:
    """UTF-8 text, a leading byte-order mark dropped (editors on Windows write one)."""
    if b"\0" in data:
        raise SpecError(source, field, f"a binary file (it holds NUL bytes); expected {expected}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(source, field, f"not UTF-8 text (byte {exc.start}); expected {expected} saved as UTF-8") from None


def size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB" if n >= 1 << 10 else f"{n} bytes"


def at_most(source: str, field: str, value: int, limit: int, what: str) -> None:
    if value > limit:
        raise SpecError(source, field, f"{value:,} {what}; expected at most {limit:,}")
