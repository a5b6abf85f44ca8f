"""The one exception family of the tool, and the hint its messages share.

Anything the user can fix (a wrong spec, a bad answers file, an unusable output folder)
raises a ``DeriveError``; the command line prints its one-line message and exits with
status 2. Anything else is a bug and keeps its traceback.
"""


import difflib
from typing import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """" (did you mean 'x'?)" for the closest choice, or nothing when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class DeriveError(Exception):
    """A problem with the user's input, told in one line."""


class SpecError(DeriveError):
    """A field of an input file is missing or not what was expected."""

    def __init__(self, source: str, field: str, expected: str):
        self.source, self.field, self.expected = source, field, expected
        super().__init__(f"{source}: {field}: {expected}")


class Interrupted(BaseException):
    """Ctrl-C or a kill signal (its number in ``args[0]``); a BaseException, so that no
    ``except Exception`` swallows it."""
