"""``actionlab serve``: the local web page (FastAPI + uvicorn)."""

from __future__ import annotations

from pathlib import Path

import typer


def serve(
    checkpoint: Path = typer.Argument(..., help="Checkpoint (.safetensors), or an .onnx file."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to listen on (local only by default)."
    ),
    port: int = typer.Option(8000, "--port", help="Port."),
    max_upload_mb: float = typer.Option(
        200.0, "--max-upload-mb", min=0.001, help="Upload size limit."
    ),
    top_k: int = typer.Option(5, "--top-k", "-k", min=1, help="Labels shown."),
    window: str | None = typer.Option(None, "--window", help="Timeline window: frames or '0.5s'."),
    step: str | None = typer.Option(None, "--step", help="Timeline step: frames or seconds."),
) -> None:
    """Serve a page to upload a video and see its labels, timeline and Grad-CAM."""
    import uvicorn

    from actionlab.infer.runner import load_runner
    from actionlab.serve.app import create_app

    app = create_app(load_runner(checkpoint), max_upload_mb=max_upload_mb, top_k=top_k,
                     window=window, step=step)
    typer.echo(f"serving {checkpoint} on http://{host}:{port}/")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``actionlab`` command."""
    app.command("serve")(serve)
