"""The LRCN path: per-frame CNN features cached in HDF5, then an RNN trained on sequences.

Following the study (UCF101, CNN + LSTM): a fine-tuned 2D model's pre-logits features of every
frame of every video are written once (:func:`extract_features`), normalised with the mean and
standard deviation of the train split, and an LSTM learns from sequences of ``length`` frames:
a random window of a longer video, a short video padded by playing it backwards and forwards
("repeat the sequence in reverse to keep the motion smooth"). The loss of each step is weighted
toward the end of the sequence, where the LSTM has seen the most; inference runs on the whole
sequence or averages several windows.

HDF5 layout (``out.h5``)::

    attrs: classes (JSON), feature_dim, checkpoint, normalised ("train mean/std")
    mean, std                  (F,) float32: statistics of the train split's frames
    videos/<split>/<key>       (T, F) float32 raw features, attrs["label"]
    labels/<split>             (N,) int64, in the order of keys/<split>
    keys/<split>               (N,) strings
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from actionlab.data.sampling import spread_starts
from actionlab.errors import DatasetError, InputError
from actionlab.io import atomic_path

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------- extraction


@torch.no_grad()
def frame_features(model: nn.Module, frames: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Pre-logits features (T, F) of frames (T, C, H, W), ``batch_size`` frames at a time."""
    model.eval()
    out = []
    for chunk in frames.split(batch_size):
        f = model.forward_head(model.forward_features(chunk), pre_logits=True)
        out.append(f.reshape(len(chunk), -1).float())  # (b, F)
    return torch.cat(out)


