"""Metrics against values computed by hand on a fixed confusion."""

from __future__ import annotations

import numpy as np
import pytest

from actionlab import metrics as M

# 10 samples over 4 classes; row = true, column = predicted:
#   class 0: 3 samples -> 0, 0, 1      acc 2/3
#   class 1: 2 samples -> 1, 2         acc 1/2
#   class 2: 4 samples -> 2, 2, 2, 0   acc 3/4
#   class 3: 1 sample  -> 3            acc 1
LABELS = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3]
PREDS = [0, 0, 1, 1, 2, 2, 2, 2, 0, 3]
CM = [[2, 1, 0, 0], [0, 1, 1, 0], [1, 0, 3, 0], [0, 0, 0, 1]]


def test_confusion_counts_and_normalised() -> None:
    cm = M.confusion_matrix(PREDS, LABELS, 4)
    assert cm.tolist() == CM
    norm = M.normalize_confusion(cm)
    np.testing.assert_allclose(norm[0], [2 / 3, 1 / 3, 0, 0])
    np.testing.assert_allclose(norm[2], [1 / 4, 0, 3 / 4, 0])
    np.testing.assert_allclose(norm.sum(1), 1.0)


def test_normalised_row_of_absent_class_is_zero() -> None:
    cm = M.confusion_matrix([0, 0], [0, 0], 3)
    norm = M.normalize_confusion(cm)
    assert norm[1].tolist() == [0, 0, 0]
    assert np.isnan(M.per_class_accuracy(cm)[1])
    assert M.mean_class_accuracy(cm) == 1.0


def test_per_class_and_mean_class_accuracy() -> None:
    np.testing.assert_allclose(M.per_class_accuracy(CM), [2 / 3, 1 / 2, 3 / 4, 1.0])
    assert M.mean_class_accuracy(CM) == pytest.approx(35 / 48)


def test_topk_with_ties_and_cap() -> None:
    scores = [
        [0.1, 0.2, 0.3, 0.4],  # label 0 ranked 4th
        [0.4, 0.3, 0.2, 0.1],  # label 1 ranked 2nd
        [0.25, 0.25, 0.25, 0.25],  # label 2: ties broken by index -> 3rd
    ]
    labels = [0, 1, 2]
    assert M.topk_accuracy(scores, labels, ks=(1, 2, 3, 4)) == pytest.approx(
        {1: 0.0, 2: 1 / 3, 3: 2 / 3, 4: 1.0}
    )
    # (1, 5, 10) capped at 4 classes collapses to (1, 4)
    assert M.topk_accuracy(scores, labels) == pytest.approx({1: 0.0, 4: 1.0})
    assert M.effective_ks(12) == [1, 5, 10]
    assert M.effective_ks(101) == [1, 5, 10]
    assert M.effective_ks(5) == [1, 5]


def test_topk_agrees_with_argmax_on_ties() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 3, size=(200, 6)).astype(float)  # many ties
    labels = rng.integers(0, 6, size=200)
    hits = M.topk_correct(scores, labels, 1)
    assert (hits == (scores.argmax(1) == labels)).all()


def test_classification_metrics_bundle() -> None:
    scores = np.eye(4)[PREDS] * 2.0 + 0.1  # argmax = PREDS
    out = M.classification_metrics(scores, LABELS, 4)
    assert out["num_samples"] == 10
    assert out["top1"] == pytest.approx(0.7)
    assert out["top4"] == 1.0 and "top5" not in out
    assert out["confusion"] == CM
    assert out["mean_class_accuracy"] == pytest.approx(35 / 48)
    assert out["per_class_accuracy"] == pytest.approx([2 / 3, 1 / 2, 3 / 4, 1.0])


def test_per_class_improvement_sorted_by_gain() -> None:
    after = [[3, 0, 0, 0], [0, 1, 1, 0], [2, 0, 2, 0], [0, 0, 0, 1]]
    rows = M.per_class_improvement(CM, after, ["a", "b", "c", "d"])
    assert [r["class"] for r in rows] == ["a", "b", "d", "c"]
    assert rows[0]["gain"] == pytest.approx(1 / 3)
    assert rows[0]["before"] == pytest.approx(2 / 3) and rows[0]["after"] == 1.0
    assert rows[-1]["gain"] == pytest.approx(-1 / 4)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError):
        M.confusion_matrix([0, 5], [0, 1], 3)
    with pytest.raises(ValueError):
        M.topk_accuracy([0.1, 0.2], [0])
    with pytest.raises(ValueError):
        M.per_class_improvement(CM, np.eye(3), None)
