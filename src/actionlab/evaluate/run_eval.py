"""``evaluate``: a checkpoint over a prepared cache split -> ``eval.json``.

``eval.json`` (written next to the checkpoint unless told otherwise)::

    {"checkpoint": "...", "split": "test", "num_clips": 1, "crops": ["center"],
     "classes": [...], "metrics": {num_samples, top1, top5, top10, mean_class_accuracy,
                                   per_class_accuracy, confusion},
     "predictions": [{"video": key, "label": 3, "pred": 3, "scores": [C floats]}]}
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from actionlab.errors import CheckpointError, DatasetError, InputError
from actionlab.evaluate.metrics import classification_metrics
from actionlab.evaluate.multiview import crop_positions, score_videos, video_views
from actionlab.io import write_json_atomic

log = logging.getLogger(__name__)


def eval_filename(split: str) -> str:
    """``eval.json`` for the test split, ``eval_<split>.json`` otherwise."""
    return "eval.json" if split == "test" else f"eval_{split}.json"


def eval_document(
    scores: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    videos: list[str] | None = None,
    **info: Any,
) -> dict[str, Any]:
    """The ``eval.json`` document for scores already computed (any source).

    Args:
        scores: (N, C) averaged class probabilities.
        labels: (N,) true class indices.
        classes: C class names.
        videos: N video ids (defaults to their indices).
        **info: Extra top-level keys (checkpoint, split, num_clips, crops, ...).
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(len(labels), len(classes))
    metrics = classification_metrics(scores, labels, len(classes))
    ids = videos if videos is not None else [str(i) for i in range(len(labels))]
    preds = scores.argmax(1) if len(scores) else np.zeros(0, np.int64)
    predictions = [
        {"video": ids[i], "label": int(labels[i]), "pred": int(preds[i]),
         "scores": [round(float(s), 6) for s in scores[i]]}
        for i in range(len(labels))
    ]
    return {**info, "classes": list(classes), "metrics": metrics, "predictions": predictions}


def _datasets(meta: dict[str, Any], cache_dir: str | Path | None, split: str, num_clips: int,
              crops: tuple[str, ...]) -> tuple[list[Any], bool]:
    """One dataset per crop position, built as the trainer built its validation data."""
    from actionlab.config import from_dict
    from actionlab.data import build_dataset
    from actionlab.data.cache import Cache
    from actionlab.train.run import dataset_params

    if not meta.get("config"):
        raise CheckpointError(
            "the checkpoint carries no training config, so its dataset options are unknown; "
            "score it with actionlab.evaluate.multiview.score_videos over your own views"
        )
    data = from_dict(meta["config"], "checkpoint config").data
    cache = cache_dir or data.cache_dir
    if not cache or not (Path(cache) / "manifest.json").is_file():
        raise DatasetError(
            f"{cache or '(no cache)'}: no prepared cache here; pass --cache /path/to/cache "
            "(made by `actionlab prepare`)"
        )
    params = dataset_params(data)
    stacked = data.kind == "clip" and num_clips > 1
    if num_clips > 1 and data.kind != "clip":
        raise InputError(
            f"--clips {num_clips} needs a clip model; this one reads {data.kind!r} samples"
        )
    if stacked:
        params["num_clips"] = num_clips
    opened = Cache(cache)
    datasets = []
    for pos in crops:
        kw = {**params, "transform_kw": {**params.get("transform_kw", {}), "crop": pos}}
        datasets.append(build_dataset(opened, data.kind, split, train=False, **kw))
    if len(datasets[0]) == 0:
        raise DatasetError(f"{cache}: the {split!r} split is empty")
    return datasets, stacked


def evaluate_checkpoint(
    checkpoint: str | Path,
    cache_dir: str | Path | None = None,
    split: str = "test",
    num_clips: int = 1,
    crops: int | tuple[str, ...] = 1,
    batch_size: int | None = 32,
    out: str | Path | None = None,
    progress: bool = False,
    device: str = "cpu",
) -> tuple[dict[str, Any], Path]:
    """Evaluate a checkpoint on a split of a prepared cache with multi-clip x multi-crop views.

    Args:
        checkpoint: A ``.safetensors`` checkpoint (its config names the dataset options).
        cache_dir: The prepared cache; default: the one in the checkpoint's config.
        split: ``test``, ``val``, ``train`` or ``all``.
        num_clips: Clips per video (clip models only).
        crops: 1, 3 or 5 crops, or crop position names.
        batch_size: Views per model call.
        out: Where to write; default ``<checkpoint folder>/eval.json`` (``eval_<split>.json``
            for other splits).
        progress: Show a progress bar.
        device: Where the model runs (``cpu``, ``cuda``, ``cuda:1``).

    Returns:
        ``(eval document, path written)``.
    """
    from actionlab.train.checkpoint import load_model, read_meta

    if (read_meta(checkpoint).get("input") or {}).get("kind") == "sequence":
        doc = evaluate_sequence_checkpoint(checkpoint, cache_dir, split)
        path = Path(out) if out else Path(checkpoint).parent / eval_filename(split)
        write_json_atomic(path, doc)
        return doc, path
    model, meta = load_model(checkpoint, map_location=device)
    positions = crop_positions(crops)
    datasets, stacked = _datasets(meta, cache_dir, split, num_clips, positions)
    classes = list(meta.get("classes") or datasets[0].classes)
    scores, labels = score_videos(model, video_views(datasets, stacked), batch_size,
                                  progress=progress, total=len(datasets[0]))
    videos = [getattr(r, "key", str(i)) for i, r in enumerate(getattr(datasets[0], "records", []))]
    doc = eval_document(scores, labels, classes, videos or None, checkpoint=str(checkpoint),
                        split=split, num_clips=num_clips, crops=list(positions),
                        epoch=meta.get("epoch"))
    path = Path(out) if out else Path(checkpoint).parent / eval_filename(split)
    write_json_atomic(path, doc)
    return doc, path


def evaluate_sequence_checkpoint(
    checkpoint: str | Path, features: str | Path | None = None, split: str = "test"
) -> dict[str, Any]:
    """The ``eval.json`` document of an LRCN (feature-sequence) checkpoint.

    The video's score is the step-weighted softmax of the LSTM over its whole sequence, or
    averaged over the evenly spread windows the checkpoint was validated with (``windows``).

    Args:
        checkpoint: A sequence checkpoint (``input.kind == "sequence"``).
        features: The features HDF5 (``actionlab extract-features``); default the one the
            checkpoint was trained on.
        split: The split of the features file.
    """
    from actionlab.train.lrcn import SequenceDataset, load_sequence_model, predict_sequence

    model, meta = load_sequence_model(checkpoint)
    spec = meta.get("input") or {}
    path = features or spec.get("features")
    if not path:
        raise InputError(f"{checkpoint}: pass the features file (--cache features.h5)")
    length, windows = int(spec.get("frames") or 0), int(spec.get("windows") or 0)
    ds = SequenceDataset(path, split, max(1, length))
    how = spec.get("loss_weight") or "linear"
    scores = np.stack([predict_sequence(model, ds[i][0], length, windows, how).numpy()
                       for i in range(len(ds))])
    classes = list(meta.get("classes") or ds.classes)
    return eval_document(scores, np.asarray(ds.labels), classes, list(ds.keys),
                         checkpoint=str(checkpoint), split=split, num_clips=max(1, windows),
                         crops=["center"], epoch=meta.get("epoch"))
