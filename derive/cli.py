"""The command line. Thin: each command reads its input, calls the pipeline, writes."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from . import export, limits, optimizer_runs, output, pdf, render, spec as spec_mod, training
from .errors import DeriveError
from .solution import Exercise

SPEC_ARG = click.argument("spec_path", metavar="[SPEC]", required=False, type=click.Path(dir_okay=False))
TEMPLATES_OPT = click.option("--templates", "templates", type=click.Path(file_okay=False, path_type=Path),
                             help="Folder with your own *.tex.j2 templates (same names, same data).")


def default_out(spec_path: str | None) -> Path:
    return Path("output") / (Path(spec_path).stem if spec_path else spec_mod.BUILTIN)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="derive")
def cli() -> None:
    """Worked backpropagation exercises: sheets, answer keys, variants, checking."""


@cli.command()
@SPEC_ARG
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the files (default: output/<spec name>).")
@click.option("--no-pdf", is_flag=True, help="Write the .tex files only.")
@click.option("--force", is_flag=True, help="Overwrite a folder that holds other files.")
@TEMPLATES_OPT
def solve(spec_path: str | None, out: Path | None, no_pdf: bool, force: bool, templates: Path | None) -> None:
    """Write the exercise sheet, the answer key and answers.json for SPEC
    (default: the built-in reference exercise)."""
    exercise = Exercise(spec_mod.load(spec_path))
    solution = exercise.solve()
    out = out or default_out(spec_path)
    output.check_out_dir(out, exercise.spec, force)
    env = render.environment(templates)
    sheet, key = render.contexts(solution)
    files = {"sheet.tex": render.render(env, render.SHEET, sheet), "solution.tex": render.render(env, render.KEY, key)}
    filename, writer = export.WRITERS["json"]
    files[filename] = writer([solution])
    with output.Stage(out) as stage:
        for name, text in files.items():
            stage.write(name, text)
        result = None if no_pdf else pdf.compile_all([stage.path / "sheet.tex", stage.path / "solution.tex"])
        stage.commit()
    click.echo(f"wrote {out}/: {', '.join(files)}")
    if result and result.skipped:
        click.echo(result.skipped, err=True)
    elif result:
        click.echo(f"wrote {', '.join(str(out / p.name) for p in result.made)}")


@cli.command()
@SPEC_ARG
@click.option("--eta", "etas", multiple=True, metavar="ETA",
              help="Learning rate of a run; repeat for several runs (default: the spec's runs).")
@click.option("--steps", metavar="N", help="Gradient steps per run (default: the spec's, or 10).")
@click.option("--freeze", multiple=True, metavar="NAME", help="Hold this parameter fixed; repeatable.")
@click.option("--optimizer", "optimizer_names", multiple=True, metavar="NAME",
              help="Run every run with this optimizer at its default settings; repeat to compare several.")
def train(spec_path: str | None, etas: tuple[str, ...], steps: str | None, freeze: tuple[str, ...],
          optimizer_names: tuple[str, ...]) -> None:
    """Run gradient descent (or an optimizer) on SPEC and print the loss before every step."""
    exercise = Exercise(spec_mod.load(spec_path))
    if exercise.network is None:  # hook: a computational graph has nothing to train
        raise DeriveError(f"{exercise.spec.source}: graph: a computational-graph exercise has no training runs "
                          "(its optimizer steps, if any, are in its key: derive solve); expected a [network] spec "
                          "for derive train")
    runs = training.option_runs(exercise.spec, exercise.network, etas, steps, freeze)
    runs = optimizer_runs.with_optimizers(runs, optimizer_names, exercise.spec.source)  # --optimizer
    limits.at_most(exercise.spec.source, "--optimizer", len(runs), limits.RUNS, "runs")
    results = exercise.train(runs)
    for i, run in enumerate(results):
        if i:
            click.echo()
        click.echo(training.describe(run, exercise.derivation.online))
        for loss in run.losses:
            click.echo(f"Error: {exercise.policy.text(loss)}")
        click.echo(training.verdict_line(run, exercise.policy))


LONG_RUN = 100  # items from which a progress bar is worth showing


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _bar(n: int, label: str):
    # Only for a person watching: in a pipe or a log the bar's label would be noise.
    if n < LONG_RUN or not sys.stderr.isatty():
        return contextlib.nullcontext(None)
    return click.progressbar(length=n, label=label, file=sys.stderr)


@cli.command()
@SPEC_ARG
@click.option("--count", type=int, metavar="N", help="Make N numbered variants (001, 002, …).")
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.csv",
              help="Make one variant per student id in this CSV file (column 'id').")
@click.option("--id-column", metavar="NAME", help="The roster column that holds the ids.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Base seed; every variant's own seed is derived from it.")
@click.option("--stress", type=int, metavar="N",
              help="Draw N variants without writing anything and report the statistics.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the files (default: output/<spec name>-variants).")
@click.option("--no-pdf", is_flag=True, help="Write the .tex files and the answer files only.")
@click.option("--jobs", type=int, metavar="N",
              help="Processes at once: variants made, PDFs compiled (default: all cores).")
@click.option("--force", is_flag=True, help="Overwrite a folder that holds other files.")
@click.option("--format", "formats", multiple=True, type=click.Choice(sorted(export.WRITERS)), metavar="NAME",
              help="Answer and LMS files to write; repeatable. --format replaces the defaults (json, csv, "
                   "moodle): list every format you want (--format csv --format moodle --format qti21). "
                   f"Choices: {', '.join(sorted(export.WRITERS))}. answers.json is always written.")
@click.option("--category", metavar="PATH",
              help="Moodle question category (default: $course$/<title>/<seed or roster name>).")
@TEMPLATES_OPT
def variants(spec_path: str | None, count: int | None, roster: Path | None, id_column: str | None, seed: int,
             stress: int | None, out: Path | None, no_pdf: bool, jobs: int | None, force: bool,
             formats: tuple[str, ...], category: str | None, templates: Path | None) -> None:
    """Randomized variants of SPEC, each with its own sheet and key, plus answers.json, the
    answer and LMS files of --format (by default answers.csv and moodle.xml) and one PDF
    of all keys and one of all sheets. What varies is declared in the spec's [vary] section."""
    if sum(x is not None for x in (count, roster, stress)) != 1:
        raise DeriveError("variants: expected exactly one of --count N, --roster FILE.csv or --stress N")
    for option, n, most in (("--count", count, limits.VARIANTS), ("--stress", stress, limits.STRESS)):
        if n is not None and not 1 <= n <= most:
            raise DeriveError(f"{option}: expected a whole number from 1 to {most:,}, got {n}")
    if jobs is not None and jobs < 1:
        raise DeriveError(f"--jobs: expected a whole number of at least 1, got {jobs}")
    # late: for this command only
    from . import roster as roster_mod, stress as stress_mod, variants as variants_mod, workers as workers_mod
    exercise = Exercise(spec_mod.load(spec_path))
    sampler = variants_mod.Sampler(exercise)
    if stress is not None:
        with _bar(stress, "drawing") as bar:
            report = stress_mod.run(sampler, stress, seed, bar.update if bar else None)
        click.echo(stress_mod.text(report, sampler))
        return
    keys = variants_mod.for_students(roster_mod.read(roster, id_column)) if roster else variants_mod.numbered(count)
    batch = roster.stem if roster else f"seed {seed}"
    from . import moodle  # late: the other commands do without the LMS modules
    category = moodle.category_path(category) if category else moodle.default_category(exercise.spec.title, batch)
    formats = ("json", *(f for f in formats or export.DEFAULT_FORMATS if f != "json"))
    out = out or default_out(spec_path).with_name(default_out(spec_path).name + "-variants")
    output.check_out_dir(out, exercise.spec, force)
    env = render.environment(templates)
    job = workers_mod.Job(exercise, env, formats, category, sampler, tuple(keys), seed)
    # Each variant is drawn, made and written, and then dropped: no run holds all its Solutions.
    with workers_mod.Batch(job, jobs) as run, output.Stage(out) as stage:
        with _bar(len(keys), "drawing, solving and writing") as bar:
            texs = run.write(stage, bar.update if bar else None)
        result = None if no_pdf else _variant_pdfs(stage.path, texs, jobs)
        stage.commit()
    click.echo(f"wrote {out}/: {_count(len(keys), 'sheet')} and {'key' if len(keys) == 1 else 'keys'} "
               f"in {output.SHEETS}/ and "
               f"{output.KEYS}/, {', '.join(export.WRITERS[f][0] for f in formats)}")
    if result and result.skipped:
        click.echo(result.skipped, err=True)
    elif result:
        click.echo(f"wrote {_count(len(result.made), 'PDF')}, {out / 'sheets.pdf'} and {out / 'keys.pdf'}")


