"""Golden files for the optimizer example's sheet and key (layout only; the numbers are
proven in test_optim*.py). Regenerate with ``DERIVE_UPDATE_GOLDEN=1`` and read the diff."""

from __future__ import annotations

import difflib
import os

import pytest

from conftest import EXAMPLES, run_cli

GOLDEN = EXAMPLES.parent / "tests" / "golden"


@pytest.mark.parametrize("document", ["sheet", "solution"])
def test_optimizer_tex_matches_golden(tmp_path, document):
    r = run_cli("solve", EXAMPLES / "optim_adam_quadratic.toml", "--out", tmp_path, "--no-pdf")
    assert r.returncode == 0, r.stderr
    made = (tmp_path / f"{document}.tex").read_text()
    golden = GOLDEN / f"optim_adam_quadratic.{document}.tex"
    if os.environ.get("DERIVE_UPDATE_GOLDEN"):
        golden.write_text(made)
    expected = golden.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), made.splitlines(True),
                                        str(golden), "generated", n=2))
    assert made == expected, f"the generated .tex differs from the golden file:\n{diff[:4000]}"
