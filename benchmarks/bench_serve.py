"""Load on the checking page: 200 students submitting full answer sets at once.

Starts `derive serve` (the built-in exercise) on 127.0.0.1 only, with one and with two
worker processes, and runs 200 concurrent clients (asyncio + httpx, one connection each)
in two patterns:

- burst: every client submits again as soon as its answer arrives (the server saturated:
  what it can do at most; latency is then the queue of 200);
- class: every client waits 1 to 5 s between submissions (uniform), as students do who read
  their feedback and correct a value; 200 such students offer about 67 submissions a second.

Each submission is the course sheet's own values (36 fields, one root error, two carried).
Every loop is bounded in count and in time; nothing but this machine is contacted.

Run: python benchmarks/bench_serve.py  (prints medians, p99 and throughput; no assertions)
"""

from __future__ import annotations

import asyncio
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from derive import check, spec  # noqa: E402
from derive.solution import Exercise  # noqa: E402

CLIENTS = 200
BURST_EACH = 5  # submissions per client in the burst: 1,000 in all
CLASS_SECONDS = 30  # length of the class pattern
LIMIT_SECONDS = 300  # no run goes on longer than this, whatever happens


def form() -> dict[str, str]:
    exercise = Exercise(spec.load())
    answers = check.read_answers(ROOT / "tests/data/reference_sheet_answers.toml", list(exercise.derivation.index))
    return {a.name: a.written.text for a in answers}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "derive", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/e/1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                # every worker up: a few answered requests in a row
                if all(httpx.get(url, timeout=2).status_code == 200 for _ in range(10)):
                    return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the server did not start")


async def client(url: str, data: dict, latencies: list, errors: list, count: int | None, until: float,
                 think: tuple[float, float] | None, rng: random.Random) -> None:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=1)) as http:
        if think:
            await asyncio.sleep(rng.uniform(0, think[1]))  # students do not all start at once
        done = 0
        while time.monotonic() < until and (count is None or done < count):
            t = time.perf_counter()
            try:
                r = await http.post(url, data=data)
                ok = r.status_code == 200 and "1 wrong" in r.text
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - t)
            if not ok:
                errors.append(1)
            done += 1
            if think:
                await asyncio.sleep(rng.uniform(*think))


async def load(url: str, data: dict, count: int | None, seconds: float, think) -> dict:
    latencies: list[float] = []
    errors: list[int] = []
    rng = random.Random(1)
    until = time.monotonic() + min(seconds, LIMIT_SECONDS)
    t = time.perf_counter()
    await asyncio.gather(*(client(url, data, latencies, errors, count, until, think, rng) for _ in range(CLIENTS)))
    wall = time.perf_counter() - t
    latencies.sort()
    return {"n": len(latencies), "errors": len(errors), "median": statistics.median(latencies),
            "p99": latencies[int(0.99 * (len(latencies) - 1))], "throughput": len(latencies) / wall}


def in_process(data: dict, n: int = 200) -> tuple[float, float]:
    """Median ms of one submission inside the server (form read, check, page), without HTTP;
    and of the check alone."""
    from derive import serve, web

    sources = serve.load([])
    source = sources[0]
    env = serve.environment()
    solution = source.solution(None)

    def submission():
        answers, _ = web.answers(source.exercise, data)
        report = check.check(source.exercise, solution, answers)
        result = web.feedback(report, source.exercise, data, False)
        sheet, html = source.sheet(solution, env)
        env.get_template("sheet.html.j2").render(sources=sources, source=source, sheet=sheet, sheet_html=html,
                                                 parts=web.parts(source.exercise), typed=data, result=result,
                                                 problems={}, message=None, reveal=False)
        return answers

    def timed(fn) -> float:
        out = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
        return statistics.median(out) * 1000

    answers = submission()
    return timed(submission), timed(lambda: check.check(source.exercise, solution, answers))


def main() -> None:
    data = form()
    whole, alone = in_process(data)
    print(f"one submission inside the server: median {whole:.1f} ms, of which the check {alone:.1f} ms")
    print(f"{CLIENTS} concurrent clients, full answer sets ({len(data)} values), built-in exercise, 127.0.0.1")
    print(f"{'workers':>7}  {'pattern':<28}  {'submissions':>11}  {'errors':>6}  {'median':>8}  {'p99':>8}  {'per s':>6}")
    for workers in (1, 2):
        proc, url = start(workers)
        try:
            runs = [(f"burst ({BURST_EACH} each, no pause)", BURST_EACH, LIMIT_SECONDS, None),
                    (f"class (1-5 s pauses, {CLASS_SECONDS} s)", None, CLASS_SECONDS, (1.0, 5.0))]
            for label, count, seconds, think in runs:
                r = asyncio.run(load(url, data, count, seconds, think))
                print(f"{workers:>7}  {label:<28}  {r['n']:>11}  {r['errors']:>6}  {r['median'] * 1000:>6.0f} ms"
                      f"  {r['p99'] * 1000:>5.0f} ms  {r['throughput']:>6.0f}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