def _variant_pdfs(folder: Path, texs: list[Path], jobs: int | None) -> pdf.Compiled:
    with _bar(len(texs), "compiling") as bar:
        result = pdf.compile_all(texs, jobs, bar.update if bar else None)
    for sub, target in ((output.SHEETS, "sheets.pdf"), (output.KEYS, "keys.pdf")):
        made = [p for p in result.made if p.parent.name == sub]
        problem = None if result.skipped else pdf.unite(made, folder / target)
        if problem:
            click.echo(problem, err=True)
    return result


@cli.command(name="check")
@click.argument("paths", nargs=-1, metavar="[SPEC] ANSWERS")
@click.option("--variant", metavar="ID", help="Check against this variant (made by `derive variants`).")
@click.option("--key", "key", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="The answers.json that holds the variant (default: found under output/<spec name>-variants/).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also write an annotated feedback sheet to FILE (a .pdf name).")
@click.option("--allowance", type=float, default=1.0, show_default=True, metavar="K",
              help="Units of the last written digit a value may be off where rounded earlier values explain it.")
@click.option("--class", "class_path", type=click.Path(path_type=Path), metavar="ANSWERS_DIR_OR_CSV",
              help="Check a whole class: a folder with one answers file per student (named by id) or a CSV "
                   "file with a row per student (id, then one column per quantity).")
