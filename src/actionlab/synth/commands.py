"""``actionlab synth OUT``: the synthetic benchmark (clips, stills, long videos)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``synth`` subcommand to ``app``."""

    @app.command("synth")
    def synth_cmd(
        out: Path = typer.Argument(..., help="Output folder (created; must be empty unless --overwrite)."),
        classes: str = typer.Option(None, "--classes", help="Comma list of classes (default: all 12)."),
        clips_per_class: int = typer.Option(24, "--clips-per-class", help="Clips per class."),
        stills_per_class: int = typer.Option(40, "--stills-per-class", help="Stills per class."),
        long_videos: int = typer.Option(4, "--long-videos", help="Number of long videos."),
        size: str = typer.Option("112x112", "--size", help="Clip size WxH (even sides)."),
        still_size: str = typer.Option("128x128", "--still-size", help="Still size WxH."),
        long_size: str = typer.Option("160x120", "--long-size", help="Long video size WxH."),
        fps: float = typer.Option(25.0, "--fps", help="Frame rate of clips and long videos."),
        frames: int = typer.Option(None, "--frames", help="Frames per clip (default 64)."),
        duration: float = typer.Option(None, "--duration", help="Clip length in seconds, instead of --frames."),
        long_duration: str = typer.Option("20,60", "--long-duration", help="Long video length in seconds: S or MIN,MAX."),
        difficulty: str = typer.Option("medium", "--difficulty", help="easy, medium or hard."),
        seed: int = typer.Option(0, "--seed", help="Random seed; same seed, same files."),
        workers: int = typer.Option(None, "--workers", help="Processes (default: CPU count)."),
        only: list[str] = typer.Option(None, "--only", help="clips, stills, long (repeatable or comma list)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace files an earlier run wrote."),
    ) -> None:
        """Make the synthetic action benchmark: clips (UCF101 layout), stills (Stanford40 layout), long videos."""
        from actionlab.synth.api import parse_seconds, synth

        synth(
            out, products=only or None,
            classes=classes.split(",") if classes is not None else None,
            clips_per_class=clips_per_class, stills_per_class=stills_per_class,
            long_videos=long_videos, size=size, still_size=still_size, long_size=long_size,
            fps=fps, frames=frames, duration=duration, long_duration=parse_seconds(long_duration),
            difficulty=difficulty, seed=seed,
            workers=workers, overwrite=overwrite,
        )  # fmt: skip
        typer.echo(f"wrote {out}")