def extract_features(
    model: nn.Module,
    videos: Iterable[tuple[str, str, torch.Tensor, int]],
    out: str | Path,
    classes: Sequence[str],
    batch_size: int = 64,
    source: str = "",
) -> Path:
    """Write per-frame features of every video, plus the train split's mean and std.

    Args:
        model: A 2D model with ``forward_features`` / ``forward_head(pre_logits=True)``.
        videos: ``(split, key, frames (T, C, H, W) already normalised, label)`` per video.
        out: The HDF5 file (written atomically).
        classes: Class names, stored with the features.
        batch_size: Frames per forward pass.
        source: The checkpoint the features came from (recorded).

    Returns:
        The path written.
    """
    out = Path(out)
    index: dict[str, tuple[list[str], list[int]]] = {}
    total, sq, count = None, None, 0
    with atomic_path(out, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
        for split, key, frames, label in videos:
            feats = frame_features(model, frames, batch_size).numpy()  # (T, F)
            ds = f.create_dataset(f"videos/{split}/{key}", data=feats.astype(np.float32))
            ds.attrs["label"] = int(label)
            keys, labels = index.setdefault(split, ([], []))
            keys.append(key)
            labels.append(int(label))
            if split == "train":
                s = feats.astype(np.float64)
                total = s.sum(0) if total is None else total + s.sum(0)
                sq = (s**2).sum(0) if sq is None else sq + (s**2).sum(0)
                count += len(s)
        if count == 0:
            raise DatasetError(f"{out}: no train videos to compute the feature mean/std from")
        mean = total / count
        std = np.sqrt(np.maximum(sq / count - mean**2, 0.0)) + 1e-6
        f.create_dataset("mean", data=mean.astype(np.float32))
        f.create_dataset("std", data=std.astype(np.float32))
        for split, (keys, labels) in index.items():
            f.create_dataset(f"labels/{split}", data=np.asarray(labels, dtype=np.int64))
            f.create_dataset(f"keys/{split}", data=np.asarray(keys, dtype=h5py.string_dtype()))
        f.attrs["classes"] = json.dumps(list(classes))
        f.attrs["feature_dim"] = int(mean.shape[0])
        f.attrs["checkpoint"] = source
        f.attrs["normalised"] = "read-time, with the train mean/std"
    log.info("features of %s videos written to %s", {s: len(v[0]) for s, v in index.items()}, out)
    return out


def extract_features_from_cache(
    checkpoint: str | Path,
    cache_dir: str | Path,
    out: str | Path,
    splits: Sequence[str] = ("train", "val", "test"),
    batch_size: int = 64,
) -> Path:
    """``actionlab extract-features``: every frame of every video of a prepared cache."""
    from actionlab.checkpoint import load
    from actionlab.data.cache import Cache
    from actionlab.data.inputs import build_transforms, rgb_tensor

    loaded = load(checkpoint)
    if loaded.spec is None or loaded.spec.modality != "rgb":
        raise InputError(f"{loaded.path}: per-frame features need an RGB frame model")
    model, path = loaded.model, loaded.path
    cache = Cache(cache_dir)
    transform = build_transforms(loaded.spec, False)["rgb"]
    have = cache.manifest.counts()

    def videos() -> Iterable[tuple[str, str, torch.Tensor, int]]:
        for split in splits:
            if not have.get(split):
                log.info("no %s split in %s: skipped", split, cache_dir)
                continue
            for rec in cache.records(split):
                n = int(rec.frames or 1)
                frames = transform(rgb_tensor(cache.rgb(rec, np.arange(n))), None)  # (T, 3, H, W)
                yield split, rec.key, frames, rec.label

    return extract_features(model, videos(), out, cache.classes, batch_size, str(path))


# ---------------------------------------------------------------------- sequences


def pingpong_indices(n: int, length: int) -> np.ndarray:
    """``length`` frame indices that play ``n`` frames forward, backward, forward... (smooth).

    >>> pingpong_indices(3, 7).tolist()
    [0, 1, 2, 1, 0, 1, 2]
    """
    if n <= 0:
        raise DatasetError("a video with no frames")
    if n == 1:
        return np.zeros(length, dtype=np.int64)
    period = 2 * (n - 1)
    t = np.arange(length) % period
    return np.where(t < n, t, period - t).astype(np.int64)


class SequenceDataset(Dataset):
    """Normalised feature sequences from the HDF5 file of :func:`extract_features`.

    Args:
        path: The features file.
        split: ``train``, ``val`` or ``test``.
        length: Frames per sequence.
        train: Random windows (long videos) in training; deterministic otherwise.
        windows: At evaluation: 0 -> the full sequence (T, F); N -> N windows (N, length, F).
    """

    def __init__(self, path: str | Path, split: str, length: int, train: bool = False,
                 windows: int = 0) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DatasetError(f"{path}: no features file; run `actionlab extract-features` first")
        with h5py.File(self.path, "r") as f:
            if f"labels/{split}" not in f:
                raise DatasetError(f"{path}: no {split!r} split (it has {sorted(f['labels'])})")
            self.labels = f[f"labels/{split}"][()].tolist()
            self.keys = [k.decode() if isinstance(k, bytes) else k for k in f[f"keys/{split}"][()]]
            self.mean = torch.from_numpy(f["mean"][()])
            self.std = torch.from_numpy(f["std"][()])
            self.classes = json.loads(f.attrs["classes"])
            self.feature_dim = int(f.attrs["feature_dim"])
        if not self.labels:
            raise DatasetError(f"{path}: the {split!r} split is empty")
        self.split, self.length, self.train, self.windows = split, length, train, windows
        self._file: h5py.File | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def _feats(self, i: int) -> torch.Tensor:
        if self._file is None:  # opened lazily: one handle per DataLoader worker
            self._file = h5py.File(self.path, "r")
        x = torch.from_numpy(self._file[f"videos/{self.split}/{self.keys[i]}"][()])
        return (x - self.mean) / self.std  # (T, F)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self._feats(i)
        n, L = len(x), self.length
        if self.train:
            start = int(torch.randint(n - L + 1, ())) if n > L else 0
            return x[start + torch.from_numpy(pingpong_indices(min(n, L), L))], self.labels[i]
        if self.windows <= 0:
            return x, self.labels[i]  # (T, F): the full sequence
        idx = pingpong_indices(min(n, L), L)
        wins = [x[s + torch.from_numpy(idx)] for s in spread_starts(n, L, self.windows)]
        return torch.stack(wins), self.labels[i]  # (N, L, F)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None}


def step_weights(length: int, how: str) -> torch.Tensor:
    """Weights (T,) of the per-step losses, summing to 1: uniform, linear ramp, or last only."""
    if how == "uniform":
        w = torch.ones(length)
    elif how == "linear":
        w = torch.arange(1, length + 1, dtype=torch.float32)
    elif how == "last":
        w = torch.zeros(length)
        w[-1] = 1.0
    else:
        raise InputError(f"sequence.loss_weight={how!r} is not one of uniform, linear, last")
    return w / w.sum()


class SequenceLoss(nn.Module):
    """Cross-entropy of every step's logits (B, T, K), weighted toward the end."""

    def __init__(self, how: str = "linear") -> None:
        super().__init__()
        self.how = how

    def forward(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if logits.dim() == 4:  # (B, N, T, K) windows: every window carries the label
            B, N = logits.shape[:2]
            logits, y = logits.flatten(0, 1), y.repeat_interleave(N)
        B, T, K = logits.shape
        per_step = nn.functional.cross_entropy(
            logits.reshape(B * T, K), y.repeat_interleave(T), reduction="none"
        ).view(B, T)
        return (per_step * step_weights(T, self.how).to(logits.device)).sum(1).mean()


def sequence_scores(logits: torch.Tensor, how: str = "linear") -> torch.Tensor:
    """Class probabilities (B, K) from step logits (B, T, K) or windows (B, N, T, K)."""
    probs = logits.softmax(-1)
    w = step_weights(logits.shape[-2], how).to(logits.device)
    probs = (probs * w.view(-1, 1)).sum(-2)  # (B, K) or (B, N, K)
    return probs.mean(1) if probs.dim() == 3 else probs


@torch.no_grad()
def predict_sequence(model: nn.Module, feats: torch.Tensor, length: int = 0, windows: int = 0,
                     how: str = "linear") -> torch.Tensor:
    """Class probabilities (K,) of one video's normalised features (T, F).

    Args:
        model: A sequence model giving per-step logits.
        feats: (T, F) features, normalised with the train mean/std.
        length: Window length (with ``windows``).
        windows: 0: the full sequence; N: N evenly spread windows, their scores averaged.
        how: Step weighting of the scores (uniform | linear | last).
    """
    model.eval()
    if windows <= 0:
        return sequence_scores(model(feats.unsqueeze(0)), how)[0]
    n = len(feats)
    idx = torch.from_numpy(pingpong_indices(min(n, length), length))
    wins = torch.stack([feats[s + idx] for s in spread_starts(n, length, windows)])  # (N, L, F)
    return sequence_scores(model(wins.unsqueeze(0)), how)[0]


def train_lrcn(cfg: Any, resume: str | Path | None = None) -> Path:
    """Train the sequence model on ``sequence.features``; return the run directory."""
    from actionlab.config import save_config
    from actionlab.models import build_model
    from actionlab.train import distributed as D
    from actionlab.train.run import make_loader, make_run_dir
    from actionlab.train.trainer import Trainer
    from actionlab.train.transfer import initialize

    seq = cfg.sequence
    if not seq.features:
        raise InputError("sequence.features is not set: pass sequence.features=/path/to/features.h5")
    train_ds = SequenceDataset(seq.features, "train", seq.length, train=True)
    val_split = "val" if _has_split(seq.features, "val") else "test"
    val_ds = SequenceDataset(seq.features, val_split, seq.length, False, seq.eval_windows)
    kwargs = {"in_features": train_ds.feature_dim, "num_classes": len(train_ds.classes),
              **cfg.model.kwargs}
    model = build_model("lstm_features", **kwargs)  # the one sequence model
    initialize(model, cfg.model.init, train_ds.classes)
    run_dir = D.broadcast_object(Path(resume) if resume is not None else make_run_dir(cfg))
    if D.current().is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
    bs, seed = cfg.data.batch_size, cfg.train.seed
    val_bs = bs if seq.eval_windows > 0 else D.current().world_size  # full sequences differ in T
    meta = {
        "model": {"name": "lstm_features", "kwargs": kwargs},
        "classes": train_ds.classes,
        "input": {"kind": "sequence", "modality": "features", "frames": seq.length,
                  "features": str(seq.features), "windows": seq.eval_windows,
                  "loss_weight": seq.loss_weight},
    }
    workers = cfg.data.workers or 0  # features in memory: the main process reads them
    trainer = Trainer(model, make_loader(train_ds, bs, True, seed, workers),
                      make_loader(val_ds, val_bs, False, seed, workers), cfg, run_dir,
                      meta=meta, loss_fn=SequenceLoss(seq.loss_weight),
                      logits_fn=lambda out: sequence_scores(out, seq.loss_weight))
    trainer.fit(resume=resume is not None)
    return run_dir


def _has_split(path: str | Path, split: str) -> bool:
    with h5py.File(path, "r") as f:
        return f"labels/{split}" in f and len(f[f"labels/{split}"]) > 0
