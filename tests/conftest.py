"""Shared fixtures: the reference exercise, and the command line run for real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from derive import spec as spec_mod
from derive.solution import Exercise

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def reference_spec():
    return spec_mod.load()


@pytest.fixture(scope="session")
def reference_exercise(reference_spec):
    return Exercise(reference_spec)


@pytest.fixture(scope="session")
def reference(reference_exercise):
    return reference_exercise.solve()


def run_cli(*args: str, cwd: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """Run ``derive ARGS`` through the real entry point, as a user would."""
    return subprocess.run([sys.executable, "-m", "derive", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, input=input)


@pytest.fixture
def cli():
    return run_cli
