"""The public entry points: check every option first, then write through a staging folder."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from actionlab.errors import InputError
from actionlab.synth import output
from actionlab.synth.clips import frames_for, write_clips

PRODUCTS = ("clips", "stills", "long")
MAX_FRAMES = 10_000


def _clip_options(classes, clips_per_class, size, fps, frames, duration, difficulty) -> dict:
    fps = output.check_fps(fps)
    n = frames_for(frames, duration, fps, 64)
    if not 4 <= n <= MAX_FRAMES:
        raise InputError(f"--frames/--duration: a clip needs 4..{MAX_FRAMES} frames, got {n}")
    return {
        "classes": output.check_classes(classes),
        "clips_per_class": output.check_count("--clips-per-class", clips_per_class),
        "size": output.parse_size(size), "fps": fps, "frames": n,
        "difficulty": output.check_difficulty(difficulty),
    }  # fmt: skip


def generate_clips(
    out_dir: str | Path,
    *,
    classes: Iterable[str] | None = None,
    clips_per_class: int = 24,
    size: tuple[int, int] | str = (112, 112),
    fps: float = 25.0,
    frames: int | None = 64,
    duration: float | None = None,
    difficulty: str = "medium",
    seed: int = 0,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write ``out_dir/clips``: H.264 clips in UCF101 layout plus ground truth.

    Args:
        out_dir: Output folder; must be empty or absent unless ``overwrite``.
        classes: Subset of :data:`CLASSES` (default all 12).
        clips_per_class: Clips per class (groups of 4 share an actor, as in UCF101).
        size: ``(W, H)`` or ``"WxH"``, even sides.
        fps: Frame rate.
        frames: Frames per clip (ignored when ``duration`` is given).
        duration: Clip length in seconds, instead of ``frames``.
        difficulty: ``"easy"``, ``"medium"`` or ``"hard"`` (clutter, noise, camera motion).
        seed: Everything is a function of the seed (not of ``workers``).
        workers: Processes (default: CPU count, at most 8).
        overwrite: Replace files an earlier run wrote (others' files are never removed).
        progress: Show a progress bar.

    Returns:
        The ``clips`` folder.

    Raises:
        InputError: A bad option or an occupied ``out_dir``; nothing is written then.
    """
    opts = _clip_options(classes, clips_per_class, size, fps, frames, duration, difficulty)
    out = Path(out_dir)
    with output.staged(out, ["clips"], overwrite) as stage:
        write_clips(stage / "clips", **opts, seed=int(seed), run=_runner(workers), progress=progress)
    return out / "clips"


def _runner(workers: int | None):
    if workers is not None and workers < 1:
        raise InputError(f"--workers: must be >= 1, got {workers}")

    def run(fn, tasks, label, progress):
        return output.run_tasks(fn, tasks, workers, label, progress)

    return run


def parse_only(only: Sequence[str] | str | None) -> list[str]:
    """``--only`` values (repeatable or comma lists) -> products in canonical order."""
    if only is None:
        return list(PRODUCTS)
    items = [only] if isinstance(only, str) else list(only)
    names = {p.strip() for item in items for p in item.split(",") if p.strip()}
    bad = sorted(names - set(PRODUCTS))
    if bad or not names:
        raise InputError(f"--only: unknown product {', '.join(bad) or '(none)'}; "
                         "choose from clips, stills, long")  # fmt: skip
    return [p for p in PRODUCTS if p in names]
