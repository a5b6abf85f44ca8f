"""The one exception family of the tool, and the pieces its messages share.

Anything the user can fix (a wrong spec, a bad answers file, an unusable output folder)
raises a ``DeriveError``; the command line prints its one-line message and exits with
status 2. Anything else is a bug and keeps its traceback.
"""

import datetime
import difflib
import re
from typing import Any, Iterable

SHOWN = 60  # characters of a bad value quoted in a message

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters written as escapes, so a
    message stays one line whatever names or values it quotes."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def shown(value: Any) -> str:
    """A value as a message quotes it: its repr, cut short when long."""
    if isinstance(value, (datetime.date, datetime.time)):  # as TOML writes it
        return f"{value.isoformat()} (a {type(value).__name__})"
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an integer too long for str(), a nesting too deep
        text = f"<{type(value).__name__}>"
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """" (did you mean 'x'?)" for the closest choice, or nothing when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class DeriveError(Exception):
    """A problem with the user's input, told in one line."""

    def __str__(self) -> str:
        return one_line(super().__str__())


class SpecError(DeriveError):
    """A field of an input file is missing or not what was expected."""

    def __init__(self, source: str, field: str, expected: str):
        self.source, self.field, self.expected = source, field, expected
        super().__init__(f"{source}: {field}: {expected}")


class Interrupted(BaseException):
    """Ctrl-C or a kill signal (its number in ``args[0]``); a BaseException, so that no
    ``except Exception`` swallows it."""
