"""``derive serve``: the checking page. Thin: it loads the exercises, reads what a student
submits, asks the checker, and hands the report to ``web`` and the HTML templates.

Everything a request brings is untrusted. Bodies are limited to ``MAX_BODY`` bytes and
read as a URL-encoded form only; a field the exercise does not ask for, a value that is
not a number, an unknown id or page answers with a 4xx page that says what was expected,
never a traceback. The pages carry no script at all, and a content security policy that
allows none. Templates render in a sandboxed Jinja2 environment with HTML escaping on.

``--results FILE`` appends one JSON line per checked submission. Each line is one
``write`` to a file opened with ``O_APPEND`` and is synced to disk before the student sees
the feedback, so a crash or restart loses nothing that was answered, and lines from
several processes never interleave.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence
from urllib.parse import parse_qsl

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from . import check as check_mod, spec as spec_mod, web
from .answers import read_key
from .errors import DeriveError, SpecError
from .roster import VALID_ID
from .solution import Exercise, Solution

MAX_BODY = 32 * 1024  # bytes; a full answer set of a large network is a few kilobytes
HEADERS = {
    # No script, no foreign origin: the page needs neither, and an injected one cannot run.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
UNKNOWN_ID = "No sheet has this id. Check the id printed under the title of your sheet."


class Problem(Exception):
    """A request the page answers with a 4xx status and a message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


# --- what is served ---------------------------------------------------------------------------

@dataclass
class Source:
    """One exercise on the page: a spec's own numbers, or a folder of variants."""

    number: int
    exercise: Exercise
    where: str
    variants: Mapping[str, tuple[dict[str, float], int | None]] | None = None  # id -> (given, seed)
    _solved: dict[str | None, Solution] = field(default_factory=dict)
    _sheets: dict[str | None, tuple[dict, Markup]] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.exercise.spec.title

    def solution(self, variant: str | None) -> Solution | None:
        """The Solution of a variant (``None``: the spec's own), or None for an unknown id."""
        if variant in self._solved:
            return self._solved[variant]
        if self.variants is None:
            solved = self.exercise.solve() if variant is None else None
        elif variant is None or variant not in self.variants:
            return None
        else:
            given, seed = self.variants[variant]
            solved = self.exercise.solve(given, seed=seed, variant=variant)
        if solved is not None:
            self._solved[variant] = solved
        return solved


    def sheet(self, solution: Solution, env: jinja2.Environment) -> tuple[dict, Markup]:
        """What the page shows of a variant's sheet, and its HTML: made once per variant."""
        if solution.variant not in self._sheets:
            sheet = web.sheet(solution, self.exercise)
            self._sheets[solution.variant] = (sheet, Markup(env.get_template("sheet_part.html.j2").render(sheet=sheet)))
        return self._sheets[solution.variant]


def load(paths: Sequence[str]) -> list[Source]:
    """The exercises to serve: each path a spec file or a folder written by ``derive
    variants``; none is the built-in exercise."""
    sources = []
    for n, path in enumerate(paths or [None], start=1):
        if path is not None and Path(path).is_dir():
            sources.append(_variants(n, Path(path)))
        else:
            sources.append(Source(n, Exercise(spec_mod.load(path)), str(path or spec_mod.BUILTIN)))
    return sources


def _variants(n: int, folder: Path) -> Source:
    file = folder / "answers.json"
    data = read_key(file, "VARIANTS_DIR")
    if not isinstance(data, dict) or not isinstance(data.get("spec"), dict) or not isinstance(data.get("variants"), list):
        raise SpecError(str(file), "variants", "expected the answers.json of derive variants (with spec and variants)")
    exercise = Exercise(spec_mod.from_table(data["spec"], str(file)))
    known = set(exercise.derivation.index)
    variants: dict[str, tuple[dict[str, float], int | None]] = {}
    for k, record in enumerate(data["variants"]):
        try:
            vid = str(record["variant"])
            given = {name: float(v) for name, v in record["given"].items() if name in known}
            seed = record.get("seed")
        except (KeyError, TypeError, ValueError, AttributeError):
            raise SpecError(str(file), f"variants[{k}]", "expected a variant id and its given values") from None
        variants[vid] = (given, seed)
    if not variants:
        raise SpecError(str(file), "variants", "none; expected at least one variant")
    return Source(n, exercise, str(folder), variants)


# --- the results file -------------------------------------------------------------------------

class Results:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        try:  # fail at start, not at the first student's submission
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
        except OSError as exc:
            raise DeriveError(f"{path}: --results: cannot be opened for appending ({exc.strerror})") from None

    def append(self, record: dict) -> None:
        line = (json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)


# --- the application --------------------------------------------------------------------------

