"""PDFs from .tex files with pdflatex, run so that a document can do no harm.

Each document is compiled in a scratch folder beside it (so the PDF is renamed into
place, never copied across file systems) under a plain file name (so a folder named
``50% off`` or ``~me`` never reaches TeX). pdflatex runs non-interactively, halting on
the first error, with shell escape off, reading and writing only inside its scratch
folder and TeX's own trees (kpathsea's ``openin_any``/``openout_any`` = p), and with a
wall-time limit (``DERIVE_TEX_TIMEOUT`` seconds, default 60), so that a macro that never
ends (``\\def\\x{\\x}\\x``) ends. It runs again only when the log asks for it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import DeriveError

MAX_PASSES = 3
# What a log says when the next pass would set the document otherwise: LaTeX's labels
# ("Rerun to get cross-references right"), longtable's column widths ("Table widths have
# changed. Rerun LaTeX."), and the like of other standard packages.
RERUN = re.compile(r"\bRerun (to get|LaTeX)\b", re.IGNORECASE)
TIMEOUT = 60.0  # seconds per document; the built-in ones need 1-2
POLL = 0.01  # seconds between looks at the running pdflatex processes

INSTALL_HINT = (
    "pdflatex was not found; install TeX Live (Debian, as root: apt-get install texlive-latex-base "
    "texlive-latex-recommended texlive-pictures texlive-fonts-recommended lmodern)"
)

# Search paths a caller's environment may add would let \input find files outside TeX's trees.
_WIDENING = ("TEXINPUTS", "TEXMFOUTPUT", "TEXMFDOTDIR")


def tex_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _WIDENING}
    env.update(
        openin_any="p", openout_any="p", shell_escape="f",
        # TeX wraps its log at 79 characters, which splits "file:line: error" lines;
        # these keep every log line whole, so the error can be found and shown.
        max_print_line="10000", error_line="254", half_error_line="238",
    )
    return env


def timeout() -> float:
    raw = os.environ.get("DERIVE_TEX_TIMEOUT")
    if raw is None:
        return TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise DeriveError(f"DERIVE_TEX_TIMEOUT: expected a positive number of seconds, got {raw!r}")
    return value


class TexError(DeriveError):
    """LaTeX stopped on an error or ran out of time; the message holds the relevant log lines."""


@dataclass(frozen=True)
class Compiled:
    made: tuple[Path, ...]
    skipped: str | None = None  # why no PDFs were made


def available() -> bool:
    return shutil.which("pdflatex") is not None


def command(name: str) -> list[str]:
    return ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
            "-no-shell-escape", name]


SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.tex")


class _Job:
    """One document: copied into its scratch folder, compiled, its PDF renamed beside it."""

    def __init__(self, tex: Path):
        self.tex = tex
        self.name = tex.name if SAFE_NAME.fullmatch(tex.name) else "document.tex"
        self.work = tex.parent / f".{tex.stem[:40]}.tex-{os.getpid()}-{id(self):x}"
        self.passes = 0
        self.proc: subprocess.Popen | None = None

    def start(self, env: dict[str, str], limit: float) -> None:
        if self.passes == 0:
            self.work.mkdir()
            shutil.copyfile(self.tex, self.work / self.name)
        self.passes += 1
        self.started = time.monotonic()
        with open(self.work / "pdflatex.out", "wb") as out:
            # `timeout` ends TeX even when this process is killed before it can.
            guard = ["timeout", "-s", "KILL", f"{limit + 5:g}"] if shutil.which("timeout") else []
            # A process group of its own: stopping it stops `timeout` and pdflatex together.
            self.proc = subprocess.Popen(guard + command(self.name), cwd=self.work, env=env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def finished(self, env: dict[str, str], limit: float) -> bool:
        """True when done; raises TexError on an error or when out of time."""
        if self.proc.poll() is None:
            if time.monotonic() - self.started > limit:
                self.kill()
                raise TexError(f"{self.tex.name}: LaTeX did not finish within {limit:g} s and was stopped; "
                               f"nothing was written (a macro that never ends?); last lines of its log:\n{self._tail()}")
            return False
        log = self._log()
        if self.proc.returncode != 0 or not (self.work / (Path(self.name).stem + ".pdf")).exists():
            raise TexError(f"{self.tex.name}: LaTeX failed; nothing was written:\n{relevant_log_lines(log)}")
        if RERUN.search(log) and self.passes < MAX_PASSES:
            self.start(env, limit)
            return False
        os.replace(self.work / (Path(self.name).stem + ".pdf"), self.tex.with_suffix(".pdf"))
        self.clean()
        return True

    def _log(self) -> str:
        for name in (Path(self.name).stem + ".log", "pdflatex.out"):
            path = self.work / name
            if path.exists():
                return path.read_text(errors="replace")
        return ""

    def _tail(self) -> str:
        return "\n".join(self._log().splitlines()[-5:])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def clean(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def compile_all(texs: list[Path], jobs: int | None = None,
                progress: Callable[[int], None] | None = None) -> Compiled:
    """Compile each .tex into a PDF beside it, ``jobs`` at once (default: one per core);
    ``progress(1)`` as each one is done. On the first failure, or when interrupted, the
    other runs are stopped and their scratch folders removed."""
    if not available():
        return Compiled((), f"PDFs not made (the .tex files are written): {INSTALL_HINT}, or pass --no-pdf")
    jobs = jobs or os.cpu_count() or 1
    env, limit = tex_env(), timeout()
    waiting = [_Job(tex) for tex in texs]
    waiting.reverse()
    running: list[_Job] = []
    made = []
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                running.append(waiting.pop())
                running[-1].start(env, limit)
            time.sleep(POLL)
            for job in [j for j in running if j.finished(env, limit)]:
                running.remove(job)
                made.append(job.tex.with_suffix(".pdf"))
                if progress:
                    progress(1)
    finally:
        for job in running:
            job.kill()
            job.clean()
    made.sort(key={tex.with_suffix(".pdf"): i for i, tex in enumerate(texs)}.get)
    return Compiled(tuple(made))


def compile_one(tex: Path) -> Path:
    """Compile one .tex into a PDF beside it (TeX must be installed)."""
    result = compile_all([tex], jobs=1)
    if result.skipped:
        raise DeriveError(INSTALL_HINT)
    return result.made[0]


def unite(pdfs: list[Path], target: Path) -> str | None:
    """Join PDFs into one (pdfunite, from poppler-utils), each starting on an odd page
    (a blank page after one of an odd number of pages), so that printed on both sides
    every document starts on a sheet of its own; the reason when it cannot."""
    missing = [tool for tool in ("pdfunite", "pdfinfo") if shutil.which(tool) is None]
    if missing:
        return (f"{target.name} not made: {' and '.join(missing)} not found "
                "(Debian: apt-get install poppler-utils)")
    parts: list[Path] = []
    for i, made in enumerate(pdfs):
        parts.append(made)
        if i < len(pdfs) - 1 and _pages(made) % 2:
            parts.append(_blank_like(made))
    proc = subprocess.run(["pdfunite", *map(str, parts), str(target)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    for blank in {p for p in parts if p.name == BLANK}:
        blank.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise DeriveError(f"{target.name}: pdfunite failed: {' '.join(proc.stderr.split())}")
    return None


BLANK = ".blank-page.pdf"


def _info(pdf: Path) -> str:
    proc = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise DeriveError(f"{pdf.name}: pdfinfo failed: {' '.join(proc.stderr.split())}")
    return proc.stdout


def _pages(pdf: Path) -> int:
    return int(re.search(r"^Pages:\s+(\d+)", _info(pdf), re.M).group(1))


def _blank_like(pdf: Path) -> Path:
    """A one-page PDF with nothing on it, of the size of ``pdf``'s first page, beside it."""
    size = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts", _info(pdf), re.M)
    width, height = size.groups() if size else ("595.276", "841.89")  # A4
    path = pdf.parent / BLANK
    if not path.exists():
        objects = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                   f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] /Resources << >> >>"]
        out = b"%PDF-1.4\n"
        offsets = []
        for n, body in enumerate(objects, 1):
            offsets.append(len(out))
            out += f"{n} 0 obj\n{body}\nendobj\n".encode()
        xref = len(out)
        out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
        out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
        out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
        path.write_bytes(out)
    return path


def relevant_log_lines(log: str, context: int = 3) -> str:
    """The error lines of a TeX log (``! ...`` or ``file:line: ...``) with a few lines after."""
    lines = log.splitlines()
    keep: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("!") or re.match(r"^\S+:\d+: ", line):
            keep.extend(lines[i:i + context + 1])
    return "\n".join(keep[:40]) if keep else "\n".join(lines[-20:])
