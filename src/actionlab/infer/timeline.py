"""Label a long video over time: sliding windows, class probabilities, action segments.

The video is decoded once, flow (when the model needs it) is computed once for the whole
video, and windows go through the model in batches. Window length and step are given in frames
(``"16"``) or seconds (``"0.64s"``); the defaults are the model's natural window and half of it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from actionlab.data.sampling import sliding_starts
from actionlab.errors import InputError
from actionlab.infer.events import segments_to_events, video_duration, window_times
from actionlab.infer.preprocess import Decoded, decode_video, preprocess
from actionlab.infer.runner import Runner, softmax

log = logging.getLogger(__name__)

TSN_WINDOW_S = 2.0
_LEN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|f)?\s*$")


def parse_length(value: str | int | float | None, fps: float, default: int) -> int:
    """A length in frames from ``"16"``/``"16f"`` (frames) or ``"0.5s"`` (seconds).

    Raises:
        InputError: for anything else, or a length below one frame.
    """
    if value is None or value == "":
        return default
    if isinstance(value, (int, float)):
        frames = int(value)
    else:
        m = _LEN.match(value)
        if not m:
            raise InputError(f"length {value!r}: give frames ('16') or seconds ('0.5s')")
        num, unit = float(m.group(1)), m.group(2)
        frames = int(round(num * fps)) if unit == "s" else int(num)
    if frames < 1:
        raise InputError(f"length {value!r}: must be at least one frame at {fps:g} fps")
    return frames


@dataclass
class Timeline:
    """Class probabilities over time for one video, and the segments found in them."""

    video: str
    fps: float
    duration: float
    classes: list[str]
    times: list[float]  # centre of each window, seconds
    probs: np.ndarray  # (num_windows, num_classes)
    segments: list[dict[str, Any]]
    window: int
    step: int
    padded: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    background: str | None = None
    fusion: dict[str, Any] | None = None  # late fusion of two models: each one's weight

    def to_dict(self) -> dict[str, Any]:
        return {**({"fusion": self.fusion} if self.fusion else {}),
            "video": self.video,
            "fps": self.fps,
            "duration": self.duration,
            "classes": self.classes,
            "times": [round(t, 4) for t in self.times],
            "probs": np.round(self.probs, 6).tolist(),
            "segments": self.segments,
            "window": self.window,
            "step": self.step,
            "padded": self.padded,
            "background": self.background,
            "events": self.events,
        }


def _segments(
    times: np.ndarray, probs: np.ndarray, classes: list[str], **kw: Any
) -> list[dict[str, Any]]:
    """Segments via :func:`actionlab.infer.segments.probs_to_segments`, rounded for JSON."""
    from actionlab.infer.segments import probs_to_segments

    return [
        {
            "label": str(s["label"]),
            "start": round(float(s["start"]), 4),
            "end": round(float(s["end"]), 4),
            "score": round(float(s["score"]), 6),
        }
        for s in probs_to_segments(times, probs, classes, **kw)
    ]


def timeline_probs(
    runner: Runner,
    decoded: Decoded,
    window: int,
    step: int,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-window times (window centers, seconds) and class probabilities.

    Args:
        runner: The model.
        decoded: The decoded video.
        window: Window length in frames.
        step: Step between window starts in frames.
        batch_size: Windows per model call.
        progress: Called with (windows done, windows in all) after every batch.
    """
    frames = decoded.frames
    starts = sliding_starts(len(frames), window, step)
    chunks = []
    for i in range(0, len(starts), batch_size):
        inputs = preprocess(decoded, runner.spec, starts=starts[i : i + batch_size],
                            length=window)
        chunks.append(softmax(runner.logits(inputs)))
        if progress is not None:
            progress(min(i + batch_size, len(starts)), len(starts))
    probs = np.concatenate(chunks)
    center = min(window, len(frames)) / 2
    pts = decoded_times(decoded)
    if pts is None:
        times = (np.asarray(starts, np.float64) + center) / decoded.fps
    else:
        times = window_times(pts, starts, window, decoded.fps)
    return times, probs