def environment() -> jinja2.Environment:
    return SandboxedEnvironment(loader=jinja2.FileSystemLoader(str(web.html_templates())), autoescape=True,
                                undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def app(sources: Sequence[Source], reveal: bool = False, results: Results | None = None) -> Starlette:
    env = environment()
    css = (web.html_templates() / "page.css").read_bytes()
    by_number = {s.number: s for s in sources}

    def page(name: str, status: int = 200, **context) -> HTMLResponse:
        html = env.get_template(name).render(sources=sources, **context)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def problem(status: int, message: str, source: Source | None = None) -> HTMLResponse:
        return page("problem.html.j2", status, message=message, source=source)

    def source_of(request: Request) -> Source:
        source = by_number.get(request.path_params["number"])
        if source is None:
            raise Problem(404, "No exercise has this number.")
        return source

    def solution_of(source: Source, vid: str | None) -> Solution:
        if source.variants is None:
            if vid:
                raise Problem(400, "This exercise has no variants; expected no id.")
            return source.solution(None)
        if not vid:
            raise Problem(400, "Expected the id printed under the title of your sheet.")
        solved = source.solution(vid) if VALID_ID.fullmatch(vid) else None
        if solved is None:
            raise Problem(404, UNKNOWN_ID)
        return solved

    def sheet_page(source: Source, solution: Solution, status: int = 200, **extra) -> HTMLResponse:
        sheet, sheet_html = source.sheet(solution, env)
        return page("sheet.html.j2", status, source=source, sheet=sheet, sheet_html=sheet_html,
                    parts=web.parts(source.exercise), typed=extra.pop("typed", {}), result=extra.pop("result", None),
                    problems=extra.pop("problems", {}), message=extra.pop("message", None), reveal=reveal)

    async def index(request: Request) -> Response:
        if len(sources) == 1:
            return RedirectResponse("/e/1", status_code=303, headers=HEADERS)
        return page("index.html.j2")

    async def exercise_page(request: Request) -> Response:
        source = source_of(request)
        vid = request.query_params.get("id", "").strip()
        if source.variants is not None and not vid:
            return page("variant.html.j2", source=source, message=None)
        try:
            solution = solution_of(source, vid)
        except Problem as exc:
            if source.variants is not None:
                return page("variant.html.j2", exc.status, source=source, message=exc.message)
            raise
        return sheet_page(source, solution)

    async def submit(request: Request) -> Response:
        source = source_of(request)
        form = await _form(request)
        vid = form.pop("id", "").strip() or None
        solution = solution_of(source, vid)
        typed = {k: v[:web.MAX_TEXT] for k, v in form.items()}
        try:
            answers, problems = web.answers(source.exercise, form)
        except web.FormError as exc:
            raise Problem(400, str(exc)) from None
        if not answers:
            message = None if problems else "Nothing to check yet: fill in at least one value."
            return sheet_page(source, solution, 422, typed=typed, problems=problems, message=message)
        report = check_mod.check(source.exercise, solution, answers, source=f"page {source.number}")
        result = web.feedback(report, source.exercise, typed, reveal)
        if results is not None:  # synced to disk before the student sees the feedback; off the event loop
            await run_in_threadpool(results.append, _record(source, solution, typed, report))
        return sheet_page(source, solution, 422 if problems else 200, typed=typed, problems=problems,
                          result=result)

    async def stylesheet(request: Request) -> Response:
        return Response(css, media_type="text/css", headers={**HEADERS, "Cache-Control": "max-age=3600"})

    async def on_problem(request: Request, exc: Problem) -> Response:
        return problem(exc.status, exc.message)

    async def on_http(request: Request, exc: HTTPException) -> Response:
        messages = {404: "There is no page at this address.", 405: "This page does not take this kind of request."}
        return problem(exc.status_code if 400 <= exc.status_code < 500 else 400,
                       messages.get(exc.status_code, "This request cannot be answered."))

    async def on_error(request: Request, exc: Exception) -> Response:
        # A bug: the student gets a plain page, the server keeps serving.
        return problem(500, "Something went wrong on the server; your values were not checked. Try again.")

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/e/{number:int}", exercise_page, methods=["GET"]),
        Route("/e/{number:int}", submit, methods=["POST"]),
        Route("/page.css", stylesheet, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={Problem: on_problem, HTTPException: on_http,
                                                        Exception: on_error})


async def _form(request: Request) -> dict[str, str]:
    """The body as a URL-encoded form, each field once; bad bodies raise Problem."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise Problem(413, f"The submission is too large; expected at most {MAX_BODY // 1024} KiB.")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Problem(415, "Expected the page's form (application/x-www-form-urlencoded).")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Problem(413, f"The submission is too large; expected at most {MAX_BODY // 1024} KiB.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=1000)
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "The submission is not a readable form.") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise Problem(400, f"The field {key[:40]!r} was sent twice; expected each field once.")
        form[key] = value
    return form


def _record(source: Source, solution: Solution, typed: Mapping[str, str], report) -> dict:
    return {
        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "exercise": source.title,
        "page": source.number,
        "variant": solution.variant,
        "values": {k: v for k, v in typed.items() if v.strip()},
        "verdicts": {r.name: r.verdict for r in report.results},
        "root_errors": [r.name for r in report.results if r.verdict == "wrong"],
        "misconceptions": {r.name: r.misconception for r in report.results if r.misconception},
    }


ENVIRONMENT = "DERIVE_SERVE"  # how the parent passes its settings to worker processes


def from_environment() -> Starlette:
    """The application of one worker process: uvicorn's workers import it by name."""
    config = json.loads(os.environ[ENVIRONMENT])
    results = Results(Path(config["results"])) if config["results"] else None
    return app(load(config["paths"]), config["reveal"], results)


def run(paths: Sequence[str], host: str, port: int, reveal: bool, results_path: Path | None,
        workers: int = 1) -> None:
    import uvicorn

    sources = load(paths)  # in the parent too: a bad spec fails here, in one line, before any worker starts
    results = Results(results_path) if results_path is not None else None
    print(f"derive serve: {len(sources)} exercise{'s' if len(sources) > 1 else ''} on http://{host}:{port}/"
          + (f", submissions appended to {results_path}" if results else "")
          + (f", {workers} worker processes" if workers > 1 else "") + " (Ctrl-C stops)", flush=True)
    options = dict(host=host, port=port, log_level="warning", server_header=False)
    if workers == 1:
        uvicorn.run(app(sources, reveal, results), **options)
        return
    os.environ[ENVIRONMENT] = json.dumps({
        "paths": [str(Path(p).resolve()) for p in paths], "reveal": reveal,
        "results": str(results_path.resolve()) if results_path else None})
    uvicorn.run(f"{__name__}:from_environment", factory=True, workers=workers, **options)
