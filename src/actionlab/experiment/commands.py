"""``actionlab crossval`` and ``actionlab fit``: thin wrappers over :mod:`actionlab.experiment`."""

from __future__ import annotations

from pathlib import Path

import typer

from actionlab.runtime import DEVICE_HELP, threads_option


def crossval_cmd(
    config: Path = typer.Argument(..., help="Experiment YAML (any kind: frame, clip, two-stream)."),
    overrides: list[str] = typer.Argument(None, help="Overrides, e.g. data.root=/videos."),
    folds: str = typer.Option("logo", "--folds", help="logo (leave one group out) or K."),
    group_pattern: str = typer.Option(
        None, "--group-pattern",
        help=r"Regex for a file's group (first capture group), e.g. '^\d+_(\d+)_'; "
        "default data.group_pattern.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (resumed if it exists)."),
    fold: int = typer.Option(None, "--fold", min=0, help="Run only this fold (0-based)."),
    short_side: int = typer.Option(
        None, "--short-side", min=8, help="Short side of the cached frames; default 8/7 of "
        "the input size.",
    ),
    clips: int = typer.Option(1, "--clips", min=1, help="Test clips per video (clip models)."),
    crops: int = typer.Option(1, "--crops", help="Test crops per clip: 1, 3 or 5."),
    workers: int = typer.Option(0, "--workers", min=0, help="Prepare processes (0: all cores)."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
) -> None:
    """Cross-validate a config by group: one cache, one run directory per fold, a summary."""
    from actionlab.experiment.crossval import run_crossval
    from actionlab.runtime import resolve_device

    resolve_device(device)  # a device that is not there is one line, before any work
    overrides = [*(overrides or []), f"train.device={device}"]
    doc = run_crossval(config, out, overrides, folds, group_pattern, fold, short_side,
                       clips, crops, workers or None)
    typer.echo((out / "crossval.md").read_text())
    typer.echo(f"top-1 {doc['mean']:.3f} ± {doc['std']:.3f} over {doc['n_done']} of "
               f"{doc['n_folds']} folds; wrote {out / 'crossval.json'}")


def fit_cmd(
    data: Path = typer.Argument(..., help="A folder of class folders of videos, or a CSV "
                                "manifest (path,label,group; paths relative to the CSV)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (resumed if it exists)."),
    group_pattern: str = typer.Option(
        None, "--group-pattern",
        help=r"Regex for a file's group (first capture group), e.g. '^\d+_(\d+)_'; a CSV's "
        "group column, or UCF101-style _gNN_ names, otherwise.",
    ),
    folds: str = typer.Option("logo", "--folds", help="Outer folds: logo (leave one group "
                              "out) or K."),
    search: Path = typer.Option(None, "--search", help="Search-space YAML (default "
                                "configs/search/fit_motionhist.yaml)."),
    budget: str = typer.Option("30m", "--budget", help="Wall-clock budget (30m, 1h, none): "
                               "trims the search, never the outer evaluation."),
    workers: int = typer.Option(0, "--workers", min=0, help="Prepare processes (0: the "
                                "thread budget)."),
    threads: int = threads_option(),
) -> None:
    """Nested group cross-validation (an honest figure) and a final model, in one command."""
    from actionlab.experiment.fit import run_fit
    from actionlab.machine import describe
    from actionlab.runtime import set_threads

    n = set_threads(threads)
    typer.echo(describe(n), err=True)
    doc = run_fit(data, out, group_pattern, folds, search, budget, workers or None)
    typer.echo((out / "fit.md").read_text())
    typer.echo(f"top-1 {doc['mean']:.3f} ± {doc['std']:.3f} over {doc['n_folds']} outer folds "
               f"(nested); final model {out / doc['final']['run']}; wrote {out / 'fit.json'}")


def register(app: typer.Typer) -> None:
    """Add ``crossval`` and ``fit`` to ``actionlab``."""
    app.command("crossval")(crossval_cmd)
    app.command("fit")(fit_cmd)
