"""Evidence that the motion pairs are motion-only: frame vs motion classifiers on rendered clips.

A logistic regression on single downsampled frames should be near chance inside each pair,
while the same classifier on a motion feature of the same pixels (mean absolute differences
between frames ``k`` apart, for several ``k``, plus quantiles of the one-frame differences)
should be clearly above chance. Used by the test suite and ``benchmarks/bench_synth.py``.
"""

from __future__ import annotations

import cv2
import numpy as np

from actionlab.synth.clips import ClipTask, plan_groups, render_clip

LAGS = tuple(range(1, 21))


def render_set(
    classes: tuple[str, ...], n: int, size: tuple[int, int], frames: int, seed: int,
    difficulty: str = "easy", fps: float = 25.0,
) -> list[tuple[str, int, np.ndarray]]:
    """``(class, clip index, frames)`` for ``n`` clips per class, rendered in memory."""
    groups, _ = plan_groups(n)
    out = []
    for cls in classes:
        for i, g in enumerate(groups):
            task = ClipTask("", cls, g, i, 1, size, fps, frames, difficulty, seed)
            video, boxes = render_clip(task)[:2]
            out.append((cls, i, video, boxes))
    return out


def _square_crop(frame: np.ndarray, box, side: int) -> np.ndarray:
    x0, y0, x1, y1 = box
    half = max(x1 - x0, y1 - y0, 2.0) * 0.55
    k = side / (2 * half)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    M = np.array([[k, 0, side / 2 - cx * k], [0, k, side / 2 - cy * k]])
    return cv2.warpAffine(frame, M, (side, side), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE)  # fmt: skip


def figure_crops(frames: np.ndarray, boxes: np.ndarray, side: int = 32, per_frame: bool = True):
    """Crop frames to a square around the figure (a person detector's view), resized to
    ``side``: each frame to its own box (single-frame features), or all frames to the union box
    (motion features: one fixed crop keeps the motion intact)."""
    if per_frame:
        return np.stack([_square_crop(f, b, side) for f, b in zip(frames, boxes)])
    union = (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())
    return np.stack([_square_crop(f, union, side) for f in frames])


def _gray(frames: np.ndarray, side: int) -> np.ndarray:
    g = frames.astype(np.float32).mean(-1)
    return np.stack([cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA) for f in g]) / 255


def frame_features(frames: np.ndarray, boxes: np.ndarray, side: int = 12, per_clip: int = 8):
    """``per_clip`` single frames cropped to the figure, downsampled to ``side`` x ``side`` grey."""
    idx = np.linspace(0, len(frames) - 1, per_clip).round().astype(int)
    crops = figure_crops(frames[idx], boxes[idx])
    return _gray(crops, side).reshape(per_clip, -1)


def motion_features(frames: np.ndarray, boxes: np.ndarray, side: int = 16) -> np.ndarray:
    """Mean |f(t+k) - f(t)| per lag k, and quantiles of |f(t+1) - f(t)| over time (one row)."""
    g = _gray(figure_crops(frames, boxes, per_frame=False), side)
    feats = []
    d1 = np.abs(np.diff(g, axis=0)).mean((1, 2))
    for k in LAGS:
        k = min(k, len(g) - 1)
        feats.append(np.abs(g[k:] - g[:-k]).mean())
    acc = np.abs(g[2:] - 2 * g[1:-1] + g[:-2]).mean((1, 2))
    feats += list(np.quantile(d1, [0.25, 0.5, 0.75, 0.9, 1.0]))
    feats += list(np.quantile(acc, [0.5, 0.9, 1.0]))
    f = np.array(feats)
    return (f / (f[0] + 1e-6))[None, 1:]  # relative to the lag-1 change: camera-invariant-ish


def pair_accuracies(clips, pair: tuple[str, str], test_every: int = 3) -> dict[str, float]:
    """Held-out accuracy of logistic regression on frames and on motion, for one pair."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    res = {}
    for name, feat in (("frame", frame_features), ("motion", motion_features)):
        Xtr, ytr, Xte, yte = [], [], [], []
        for cls, i, frames, boxes in clips:
            if cls not in pair:
                continue
            test = i % test_every == 0
            # train on both facings (flipped copies): the classifier cannot use the side
            views = [(frames, boxes)]
            if not test:
                w = frames.shape[2]
                flipped = np.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)
                views.append((frames[:, :, ::-1], flipped))
            for v, b in views:
                x = feat(v, b)
                (Xte if test else Xtr).append(x)
                (yte if test else ytr).extend([pair.index(cls)] * len(x))
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
        model.fit(np.concatenate(Xtr), ytr)
        res[name] = float((model.predict(np.concatenate(Xte)) == np.array(yte)).mean())
    return res
