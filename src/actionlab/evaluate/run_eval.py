"""``evaluate``: a checkpoint over a prepared cache split -> ``eval.json``.

``eval.json`` (written next to the checkpoint unless told otherwise)::

    {"checkpoint": "...", "split": "test", "num_clips": 1, "crops": ["center"],
     "classes": [...], "metrics": {num_samples, top1, top5, top10, mean_class_accuracy,
                                   per_class_accuracy, confusion},
     "predictions": [{"video": key, "label": 3, "pred": 3, "scores": [C floats]}]}
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from actionlab.checkpoint import Loaded, check_classes, load, read_meta, resolve
from actionlab.errors import CheckpointError, DatasetError, InputError
from actionlab.spec import InputSpec
from actionlab.metrics import classification_metrics
from actionlab.evaluate.multiview import (
    check_crops_fit,
    crop_positions,
    score_videos,
    video_views,
)
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


def _datasets(loaded: Loaded, cache_dir: str | Path | None, split: str, num_clips: int,
              crops: tuple[str, ...]) -> tuple[list[Any], bool]:
    """One dataset per crop position, sampled with the checkpoint's own input spec."""
    from actionlab.data import build_dataset
    from actionlab.data.cache import Cache

    from actionlab.config import from_dict

    spec, meta = loaded.spec, loaded.meta
    data = from_dict(meta["config"], "checkpoint config").data if meta.get("config") else None
    cache = cache_dir or (data.cache_dir if data else None)
    if not cache or not (Path(cache) / "manifest.json").is_file():
        raise DatasetError(
            f"{cache or '(no cache)'}: no prepared cache here; pass --cache /path/to/cache "
            "(made by `actionlab prepare`)"
        )
    opened = Cache(cache)
    if spec is None:  # saved without an input spec: the config's data section read on the cache
        if data is None:
            raise CheckpointError(f"{loaded.path}: neither an input spec nor a training config; "
                                  "its inputs are unknown")
        spec = InputSpec.from_config(data, opened.manifest.meta.get("prepare"))
    if num_clips > 1 and spec.kind == "tsn":
        raise InputError(f"--clips {num_clips}: a TSN model's segments already cover the whole "
                         "video; use --clips 1")
    check_classes(loaded.classes, opened.classes, str(cache))
    check_crops_fit(crops, dict(spec.transform).get("crop"))
    # one view: the spec's own evaluation crop, as predict takes it (``center`` for the
    # training-only crops, the whole frame for resize/fit); several: each position
    own_view = tuple(crops) == ("center",)
    datasets = []
    for pos in crops:
        view = replace(spec, num_clips=num_clips, transform=spec.transform if own_view else
                       (*((k, v) for k, v in spec.transform if k != "crop"), ("crop", pos)))
        datasets.append(build_dataset(opened, view, split, train=False))
    if len(datasets[0]) == 0:
        raise DatasetError(f"{cache}: the {split!r} split is empty")
    return datasets, num_clips > 1


def evaluate_checkpoint(
    checkpoint: str | Path,
    cache_dir: str | Path | None = None,
    split: str = "test",
    num_clips: int = 1,
    crops: int | tuple[str, ...] = 1,
    batch_size: int | None = 32,
    out: str | Path | None = None,
    progress: bool = False,
    device: str = "auto",
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
        device: Where the model runs (``auto``, ``cpu``, ``cuda``, ``cuda:1``); LRCN sequence
            checkpoints (a small LSTM on cached features) always run on the CPU.

    Returns:
        ``(eval document, path written)``.
    """
    from actionlab.models.surgery import channels_last
    from actionlab.runtime import resolve_device

    torch_device = resolve_device(device)  # a GPU that is not there fails first, in one line
    if (read_meta(checkpoint).get("input") or {}).get("kind") == "sequence":
        doc = evaluate_sequence_checkpoint(checkpoint, cache_dir, split)
        path = Path(out) if out else resolve(checkpoint).parent / eval_filename(split)
        write_json_atomic(path, doc)
        return doc, path
    loaded = load(checkpoint, device=str(torch_device))
    meta = loaded.meta
    if torch_device.type == "cpu" and (meta.get("precision") or {}).get("channels_last"):
        # the memory format the run trained in, where the machine profile found it faster:
        # a 3D network scores 2x faster, the same float32 numbers to 1e-5
        channels_last(loaded.model)
    positions = crop_positions(crops)
    datasets, stacked = _datasets(loaded, cache_dir, split, num_clips, positions)
    classes = list(loaded.classes)
    scores, labels = score_videos(loaded.model, video_views(datasets, stacked), batch_size,
                                  progress=progress, total=len(datasets[0]))
    videos = [getattr(r, "key", str(i)) for i, r in enumerate(getattr(datasets[0], "records", []))]
    doc = eval_document(scores, labels, classes, videos or None, checkpoint=str(checkpoint),
                        split=split, num_clips=num_clips, crops=list(positions),
                        epoch=meta.get("epoch"))
    path = Path(out) if out else loaded.path.parent / eval_filename(split)
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
    from actionlab.train.lrcn import SequenceDataset, predict_sequence

    loaded = load(checkpoint)
    model, meta = loaded.model, loaded.meta
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
