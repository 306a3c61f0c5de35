"""``actionlab explain``: Grad-CAM, activation maps, guided backprop, flow and t-SNE pictures."""

from __future__ import annotations

from pathlib import Path

import typer

from actionlab.explain.videos import explain_videos, output_names  # noqa: F401 - demo, tests
from actionlab.runtime import DEVICE_HELP


def explain(
    checkpoint: Path = typer.Argument(
        ..., help="Checkpoint (.safetensors), or a run folder (its best checkpoint, else last)."
    ),
    videos: list[Path] = typer.Argument(..., help="Videos to explain."),
    out: Path | None = typer.Option(
        None, "--out", "-o",
        help="Output folder; default RUN/explain for a run folder (where `report` looks), "
        "else explain_out.",
    ),
    target: str | None = typer.Option(
        None, "--target", help="Class to explain (default: predicted)."
    ),
    no_tsne: bool = typer.Option(False, "--no-tsne", help="Skip the t-SNE plot."),
    color_by: str = typer.Option(
        "predicted", "--color-by", help="t-SNE colors: 'predicted' class or parent 'folder'."
    ),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
) -> None:
    """Where the model looks: Grad-CAM, activation maps, guided backprop, flow, t-SNE."""
    if out is None:  # a run folder keeps its pictures where `report` looks for them
        out = checkpoint / "explain" if checkpoint.is_dir() else Path("explain_out")
    from actionlab.api import load

    res = load(checkpoint, device=device).explain(videos, out, target=target, tsne=not no_tsne,
                                                  color_by=color_by)
    for video, info in res["videos"].items():
        typer.echo(f"{video}: {info['label']} ({info['prob']:.3f}) -> "
                   f"{Path(info['files']['gradcam_gif']).parent}")
    if res["tsne"]:
        typer.echo(f"t-SNE: {res['tsne']}")


def register(app: typer.Typer) -> None:
    """Add ``explain`` to the ``actionlab`` command."""
    app.command("explain")(explain)