def decoded_times(decoded: Decoded) -> np.ndarray | None:
    """Each decoded frame's presentation time (seconds from the first), or ``None``.

    Taken from ``decoded.times`` when the decoder kept them, else read once more from the
    file's timestamps (:func:`actionlab.data.video.frame_times`, no pixel conversion); ``None``
    when the file cannot be read again or its frame count differs (then ``frame / fps``).
    """
    from actionlab.data.video import frame_times
    from actionlab.errors import VideoError

    n = len(decoded.frames)
    pts = decoded.times
    if pts is None:
        try:
            pts = frame_times(decoded.path, threads=1)
        except (VideoError, OSError) as exc:
            log.debug("%s: no timestamps (%s); times are frame / fps", decoded.path, exc)
            return None
    pts = np.asarray(pts, np.float64)
    if len(pts) != n or (n > 1 and np.any(np.diff(pts) <= 0)):
        log.debug("%s: %d timestamps for %d frames; times are frame / fps", decoded.path,
                  len(pts), n)
        return None
    decoded.times = pts  # read once
    return pts


BACKGROUND_NAMES = re.compile(r"^(background|none|other|adl|(no|not|non)[_ -].*)$", re.I)


def background_class(classes: list[str], given: str | int | None = None) -> str | None:
    """The class that is "nothing happening": ``given``, else one named like ``background``,
    ``no_fall``, ``not_slipping``, ``none``, ``other`` or ``adl`` (when exactly one is)."""
    if isinstance(given, int):
        return classes[given]
    if given:
        return given
    found = [c for c in classes if BACKGROUND_NAMES.match(c)]
    return found[0] if len(found) == 1 and len(classes) > 1 else None


def run_timeline(
    runner: Runner,
    video: str | Path | Decoded,
    window: str | int | None = None,
    step: str | int | None = None,
    batch_size: int = 16,
    segment_kw: dict[str, Any] | None = None,
    keep_native: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Timeline, Decoded]:
    """Probabilities over time and action segments for one video.

    A video shorter than one window gives a single window over the whole video, sampled as
    training data is (consecutive frames, then looping; ``Timeline.padded``, and a warning).

    Args:
        runner: From :func:`actionlab.infer.runner.load_runner`.
        video: A path, or an already decoded video.
        window: Window length, frames (``16``) or seconds (``"0.64s"``); default: the model's
            (``InputSpec.window_span``; 2 s for TSN models).
        step: Step between windows, same units; default half the window.
        batch_size: Windows per model call.
        segment_kw: Passed to :func:`actionlab.infer.segments.probs_to_segments`
            (``threshold``, ``smooth`` seconds, ``min_duration``, ``merge_gap``,
            ``hysteresis``, ``background``); ``duration`` is the video's.
        keep_native: Keep full-size frames in the returned :class:`Decoded` (for drawing).
        progress: Called with (windows done, windows in all) as batches finish.

    Returns:
        ``(timeline, decoded)``.
    """
    decoded, times, probs, win, stp, padded = _windows(runner, video, window, step, batch_size,
                                                       keep_native, progress)
    tl = _timeline(decoded, runner.classes, times, probs, win, stp, padded, segment_kw)
    return tl, decoded


