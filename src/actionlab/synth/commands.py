"""``actionlab synth OUT``: the synthetic benchmark (clips, stills, long videos)."""

from __future__ import annotations

from pathlib import Path

import typer

Opt = typer.Option


def register(app: typer.Typer) -> None:
    """Add the ``synth`` subcommand to ``app``."""

    @app.command("synth")
    def synth_cmd(
        out: Path = typer.Argument(..., help="Output folder (must be empty unless --overwrite)."),
        classes: str = Opt(None, "--classes", help="Comma list of classes (default: all 12)."),
        clips_per_class: int = Opt(24, "--clips-per-class", help="Clips per class."),
        stills_per_class: int = Opt(40, "--stills-per-class", help="Stills per class."),
        long_videos: int = Opt(4, "--long-videos", help="Number of long videos."),
        size: str = Opt("112x112", "--size", help="Clip size WxH (even sides)."),
        still_size: str = Opt("128x128", "--still-size", help="Still size WxH."),
        long_size: str = Opt("160x120", "--long-size", help="Long video size WxH."),
        fps: float = Opt(25.0, "--fps", help="Frame rate of clips and long videos."),
        frames: int = Opt(None, "--frames", help="Frames per clip (default 64)."),
        duration: float = Opt(None, "--duration", help="Clip seconds, instead of --frames."),
        long_duration: str = Opt("20,60", "--long-duration", help="Long video s: S or MIN,MAX."),
        difficulty: str = Opt("medium", "--difficulty", help="easy, medium or hard."),
        shake: float = Opt(0.0, "--shake", help="Clips' camera shake, 0 (off) to 1."),
        seed: int = Opt(0, "--seed", help="Random seed; same seed, same files."),
        workers: int = Opt(None, "--workers", help="Processes (default: CPU count, at most 8)."),
        only: list[str] = Opt(None, "--only", help="clips, stills, long (repeat or comma list)."),
        overwrite: bool = Opt(False, "--overwrite", help="Replace files an earlier run wrote."),
    ) -> None:
        """Make the synthetic benchmark: clips (UCF101), stills (Stanford40), long videos."""
        from actionlab.synth.api import parse_seconds, synth

        synth(
            out, products=only or None,
            classes=classes.split(",") if classes is not None else None,
            clips_per_class=clips_per_class, stills_per_class=stills_per_class,
            long_videos=long_videos, size=size, still_size=still_size, long_size=long_size,
            fps=fps, frames=frames, duration=duration, long_duration=parse_seconds(long_duration),
            difficulty=difficulty, shake=shake, seed=seed, workers=workers, overwrite=overwrite,
        )  # fmt: skip
        typer.echo(f"wrote {out}")
