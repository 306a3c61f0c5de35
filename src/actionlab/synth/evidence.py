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
    """How the figure's pixels change over time, as one row of shift-invariant numbers.

    Mean |f(t+k) - f(t)| for lags k (how far the pose wanders), quantiles of the one-frame
    change (speed and its bursts), and quantiles of the *return ratio*
    |f(t+1) - f(t-1)| / (|f(t+1) - f(t)| + |f(t) - f(t-1)|), which is near 0 where a motion
    reverses and near 1 where it carries on. All relative to the mean one-frame change.
    """
    g = _gray(figure_crops(frames, boxes, per_frame=False), side)
    d1 = np.abs(np.diff(g, axis=0)).mean((1, 2))
    scale = d1.mean() + 1e-6
    lags = [np.abs(g[k:] - g[:-k]).mean() for k in (min(k, len(g) - 1) for k in LAGS)]
    back = np.abs(g[2:] - g[:-2]).mean((1, 2))
    ratio = back / (d1[1:] + d1[:-1] + 1e-6)
    moving = d1[1:] + d1[:-1] > np.median(d1[1:] + d1[:-1])
    ratio = ratio[moving] if moving.any() else ratio
    q = [0.05, 0.1, 0.25, 0.5, 0.75]
    speed = np.quantile(d1, [0.25, 0.5, 0.75, 0.9, 1.0]) / scale
    feats = list(np.array(lags) / scale) + list(speed) + list(np.quantile(ratio, q))
    return np.array(feats)[None]


def pair_accuracies(clips, pair: tuple[str, str], folds: int = 3) -> dict[str, float]:
    """Held-out accuracy of logistic regression on single frames and on motion, for one pair.

    Clips are split into ``folds`` by index; each fold is tested by a model trained on the
    others (whole clips held out, so no frame of a test clip is seen in training), and the
    accuracies over all held-out samples are returned.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    feats = {"frame": frame_features, "motion": motion_features}
    rows = {name: [] for name in feats}  # (fold, x, flipped x, y)
    for cls, i, frames, boxes in clips:
        if cls not in pair:
            continue
        w = frames.shape[2]
        fboxes = np.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)
        for name, feat in feats.items():
            rows[name].append((i % folds, feat(frames, boxes), feat(frames[:, :, ::-1], fboxes),
                               pair.index(cls)))  # fmt: skip
    res = {}
    for name, data in rows.items():
        hits = total = 0
        for k in range(folds):
            # train on both facings (flipped copies) so the classifier cannot use the side
            train = [(x, y) for f, a, b, y in data if f != k for x in (a, b)]
            test = [(a, y) for f, a, _, y in data if f == k]
            X = np.concatenate([x for x, _ in train])
            Y = np.concatenate([[y] * len(x) for x, y in train])
            model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=3000))
            model.fit(X, Y)
            for x, y in test:
                hits += int((model.predict(x) == y).sum())
                total += len(x)
        res[name] = hits / total
    return res
