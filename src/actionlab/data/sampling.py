"""Frame-index samplers: pure functions of the frame count, parameters and an rng.

Every sampler returns an int64 index array, never frames, so it can be tested with exact
expected indices and reused on the cache, on a source video, or on a flow array (whose
length is ``frames - 1``). Short videos never fail: a strided clip falls back to consecutive
frames, and a clip longer than the video loops.
"""

from __future__ import annotations

import numpy as np


def _check(num_frames: int) -> None:
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")


def middle_frame(num_frames: int) -> np.ndarray:
    """The middle frame, ``num_frames // 2``, as a one-element array."""
    _check(num_frames)
    return np.array([num_frames // 2], dtype=np.int64)


def random_frame(num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """One frame drawn uniformly, as a one-element array."""
    _check(num_frames)
    return np.array([rng.integers(num_frames)], dtype=np.int64)


def clip_span(length: int, stride: int) -> int:
    """Frames covered by a clip of ``length`` frames taken every ``stride`` frames."""
    return (length - 1) * stride + 1


def _fit_stride(num_frames: int, length: int, stride: int) -> int | None:
    """``stride`` if the clip fits, else 1 (consecutive) if that fits, else ``None`` (loop)."""
    if clip_span(length, stride) <= num_frames:
        return stride
    if length <= num_frames:
        return 1
    return None


def _clip_at(start: int, num_frames: int, length: int, stride: int | None) -> np.ndarray:
    if stride is None:  # shorter than the clip: loop the whole video
        return np.arange(length, dtype=np.int64) % num_frames
    return start + np.arange(length, dtype=np.int64) * stride


def centered_clip(num_frames: int, length: int, stride: int = 1) -> np.ndarray:
    """A clip of ``length`` frames, every ``stride`` frames, centred on the middle frame.

    The clip's frame ``length // 2`` is the middle frame ``num_frames // 2`` when it fits;
    near the ends the clip is shifted to stay inside the video. Falls back to stride 1, then
    to looping ``0, 1, ..., n-1, 0, 1, ...`` when the video is shorter than ``length``.

    Args:
        num_frames: Frames in the video.
        length: Frames in the clip (L).
        stride: Step between clip frames (s).

    Returns:
        (L,) indices.
    """
    _check(num_frames)
    s = _fit_stride(num_frames, length, stride)
    if s is None:
        return _clip_at(0, num_frames, length, None)
    start = num_frames // 2 - (length // 2) * s
    start = min(max(start, 0), num_frames - clip_span(length, s))
    return _clip_at(start, num_frames, length, s)


def random_clip(num_frames: int, length: int, stride: int, rng: np.random.Generator) -> np.ndarray:
    """A clip of ``length`` frames every ``stride`` frames at a uniformly random start.

    Same fallbacks as :func:`centered_clip` (consecutive, then looping from a random start).

    Returns:
        (L,) indices.
    """
    _check(num_frames)
    s = _fit_stride(num_frames, length, stride)
    if s is None:
        return (rng.integers(num_frames) + np.arange(length, dtype=np.int64)) % num_frames
    start = int(rng.integers(num_frames - clip_span(length, s) + 1))
    return _clip_at(start, num_frames, length, s)


def tsn_segments(
    num_frames: int,
    num_segments: int,
    length: int = 1,
    train: bool = False,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Temporal Segment Network sampling: one snippet of ``length`` frames per segment.

    The first ``num_frames - length + 1`` possible snippet starts are cut into
    ``num_segments`` equal segments; training takes a random start in each segment, testing
    the segment's center. A video with fewer starts than segments spreads the segments
    evenly over the starts it has (repeating some); a snippet longer than the video loops.

    Args:
        num_frames: Frames in the video (for flow snippets, the flow length ``frames - 1``).
        num_segments: S.
        length: Frames per snippet (L): 1 for RGB, e.g. 5 for a flow stack.
        train: Random offsets when true, centres when false.
        rng: Required when ``train``.

    Returns:
        (S * L,) indices, segment-major: snippet 0's L frames, then snippet 1's, ...
    """
    _check(num_frames)
    starts_avail = max(num_frames - length + 1, 1)
    seg = starts_avail / num_segments
    if train and starts_avail >= num_segments:
        if rng is None:
            raise ValueError("train sampling needs an rng")
        # segment k is [floor(k * seg), floor((k + 1) * seg)): together they cover every start
        # (a whole-number width, as in MMAction2, would leave the tail out: 64 segments of a
        # 100-frame video would only ever see frames 0-63)
        lo = np.floor(np.arange(num_segments) * seg).astype(np.int64)
        hi = np.floor(np.arange(1, num_segments + 1) * seg).astype(np.int64)
        offsets = lo + rng.integers(np.maximum(hi - lo, 1))
    elif starts_avail >= num_segments:
        offsets = (seg / 2 + seg * np.arange(num_segments)).astype(np.int64)
    else:
        offsets = np.floor(np.arange(num_segments) * seg).astype(np.int64)
    idx = offsets[:, None] + np.arange(length)[None, :]
    return (idx % num_frames).astype(np.int64).reshape(-1)


def sliding_windows(num_frames: int, length: int, stride: int = 1, step: int | None = None) -> np.ndarray:
    """Dense windows over a long video, for labelling it over time.

    Windows start at ``0, step, 2*step, ...`` while they fit; if the last one leaves frames
    uncovered, one more window ends exactly at the last frame. A video shorter than one window
    gives a single window with the fallbacks of :func:`centered_clip`.

    Args:
        num_frames: Frames in the video.
        length: Frames per window (L).
        stride: Step between frames inside a window.
        step: Step between window starts; defaults to the window span (no overlap).

    Returns:
        (W, L) indices, one row per window; row ``i`` starts at ``sliding_starts(...)[i]``.
    """
    _check(num_frames)
    span = clip_span(length, stride)
    if span > num_frames:
        return centered_clip(num_frames, length, stride)[None]
    step = step or span
    starts = list(range(0, num_frames - span + 1, step))
    if starts[-1] + span < num_frames:
        starts.append(num_frames - span)
    return np.asarray(starts, dtype=np.int64)[:, None] + np.arange(length) * stride


def multi_clip(num_frames: int, num_clips: int, length: int, stride: int = 1) -> np.ndarray:
    """``num_clips`` clips spread evenly over the video, for test-time averaging.

    Clip starts are ``round(linspace(0, n - span, K))``; with one clip this is the centred clip.
    Short videos repeat the fallback clip of :func:`centered_clip`.

    Returns:
        (K, L) indices.
    """
    _check(num_frames)
    if num_clips == 1:
        return centered_clip(num_frames, length, stride)[None]
    s = _fit_stride(num_frames, length, stride)
    if s is None:
        return np.repeat(centered_clip(num_frames, length, stride)[None], num_clips, axis=0)
    last = num_frames - clip_span(length, s)
    starts = np.rint(np.linspace(0, last, num_clips)).astype(np.int64)
    return starts[:, None] + np.arange(length) * s


# Window and clip starts: the arithmetic predict, timeline, explain and the LRCN path share.


def sliding_starts(num_frames: int, length: int, step: int) -> list[int]:
    """Starts of sliding windows covering the video: every ``step`` frames, plus one ending at
    the last frame (:func:`sliding_windows`); ``[0]`` when the video is not longer than one.

    Args:
        num_frames: Frames in the video.
        length: Frames per window (its span).
        step: Frames between window starts.

    Returns:
        The first frame of each window.
    """
    if num_frames <= length:
        return [0]
    return [int(x) for x in sliding_windows(num_frames, length, 1, step)[:, 0]]


def clip_starts(num_frames: int, span: int, clips: int) -> list[int]:
    """First frames of ``clips`` windows of ``span`` frames spread evenly over the video
    (:func:`multi_clip`), duplicates dropped; one window at 0 for a video not longer than one.

    Args:
        num_frames: Frames in the video.
        span: Frames per window.
        clips: How many windows.

    Returns:
        Sorted, distinct starts.
    """
    if num_frames <= span:
        return [0]
    return sorted({int(x) for x in multi_clip(num_frames, max(1, clips), span)[:, 0]})


def spread_starts(num_frames: int, length: int, count: int) -> np.ndarray:
    """``count`` evenly spread window starts over ``num_frames`` frames, duplicates kept (all 0
    when ``num_frames <= length``): the LRCN path's fixed number of windows per video.

    Args:
        num_frames: Frames (or feature steps) in the video.
        length: Frames per window.
        count: How many windows.

    Returns:
        (count,) int64 starts.
    """
    if num_frames <= length:
        return np.zeros(count, dtype=np.int64)
    return np.linspace(0, num_frames - length, count).round().astype(np.int64)
