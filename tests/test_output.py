"""Output folders: never half-written, never written through a link, never clobbered;
TeX confined and time-limited; Ctrl-C and kills at any point."""

from __future__ import annotations

import csv
import io

import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DATA, ROOT, run_cli
from derive import output

HAVE_TEX = shutil.which("pdflatex") is not None and shutil.which("pdftotext") is not None
needs_tex = pytest.mark.skipif(not HAVE_TEX, reason="needs pdflatex and poppler-utils")
SHEET_ANSWERS = DATA / "reference_sheet_answers.toml"


def siblings(out: Path) -> list[str]:
    """Temporary folders a run left beside ``out``."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.derive-"))


def one_line(r: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", path, "-"], capture_output=True, text=True, check=True).stdout


def variants_run(out: Path) -> frozenset:
    """The (variant, seed) pairs of the run ``out`` holds, after checking that every file of
    the folder belongs to that one run: the answer files, each .tex and each PDF."""
    data = json.loads((out / "answers.json").read_text())
    seeds = {v["variant"]: v["seed"] for v in data["variants"]}
    rows = list(csv.reader(io.StringIO((out / "answers.csv").read_text())))[1:]
    csv_seeds = {row[0]: row[1] for row in rows}
    assert csv_seeds == {k: str(v) for k, v in seeds.items()}
    expected = {"answers.json", "answers.csv", "moodle.xml", "sheets", "keys"}
    pdfs = (out / "sheets.pdf").exists()
    if pdfs:
        expected |= {"sheets.pdf", "keys.pdf"}
    assert {p.name for p in out.iterdir()} == expected
    for folder, prefix in (("sheets", "sheet"), ("keys", "key")):
        names = {f"{prefix}-{v}.{ext}" for v in seeds for ext in (("tex", "pdf") if pdfs else ("tex",))}
        assert {p.name for p in (out / folder).iterdir()} == names
        for v, seed in seeds.items():
            shown = f"Variant {v}, seed {seed}"
            assert shown in (out / folder / f"{prefix}-{v}.tex").read_text()
            if pdfs:
                assert shown in pdf_text(out / folder / f"{prefix}-{v}.pdf")
        if pdfs:
            united = pdf_text(out / f"{folder}.pdf")
            assert sorted(re.findall(r"Variant (\d+), seed (\d+)", united)) == sorted(
                (v, str(s)) for v, s in seeds.items())
    return frozenset(seeds.items())


def tex_running_under(folder: Path) -> bool:
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(folder) in os.readlink(proc / "cwd"):
                return True
        except OSError:
            continue
    return False


# derive with a line on stderr once its own code runs: a signal before that would meet the
# interpreter's start, not derive.
LAUNCH = ("import sys; from derive.__main__ import main; sys.stderr.write('started\\n'); "
          "sys.stderr.flush(); sys.argv[0] = 'derive'; main()")


def start(*args) -> subprocess.Popen:
    # Ctrl-C as at a terminal, even where the tests run with SIGINT ignored (a background job).
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stderr.readline() == "started\n"
    return proc


@needs_tex
def test_variants_killed_at_any_point_leave_the_old_run_or_the_new_one(tmp_path):
    out = tmp_path / "exam"
    old_args = ("variants", "--count", "2", "--seed", "1", "--out", out)
    new_args = ("variants", "--count", "2", "--seed", "2", "--out", out)
    assert run_cli(*old_args).returncode == 0
    old = variants_run(out)
    begun = time.monotonic()
    assert run_cli(*new_args[:-1], tmp_path / "reference").returncode == 0
    duration = time.monotonic() - begun
    new = variants_run(tmp_path / "reference")
    assert new != old

    rng = random.Random(2026)
    # Random moments, and two chosen ones: while pdflatex runs, and just after the new
    # folder has appeared beside the old one.
    points = [("time", rng.uniform(0.1, 1.0) * duration) for _ in range(2)] + [("tex", None), ("stage", None)]
    for sig in (signal.SIGKILL, signal.SIGINT):
        for how, when in points:
            left = set(siblings(out))  # by the killed runs before
            proc = start(*new_args)
            begun = time.monotonic()
            while proc.poll() is None and time.monotonic() - begun < 4 * duration + 30:
                if how == "time" and time.monotonic() - begun >= when:
                    break
                if how == "tex" and any(tmp_path.glob(".exam.derive-*/*/.*.tex-*")):
                    break
                if how == "stage" and siblings(out):
                    break
                time.sleep(0.005)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
            assert variants_run(out) in (old, new), (sig, how, when)
            if sig == signal.SIGINT:
                assert set(siblings(out)) <= left  # its own folder cleaned up on the way out
                assert proc.returncode in (0, 130) and "Traceback" not in err
                if proc.returncode == 130:
                    assert err.strip() == "derive: interrupted"
            while tex_running_under(tmp_path):  # a killed run's pdflatex ends by itself
                time.sleep(0.05)
    # A killed run's folder is removed by the next run, which completes.
    assert run_cli(*new_args).returncode == 0
    assert variants_run(out) == new
    assert siblings(out) == []


def children(pid: int) -> set[int]:
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and f"\nPPid:\t{pid}\n" in (proc / "status").read_text():
                found.add(int(proc.name))
        except OSError:
            continue
    return found


def alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in (Path("/proc") / str(pid) / "status").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_variants_made_by_workers_stop_with_the_run(tmp_path, sig):
    """Killed or interrupted while its worker processes make the variants: no worker
    is left running, and the folder is not made."""
    out = tmp_path / "many"
    proc = start("variants", "--count", "2000", "--no-pdf", "--jobs", "2", "--out", out)
    workers: set[int] = set()
    begun = time.monotonic()
    while len(workers) < 2 and proc.poll() is None and time.monotonic() - begun < 60:
        workers = children(proc.pid)
        time.sleep(0.01)
    assert len(workers) == 2, proc.communicate()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and err == "derive: interrupted\n"
    begun = time.monotonic()
    while any(map(alive, workers)) and time.monotonic() - begun < 10:
        time.sleep(0.05)
    assert not any(map(alive, workers))
    assert not out.exists()
    if sig == signal.SIGINT:
        assert siblings(out) == []


def test_a_failure_while_writing_leaves_the_old_folder(tmp_path, monkeypatch):
    out = tmp_path / "o"
    assert run_cli("solve", "--out", out, "--no-pdf").returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = output.Stage.write
    calls = []

    def disk_full(self, name, text):
        calls.append(name)
        if len(calls) == 2:
            raise output._write_error(self.target / name, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        return real(self, name, text)

    monkeypatch.setattr(output.Stage, "write", disk_full)
    with pytest.raises(output.OutputError, match="No space left on device"):
        with output.Stage(out) as stage:
            stage.write("sheet.tex", "new")
            stage.write("solution.tex", "new")
            stage.commit()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert siblings(out) == []


def test_a_stale_folder_of_a_killed_run_is_removed_and_a_live_one_kept(tmp_path):
    import fcntl

    out = tmp_path / "o"
    stale = tmp_path / ".o.derive-0badf00d"
    (stale / "sheets").mkdir(parents=True)
    (stale / "sheets" / "sheet-001.tex").write_text("half")
    live = tmp_path / ".o.derive-1111aaaa"
    live.mkdir()
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a run that is still going holds it
    try:
        assert run_cli("solve", "--out", out, "--no-pdf").returncode == 0
        assert siblings(out) == [live.name]
    finally:
        os.close(fd)


def test_files_derive_does_not_write_are_kept(tmp_path):
    out = tmp_path / "o"
    assert run_cli("solve", "--out", out, "--no-pdf").returncode == 0
    (out / "notes.txt").write_text("mine")
    (out / "drafts").mkdir()
    (out / "solution.pdf").write_text("a PDF of other numbers")
    assert run_cli("solve", "--out", out, "--no-pdf").returncode == 0
    assert {p.name for p in out.iterdir()} == {"answers.json", "sheet.tex", "solution.tex", "notes.txt", "drafts"}
    assert (out / "notes.txt").read_text() == "mine"


def test_links_are_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert "symbolic link" in one_line(run_cli("solve", "--out", link, "--no-pdf"))
    assert list(real.iterdir()) == []

    out = tmp_path / "o"
    assert run_cli("solve", "--out", out, "--no-pdf").returncode == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (out / "sheet.tex").unlink()
    (out / "sheet.tex").symlink_to(victim)
    r = run_cli("solve", "--out", out, "--no-pdf")
    assert r.returncode == 2 and "sheet.tex: is a symbolic link" in one_line(r)
    assert victim.read_text() == "keep me" and (out / "sheet.tex").is_symlink()

    pdf_link = tmp_path / "feedback.pdf"
    pdf_link.symlink_to(victim)
    r = run_cli("check", SHEET_ANSWERS, "--pdf", pdf_link)
    assert r.returncode == 2 and "symbolic link" in one_line(r)
    assert victim.read_text() == "keep me"


@needs_tex
def test_check_pdf_writes_only_the_pdf_it_was_given(tmp_path):
    notes = tmp_path / "notes.tex"
    notes.write_text("my own notes")
    r = run_cli("check", SHEET_ANSWERS, "--pdf", tmp_path / "notes.pdf")
    assert r.returncode == 1, r.stderr
    assert notes.read_text() == "my own notes"
    assert {p.name for p in tmp_path.iterdir()} == {"notes.tex", "notes.pdf"}
    assert "0.7564" in pdf_text(tmp_path / "notes.pdf")


def test_check_pdf_refuses_a_name_that_is_not_a_pdf(tmp_path):
    answers = tmp_path / "answers.tex"
    answers.write_text("mine")
    r = run_cli("check", SHEET_ANSWERS, "--pdf", answers)
    assert r.returncode == 2 and "expected a file name ending in .pdf" in one_line(r)
    assert answers.read_text() == "mine"
    r = run_cli("check", SHEET_ANSWERS, "--pdf", tmp_path)  # a folder
    assert r.returncode == 2


def test_an_unwritable_place_gets_one_line(tmp_path):
    if os.geteuid() == 0:  # permissions do not stop root; a read-only file system does
        target = Path("/sys/derive-test")
        if not Path("/sys").is_dir():
            pytest.skip("no read-only file system to try")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        target = locked / "o"
    r = run_cli("solve", "--out", target, "--no-pdf")
    assert r.returncode == 2
    line = one_line(r)
    assert str(target) in line and ("cannot write" in line)
    assert not target.exists()


@pytest.mark.parametrize("kind", ["binary", "folder", "list"])
def test_an_answers_json_derive_did_not_write_gets_one_line(tmp_path, kind):
    out = tmp_path / "o"
    out.mkdir()
    marker = out / "answers.json"
    if kind == "binary":
        marker.write_bytes(b"\xff\xfe\x00\x81")
    elif kind == "folder":
        marker.mkdir()
    else:
        marker.write_text("[1, 2]")
    r = run_cli("solve", "--out", out, "--no-pdf")
    assert r.returncode == 2 and "answers.json that derive did not write" in one_line(r)
    assert {p.name for p in out.iterdir()} == {"answers.json"}


@needs_tex
def test_output_paths_with_tex_special_characters(tmp_path):
    out = tmp_path / 'a 50% $cut~ "x\\y' / "o ut"
    r = run_cli("solve", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "0.7564" in pdf_text(out / "solution.pdf")


@needs_tex
def test_a_tex_run_that_never_ends_is_stopped(tmp_path):
    out = tmp_path / "o"
    assert run_cli("solve", "--out", out, "--no-pdf").returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    mine = tmp_path / "mine"
    mine.mkdir()
    base = (ROOT / "templates" / "base.tex.j2").read_text()
    (mine / "base.tex.j2").write_text(base.replace(r"\begin{document}", r"\begin{document}\def\x{\x}\x", 1))
    env = dict(os.environ, DERIVE_TEX_TIMEOUT="2")
    begun = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "derive", "solve", "--out", str(out), "--templates", str(mine)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert time.monotonic() - begun < 60
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert re.match(r"derive: (sheet|solution)\.tex: LaTeX did not finish within 2 s", r.stderr.splitlines()[0])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert siblings(out) == [] and not tex_running_under(tmp_path)


@needs_tex
def test_tex_reads_no_file_outside_its_folder(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRETLINE")
    base = (ROOT / "templates" / "base.tex.j2").read_text()
    (mine / "base.tex.j2").write_text(base.replace(r"\begin{document}", r"\begin{document}\input{" + str(secret) + "}", 1))
    env = dict(os.environ, TEXINPUTS=f"{tmp_path}//:")
    r = subprocess.run([sys.executable, "-m", "derive", "solve", "--out", str(tmp_path / "o"), "--templates", str(mine)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "LaTeX failed" in r.stderr
    assert "TOPSECRETLINE" not in r.stderr and not (tmp_path / "o").exists()


def test_ctrl_c_prints_one_line(tmp_path):
    # Early, while derive's modules load, and late, while the variants are written.
    early = start("solve", "--no-pdf", "--out", tmp_path / "a")
    time.sleep(0.1)
    early.send_signal(signal.SIGINT)
    late = start("variants", "--count", "400", "--no-pdf", "--out", tmp_path / "b")
    while not siblings(tmp_path / "b") and late.poll() is None:
        time.sleep(0.005)
    late.send_signal(signal.SIGINT)
    for proc in (early, late):
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and err == "derive: interrupted\n"
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert siblings(tmp_path / "b") == []
