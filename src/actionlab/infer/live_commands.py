"""``actionlab live SOURCE MODEL``: events on stdout as JSON lines, status on stderr."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer

from actionlab.runtime import DEVICE_HELP, threads_option

STATUS_EVERY_S = 5.0


def _load(model: Path, fast: bool, threads: int | None, device: str) -> Any:
    """The model, loaded as the other inference commands load it (one place to change)."""
    from actionlab.infer.commands import _model_and_inputs, _runner

    checkpoint, _ = _model_and_inputs(model, [], None)
    return _runner(checkpoint, fast, threads, device)


def live(
    source: str = typer.Argument(
        ..., help="A webcam index (0), a video file (played at its own rate) or a stream URL "
        "(rtsp://, http(s)://, udp://, tcp://)."
    ),
    model: Path = typer.Argument(
        ..., help="The model: a checkpoint (.safetensors), a run folder, or an exported .onnx."
    ),
    window: str | None = typer.Option(
        None, "--window", help="Window length: frames ('16') or seconds ('2s'); default the model's."
    ),
    step: str | None = typer.Option(
        None, "--step", help="Classify every this many frames or seconds; default half the window."
    ),
    threshold: float | None = typer.Option(None, "--threshold", help="Probability that starts a segment (default 0.5)."),
    smooth: float | None = typer.Option(None, "--smooth", help="Smooth probabilities over this many seconds."),
    min_duration: float | None = typer.Option(None, "--min-duration", help="Drop segments shorter than this, seconds."),
    merge_gap: float | None = typer.Option(None, "--merge-gap", help="Join segments of one class this close, seconds."),
    background: str | None = typer.Option(None, "--background", help="A class that never forms segments."),
    buffer: int | None = typer.Option(
        None, "--buffer", min=1, help="Frames the ring holds before dropping the oldest (default two windows)."
    ),
    speed: float = typer.Option(
        1.0, "--speed", min=0.0, help="Play a file at this many times its rate; 0 as fast as it decodes."
    ),
    realtime: bool = typer.Option(True, "--realtime/--no-realtime", help="--no-realtime is --speed 0."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds to wait for a stream to open or send."),
    reconnects: int = typer.Option(5, "--reconnects", min=0, help="Tries to reopen a dropped stream (back-off)."),
    webhook: str | None = typer.Option(None, "--webhook", help="POST each event as JSON to this URL."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the annotated video (.mp4) here."),
    fast: bool = typer.Option(True, "--fast/--no-fast", help="Run with onnxruntime after an in-memory export."),
    threads: int | None = threads_option(),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
) -> None:
    """Real-time recognition: start and end of each segment as JSON lines on stdout.

    Status (real-time factor, model latency, frames dropped) goes to stderr every few seconds
    and once at the end. Ctrl-C or the end of a file ends it cleanly.
    """
    from actionlab.infer.commands import segment_options
    from actionlab.infer.live import LiveSession
    from actionlab.infer.live_out import VideoOut, Webhook
    from actionlab.io import check_output_file

    if out is not None:
        check_output_file(out, "--out")
    runner = _load(model, fast, threads, device)
    kw = segment_options(threshold=threshold, smooth=smooth, min_duration=min_duration,
                         merge_gap=merge_gap, background=background)
    video: VideoOut | None = None
    hook = Webhook(webhook) if webhook else None
    session = LiveSession(runner, source, window=window, step=step, segment_kw=kw,
                          buffer=buffer, speed=speed if realtime else 0.0, timeout=timeout,
                          reconnects=reconnects, keep_native=out is not None)
    if out is not None:
        video = VideoOut(out, session.fps)
        session.on_frame = video.write
    _status({"status": "start", "source": source, "fps": session.fps, "window": session.window,
             "step": session.step, "buffer": session.ring.capacity})
    last = time.monotonic()
    ok = False
    try:
        for ev in session.events():
            typer.echo(json.dumps(ev))
            sys.stdout.flush()
            if hook is not None:
                hook.post(ev)
            if time.monotonic() - last > STATUS_EVERY_S:
                last = time.monotonic()
                _status(session.stats.to_dict())
        ok = True
    except KeyboardInterrupt:
        session.close()
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
    finally:
        session.close()
        if hook is not None:
            hook.close()
        if video is not None and not ok:
            video.abort()
    _status({**session.stats.to_dict(), "status": "end"})
    if video is not None and video.finish():
        typer.echo(f"wrote {out}", err=True)


def _status(doc: dict[str, Any]) -> None:
    typer.echo(json.dumps(doc), err=True)


def register(app: typer.Typer) -> None:
    """Add ``live`` to the ``actionlab`` command."""
    app.command("live")(live)
