"""``actionlab report``: a thin wrapper over :func:`actionlab.report.html.build_report`."""

from __future__ import annotations

from pathlib import Path

import typer


def report(
    runs: list[Path] = typer.Argument(
        ..., help="Run directories (the first is the improvement baseline)."
    ),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="The HTML file to write."),
    title: str = typer.Option("actionlab report", "--title", help="Page title."),
    best_by: str = typer.Option("val_acc", "--best-by", help="Best epoch by val_acc or val_loss."),
    max_images: int = typer.Option(
        24, "--max-images", min=0, help="Most explain/timeline images per run."
    ),
) -> None:
    """One self-contained HTML page: configs, results, curves, confusions, Grad-CAM, timelines."""
    from actionlab.errors import InputError
    from actionlab.report.html import build_report

    if best_by not in ("val_acc", "val_loss"):
        raise InputError(f"--best-by must be val_acc or val_loss, got {best_by!r}")
    path = build_report(runs, out, title, best_by, max_images)
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``report`` to the ``actionlab`` command."""
    app.command("report")(report)
