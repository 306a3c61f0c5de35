"""The public entry points: check every option first, then write through a staging folder."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from actionlab.errors import InputError
from actionlab.synth import output
from actionlab.synth.clips import frames_for, write_clips
from actionlab.synth.long import write_long
from actionlab.synth.stills import write_stills

PRODUCTS = ("clips", "stills", "long")
MAX_FRAMES = 10_000


def _clip_options(classes, clips_per_class, size, fps, frames, duration, difficulty,
                  shake=0.0) -> dict:
    fps = output.check_fps(fps)
    if not (isinstance(shake, (int, float)) and 0.0 <= float(shake) <= 1.0):
        raise InputError(f"--shake {shake}: the camera shake is 0 (none) to 1 (strong)")
    n = frames_for(frames, duration, fps, 64)
    if not 4 <= n <= MAX_FRAMES:
        raise InputError(f"--frames/--duration: a clip needs 4..{MAX_FRAMES} frames, got {n}")
    return {
        "classes": output.check_classes(classes),
        "clips_per_class": output.check_count("--clips-per-class", clips_per_class),
        "size": output.parse_size(size), "fps": fps, "frames": n,
        "difficulty": output.check_difficulty(difficulty), "shake": float(shake),
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
    shake: float = 0.0,
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
        shake: A hand-held camera's shake of the whole frame, 0 (off, the default: the seeds'
            files stay as they were) to 1: jitter, small rotation and zoom per frame
            (:func:`actionlab.synth.clips.shake_frames`).
        seed: Everything is a function of the seed (not of ``workers``).
        workers: Processes (default: CPU count, at most 8).
        overwrite: Replace files an earlier run wrote (others' files are never removed).
        progress: Show a progress bar.

    Returns:
        The ``clips`` folder.

    Raises:
        InputError: A bad option or an occupied ``out_dir``; nothing is written then.
    """
    opts = _clip_options(classes, clips_per_class, size, fps, frames, duration, difficulty, shake)
    _check_workers(workers)
    out = Path(out_dir)
    with output.staged(out, ["clips"], overwrite) as stage:
        output.drive([write_clips(stage / "clips", **opts, seed=int(seed))], workers, progress)
    return out / "clips"


def _check_workers(workers: int | None) -> None:
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise InputError(f"--workers: must be >= 1, got {workers}")


def parse_seconds(text: str) -> tuple[float, float]:
    """``"30"`` or ``"20,60"`` -> (min, max) seconds."""
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(f"--long-duration: expected S or MIN,MAX seconds, got {text!r}") from None
    if len(vals) not in (1, 2):
        raise InputError(f"--long-duration: expected S or MIN,MAX seconds, got {text!r}")
    return (vals[0], vals[-1])


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


def _still_options(classes, stills_per_class, size, difficulty) -> dict:
    return {
        "classes": output.check_classes(classes),
        "stills_per_class": output.check_count("--stills-per-class", stills_per_class),
        "size": output.parse_size(size), "difficulty": output.check_difficulty(difficulty),
    }  # fmt: skip


