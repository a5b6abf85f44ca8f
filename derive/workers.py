"""A variants run's files, made on every core and written in order.

Worker processes solve the variants, chunk by chunk, and make each one's sheet and key and
its piece of every answer file (``export.STREAMS``); the parent alone writes, in the
variants' order, so the files are the same bytes whatever the number of workers, and the
output folder stays the parent's (``output.Stage``). The workers are forked: they start
with the parent's compiled exercise and templates and with the drawn variants, so a task
is two numbers. A few chunks per worker are in flight at any time, so memory does not
grow with the number of variants; each Solution is dropped once its files are made.

A worker ignores Ctrl-C (the parent stops the workers and says so once), ends quietly on
the parent's SIGTERM and, on Linux, dies with the parent, so a killed run leaves no
process behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import multiprocessing
import os
import signal
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import jinja2

from . import export, output
from .errors import DeriveError
from .solution import Exercise
from .variants import Variant

CHUNK = 8  # variants per task: a chunk's files are about a megabyte
IN_FLIGHT = 2  # chunks per worker handed out ahead of the one being written
_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@dataclass(frozen=True)
class Job:
    """What every variant of a run is made with."""

    exercise: Exercise
    env: jinja2.Environment
    formats: tuple[str, ...]  # export.STREAMS keys, in the order of their files
    category: str | None  # the LMS question category of the batch


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


@contextlib.contextmanager
def made(job: Job, drawn: Sequence[Variant], jobs: int | None = None) -> Iterator[Iterator[Made]]:
    """The files of every drawn variant, in order, made by ``jobs`` worker processes
    (default: one per core; one, or too few variants for two chunks: in this process).
    Enter it before the output folder is opened: the workers are forked on entry and
    should hold none of its files."""
    jobs = min(jobs or default_jobs(), -(-len(drawn) // CHUNK))
    if jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield (make(job, i, v) for i, v in enumerate(drawn))
        return
    # The first variant is made here: what every variant shares (templates, misconception
    # graphs, printed forms) is then made once, before the workers are forked with it.
    first = make(job, 0, drawn[0])
    # Forked with the signals held: a worker takes them only once it has its own handlers.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        pool = multiprocessing.get_context("fork").Pool(jobs, _start_worker, (job, drawn, os.getpid()))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    try:
        yield itertools.chain((first,), _in_order(pool, len(drawn), jobs))
    finally:
        pool.terminate()  # at once, also on Ctrl-C or an error: nothing a worker still makes is wanted
        pool.join()


def _in_order(pool, count: int, jobs: int) -> Iterator[Made]:
    """Variants 1… of ``count``, handed out to the workers by chunks."""
    starts = iter(range(1, count, CHUNK))
    pending: deque = deque()

    def hand_out() -> None:
        start = next(starts, None)
        if start is not None:
            pending.append(pool.apply_async(_chunk, ((start, min(start + CHUNK, count)),)))

    for _ in range(jobs * (1 + IN_FLIGHT)):
        hand_out()
    while pending:
        chunk = pending.popleft().get()
        hand_out()
        if isinstance(chunk, str):
            raise DeriveError(chunk)
        yield from chunk


# --- in a worker ------------------------------------------------------------------------

_job: Job | None = None
_drawn: Sequence[Variant] = ()


def _start_worker(job: Job, drawn: Sequence[Variant], parent: int) -> None:
    global _job, _drawn
    _job, _drawn = job, drawn
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


def _chunk(bounds: tuple[int, int]) -> list[Made] | str:
    """The files of the variants start…stop-1, or the message of the error that stopped
    them (as text: the error classes of derive do not all survive pickling)."""
    start, stop = bounds
    try:
        return [make(_job, i, _drawn[i]) for i in range(start, stop)]
    except DeriveError as exc:
        return str(exc)
