"""``actionlab predict``, ``timeline`` and ``export``: thin wrappers over importable functions.

The model is always the positional CHECKPOINT: a ``.safetensors`` checkpoint, a run folder
(its model: best, or last without validation) or an exported ``.onnx``; ``--onnx`` on predict
and timeline is a deprecated alias. ``--fast`` (on in both) runs a PyTorch checkpoint with
onnxruntime after checking the two agree.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import typer

from actionlab.runtime import DEVICE_HELP, threads_option

log = logging.getLogger(__name__)


FAST_HELP = ("Run a PyTorch checkpoint with onnxruntime, exported in memory and checked against "
             "PyTorch first (falls back to PyTorch). The export pays off on long or many videos; "
             "--no-fast skips it.")
ONNX_ALIAS_HELP = "Deprecated: give the .onnx file as CHECKPOINT instead."


FORMATS = ("table", "json", "jsonl", "csv")
CSV_COLUMNS = ("video", "rank", "label", "prob", "clips", "frames", "fps", "padded", "error")


def predict(
    checkpoint: Path = typer.Argument(
        ..., help="The model: a checkpoint (.safetensors), a run folder, or an exported .onnx."
    ),
    videos: list[Path] = typer.Argument(
        None, help="One or more videos (any container PyAV reads).", show_default=False
    ),
    top_k: int = typer.Option(5, "--top-k", "-k", min=1, help="Labels to show per video."),
    clips: int = typer.Option(3, "--clips", min=1, help="Clips averaged per video."),
    fmt: str = typer.Option(
        None, "--format", "-f",
        help="table (default), json, jsonl or csv (one row per video and rank).",
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o",
        help="Write the predictions to this .csv, .jsonl or .json file instead of stdout.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    fast: bool = typer.Option(True, "--fast/--no-fast", help=FAST_HELP),
    threads: int | None = threads_option(),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    onnx: Path | None = typer.Option(None, "--onnx", hidden=True, help=ONNX_ALIAS_HELP),
) -> None:
    """Top-k action labels for each video.

    With several videos, one that cannot be read is skipped and reported (on stderr, and as
    a row with an error in csv/jsonl/json) while the others are predicted; the exit code is
    then 3, as with prepare.
    """
    from actionlab.errors import ActionlabError
    from actionlab.infer.predict import predict_video

    fmt = _output_format(fmt or ("json" if as_json else None), out)
    checkpoint, videos = _model_and_inputs(checkpoint, list(videos or []), onnx)
    if not videos:
        from actionlab.errors import InputError

        raise InputError("give one or more videos after the model: predict CHECKPOINT VIDEO...")
    runner = _runner(checkpoint, fast, threads, device)
    rows: list[dict[str, Any]] = []
    skipped = 0
    with _progress("predict") as bar:
        task = bar.add_task("videos", total=len(videos))
        for v in videos:
            try:
                rows.append(predict_video(runner, v, k=top_k, clips=clips).to_dict())
            except ActionlabError as exc:
                if len(videos) == 1:
                    raise  # one video: its error is the answer
                skipped += 1
                rows.append({"video": str(v), "error": str(exc)})
                typer.secho(f"skipped {v}: {exc}", err=True, fg=typer.colors.YELLOW)
            bar.advance(task)
    _emit(rows, fmt, out, Path(checkpoint).name)
    if skipped:
        typer.secho(f"{len(videos) - skipped} predicted, {skipped} skipped", err=True,
                    fg=typer.colors.YELLOW)
        raise typer.Exit(3)


def _output_format(fmt: str | None, out: Path | None) -> str:
    """``--format``, else the ``--out`` file's suffix, else a table; ``--out`` checked first."""
    from actionlab.errors import InputError
    from actionlab.io import check_output_file

    if out is not None:
        check_output_file(out, "--out")
        by_suffix = {".csv": "csv", ".jsonl": "jsonl", ".json": "json"}.get(out.suffix.lower())
        if fmt is None and by_suffix is None:
            raise InputError(f"--out {out}: name a .csv, .jsonl or .json file (or give --format)")
        fmt = fmt or by_suffix
        if fmt == "table":
            raise InputError("--out writes csv, jsonl or json; a table is for the terminal")
    fmt = (fmt or "table").lower()
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    return fmt


