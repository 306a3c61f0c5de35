"""Multi-clip x multi-crop testing: a video's score is the mean softmax over its views.

The core is model-agnostic: :func:`average_view_scores` takes a model and one video's views,
a tensor ``(V, ...)`` (or a tuple of them for multi-input models such as two-stream, each
``(V, ...)``), and returns the averaged class probabilities. :func:`score_videos` does the same
for any iterable of ``(views, label)``, consecutive videos sharing model calls; :func:`video_views` builds that iterable from the data
stage's datasets, one dataset per crop position, each giving one or K clips per video.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from actionlab.errors import InputError

log = logging.getLogger(__name__)

Views = torch.Tensor | tuple[torch.Tensor, ...]

# Crop presets by number of crops: positions understood by actionlab.data's eval transform.
CROP_PRESETS = {
    1: ("center",),
    3: ("center", "top_left", "bottom_right"),
    5: ("center", "top_left", "top_right", "bottom_left", "bottom_right"),
}


def crop_positions(crops: int | Sequence[str]) -> tuple[str, ...]:
    """Crop positions from a count (1, 3 or 5) or an explicit list of position names."""
    if isinstance(crops, int):
        if crops not in CROP_PRESETS:
            raise InputError(f"--crops must be one of {sorted(CROP_PRESETS)}, got {crops}")
        return CROP_PRESETS[crops]
    out = tuple(crops)
    if not out:
        raise InputError("at least one crop position is needed")
    return out


def check_crops_fit(positions: Sequence[str], own_crop: str | None) -> None:
    """Several crop positions need a model that sees crops: one trained on the whole frame
    (``own_crop`` ``resize`` or ``fit``) is refused, naming the option to use."""
    from actionlab.data.transforms import WHOLE_FRAME_CROPS

    if own_crop in WHOLE_FRAME_CROPS and tuple(positions) != ("center",):
        raise InputError(f"--crops {len(positions)}: this model sees the whole frame "
                         f"(crop: {own_crop}); use --crops 1")


def _as_tuple(views: Views) -> tuple[torch.Tensor, ...]:
    return tuple(views) if isinstance(views, (tuple, list)) else (views,)


def num_views(views: Views) -> int:
    """V, the number of views; every tensor of a tuple must agree on it."""
    parts = _as_tuple(views)
    counts = {int(p.shape[0]) for p in parts}
    if len(counts) != 1:
        raise InputError(
            f"the inputs of one video disagree on the number of views: {sorted(counts)}"
        )
    return counts.pop()


@torch.inference_mode()
def average_view_scores(
    model: torch.nn.Module, views: Views, batch_size: int | None = None
) -> torch.Tensor:
    """Mean softmax over a video's views.

    Args:
        model: A recognizer in eval mode; called as ``model(*inputs)`` on ``(B, ...)`` batches.
        views: ``(V, ...)`` views of one video (clips x crops, in any order), or a tuple of such
            tensors (e.g. ``(rgb, flow)``) for multi-input models.
        batch_size: Views per model call (default: all at once).

    Returns:
        (C,) float32 class probabilities on the CPU.
    """
    parts = _as_tuple(views)
    v = num_views(parts)
    if v == 0:
        raise InputError("a video with no views cannot be scored")
    return _batched_softmax(model, parts, batch_size or v).mean(0)


def score_videos(
    model: torch.nn.Module,
    videos: Iterable[tuple[Views, int]],
    batch_size: int | None = None,
    progress: bool = False,
    total: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Averaged scores for every video.

    The views of consecutive videos share model calls (up to ``batch_size`` views each): one
    clip per video at batch 1 left a 3D network's convolutions 5x slower than batches of 16.
    Each video's probabilities are still the mean softmax over its own views.

    Args:
        model: The recognizer (put in eval mode here).
        videos: ``(views, label)`` per video (see :func:`average_view_scores`).
        batch_size: Views per model call (default 32).
        progress: Show a rich progress bar.
        total: Number of videos, for the progress bar.

    Returns:
        ``(scores (N, C) float32, labels (N,) int64)``.
    """
    model.eval()
    step = batch_size or 32
    scores: list[np.ndarray] = []
    labels: list[int] = []
    pending: list[tuple[torch.Tensor, ...]] = []  # views of videos not yet scored
    it: Iterable[tuple[Views, int]] = videos
    if progress:
        from rich.progress import track

        it = track(videos, description="evaluating", total=total, transient=True)

    def flush() -> None:
        counts = [num_views(p) for p in pending]
        joined = tuple(torch.cat([p[j] for p in pending]) for j in range(len(pending[0])))
        probs = _batched_softmax(model, joined, step)  # (sum(counts), C)
        for chunk in torch.split(probs, counts):
            scores.append(chunk.mean(0).numpy())
        pending.clear()

    queued = 0
    for views, label in it:
        parts = _as_tuple(views)
        if num_views(parts) == 0:
            raise InputError("a video with no views cannot be scored")
        pending.append(parts)
        labels.append(int(label))
        queued += num_views(parts)
        if queued >= step:
            flush()
            queued = 0
    if pending:
        flush()
    if not scores:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
    return np.stack(scores).astype(np.float32), np.asarray(labels, np.int64)


@torch.inference_mode()
def _batched_softmax(model: torch.nn.Module, parts: tuple[torch.Tensor, ...],
                     step: int) -> torch.Tensor:
    """(V, C) float32 softmax of ``model(*parts)`` on the CPU, ``step`` views per call."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    out = []
    for i in range(0, int(parts[0].shape[0]), step):
        batch = [p[i : i + step].to(device) for p in parts]
        out.append(torch.softmax(model(*batch).float(), dim=-1).cpu())
    return torch.cat(out)


def _views_of(x: Any, stacked: bool) -> tuple[torch.Tensor, ...]:
    """One dataset sample as views: already (K, ...) when ``stacked``, else add V = 1."""
    parts = _as_tuple(x)
    return parts if stacked else tuple(p.unsqueeze(0) for p in parts)


def video_views(datasets: Sequence[Any], stacked: bool = False) -> Iterator[tuple[Views, int]]:
    """Join the samples of the same video from several datasets (one per crop) into views.

    Args:
        datasets: Datasets over the same records in the same order (e.g. one per crop
            position), each yielding ``(x, label)``.
        stacked: The datasets already yield ``(K, ...)`` clips per video (multi-clip).

    Yields:
        ``(views, label)`` with views ``(crops * K, ...)`` (a tuple for multi-input samples).
    """
    n = len(datasets[0])
    if any(len(d) != n for d in datasets):
        raise InputError("the per-crop datasets differ in length")
    for i in range(n):
        per_crop = []
        label = None
        for ds in datasets:
            x, label = ds[i]
            per_crop.append(_views_of(x, stacked))
        joined = tuple(torch.cat([pc[j] for pc in per_crop]) for j in range(len(per_crop[0])))
        yield (joined if len(joined) > 1 else joined[0]), int(label)