@click.option("--variants", "variants_path", type=click.Path(path_type=Path), metavar="DIR",
              help="With --class: the folder written by `derive variants`; each student is checked against "
                   "the variant of their id.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="With --class: folder for grades.csv and the feedback sheets (default: output/<spec name>-class).")
@click.option("--points", metavar="V=P,...", help="With --class: points per verdict "
              "(default correct=1,carried=1,coarse=0.5,wrong=0).")
@click.option("--no-pdf", is_flag=True, help="With --class: write the feedback .tex files only.")
@click.option("--jobs", type=int, metavar="N", help="With --class: PDFs compiled at once (default: all cores).")
@TEMPLATES_OPT
def check_cmd(paths: tuple[str, ...], variant: str | None, key: Path | None, as_json: bool, pdf_path: Path | None,
              allowance: float, class_path: Path | None, variants_path: Path | None, out: Path | None,
              points: str | None, no_pdf: bool, jobs: int | None, templates: Path | None) -> None:
    """Check hand-computed values in ANSWERS (TOML, YAML or CSV with header name,value)
    against SPEC (default: the built-in exercise). Exit status 0 when every value is
    correct or carried, 1 when something is wrong or too coarse, 2 on bad input.
    With --class, a whole class at once: grades.csv, a feedback sheet per student, and a
    summary of the class."""
    import json

    from . import check as check_mod, feedback

    if class_path is not None:
        if len(paths) > 1 or variant or key or as_json or pdf_path:
            raise click.UsageError("--class: expected at most a SPEC besides it (no ANSWERS, --variant, --key, "
                                   "--json or --pdf)")
        _check_class(paths[0] if paths else None, class_path, variants_path, out, points, allowance, no_pdf, jobs,
                     templates)
        return
    if variants_path or out or points or no_pdf or jobs:
        raise click.UsageError("--variants, --out, --points, --no-pdf and --jobs go with --class")
    if len(paths) not in (1, 2):
        raise click.UsageError("expected [SPEC] ANSWERS: an answers file, optionally after a spec")
    spec_path, answers_path = (None, paths[0]) if len(paths) == 1 else paths
    if not allowance >= 0:
        raise DeriveError(f"--allowance: expected a number of units of at least 0, got {allowance}")
    if pdf_path is not None:
        output.check_pdf_target(pdf_path)
    exercise = Exercise(spec_mod.load(spec_path))
    answers = check_mod.read_answers(answers_path, check_mod.names(exercise))
    if variant is not None:
        search = default_out(spec_path).with_name(default_out(spec_path).name + "-variants")
        solution = check_mod.variant_solution(exercise, variant, key, search)
    else:
        solution = exercise.solve()
    report = check_mod.check(exercise, solution, answers, allowance, source=answers_path)
    click.echo(json.dumps(feedback.as_data(report), indent=2, ensure_ascii=False) if as_json
               else feedback.table(report))
    if pdf_path is not None:
        env = render.environment(templates)
        tex_text = render.render(env, feedback.TEMPLATE, feedback.feedback_context(report))
        # The .tex is a step on the way: made and compiled beside FILE, then dropped.
        with output.scratch(pdf_path) as work:
            tex = work / "feedback.tex"
            tex.write_text(tex_text, encoding="utf-8")
            result = pdf.compile_all([tex], jobs=1)
            if result.skipped:
                click.echo(f"{pdf_path} not made: {pdf.INSTALL_HINT}", err=True)
            else:
                output.replace_file(result.made[0], pdf_path)
                click.echo(f"wrote {pdf_path}", err=as_json)
    sys.exit(report.exit_code)


def _check_class(spec_path: str | None, class_path: Path, variants_path: Path | None, out: Path | None,
                 points_text: str | None, allowance: float, no_pdf: bool, jobs: int | None,
                 templates: Path | None) -> None:
    from . import classcheck

    if not allowance >= 0:
        raise DeriveError(f"--allowance: expected a number of units of at least 0, got {allowance}")
    if jobs is not None and jobs < 1:
        raise DeriveError(f"--jobs: expected a whole number of at least 1, got {jobs}")
    points = classcheck.parse_points(points_text)
    exercise = Exercise(spec_mod.load(spec_path))
    students = classcheck.read(class_path, exercise)
    variants = classcheck.variant_givens(variants_path, exercise) if variants_path is not None else None
    solved = classcheck.solutions(exercise, students, variants)
    out = out or default_out(spec_path).with_name(default_out(spec_path).name + "-class")
    classcheck.out_dir_ok(out)
    env = render.environment(templates)
    with _bar(len(students), "checking") as bar:
        graded = classcheck.grade(exercise, students, solved, points, allowance)
        if bar:
            bar.update(len(students))
    files = classcheck.files(graded, exercise, points, env)
    with output.Stage(out) as stage:
        texs = [stage.write(name, text) for name, text in files.items()]
        result = None
        if not no_pdf:
            texs = [t for t in texs if t.suffix == ".tex"]
            with _bar(len(texs), "compiling") as bar:
                result = pdf.compile_all(texs, jobs, bar.update if bar else None)
        stage.commit()
    click.echo(classcheck.summary(graded, exercise))
    click.echo(f"\nwrote {out / classcheck.GRADES} and {_count(len(graded), 'feedback sheet')} "
               f"in {out / classcheck.FEEDBACK}/")
    if result is None:
        return
    if result.skipped:
        click.echo(result.skipped, err=True)
    else:
        click.echo(f"wrote {_count(len(result.made), 'feedback PDF')}")


@cli.command()
@click.argument("paths", nargs=-1, metavar="[SPEC | VARIANTS_DIR ...]")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option("--reveal", is_flag=True, help="Tell students the true value of a wrong field.")
@click.option("--results", "results", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Append every checked submission to FILE as a JSON line.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes (one per core serves most submissions at once).")
def serve(paths: tuple[str, ...], host: str, port: int, reveal: bool, results: Path | None, workers: int) -> None:
    """A checking page for students: the sheet in the browser and a form that checks
    their values. Serves each SPEC (its own numbers) and each folder written by
    `derive variants` (a student enters their id); none: the built-in exercise."""
    try:
        from . import serve as serve_mod
    except ImportError as exc:
        raise DeriveError(f"serve: needs the serve extra ({exc.name} is missing): pip install 'derive[serve]'") from None
    serve_mod.run(paths, host, port, reveal, results, workers)


def main() -> None:
    try:
        # As click's own main does, minus its handling of Ctrl-C, which prints an empty
        # line before the message: here an interruption is one line like every other.
        with cli.make_context("derive", sys.argv[1:]) as ctx:
            cli.invoke(ctx)
    except click.exceptions.Exit as exc:  # --help, --version
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("derive: interrupted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        # One line, like every other input error: which command, which option, what was expected.
        command = exc.ctx.command_path if exc.ctx else "derive"
        click.echo(f"{command}: {exc.format_message()} (see {command} --help)", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except pdf.TexError as exc:
        click.echo(f"derive: {exc}", err=True)
        sys.exit(1)
    except DeriveError as exc:
        click.echo(f"derive: {exc}", err=True)
        sys.exit(2)
