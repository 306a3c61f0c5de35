"""Events with onset times: what ``timeline`` and ``live`` report for detectors (e.g. falls).

An event is one segment of a non-background class, described by when it began (``onset``),
when it ended (``end``), the time of its most probable window (``peak``) and that window's
probability (``score``). Times are seconds from the first frame, taken from presentation
timestamps (:func:`window_times`), so a variable-frame-rate phone video gets the times a
player shows, not ``frame / fps``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def frame_step(pts: np.ndarray, fps: float) -> float:
    """The typical frame duration: the median PTS step, else ``1 / fps``."""
    steps = np.diff(np.asarray(pts, np.float64))
    steps = steps[steps > 0]
    if len(steps):
        return float(np.median(steps))
    return 1.0 / fps if fps else 0.0


def window_times(pts: np.ndarray, starts: Sequence[int], window: int, fps: float) -> np.ndarray:
    """Centre (seconds) of each window of ``window`` frames starting at ``starts``, from PTS.

    A window covers its first frame's timestamp up to the end of its last frame (its PTS plus
    one typical frame duration); the centre is the midpoint. At a constant rate this is
    ``(start + window / 2) / fps``.

    Args:
        pts: (N,) frame times in seconds, from the first frame.
        starts: Window start indices.
        window: Window length in frames (a window past the end is cut at the last frame).
        fps: Nominal rate, used only when the timestamps give no step.
    """
    pts = np.asarray(pts, np.float64)
    n = len(pts)
    dt = frame_step(pts, fps)
    s = np.asarray(starts, np.int64)
    e = np.minimum(s + window, n) - 1
    return (pts[s] + pts[e] + dt) / 2


def video_duration(pts: np.ndarray, fps: float) -> float:
    """Seconds from the first frame to the end of the last one."""
    pts = np.asarray(pts, np.float64)
    return float(pts[-1] + frame_step(pts, fps)) if len(pts) else 0.0


def segments_to_events(segments: Sequence[dict[str, Any]], times: Sequence[float] | np.ndarray,
                       probs: Any, classes: Sequence[str]) -> list[dict[str, Any]]:
    """One event per segment: ``label``, ``onset``, ``end``, ``peak`` (s) and ``score``.

    ``peak`` is the centre of the segment's most probable window and ``score`` its probability
    (the raw, unsmoothed one); segments of a background class never exist (see
    :func:`actionlab.infer.segments.probs_to_segments`), so neither do their events.

    Args:
        segments: ``[{"label", "start", "end", "score"}]``.
        times: (N,) window centres.
        probs: (N, C) window probabilities.
        classes: C class names.
    """
    t = np.asarray(times, np.float64).reshape(-1)
    p = np.asarray(probs, np.float64)
    index = {c: i for i, c in enumerate(classes)}
    events = []
    for seg in segments:
        c = index[seg["label"]]
        inside = np.flatnonzero((t >= seg["start"]) & (t <= seg["end"]))
        if len(inside) == 0:  # a segment narrower than the window spacing: its nearest window
            inside = np.array([int(np.argmin(np.abs(t - (seg["start"] + seg["end"]) / 2)))])
        k = inside[int(np.argmax(p[inside, c]))]
        events.append({
            "label": str(seg["label"]),
            "onset": round(float(seg["start"]), 4),
            "end": round(float(seg["end"]), 4),
            "peak": round(float(t[k]), 4),
            "score": round(float(p[k, c]), 6),
        })
    events.sort(key=lambda e: (e["onset"], e["label"]))
    return events
