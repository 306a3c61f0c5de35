"""Evaluation: metrics, multi-clip x multi-crop testing, result tables, timeline scoring.

Metrics are pure functions of (scores or preds, labels, num_classes) in
:mod:`actionlab.metrics`; segment scoring in :mod:`actionlab.evaluate.timeline` (the
segments themselves come from :mod:`actionlab.infer.segments`); multi-view scoring (torch)
in :mod:`actionlab.evaluate.multiview`; run dirs and the results table in
:mod:`actionlab.evaluate.runs`; ``eval.json`` in :mod:`actionlab.evaluate.run_eval`.
Importing this package loads numpy only.
"""

from actionlab.metrics import (
    DEFAULT_KS,
    classification_metrics,
    confusion_matrix,
    effective_ks,
    mean_class_accuracy,
    normalize_confusion,
    per_class_accuracy,
    per_class_improvement,
    topk_accuracy,
    topk_correct,
)
from actionlab.evaluate.timeline import evaluate_timeline, load_segments

__all__ = [
    "DEFAULT_KS",
    "classification_metrics",
    "confusion_matrix",
    "effective_ks",
    "evaluate_timeline",
    "load_segments",
    "mean_class_accuracy",
    "normalize_confusion",
    "per_class_accuracy",
    "per_class_improvement",
    "topk_accuracy",
    "topk_correct",
]
