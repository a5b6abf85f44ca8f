"""Where the files go: output folders, built whole and swapped in.

A run never writes into the folder it replaces. It builds its whole output, PDFs
included, in a hidden sibling of the target (``.<name>.derive-<random>``, on the same
file system) and, once every file is there, exchanges the two folders in one rename;
the old one is then deleted. So an interrupted run (Ctrl-C, a kill, a full disk, a TeX
error) leaves the previous complete output as it was, and a folder always holds one run.
The sibling is locked while its run lives; a later run deletes siblings nobody holds.

Files in the folder that derive does not write (notes, a feedback PDF) are carried into
the new folder as hard links. Symbolic links are never written through: a target that is
one is refused.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import fnmatch
import functools
import json
import os
import shutil
import signal
import stat
from pathlib import Path
from typing import BinaryIO, Iterator

from . import render
from .errors import DeriveError
from .export import MARKER, WRITERS, source_name
from .spec import Spec

SHEETS, KEYS = "sheets", "keys"
GRADES = "grades.csv"  # written by `derive check --class` (derive/classcheck.py)
FEEDBACK = "feedback"  # folder of the feedback sheets, one per student
STAGE = ".derive-"  # the mark of a sibling being built: .<name>.derive-<random>
OLD = "old-"  # a replaced folder on its way out (only where folders cannot be exchanged)


@functools.cache
def ours() -> tuple[str, ...]:
    """The paths, as patterns inside an output folder, of every file a derive command writes
    there; a later run replaces them, and keeps anything else."""
    names = ["sheet.tex", "solution.tex", "sheets.pdf", "keys.pdf",
             f"{SHEETS}/sheet-*.tex", f"{KEYS}/key-*.tex", *(name for name, _ in WRITERS.values()),
             GRADES, f"{FEEDBACK}/*.tex"]
    names += [n[:-4] + ".pdf" for n in names if n.endswith(".tex")]
    return (*names, *(n + ".tmp" for n in names))  # .tmp: left by versions that wrote in place


class OutputError(DeriveError):
    """The output cannot be written where asked (a link, a read-only folder, a full disk)."""


def _is_ours(rel: str) -> bool:
    return any(fnmatch.fnmatchcase(rel, p) for p in ours())


# --- checks before anything is made ------------------------------------------------------

def check_out_dir(out: Path, spec: Spec, force: bool = False) -> None:
    """Refuse a folder that cannot be replaced: a link, a file, one we cannot write, or
    (without ``force``) one holding another exercise's files or files we did not write."""
    if out.is_symlink():
        raise OutputError(f"{out}: --out: is a symbolic link; name the folder itself")
    here = Path.cwd().resolve()
    if out.resolve() == here or out.resolve() in here.parents:
        raise OutputError(f"{out}: --out: holds the current folder, which a run replaces as a whole; "
                          "name a folder of its own (e.g. out)")
    parent = _existing_parent(out)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: --out: cannot write in {parent} (no permission or a read-only file system)")
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputError(f"{out}: --out: expected a folder, found a file")
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: --out: the folder is not writable")
    for path in _our_paths(out):
        if path.is_symlink():
            raise OutputError(f"{path}: is a symbolic link; derive does not write through links: remove it")
    if force:
        return
    marker = out / MARKER
    if marker.exists() or marker.is_symlink():
        held = _held(marker)
        if held != (spec.title, source_name(spec)):
            what = (f"the files of another exercise ({held[0]!r} from {held[1]})" if held
                    else f"an {MARKER} that derive did not write")
            raise OutputError(f"{out}: --out: the folder holds {what}; "
                              "choose another folder or pass --force to overwrite")
    elif any(out.iterdir()):
        raise OutputError(f"{out}: --out: the folder is not empty and holds no {MARKER}; "
                          "choose another folder or pass --force to overwrite")


def _existing_parent(path: Path) -> Path:
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    return parent


def _our_paths(out: Path) -> Iterator[Path]:
    for entry in out.iterdir():
        if entry.name in (SHEETS, KEYS) and entry.is_dir() and not entry.is_symlink():
            yield entry
            yield from (p for p in entry.iterdir() if _is_ours(f"{entry.name}/{p.name}"))
        elif _is_ours(entry.name):
            yield entry


def _held(marker: Path) -> tuple | None:
    """(exercise, source) of an answers.json, or None when it is not one derive wrote."""
    if marker.is_symlink() or not marker.is_file():
        return None
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        return (data.get("exercise"), data.get("source"))
    except (OSError, ValueError, AttributeError):  # unreadable, not UTF-8, not JSON, not an object
        return None


def check_pdf_target(path: Path) -> None:
    """A PDF the user named (``check --pdf``): a .pdf file name, not a link or a folder,
    in a folder we can write."""
    if path.suffix.lower() != ".pdf":
        raise OutputError(f"{path}: --pdf: expected a file name ending in .pdf")
    if path.is_symlink():
        raise OutputError(f"{path}: --pdf: is a symbolic link; derive does not write through links")
    if path.exists() and not path.is_file():
        raise OutputError(f"{path}: --pdf: expected a file, found a folder or a device")
    folder = path.absolute().parent
    if not folder.is_dir():
        raise OutputError(f"{path}: --pdf: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: --pdf: cannot write in {folder} (no permission or a read-only file system)")


