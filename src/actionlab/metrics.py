"""Classification metrics as pure functions of (scores or predictions, labels, num_classes).

Every function takes numpy arrays (or anything ``np.asarray`` accepts: lists, CPU tensors) and
returns plain numpy values, so they work the same on a model's logits, on averaged softmax
scores, and on predictions read back from an ``eval.json``.

Shapes: N samples, C classes. ``scores`` is (N, C) (logits or probabilities: only the order
within a row matters), ``preds`` and ``labels`` are (N,) integer class indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

DEFAULT_KS = (1, 5, 10)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _labels(labels: Any, num_classes: int | None = None) -> np.ndarray:
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    if num_classes is not None and y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}); got {y.min()}..{y.max()}")
    return y


def _scores(scores: Any) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"scores must be (N, C); got shape {s.shape}")
    return s


def effective_ks(num_classes: int, ks: Sequence[int] = DEFAULT_KS) -> list[int]:
    """The k values worth reporting: each k capped at ``num_classes``, duplicates dropped.

    With 12 classes, (1, 5, 10) stays (1, 5, 10); with 4 classes it becomes (1, 4).
    """
    out: list[int] = []
    for k in ks:
        k = min(int(k), int(num_classes))
        if k >= 1 and k not in out:
            out.append(k)
    return out


def topk_correct(scores: Any, labels: Any, k: int) -> np.ndarray:
    """Per-sample boolean: is the true label among the ``k`` highest scores?

    Ties are broken by class index (a stable sort), so the result is deterministic.

    Args:
        scores: (N, C) scores.
        labels: (N,) true class indices.
        k: How many top classes count as a hit; capped at C.

    Returns:
        (N,) boolean array.
    """
    s = _scores(scores)
    y = _labels(labels, s.shape[1])
    if s.shape[0] != y.shape[0]:
        raise ValueError(f"{s.shape[0]} score rows but {y.shape[0]} labels")
    k = max(1, min(int(k), s.shape[1]))
    # rank of the true class = number of classes scored strictly higher, plus ties before it
    true = s[np.arange(len(y)), y][:, None]
    higher = (s > true).sum(1)
    ties_before = ((s == true) & (np.arange(s.shape[1])[None, :] < y[:, None])).sum(1)
    return (higher + ties_before) < k


def topk_accuracy(scores: Any, labels: Any, ks: Sequence[int] = DEFAULT_KS) -> dict[int, float]:
    """Top-k accuracy for each k (capped at the class count, see :func:`effective_ks`).

    Args:
        scores: (N, C) scores.
        labels: (N,) true class indices.
        ks: The k values.

    Returns:
        ``{k: fraction of samples whose label is in the top k}``; NaN when N is 0.
    """
    s = _scores(scores)
    out = {}
    for k in effective_ks(s.shape[1], ks):
        hits = topk_correct(s, labels, k)
        out[k] = float(hits.mean()) if hits.size else float("nan")
    return out


def confusion_matrix(preds: Any, labels: Any, num_classes: int) -> np.ndarray:
    """Counts: row = true class, column = predicted class.

    Args:
        preds: (N,) predicted class indices.
        labels: (N,) true class indices.
        num_classes: C.

    Returns:
        (C, C) int64 matrix whose entry [i, j] counts samples of class i predicted as j.
    """
    p = _labels(preds, num_classes)
    y = _labels(labels, num_classes)
    if p.shape != y.shape:
        raise ValueError(f"{p.shape[0]} predictions but {y.shape[0]} labels")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y, p), 1)
    return cm


def normalize_confusion(cm: Any) -> np.ndarray:
    """Row-normalise a confusion matrix: each row sums to 1 (rows of absent classes stay 0)."""
    cm = np.asarray(cm, dtype=np.float64)
    rows = cm.sum(1, keepdims=True)
    return np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)


def per_class_accuracy(cm: Any) -> np.ndarray:
    """Recall of each class from a confusion matrix; NaN for classes with no samples."""
    cm = np.asarray(cm, dtype=np.float64)
    support = cm.sum(1)
    diag = np.diag(cm)
    return np.divide(diag, support, out=np.full(len(diag), np.nan), where=support > 0)


def mean_class_accuracy(cm: Any) -> float:
    """Mean of the per-class accuracies over the classes that have samples."""
    acc = per_class_accuracy(cm)
    present = ~np.isnan(acc)
    return float(acc[present].mean()) if present.any() else float("nan")


def classification_metrics(
    scores: Any, labels: Any, num_classes: int | None = None, ks: Sequence[int] = DEFAULT_KS
) -> dict[str, Any]:
    """Every classification metric at once, JSON-ready.

    Args:
        scores: (N, C) scores.
        labels: (N,) true class indices.
        num_classes: C; defaults to the score width.
        ks: The top-k values.

    Returns:
        ``{"num_samples", "top1", "top5", "top10" (those that apply), "mean_class_accuracy",
        "per_class_accuracy": [C floats or None], "confusion": [[C ints] * C]}``.
    """
    s = _scores(scores)
    c = int(num_classes if num_classes is not None else s.shape[1])
    if s.shape[1] != c:
        raise ValueError(f"scores have {s.shape[1]} columns but num_classes is {c}")
    y = _labels(labels, c)
    preds = s.argmax(1) if len(s) else np.zeros(0, dtype=np.int64)
    cm = confusion_matrix(preds, y, c)
    out: dict[str, Any] = {"num_samples": int(len(y))}
    for k, v in topk_accuracy(s, y, ks).items():
        out[f"top{k}"] = v
    out["mean_class_accuracy"] = mean_class_accuracy(cm)
    out["per_class_accuracy"] = [None if np.isnan(a) else float(a) for a in per_class_accuracy(cm)]
    out["confusion"] = cm.tolist()
    return out


def per_class_improvement(
    cm_before: Any, cm_after: Any, classes: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """How each class's accuracy changed between two runs, largest gain first.

    This is the study's "which classes gained most" table (single frame -> LSTM,
    RGB -> two-stream). Both confusions must be over the same classes in the same order.

    Args:
        cm_before: (C, C) confusion of the baseline run.
        cm_after: (C, C) confusion of the improved run.
        classes: C class names (defaults to "0", "1", ...).

    Returns:
        One dict per class that has samples in both runs, sorted by ``gain`` descending (ties
        by class index): ``{"index", "class", "before", "after", "gain"}``.
    """
    a = per_class_accuracy(cm_before)
    b = per_class_accuracy(cm_after)
    if a.shape != b.shape:
        raise ValueError(f"confusions cover {len(a)} and {len(b)} classes; they must match")
    names = list(classes) if classes is not None else [str(i) for i in range(len(a))]
    if len(names) != len(a):
        raise ValueError(f"{len(names)} class names for {len(a)} classes")
    rows = [
        {"index": i, "class": names[i], "before": float(a[i]), "after": float(b[i]),
         "gain": float(b[i] - a[i])}
        for i in range(len(a))
        if not (np.isnan(a[i]) or np.isnan(b[i]))
    ]
    rows.sort(key=lambda r: (-r["gain"], r["index"]))
    return rows