def _csv_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat = []
    for r in rows:
        base = {k: r.get(k) for k in ("video", "clips", "frames", "fps", "padded", "error")}
        for rank, t in enumerate(r.get("top") or [None], 1):
            flat.append({**base, "rank": rank if t else None, "label": t and t["label"],
                         "prob": t and t["prob"]})
    return flat


def _emit(rows: list[dict[str, Any]], fmt: str, out: Path | None, model: str) -> None:
    """Print (or write ``out``, atomically) the predictions in ``fmt``."""
    import csv
    import io

    from actionlab.io import write_text_atomic, writing

    if fmt == "table":
        _table(rows, model)
        return
    if fmt == "json":
        text = json.dumps(rows, indent=2) + "\n"
    elif fmt == "jsonl":
        text = "".join(json.dumps(r) + "\n" for r in rows)
    else:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(_csv_rows(rows))
        text = buf.getvalue()
    if out is None:
        typer.echo(text, nl=False)
        return
    with writing(out, "--out"):
        write_text_atomic(out, text)
    typer.echo(f"wrote {out} ({len(rows)} videos)")


def _table(rows: list[dict[str, Any]], model: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"predictions ({model})")
    table.add_column("video")
    table.add_column("rank", justify="right")
    table.add_column("label")
    table.add_column("probability", justify="right")
    for r in rows:
        if "error" in r:
            continue
        for rank, t in enumerate(r["top"], 1):
            name = Path(r["video"]).name + (" (short: looped)" if r["padded"] else "")
            table.add_row(name if rank == 1 else "", str(rank), t["label"], f"{t['prob']:.3f}",
                          end_section=rank == len(r["top"]))
    Console().print(table)


def timeline(
    checkpoint: Path = typer.Argument(
        ..., help="The model: a checkpoint (.safetensors), a run folder, or an exported .onnx."
    ),
    video: Path = typer.Argument(None, help="The video to label over time.", show_default=False),
    out: Path | None = typer.Option(
        None, "--out", "-o", show_default=False,
        help="Output folder; default RUN/timeline/<video name> when CHECKPOINT is a run folder "
        "(where report finds it), else timeline_out.",
    ),
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
    no_video: bool = typer.Option(False, "--no-video", help="Skip the annotated MP4."),
    fuse: Path | None = typer.Option(
        None, "--fuse", show_default=False,
        help="A second model over the same classes (e.g. a pose stream beside a flow stream): "
        "its probabilities on the same windows are averaged in (late fusion).",
    ),
    fuse_weight: float = typer.Option(
        0.5, "--fuse-weight", help="The --fuse model's weight, 0-1 (e.g. fitted by crossval)."
    ),
    fast: bool = typer.Option(True, "--fast/--no-fast", help=FAST_HELP),
    threads: int | None = threads_option(),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    onnx: Path | None = typer.Option(None, "--onnx", hidden=True, help=ONNX_ALIAS_HELP),
) -> None:
    """Class probabilities over time, action segments, a plot and an annotated MP4.

    The output folder is checked before the video is decoded, and the files appear together
    or not at all.
    """
    from actionlab.infer.outputs import save_timeline
    from actionlab.infer.timeline import run_timeline
    from actionlab.io import check_output_dir, writing

    run = checkpoint if checkpoint.is_dir() and onnx is None else None
    checkpoint, videos = _model_and_inputs(checkpoint, [video] if video else [], onnx)
    if len(videos) != 1:
        from actionlab.errors import InputError

        raise InputError("give one video after the model: timeline CHECKPOINT VIDEO")
    (video,) = videos
    if out is None:
        out = run / "timeline" / video.stem if run is not None else Path("timeline_out")
    check_output_dir(out, "--out")
    if fuse is None and fuse_weight != 0.5:
        from actionlab.errors import InputError

        raise InputError("--fuse-weight weighs a --fuse model: give --fuse CHECKPOINT too")
    if fuse is not None:  # refused before any model loads
        from actionlab.infer.timeline import check_fuse_weight

        check_fuse_weight(fuse_weight)
    runner = _runner(checkpoint, fast, threads, device)
    second = None
    if fuse is not None:
        fuse_file, _ = _model_and_inputs(fuse, [], None)
        second = _runner(fuse_file, fast, threads, device)
    kw = segment_options(threshold=threshold, smooth=smooth, min_duration=min_duration,
                         merge_gap=merge_gap, background=background)
    with _progress("timeline") as bar:
        task = bar.add_task("decode and flow", total=None)

        def windows(done: int, total: int) -> None:
            bar.update(task, description="windows", completed=done, total=total)

        if second is None:
            tl, decoded = run_timeline(runner, video, window=window, step=step,
                                       batch_size=batch_size, segment_kw=kw,
                                       keep_native=not no_video, progress=windows)
        else:
            from actionlab.infer.timeline import fuse_timelines

            tl, decoded = fuse_timelines((runner, second), video, fuse_weight, window=window,
                                         step=step, batch_size=batch_size, segment_kw=kw,
                                         keep_native=not no_video,
                                         names=(str(checkpoint), str(fuse_file)),
                                         progress=windows)
        bar.update(task, description="writing outputs")
        with writing(out, "--out"):
            paths = save_timeline(tl, out, frames=decoded.native, video=not no_video)
    for seg in tl.segments:
        typer.echo(f"{seg['start']:8.2f}s {seg['end']:8.2f}s  {seg['label']}  {seg['score']:.3f}")
    if not tl.segments:
        typer.echo("no segments above the threshold")
    for ev in tl.events:
        typer.echo(f"event {ev['label']}: onset {ev['onset']:.2f}s, end {ev['end']:.2f}s, "
                   f"peak {ev['peak']:.2f}s, score {ev['score']:.3f}")
    typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))


