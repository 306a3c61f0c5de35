"""``actionlab serve``: the local web page (FastAPI + uvicorn)."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import typer

from actionlab.errors import InputError
from actionlab.runtime import DEVICE_HELP


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or one clear line saying why there is none.

    Binding before uvicorn starts turns a bad port, a port in use or an unknown host into an
    :class:`InputError` before the model is loaded or a temporary folder is made.

    Raises:
        InputError: ``port`` is outside 1-65535 or the address cannot be bound.
    """
    if not 1 <= port <= 65535:
        raise InputError(f"--port {port}: use a port between 1 and 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, addr = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except (OSError, IndexError) as exc:
        raise InputError(f"--host {host}: not an address of this machine ({exc})") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise InputError(f"cannot listen on {host}:{port}: {reason}") from None
    return sock


def serve(
    checkpoint: Path = typer.Argument(..., help="Checkpoint (.safetensors), or an .onnx file."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to listen on (local only by default)."
    ),
    port: int = typer.Option(8000, "--port", help="Port (1-65535)."),
    max_upload_mb: float = typer.Option(
        200.0, "--max-upload-mb", min=0.001, help="Upload size limit."
    ),
    top_k: int = typer.Option(5, "--top-k", "-k", min=1, help="Labels shown."),
    window: str | None = typer.Option(None, "--window", help="Timeline window: frames or '0.5s'."),
    step: str | None = typer.Option(None, "--step", help="Timeline step: frames or seconds."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    live: str | None = typer.Option(
        None, "--live", help="Also watch a stream at /live: a webcam index (0), a video file "
        "(played at its own rate) or a URL PyAV opens (rtsp://, http(s)://, udp://, tcp://)."),
) -> None:
    """Serve a page to upload a video and see its labels, timeline and Grad-CAM (and, with
    --live, a live view of a stream)."""
    import uvicorn

    from actionlab.api import load
    from actionlab.serve.app import create_app

    sock = listen(host, port)
    try:
        runner = load(checkpoint, device=device).runner
        view = None
        if live is not None:  # opened now: a source that fails is one line before serving
            from actionlab.serve.live_view import LiveView

            view = LiveView(runner, int(live) if live.isdigit() else live, window=window,
                            step=step)
        # Our own temporary folder (not the app's): it goes however the server stops.
        with tempfile.TemporaryDirectory(prefix="actionlab-serve-") as work:
            app = create_app(runner, max_upload_mb=max_upload_mb, top_k=top_k, window=window,
                             step=step, work_dir=work, live=view)
            typer.echo(f"serving {checkpoint} on http://{host}:{port}/"
                       + (f" (live view of {live} at /live)" if live is not None else ""))
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
            server.run(sockets=[sock])
    finally:
        sock.close()


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``actionlab`` command."""
    app.command("serve")(serve)
