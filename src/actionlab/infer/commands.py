"""``actionlab predict``, ``timeline`` and ``export``: thin wrappers over importable functions."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import typer

log = logging.getLogger(__name__)


def predict(
    checkpoint: Path = typer.Argument(..., help="Checkpoint (.safetensors), or an .onnx file."),
    videos: list[Path] = typer.Argument(..., help="One or more videos (any container PyAV reads)."),
    top_k: int = typer.Option(5, "--top-k", "-k", min=1, help="Labels to show per video."),
    clips: int = typer.Option(3, "--clips", min=1, help="Clips averaged per video."),
    onnx: Path | None = typer.Option(None, "--onnx", help="Run this ONNX model with onnxruntime."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    fast: bool = typer.Option(
        False, "--fast/--no-fast",
        help="Run a PyTorch checkpoint with onnxruntime (worth it for many videos).",
    ),
) -> None:
    """Top-k action labels for each video."""
    from actionlab.infer.export import accelerate
    from actionlab.infer.predict import predict_video
    from actionlab.infer.runner import load_runner

    runner = load_runner(checkpoint, onnx=onnx)
    if fast:
        runner = accelerate(runner)
    with _progress("predict") as bar:
        task = bar.add_task("videos", total=len(videos))
        preds = []
        for v in videos:
            preds.append(predict_video(runner, v, k=top_k, clips=clips))
            bar.advance(task)
    if as_json:
        typer.echo(json.dumps([p.to_dict() for p in preds], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"predictions ({Path(onnx or checkpoint).name})")
    table.add_column("video")
    table.add_column("rank", justify="right")
    table.add_column("label")
    table.add_column("probability", justify="right")
    for p in preds:
        for rank, (label, prob) in enumerate(p.topk, 1):
            name = Path(p.video).name + (" (short: looped)" if p.padded else "")
            table.add_row(name if rank == 1 else "", str(rank), label, f"{prob:.3f}",
                          end_section=rank == len(p.topk))
    Console().print(table)


def timeline(
    checkpoint: Path = typer.Argument(..., help="Checkpoint (.safetensors), or an .onnx file."),
    video: Path = typer.Argument(..., help="The video to label over time."),
    out: Path = typer.Option(Path("timeline_out"), "--out", "-o", help="Output folder."),
    window: str | None = typer.Option(
        None, "--window",
        help="Window length: frames ('16') or seconds ('0.64s'); default the model's.",
    ),
    step: str | None = typer.Option(
        None, "--step", help="Step between windows, frames or seconds; default half the window."
    ),
    threshold: float | None = typer.Option(
        None, "--threshold", help="Probability that starts a segment (default 0.5)."
    ),
    smooth: float | None = typer.Option(
        None, "--smooth", help="Smooth probabilities over this many seconds first (default 0)."
    ),
    min_duration: float | None = typer.Option(
        None, "--min-duration", help="Drop segments shorter than this, seconds."
    ),
    merge_gap: float | None = typer.Option(
        None, "--merge-gap", help="Join segments of one class this close, seconds."
    ),
    background: str | None = typer.Option(
        None, "--background", help="A class that never forms segments (e.g. 'background')."
    ),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Windows per model call."),
    onnx: Path | None = typer.Option(None, "--onnx", help="Run this ONNX model with onnxruntime."),
    no_video: bool = typer.Option(False, "--no-video", help="Skip the annotated MP4."),
    fast: bool = typer.Option(
        True, "--fast/--no-fast",
        help="Run a PyTorch checkpoint with onnxruntime (checked against PyTorch first; "
        "falls back to PyTorch).",
    ),
) -> None:
    """Class probabilities over time, action segments, a plot and an annotated MP4."""
    from actionlab.infer.export import accelerate
    from actionlab.infer.outputs import save_timeline
    from actionlab.infer.runner import load_runner
    from actionlab.infer.timeline import run_timeline

    runner = load_runner(checkpoint, onnx=onnx)
    if fast:
        runner = accelerate(runner)
    kw = segment_options(threshold=threshold, smooth=smooth, min_duration=min_duration,
                         merge_gap=merge_gap, background=background)
    with _progress("timeline") as bar:
        task = bar.add_task("decode and flow", total=None)

        def windows(done: int, total: int) -> None:
            bar.update(task, description="windows", completed=done, total=total)

        tl, decoded = run_timeline(runner, video, window=window, step=step,
                                   batch_size=batch_size, segment_kw=kw,
                                   keep_native=not no_video, progress=windows)
        bar.update(task, description="writing outputs")
        paths = save_timeline(tl, out, frames=decoded.native, video=not no_video)
    for seg in tl.segments:
        typer.echo(f"{seg['start']:8.2f}s {seg['end']:8.2f}s  {seg['label']}  {seg['score']:.3f}")
    if not tl.segments:
        typer.echo("no segments above the threshold")
    typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))


def segment_options(**options: float | str | None) -> dict[str, float | str]:
    """Keyword arguments for ``probs_to_segments``: the options that were set."""
    return {k: v for k, v in options.items() if v is not None}


def export(
    checkpoint: Path = typer.Argument(..., help="Checkpoint (.safetensors) or run folder."),
    onnx: Path = typer.Option(..., "--onnx", help="The .onnx file to write."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset."),
    tolerance: float = typer.Option(1e-3, "--tolerance", help="Largest allowed abs difference."),
) -> None:
    """Export to ONNX (dynamic batch, meta embedded) and check it against onnxruntime."""
    from actionlab.checkpoint import load
    from actionlab.infer.export import export_onnx

    loaded = load(checkpoint)
    res = export_onnx(loaded.model, loaded.meta, onnx, opset=opset, tolerance=tolerance)
    typer.echo(f"wrote {res.path} (inputs: {', '.join(res.inputs)}); "
               f"max abs difference vs PyTorch: {res.max_abs_diff:.2e}")


def _progress(name: str) -> Any:
    """A transient rich progress bar on a terminal's stderr (off when stderr is not a tty)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    return Progress(TextColumn(f"{name}: {{task.description}}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


def register(app: typer.Typer) -> None:
    """Add ``predict``, ``timeline`` and ``export`` to the ``actionlab`` command."""
    app.command("predict")(predict)
    app.command("timeline")(timeline)
    app.command("export")(export)
