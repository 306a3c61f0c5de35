"""Evaluation: metrics, multi-clip x multi-crop testing, result tables, timeline scoring.

Metrics are pure functions of (scores or preds, labels, num_classes) in
:mod:`actionlab.evaluate.metrics`; segment helpers in :mod:`actionlab.evaluate.timeline`.
"""

from actionlab.evaluate.metrics import (
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

__all__ = [
    "DEFAULT_KS",
    "classification_metrics",
    "confusion_matrix",
    "effective_ks",
    "mean_class_accuracy",
    "normalize_confusion",
    "per_class_accuracy",
    "per_class_improvement",
    "topk_accuracy",
    "topk_correct",
]
