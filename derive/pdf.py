"""PDFs from .tex files with latexmk: non-interactive, halting on the first error, and
with shell escape off (a template must never be able to run commands)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import DeriveError

MAX_PASSES = 3

INSTALL_HINT = (
    "PDFs not made: latexmk was not found; the .tex files are written. For the PDFs install TeX Live "
    "(Debian, as root: apt-get install latexmk texlive-latex-base texlive-latex-recommended "
    "texlive-pictures texlive-fonts-recommended lmodern) or pass --no-pdf."
)


# TeX wraps its log at 79 characters, which splits "file:line: error" lines with long
# paths; these make every log line whole, so the error can be found and shown.
TEX_ENV = {**os.environ, "max_print_line": "10000", "error_line": "254", "half_error_line": "238"}


class TexError(DeriveError):
    """LaTeX stopped on an error; the message holds the relevant lines of the log."""


@dataclass(frozen=True)
class Compiled:
    made: tuple[Path, ...]
    skipped: str | None = None  # why no PDFs were made


def available() -> bool:
    return shutil.which("latexmk") is not None


def command(tex: Path, outdir: Path) -> list[str]:
    return ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
            "-no-shell-escape", "-quiet", f"-outdir={outdir}", str(tex)]


def pdflatex_command(tex: Path, outdir: Path) -> list[str]:
    return ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
            "-no-shell-escape", f"-output-directory={outdir}", str(tex)]


def _pdflatex(tex: Path, outdir: Path) -> subprocess.CompletedProcess:
    # What latexmk decides for these documents, without its cost: latexmk hashes every
    # input file (hundreds, with TikZ) and always runs twice when the .aux is new, which
    # makes a batch of variants 1.5-3x slower than TeX itself. Again only when asked.
    for _ in range(MAX_PASSES):
        proc = subprocess.run(pdflatex_command(tex, outdir), cwd=tex.parent, capture_output=True,
                              text=True, errors="replace", stdin=subprocess.DEVNULL, env=TEX_ENV)
        log = outdir / (tex.stem + ".log")
        if proc.returncode != 0 or not log.exists() or "Rerun to get" not in log.read_text(errors="replace"):
            break
    return proc


def compile_one(tex: Path, direct: bool = False) -> Path:
    """Compile ``tex`` into a PDF beside it; auxiliary files stay in a temporary folder.
    ``direct``: pdflatex itself, as often as its log asks for (batches of variants)."""
    tex = tex.resolve()
    with tempfile.TemporaryDirectory(prefix="derive-tex-") as tmp:
        if direct:
            proc = _pdflatex(tex, Path(tmp))
        else:
            proc = subprocess.run(command(tex, Path(tmp)), cwd=tex.parent, capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL, env=TEX_ENV)
        built = Path(tmp) / (tex.stem + ".pdf")
        if proc.returncode != 0 or not built.exists():
            log = Path(tmp) / (tex.stem + ".log")
            raise TexError(f"{tex}: LaTeX failed:\n{relevant_log_lines(log.read_text(errors='replace') if log.exists() else proc.stdout + proc.stderr)}")
        target = tex.with_suffix(".pdf")
        shutil.move(str(built), target)
        return target


def compile_all(texs: list[Path], jobs: int | None = None, progress: Callable[[int], None] | None = None,
                direct: bool = False) -> Compiled:
    """Compile several files in parallel, one latexmk (or pdflatex) per core;
    ``progress(1)`` is called as each one is done."""
    if shutil.which("pdflatex" if direct else "latexmk") is None:
        return Compiled((), INSTALL_HINT)
    jobs = jobs or os.cpu_count() or 1
    made = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for path in pool.map(functools.partial(compile_one, direct=direct), texs):
            made.append(path)
            if progress:
                progress(1)
    return Compiled(tuple(made))


def unite(pdfs: list[Path], target: Path) -> str | None:
    """Join PDFs into one (pdfunite, from poppler-utils); the reason when it cannot."""
    if shutil.which("pdfunite") is None:
        return f"{target.name} not made: pdfunite was not found (Debian: apt-get install poppler-utils)"
    proc = subprocess.run(["pdfunite", *map(str, pdfs), str(target)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise DeriveError(f"{target}: pdfunite failed: {' '.join(proc.stderr.split())}")
    return None


def relevant_log_lines(log: str, context: int = 3) -> str:
    """The error lines of a TeX log (``! ...`` or ``file:line: ...``) with a few lines after."""
    lines = log.splitlines()
    keep: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("!") or re.match(r"^\S+:\d+: ", line):
            keep.extend(lines[i:i + context + 1])
    return "\n".join(keep[:40]) if keep else "\n".join(lines[-20:])
