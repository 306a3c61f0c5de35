"""The ``actionlab`` command.

Thin by design: each stage owns a ``commands.py`` with a ``register(app)`` function whose
subcommands parse options and call a function that tests import directly. Errors a user can
cause (:class:`~actionlab.errors.ActionlabError`) are printed on one line with a non-zero exit.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from actionlab import __version__
from actionlab.errors import ActionlabError
from actionlab.runtime import tune_malloc

app = typer.Typer(
    name="actionlab",
    help="Human action recognition in video: synthesize, prepare, train, evaluate, explain, deploy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Stage modules that add subcommands, in the order the data flows; applications last.
_STAGES = (
    "actionlab.synth.commands",
    "actionlab.data.commands",
    "actionlab.models.commands",
    "actionlab.train.commands",
    "actionlab.evaluate.commands",
    "actionlab.experiment.commands",
    "actionlab.infer.commands",
    "actionlab.infer.live_commands",
    "actionlab.explain.commands",
    "actionlab.report.commands",
    "actionlab.serve.commands",
    "actionlab.studies.demo",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"actionlab {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
) -> None:
    """actionlab: from a folder of videos to a trained, explained, deployable recognizer."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    tune_malloc()  # every command allocates tensors of a few MB in loops (see runtime.py)


for _name in _STAGES:
    importlib.import_module(_name).register(app)


def run() -> None:
    """Console entry point: usage errors are click's; user errors become one-line messages."""
    try:
        app()
    except ActionlabError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":  # python -m actionlab.cli (worktrees without an installed script)
    run()