def _windows(runner: Runner, video: str | Path | Decoded, window: str | int | None,
             step: str | int | None, batch_size: int, keep_native: bool,
             progress: Callable[[int, int], None] | None,
             ) -> tuple[Decoded, np.ndarray, np.ndarray, int, int, bool]:
    """The decoded video, its windows' times and probabilities, window, step and ``padded``."""
    spec = runner.spec
    decoded = (
        video if isinstance(video, Decoded) else decode_video(video, spec, keep_native=keep_native)
    )
    fps = decoded.fps
    natural = spec.window_span()
    if spec.kind == "tsn":
        # TSN spreads its segments over whatever it is given; a few frames would make every
        # segment nearly the same frame, so its default window is TSN_WINDOW_S seconds.
        natural = max(natural, int(round(TSN_WINDOW_S * fps)))
    win = parse_length(window, fps, natural)
    stp = parse_length(step, fps, max(1, win // 2))
    n = len(decoded.frames)
    padded = n < win
    if padded:
        log.warning(
            "%s: %d frames is shorter than one window (%d); sampled with looping",
            decoded.path, n, win,
        )
    times, probs = timeline_probs(runner, decoded, win, stp, batch_size, progress=progress)
    return decoded, times, probs, win, stp, padded


def _timeline(decoded: Decoded, classes: list[str], times: np.ndarray, probs: np.ndarray,
              win: int, stp: int, padded: bool, segment_kw: dict[str, Any] | None,
              fusion: dict[str, Any] | None = None) -> Timeline:
    """The :class:`Timeline` of per-window probabilities: segments, then events from them."""
    n, fps = len(decoded.frames), decoded.fps
    pts = decoded_times(decoded)
    duration = n / fps
    if pts is not None and abs(video_duration(pts, fps) - duration) > 1.5 / fps:
        duration = video_duration(pts, fps)  # a variable rate: the timestamps' span
    segments = _segments(times, probs, classes, **{"duration": duration, **(segment_kw or {})})
    bg = background_class(classes, (segment_kw or {}).get("background"))
    events = segments_to_events([s for s in segments if s["label"] != bg], times, probs, classes)
    return Timeline(video=str(decoded.path), fps=fps, duration=duration, classes=classes,
                    times=[float(t) for t in times], probs=probs, segments=segments, window=win,
                    step=stp, padded=padded, events=events, background=bg, fusion=fusion)


def fuse_timelines(
    runners: tuple[Runner, Runner],
    video: str | Path,
    weight: float = 0.5,
    window: str | int | None = None,
    step: str | int | None = None,
    batch_size: int = 16,
    segment_kw: dict[str, Any] | None = None,
    keep_native: bool = False,
    names: tuple[str, str] = ("a", "b"),
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Timeline, Decoded]:
    """Late fusion of two models over time: ``(1 - weight) * p_a + weight * p_b`` per window.

    The second model runs on exactly the first one's windows (its window and step, in frames of
    the same video), so the two probability curves share their times; each model decodes the
    video with its own input spec (e.g. keypoints for a pose stream, flow for a flow stream).
    Segments and events are then found in the fused curve as :func:`run_timeline` finds them.

    Args:
        runners: The two models, over the same classes in the same order.
        video: The video.
        weight: The second model's weight in [0, 1] (0: the first alone, 1: the second alone).
        names: What ``Timeline.fusion`` calls the two models.
        window, step, batch_size, segment_kw, keep_native, progress: As :func:`run_timeline`
            (``window`` and ``step`` default to the first model's).

    Raises:
        InputError: a weight outside [0, 1], or models over different classes.
    """
    a, b = runners
    w = check_fuse_weight(weight)
    if list(a.classes) != list(b.classes):
        raise InputError(f"--fuse: the models' classes differ ({', '.join(a.classes)} against "
                         f"{', '.join(b.classes)}); fuse models trained on the same classes")
    decoded, times, probs_a, win, stp, padded = _windows(a, video, window, step, batch_size,
                                                         keep_native, progress)
    decoded_b = decode_video(Path(video), b.spec)
    times_b, probs_b = timeline_probs(b, decoded_b, win, stp, batch_size)
    if len(times_b) != len(times):  # both cut the same frames into the same windows
        raise InputError(f"{video}: the two models decode {len(decoded.frames)} and "
                         f"{len(decoded_b.frames)} frames; they cannot share windows")
    probs = (1.0 - w) * probs_a + w * probs_b
    fusion = {"models": list(names), "weights": [round(1.0 - w, 6), round(w, 6)]}
    tl = _timeline(decoded, list(a.classes), times, probs, win, stp, padded, segment_kw, fusion)
    return tl, decoded


def check_fuse_weight(weight: float) -> float:
    """``--fuse-weight`` as a float in [0, 1].

    Raises:
        InputError: outside [0, 1].
    """
    if not 0.0 <= float(weight) <= 1.0:
        raise InputError(f"--fuse-weight {weight}: give a number from 0 to 1")
    return float(weight)


def label_at(tl: Timeline, t: float) -> tuple[str, float]:
    """The label and confidence to show at time ``t``: the segment covering it, else the
    most probable class of the nearest window."""
    for seg in tl.segments:
        if seg["start"] <= t <= seg["end"]:
            return seg["label"], float(seg["score"])
    i = int(np.argmin(np.abs(np.asarray(tl.times) - t)))
    j = int(np.argmax(tl.probs[i]))
    return tl.classes[j], float(tl.probs[i, j])