# --- building beside the target ----------------------------------------------------------

@contextlib.contextmanager
def scratch(beside: Path) -> Iterator[Path]:
    """A locked, hidden folder next to ``beside``, removed afterwards (whatever happens)."""
    with _locked_sibling(beside) as (path, _):
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _locked_sibling(target: Path) -> Iterator[tuple[Path, int]]:
    parent = target.absolute().parent
    _clean_stale(parent, target.name)
    path = parent / f".{target.name}{STAGE}{os.urandom(4).hex()}"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        path.mkdir()
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise _write_error(target, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield path, fd
    finally:
        os.close(fd)  # releases the lock


def _clean_stale(parent: Path, name: str) -> None:
    """Delete the siblings of earlier runs that were killed (their lock died with them); put
    back a folder a killed run had moved away and not replaced."""
    prefix = f".{name}{STAGE}"
    try:
        siblings = [p for p in parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    for path in siblings:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # a run that is still going
        try:
            target = parent / name
            if path.name.startswith(prefix + OLD) and not (target.exists() or target.is_symlink()):
                path.rename(target)
            else:
                shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)


def _write_error(target: Path, exc: OSError) -> OutputError:
    return OutputError(f"{target}: cannot write: {exc.strerror or exc}")


class Stage:
    """A new output folder being built beside ``target``. ``commit()`` puts it in place of
    the old one; leaving the ``with`` block without it deletes it::

        with Stage(out) as stage:
            stage.write("answers.json", text)
            stage.commit()
    """

    def __init__(self, target: Path):
        self.target = target
        self._lock = _locked_sibling(target)
        self.path: Path | None = None

    def __enter__(self) -> "Stage":
        self.path, _ = self._lock.__enter__()
        if self.target.is_dir():
            os.chmod(self.path, stat.S_IMODE(self.target.stat().st_mode))
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.path, 0o777 & ~umask)
        return self

    def __exit__(self, *exc) -> None:
        try:
            # Before commit() this is the half-built folder; after it, the old one.
            shutil.rmtree(self.path, ignore_errors=True)
        finally:
            self._lock.__exit__(None, None, None)

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.path / name
        data = content.encode("utf-8") if isinstance(content, str) else content
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "xb") as f:
                f.write(data)
        except OSError as exc:
            raise _write_error(self.target / name, exc) from None
        return path

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        """A new file of the folder, open for writing piece by piece. A failed write (a full
        disk) is reported under the file's name in the target folder."""
        try:
            with open(self.path / name, "xb") as f:
                yield f
        except OSError as exc:
            raise _write_error(self.target / name, exc) from None

    def commit(self) -> None:
        """Swap the new folder in, keeping the old one's files that derive does not write."""
        try:
            if self.target.is_dir():
                _carry_over(self.target, self.path)
            with _signals_held():
                if not self.target.exists():
                    os.rename(self.path, self.target)  # self.path now names nothing
                    return
                if not _exchange(self.path, self.target):
                    # Two renames: between them the old folder waits under a name the next
                    # run recognises and puts back.
                    old = self.path.with_name(f".{self.target.name}{STAGE}{OLD}{os.urandom(4).hex()}")
                    os.rename(self.target, old)
                    os.rename(self.path, self.target)
                    self.path = old
        except OSError as exc:
            raise _write_error(self.target, exc) from None


@contextlib.contextmanager
def _signals_held():
    """Ctrl-C or a kill signal waits until the folders are swapped (or not at all)."""
    held = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def _exchange(a: Path, b: Path) -> bool:
    """Exchange two folders in one step (Linux renameat2); False where it is not available."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _carry_over(old: Path, new: Path) -> None:
    """Hard-link into ``new`` what ``old`` holds that this run did not make and derive never
    writes (copies where a link cannot be made)."""
    for folder, dirs, files in os.walk(old):
        rel = Path(folder).relative_to(old)
        links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
        for name in files + links:
            path = (rel / name).as_posix()
            dest = new / path
            if _is_ours(path) or os.path.lexists(dest):
                continue
            src = os.path.join(folder, name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if os.path.islink(src):
                os.symlink(os.readlink(src), dest)
            else:
                try:
                    os.link(src, dest, follow_symlinks=False)
                except OSError:
                    shutil.copy2(src, dest)
        for d in dirs:  # a folder of the user's, even an empty one, is kept
            if d not in links and not (folder == str(old) and d in (SHEETS, KEYS)):
                (new / rel / d).mkdir(exist_ok=True)


def replace_file(made: Path, target: Path) -> None:
    """Put a finished file (made beside ``target``) in its place, in one rename."""
    try:
        os.replace(made, target)
    except OSError as exc:
        raise _write_error(target, exc) from None


# --- what the folders hold ---------------------------------------------------------------

def variant_documents(solution, env) -> dict[str, str]:
    """A variant's sheet and key, by path inside the output folder."""
    sheet, key = render.contexts(solution)
    return {
        f"{SHEETS}/sheet-{solution.variant}.tex": render.render(env, render.SHEET, sheet),
        f"{KEYS}/key-{solution.variant}.tex": render.render(env, render.KEY, key),
    }