def _model_and_inputs(checkpoint: Path, inputs: list[Path], onnx: Path | None
                      ) -> tuple[Path, list[Path]]:
    """The model file and the videos, honouring the deprecated ``--onnx`` alias.

    ``--onnx M.onnx`` used to sit beside a CHECKPOINT it overrode; the positional CHECKPOINT
    now takes the .onnx file itself. With the alias, a positional model file is dropped and
    anything else positional is a video.
    """
    if onnx is not None:
        log.warning("--onnx is deprecated: give the .onnx file as CHECKPOINT instead")
        if checkpoint.suffix.lower() not in (".safetensors", ".onnx") and not checkpoint.is_dir():
            inputs = [checkpoint, *inputs]
        checkpoint = onnx
    if checkpoint.is_dir():
        from actionlab.evaluate.runs import run_checkpoint

        checkpoint = run_checkpoint(checkpoint)
    return checkpoint, inputs


def _runner(checkpoint: Path, fast: bool, threads: int | None, device: str = "auto") -> Any:
    """The model's runner, through :func:`actionlab.load` (the one loading path)."""
    from actionlab.api import load
    from actionlab.runtime import set_threads

    set_threads(threads)
    return load(checkpoint, device=device, fast=fast, threads=threads).runner


def segment_options(**options: float | str | None) -> dict[str, float | str]:
    """Keyword arguments for ``probs_to_segments``: the options that were set."""
    return {k: v for k, v in options.items() if v is not None}


def export(
    checkpoint: Path = typer.Argument(..., help="Checkpoint (.safetensors) or a run folder."),
    onnx: Path = typer.Option(..., "--onnx", help="The .onnx file to write."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset."),
    tolerance: float = typer.Option(1e-3, "--tolerance", help="Largest allowed abs difference."),
    threads: int | None = threads_option(),
    device: str = typer.Option(
        "auto", "--device",
        help="Where the check runs PyTorch and onnxruntime: auto, cpu, cuda or cuda:N.",
    ),
) -> None:
    """Export to ONNX (dynamic batch, meta embedded) and check it against onnxruntime."""
    from actionlab.api import load
    from actionlab.io import check_output_file, writing
    from actionlab.runtime import resolve_device, set_threads

    set_threads(threads)
    resolve_device(device)  # a GPU that is not there fails first, in one line
    check_output_file(onnx, "--onnx")
    checkpoint, _ = _model_and_inputs(checkpoint, [], None)
    recognizer = load(checkpoint, device=device)
    with writing(onnx, "--onnx"):
        res = recognizer.export(onnx, opset=opset, tolerance=tolerance)
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
