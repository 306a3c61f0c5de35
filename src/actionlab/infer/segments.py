"""From per-window class probabilities to labelled action segments (pure functions).

:func:`probs_to_segments` turns what ``actionlab timeline`` computes into segments: smoothing,
a threshold with hysteresis, gap merging and a minimum duration. Scoring segments against
ground truth is evaluation (:mod:`actionlab.evaluate.timeline`). Times are in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from actionlab.errors import InputError


def smooth_signal(x: np.ndarray, width: int, method: str = "mean") -> np.ndarray:
    """Moving average or running median over ``width`` samples (edges padded with the edge value).

    Args:
        x: (N,) or (N, C) signal; smoothing runs along axis 0.
        width: Window in samples; 1 or less returns ``x`` unchanged. Even widths are rounded up
            to the next odd one so the window stays centred.
        method: ``mean`` or ``median``.
    """
    x = np.asarray(x, dtype=np.float64)
    if width <= 1 or len(x) == 0:
        return x.copy()
    if method not in ("mean", "median"):
        raise InputError(f"unknown smoothing method {method!r}; use mean or median")
    half = int(width) // 2
    pad = [(half, half)] + [(0, 0)] * (x.ndim - 1)
    xp = np.pad(x, pad, mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(xp, 2 * half + 1, axis=0)  # (N, [C,] W)
    return win.mean(-1) if method == "mean" else np.median(win, -1)


def _runs(active: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive index ranges [i0, i1] where ``active`` is true."""
    d = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1
    return list(zip(starts.tolist(), ends.tolist()))


def hysteresis_mask(p: np.ndarray, high: float, low: float) -> np.ndarray:
    """True where a run is active: it starts at ``p >= high`` and lasts while ``p >= low``.

    A run that touches the high threshold anywhere keeps every neighbouring sample above
    ``low`` (both before and after the crossing), as in Canny edge hysteresis.
    """
    p = np.asarray(p, dtype=np.float64)
    low = min(low, high)
    out = np.zeros(len(p), dtype=bool)
    for i0, i1 in _runs(p >= low):
        if (p[i0 : i1 + 1] >= high).any():
            out[i0 : i1 + 1] = True
    return out


def _edges(times: np.ndarray, duration: float | None) -> np.ndarray:
    """N+1 boundaries: midpoints between window centers, the ends extended by half a step."""
    n = len(times)
    if n == 1:
        lo, hi = times[0], times[0]
    else:
        lo = times[0] - (times[1] - times[0]) / 2
        hi = times[-1] + (times[-1] - times[-2]) / 2
    edges = np.concatenate([[lo], (times[1:] + times[:-1]) / 2, [hi]])
    edges = np.maximum(edges, 0.0)
    if duration is not None:
        edges = np.minimum(edges, duration)
    return edges


def _class_index(classes: Sequence[str], background: str | int | None) -> int | None:
    if background is None:
        return None
    if isinstance(background, int):
        return background
    if background not in classes:
        raise InputError(f"background class {background!r} is not one of {list(classes)}")
    return list(classes).index(background)


def probs_to_segments(
    times: Sequence[float] | np.ndarray,
    probs: Any,
    classes: Sequence[str],
    threshold: float = 0.5,
    smooth: float = 0.0,
    min_duration: float = 0.0,
    background: str | int | None = None,
    hysteresis: float = 0.1,
    merge_gap: float = 0.0,
    smooth_method: str = "mean",
    duration: float | None = None,
) -> list[dict[str, Any]]:
    """Labelled segments from class probabilities over time.

    Each class is thresholded on its own (so two actions may overlap). Steps: smooth each class
    over ``smooth`` seconds; mark where the probability reaches ``threshold`` and extend while it
    stays above ``threshold - hysteresis``; merge segments of one class separated by at most
    ``merge_gap`` seconds; drop segments shorter than ``min_duration`` seconds. A window's
    time span runs from the midpoint with the previous window centre to the midpoint with the
    next one.

    Args:
        times: (N,) window centres in seconds, increasing.
        probs: (N, C) class probabilities.
        classes: C class names.
        threshold: Probability that starts a segment.
        smooth: Smoothing window in seconds (0 = none); converted to samples with the median
            step between ``times``.
        min_duration: Shortest segment kept, seconds.
        background: A class (name or index) that never forms segments, e.g. ``"background"``.
        hysteresis: How far below ``threshold`` a running segment may dip and continue.
        merge_gap: Segments of one class this close (seconds) are joined.
        smooth_method: ``mean`` (moving average) or ``median`` (median filter).
        duration: Video length in seconds, to clip the last segment's end.

    Returns:
        ``[{"label", "start", "end", "score"}]`` sorted by start time; ``score`` is the mean
        smoothed probability over the segment's windows.
    """
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != len(t):
        raise InputError(f"probs must be (N, C) with N = {len(t)} times; got shape {p.shape}")
    if p.shape[1] != len(classes):
        raise InputError(f"probs have {p.shape[1]} columns but {len(classes)} classes were given")
    if len(t) == 0:
        return []
    if len(t) > 1 and np.any(np.diff(t) <= 0):
        raise InputError("times must be strictly increasing")
    step = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    width = int(round(smooth / step)) if smooth > 0 and step > 0 else 1
    ps = smooth_signal(p, width, smooth_method)
    edges = _edges(t, duration)
    bg = _class_index(classes, background)

    segments: list[dict[str, Any]] = []
    for c, name in enumerate(classes):
        if c == bg:
            continue
        runs = _runs(hysteresis_mask(ps[:, c], threshold, threshold - hysteresis))
        merged: list[list[int]] = []
        for i0, i1 in runs:
            if merged and edges[i0] - edges[merged[-1][1] + 1] <= merge_gap:
                merged[-1][1] = i1
            else:
                merged.append([i0, i1])
        for i0, i1 in merged:
            start, end = float(edges[i0]), float(edges[i1 + 1])
            if end - start < min_duration:
                continue
            score = float(ps[i0 : i1 + 1, c].mean())
            segments.append({"label": str(name), "start": start, "end": end, "score": score})
    segments.sort(key=lambda s: (s["start"], s["label"]))
    return segments