def generate_stills(
    out_dir: str | Path,
    *,
    classes: Iterable[str] | None = None,
    stills_per_class: int = 40,
    size: tuple[int, int] | str = (128, 128),
    difficulty: str = "medium",
    seed: int = 0,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write ``out_dir/stills``: Stanford40-style JPEGs, XML boxes and ImageSplits.

    Args:
        out_dir: Output folder; must be empty or absent unless ``overwrite``.
        classes: Subset of :data:`CLASSES` (default all 12).
        stills_per_class: Images per class (first 60% train, the rest test).
        size: ``(W, H)`` or ``"WxH"``.
        difficulty: ``"easy"``, ``"medium"`` or ``"hard"``.
        seed: Random seed.
        workers: Processes (default: CPU count, at most 8).
        overwrite: Replace files an earlier run wrote.
        progress: Show a progress bar.

    Returns:
        The ``stills`` folder.
    """
    opts = _still_options(classes, stills_per_class, size, difficulty)
    _check_workers(workers)
    with output.staged(Path(out_dir), ["stills"], overwrite) as stage:
        output.drive([write_stills(stage / "stills", **opts, seed=int(seed))], workers, progress)
    return Path(out_dir) / "stills"


def _long_options(long_videos, size, fps, duration, difficulty) -> dict:
    lo, hi = (duration, duration) if isinstance(duration, (int, float)) else tuple(duration)
    if not 8 <= lo <= hi <= 600:
        raise InputError(f"--long-duration: need 8 <= min <= max <= 600 seconds, got {lo},{hi}")
    return {
        "n": output.check_count("--long-videos", long_videos), "size": output.parse_size(size),
        "fps": output.check_fps(fps), "duration": (float(lo), float(hi)),
        "difficulty": output.check_difficulty(difficulty),
    }  # fmt: skip


def generate_long_videos(
    out_dir: str | Path,
    *,
    long_videos: int = 4,
    size: tuple[int, int] | str = (160, 120),
    fps: float = 25.0,
    duration: float | tuple[float, float] = (20.0, 60.0),
    difficulty: str = "medium",
    seed: int = 0,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write ``out_dir/long``: a walking figure with timed ``slipping`` (and other) events.

    Args:
        out_dir: Output folder; must be empty or absent unless ``overwrite``.
        long_videos: Number of videos (odd-numbered ones also hold one of waving/jumping/running).
        size: ``(W, H)`` or ``"WxH"``.
        fps: Frame rate.
        duration: Seconds, or a ``(min, max)`` range each video's length is drawn from.
        difficulty: ``"easy"``, ``"medium"`` or ``"hard"``.
        seed: Random seed.
        workers: Processes (default: CPU count, at most 8).
        overwrite: Replace files an earlier run wrote.
        progress: Show a progress bar.

    Returns:
        The ``long`` folder; each ``long_NNN.mp4`` has a ``long_NNN.json`` with ``events``
        (seconds) and per-frame ``boxes``.
    """
    opts = _long_options(long_videos, size, fps, duration, difficulty)
    _check_workers(workers)
    with output.staged(Path(out_dir), ["long"], overwrite) as stage:
        output.drive([write_long(stage / "long", **opts, seed=int(seed))], workers, progress)
    return Path(out_dir) / "long"


def synth(
    out_dir: str | Path,
    *,
    products: Sequence[str] | str | None = None,
    classes: Iterable[str] | None = None,
    clips_per_class: int = 24,
    stills_per_class: int = 40,
    long_videos: int = 4,
    size: tuple[int, int] | str = (112, 112),
    still_size: tuple[int, int] | str = (128, 128),
    long_size: tuple[int, int] | str = (160, 120),
    fps: float = 25.0,
    frames: int | None = None,
    duration: float | None = None,
    long_duration: float | tuple[float, float] = (20.0, 60.0),
    difficulty: str = "medium",
    shake: float = 0.0,
    seed: int = 0,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write all (or ``products``) of clips, stills and long videos under ``out_dir``.

    Every option is checked before anything is written, and the products are moved into
    ``out_dir`` together at the end. Arguments are those of :func:`generate_clips`,
    :func:`generate_stills` and :func:`generate_long_videos`.

    Returns:
        ``out_dir``.
    """
    todo = parse_only(products)
    _check_workers(workers)
    jobs = []  # longest tasks first, so the pool ends evenly
    if "long" in todo:
        o = _long_options(long_videos, long_size, fps, long_duration, difficulty)
        jobs.append(("long", write_long, o))
    if "clips" in todo:
        o = _clip_options(classes, clips_per_class, size, fps, frames, duration, difficulty,
                          shake)
        jobs.append(("clips", write_clips, o))
    if "stills" in todo:
        o = _still_options(classes, stills_per_class, still_size, difficulty)
        jobs.append(("stills", write_stills, o))
    out = Path(out_dir)
    with output.staged(out, todo, overwrite) as stage:
        writers = [fn(stage / product, **o, seed=int(seed)) for product, fn, o in jobs]
        output.drive(writers, workers, progress)
    return out
