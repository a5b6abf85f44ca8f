"""Golden files: the generated .tex of the example specs, kept in tests/golden/ so that any
change to a key's layout shows up as a readable diff in review.

The numbers inside them are proven elsewhere (published values, oracles); these files
guard the layout. After an intended change, regenerate them with
``DERIVE_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py`` and read the diff.
"""

from __future__ import annotations

import difflib
import os

import pytest

from conftest import EXAMPLES, run_cli

GOLDEN = EXAMPLES.parent / "tests" / "golden"


@pytest.mark.parametrize("example", ["reference", "mazur", "han_kamber", "softmax_online", "optim_adam_quadratic"])
@pytest.mark.parametrize("document", ["sheet", "solution"])
def test_tex_matches_golden(tmp_path, example, document):
    r = run_cli("solve", EXAMPLES / f"{example}.toml", "--out", tmp_path, "--no-pdf")
    assert r.returncode == 0, r.stderr
    made = (tmp_path / f"{document}.tex").read_text()
    golden = GOLDEN / f"{example}.{document}.tex"
    if os.environ.get("DERIVE_UPDATE_GOLDEN"):
        golden.write_text(made)
    expected = golden.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), made.splitlines(True),
                                        str(golden), "generated", n=2))
    assert made == expected, f"the generated .tex differs from the golden file:\n{diff[:4000]}"
