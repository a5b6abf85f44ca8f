"""The command line. Thin: each command reads its input, calls the pipeline, writes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import export, pdf, render, spec as spec_mod, training
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
    env = render.environment(templates)
    files = {
        "sheet.tex": render.render(env, render.SHEET, render.context(solution, "Exercise sheet")),
        "solution.tex": render.render(env, render.KEY, render.context(solution, "Answer key")),
    }
    for filename, writer in export.WRITERS.values():
        files[filename] = writer([solution])
    export.check_out_dir(out, exercise.spec.title, force)
    export.write_files(out, files)
    click.echo(f"wrote {out}/: {', '.join(files)}")
    if not no_pdf:
        result = pdf.compile_all([out / "sheet.tex", out / "solution.tex"])
        if result.skipped:
            click.echo(result.skipped, err=True)
        else:
            click.echo(f"wrote {', '.join(str(p) for p in result.made)}")


@cli.command()
@SPEC_ARG
@click.option("--eta", "etas", multiple=True, metavar="ETA",
              help="Learning rate of a run; repeat for several runs (default: the spec's runs).")
@click.option("--steps", metavar="N", help="Gradient steps per run (default: the spec's, or 10).")
@click.option("--freeze", multiple=True, metavar="NAME", help="Hold this parameter fixed; repeatable.")
def train(spec_path: str | None, etas: tuple[str, ...], steps: str | None, freeze: tuple[str, ...]) -> None:
    """Run gradient descent on SPEC and print the loss before every step."""
    exercise = Exercise(spec_mod.load(spec_path))
    runs = training.option_runs(exercise.spec, exercise.network, etas, steps, freeze)
    results = training.runs_for(exercise.solve(), runs)
    for i, run in enumerate(results):
        if i:
            click.echo()
        click.echo(training.describe(run))
        for loss in run.losses:
            click.echo(f"Error: {training.loss_text(loss, exercise.policy)}")
        click.echo(training.verdict_line(run, exercise.policy))


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
    except pdf.TexError as exc:
        click.echo(f"derive: {exc}", err=True)
        sys.exit(1)
    except DeriveError as exc:
        click.echo(f"derive: {exc}", err=True)
        sys.exit(2)
