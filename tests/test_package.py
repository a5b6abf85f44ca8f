"""The package as a user installs it: templates and the built-in exercise ship inside the
wheel, so `derive solve` works outside a checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

from conftest import ROOT


def test_wheel_ships_templates_and_the_builtin_exercise(tmp_path):
    # Build from a copy, so that the build leaves nothing behind in the checkout.
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "output", "build", "*.egg-info"))
    # In its declared build environment (pyproject.toml), as pip builds it for a user.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path),
                    str(source)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("derive-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {p.name for p in (ROOT / "templates").glob("*.tex.j2")}
    assert templates and all(f"derive/templates/{t}" in names for t in templates)
    assert "derive/exercises/reference.toml" in names
    html = {p.name for p in (ROOT / "templates" / "html").iterdir()}  # the pages of derive serve
    assert html and all(f"derive/templates/html/{t}" in names for t in html)
