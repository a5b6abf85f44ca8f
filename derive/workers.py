"""A variants run, drawn, made and written on every core, to the bytes of one process.

Worker processes take the variants chunk by chunk. A worker draws each variant under its
own seed (``Sampler.first``), solves it, writes its sheet and key straight into the
output folder being built (``output.Stage``: files of their own, so their order does not
matter) and appends its pieces of the plain answer files (``export.APPENDED``) to part
files of its own, one per format for the whole run (making a file is the costly part of
writing one on some systems). The parent takes the chunks in order: it settles each draw against
the variants before it (``Sampler.settle``, where a duplicate is redrawn), copies the
parts into the answer files in the kernel (``os.copy_file_range``) and puts the pieces
of the zipped formats, which travel as pickles, into their packages. A variant no worker
made as it stands (a redrawn duplicate, or one at or after an error in its chunk) the
parent makes itself, in its turn. So the variants, the files and the errors are those of
one process drawing and making one variant after another, whatever the number of workers.

The workers are forked before the output folder is opened (they hold none of its files
nor its lock): they start with the parent's compiled exercise, templates and seed keys,
so a task is a few numbers and its answer a few per variant. A few chunks per worker are
in flight at any time, so memory does not grow with the number of variants.

A worker ignores Ctrl-C (the parent stops the workers and says so once), ends quietly on
the parent's SIGTERM and, on Linux, dies with the parent, so a killed run leaves no
process behind. The parent stops every worker before it leaves ``Batch.write``, so none
writes into a folder that is being deleted.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import multiprocessing
import os
import shutil
import signal
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO, Callable, Iterator, Sequence

import jinja2

from . import export, output
from .errors import DeriveError
from .solution import Exercise
from .variants import Draw, Sampler, Variant

CHUNK = 8  # variants per task: a chunk's files are about a megabyte
IN_FLIGHT = 2  # chunks per worker handed out ahead of the one being written
PARTS = ".parts"  # in the folder being built: the workers' pieces of the answer files, until copied
_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_NO_COPY = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL}  # copy_file_range cannot here


@dataclass(frozen=True)
class Job:
    """What every variant of a run is made with."""

    exercise: Exercise
    env: jinja2.Environment
    formats: tuple[str, ...]  # export.STREAMS keys, in the order of their files
    category: str | None  # the LMS question category of the batch
    sampler: Sampler
    keys: tuple[tuple[str, str], ...]  # (id, seed key) of every variant, in order
    base_seed: int


@dataclass(frozen=True)
class Made:
    """One variant's files: its documents (path in the folder, bytes) and its piece of
    each answer file, in the order of ``Job.formats``."""

    documents: tuple[tuple[str, bytes], ...]
    pieces: tuple[Any, ...]


def make(job: Job, index: int, v: Variant) -> Made:
    """The files of variant ``v``, the ``index``-th of the run."""
    s = job.exercise.solve(v.overrides, seed=v.seed, variant=v.id)
    documents = tuple((name, text.encode("utf-8")) for name, text in output.variant_documents(s, job.env).items())
    return Made(documents, tuple(export.piece(fmt, s, index, job.category) for fmt in job.formats))


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class _Chunk:
    """What a worker made of the variants start…: where its pieces of the appended formats
    begin in its part files, and for each variant it made, in order, its first draw, the
    documents it wrote, the sizes of its pieces in the part files (in the order of the
    appended formats) and its pieces of the other formats. It stops at the
    first variant it cannot make; the parent makes that one and the rest itself."""

    start: int
    parts: tuple[tuple[str, int], ...]  # per appended format: the worker's part file, where the chunk starts in it
    draws: tuple[Draw, ...]
    documents: tuple[tuple[str, ...], ...]
    sizes: tuple[tuple[int, ...], ...]
    pieces: tuple[tuple[Any, ...], ...]


class Batch:
    """The worker processes of one ``derive variants`` batch (``jobs``, default one per
    core; none for one job or too few variants for two chunks). Enter it before the output
    folder is opened::

        with Batch(job, jobs) as batch, output.Stage(out) as stage:
            texs = batch.write(stage)
    """

    def __init__(self, job: Job, jobs: int | None = None):
        self.job = job
        self.jobs = min(jobs or default_jobs(), -(-len(job.keys) // CHUNK))
        self.seen: set[tuple[float, ...]] = set()
        self.pool = None
        self.first: Made | None = None

    def __enter__(self) -> "Batch":
        self.job.sampler.check_room(len(self.job.keys))
        if self.jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods():
            return self
        # The first variant is made here: what every variant shares (templates, misconception
        # graphs, printed forms) is then made once, before the workers are forked with it.
        self.first = self._make(0, self._settle(0, None))
        # Forked with the signals held: a worker takes them only once it has its own handlers.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            self.pool = multiprocessing.get_context("fork").Pool(self.jobs, _start_worker, (self.job, os.getpid()))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        return self

    def __exit__(self, *exc) -> None:
        self._stop()

    def _stop(self) -> None:
        if self.pool is not None:
            self.pool.terminate()  # at once, also on Ctrl-C or an error: nothing a worker still makes is wanted
            self.pool.join()
            self.pool = None

    def write(self, stage: output.Stage, progress: Callable[[int], None] | None = None) -> list[Path]:
        """Every variant's documents and answer files, into the folder being built; the
        paths of the documents, in order. No worker is left when it returns or fails."""
        job = self.job
        try:
            with contextlib.ExitStack() as files:
                opened = [files.enter_context(stage.open(export.STREAMS[fmt][0])) for fmt in job.formats]
                writer = _Writer(self, stage, opened, progress)
                files.callback(writer.close_parts)
                if self.pool is None:
                    for i in range(len(job.keys)):
                        writer.own(i, self._settle(i, None))
                else:
                    writer.made(0, self.first)  # makes the folders of the documents the workers write
                    self.first = None
                    (stage.path / PARTS).mkdir()
                    for chunk in self._chunks(stage.path):
                        writer.chunk(chunk)
                    self._stop()  # no worker writes to its part files any more
                    writer.close_parts()
                    shutil.rmtree(stage.path / PARTS)
                writer.close()
            return writer.texs
        finally:
            self._stop()

    def _settle(self, index: int, first: Draw | None) -> Variant:
        """Variant ``index`` as one process drawing them in order finds it."""
        sampler, (vid, key) = self.job.sampler, self.job.keys[index]
        return sampler.settle(first or sampler.first(vid, key, self.job.base_seed), self.job.base_seed, self.seen)

    def _make(self, index: int, v: Variant) -> Made:
        try:
            return make(self.job, index, v)
        except DeriveError:
            # One process drew every variant before making any: a later variant the
            # constraints cannot give is the error it reported.
            for i in range(index + 1, len(self.job.keys)):
                self._settle(i, None)
            raise

    def _chunks(self, folder: Path) -> Iterator[_Chunk]:
        """The chunks of variants 1…, in order, handed out to the workers a few at a time."""
        count = len(self.job.keys)
        starts = iter(range(1, count, CHUNK))
        pending: deque = deque()

        def hand_out() -> None:
            start = next(starts, None)
            if start is not None:
                pending.append(self.pool.apply_async(_chunk, ((start, min(start + CHUNK, count), str(folder)),)))

        for _ in range(self.jobs * (1 + IN_FLIGHT)):
            hand_out()
        while pending:
            chunk = pending.popleft().get()
            hand_out()
            yield chunk


class _Writer:
    """The parent's side of ``Batch.write``: each variant's files in their places, in order."""

    def __init__(self, run: Batch, stage: output.Stage, opened: Sequence[BinaryIO],
                 progress: Callable[[int], None] | None):
        job = run.job
        self.run, self.stage, self.opened, self.progress = run, stage, opened, progress
        self.streams = [export.stream(fmt, f, job.category if fmt in export.CATEGORIZED else None)
                        for fmt, f in zip(job.formats, opened)]
        self.appended = [k for k, fmt in enumerate(job.formats) if fmt in export.APPENDED]
        self.pickled = [k for k, fmt in enumerate(job.formats) if fmt not in export.APPENDED]
        self.texs: list[Path] = []
        self.parts: dict[str, int] = {}  # a worker's part file -> open for reading

    def part(self, name: str) -> int:
        fd = self.parts.get(name)
        if fd is None:
            fd = self.parts[name] = os.open(self.stage.path / PARTS / name, os.O_RDONLY)
        return fd

    def close_parts(self) -> None:
        for fd in self.parts.values():
            os.close(fd)
        self.parts.clear()

    def own(self, index: int, v: Variant) -> None:
        """Variant ``index`` made here."""
        m = self.run._make(index, v)
        for name, _ in m.documents:  # a worker may have written a draw that was not kept, or begun one
            (self.stage.path / name).unlink(missing_ok=True)
        self.made(index, m)

    def made(self, index: int, m: Made) -> None:
        self.texs += [self.stage.write(name, data) for name, data in m.documents]
        for stream, piece in zip(self.streams, m.pieces):
            stream.put(piece)
        self._done()

    def chunk(self, chunk: _Chunk) -> None:
        stop = min(chunk.start + CHUNK, len(self.run.job.keys))
        # a worker that stopped at its chunk's first variant may have made no part file
        fds = [self.part(name) if chunk.documents else -1 for name, _ in chunk.parts]
        offsets = [start for _, start in chunk.parts]
        for i in range(chunk.start, stop):
            j = i - chunk.start
            first = chunk.draws[j] if j < len(chunk.draws) else None
            v = self.run._settle(i, first)
            if j >= len(chunk.documents):  # the worker stopped before it
                self.own(i, v)
                continue
            kept = v.tries == first.tries  # the worker's draw, not redrawn
            for n, (k, fd, size) in enumerate(zip(self.appended, fds, chunk.sizes[j])):
                if kept:
                    _append(fd, offsets[n], size, self.opened[k])
                offsets[n] += size
            if not kept:
                self.own(i, v)
                continue
            self.texs += [self.stage.path / name for name in chunk.documents[j]]
            for k, piece in zip(self.pickled, chunk.pieces[j]):
                self.streams[k].put(piece)
            self._done()

    def close(self) -> None:
        for stream in self.streams:
            stream.close()

    def _done(self) -> None:
        if self.progress:
            self.progress(1)


def _append(src: int, offset: int, size: int, dest: BinaryIO) -> None:
    """Bytes offset…offset+size of the file ``src`` at the end of ``dest``, copied in the
    kernel where the system can."""
    dest.flush()
    while size > 0:
        try:
            n = os.copy_file_range(src, dest.fileno(), size, offset)
        except (AttributeError, OSError) as exc:  # not Linux, or a file system that cannot
            if isinstance(exc, OSError) and exc.errno not in _NO_COPY:
                raise
            data = os.pread(src, size, offset)
            dest.write(data)
            dest.flush()
            n = len(data)
        if n == 0:
            raise OSError(errno.EIO, "a part file ends early")
        offset, size = offset + n, size - n


# --- in a worker ------------------------------------------------------------------------

_job: Job | None = None
_parts: list[BinaryIO] = []  # this worker's part files, one per appended format, open for the whole run


def _start_worker(job: Job, parent: int) -> None:
    global _job
    _job = job
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C at a terminal reaches every process: the parent answers it
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # how the parent stops a worker: without a word
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    try:
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (AttributeError, OSError):  # not Linux: a killed run's workers are not stopped
        pass
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _chunk(task: tuple[int, int, str]) -> _Chunk:
    """The variants start…stop-1 drawn and made into ``folder``, up to the first that
    cannot be: the parent, making that one itself, meets its error in its turn and
    reports it as one process would."""
    start, stop, folder = task
    job, draws, documents, sizes, pieces = _job, [], [], [], []
    appended = [k for k, fmt in enumerate(job.formats) if fmt in export.APPENDED]
    names = [f"{os.getpid()}.{job.formats[k]}" for k in appended]
    starts: list[int] = []
    try:
        if not _parts:
            opened = [open(os.path.join(folder, PARTS, name), "xb") for name in names]
            _parts.extend(opened)
        # A piece a failed variant began lies before this; the chunk's own start where it ends.
        starts = [f.tell() for f in _parts]
        for i in range(start, stop):
            d = job.sampler.first(*job.keys[i], job.base_seed)
            draws.append(d)
            m = make(job, i, Variant(d.id, d.seed, MappingProxyType(d.values), d.tries))
            for name, data in m.documents:
                with open(os.path.join(folder, name), "xb") as f:
                    f.write(data)
            for f, k in zip(_parts, appended):
                f.write(m.pieces[k])
                f.flush()  # on disk before the variant counts as made
            documents.append(tuple(name for name, _ in m.documents))
            sizes.append(tuple(len(m.pieces[k]) for k in appended))
            pieces.append(tuple(p for k, p in enumerate(m.pieces) if k not in appended))
    except (DeriveError, OSError):
        pass
    if len(starts) < len(names):  # the part files could not be made: the parent makes every variant
        documents, sizes, pieces = [], [], []
        starts = [0] * len(names)
    return _Chunk(start, tuple(zip(names, starts)), tuple(draws), tuple(documents), tuple(sizes), tuple(pieces))
