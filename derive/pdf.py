"""PDFs from .tex files with latexmk: non-interactive, halting on the first error, and
with shell escape off (a template must never be able to run commands)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .errors import DeriveError

INSTALL_HINT = (
    "PDFs not made: latexmk was not found; the .tex files are written. For the PDFs install TeX Live "
    "(Debian, as root: apt-get install latexmk texlive-latex-base texlive-latex-recommended "
    "texlive-pictures texlive-fonts-recommended lmodern) or pass --no-pdf."
)


class TexError(DeriveError):
    """LaTeX stopped on an error; the message holds the relevant lines of the log."""


@dataclass(frozen=True)
class Result:
    made: tuple[Path, ...]
    skipped: str | None = None  # why no PDFs were made


def available() -> bool:
    return shutil.which("latexmk") is not None


def command(tex: Path, outdir: Path) -> list[str]:
    return ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
            "-no-shell-escape", "-quiet", f"-outdir={outdir}", str(tex)]


def compile_one(tex: Path) -> Path:
    """Compile ``tex`` into a PDF beside it; auxiliary files stay in a temporary folder."""
    tex = tex.resolve()
    with tempfile.TemporaryDirectory(prefix="derive-tex-") as tmp:
        proc = subprocess.run(command(tex, Path(tmp)), cwd=tex.parent, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        built = Path(tmp) / (tex.stem + ".pdf")
        if proc.returncode != 0 or not built.exists():
            log = Path(tmp) / (tex.stem + ".log")
            raise TexError(f"{tex}: LaTeX failed:\n{relevant_log_lines(log.read_text(errors='replace') if log.exists() else proc.stdout + proc.stderr)}")
        target = tex.with_suffix(".pdf")
        shutil.move(str(built), target)
        return target


def compile_all(texs: list[Path], jobs: int | None = None) -> Result:
    """Compile several files in parallel, one latexmk per core."""
    if not available():
        return Result((), INSTALL_HINT)
    jobs = jobs or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return Result(tuple(pool.map(compile_one, texs)))


def relevant_log_lines(log: str, context: int = 3) -> str:
    """The error lines of a TeX log (``! ...`` or ``file:line: ...``) with a few lines after."""
    lines = log.splitlines()
    keep: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("!") or re.match(r"^\S+:\d+: ", line):
            keep.extend(lines[i:i + context + 1])
    return "\n".join(keep[:40]) if keep else "\n".join(lines[-20:])
