"""PyTorch datasets over a prepared cache, one per input kind, and :func:`build_dataset`.

What each yields (per sample; the DataLoader adds B in front):

============  ==========  =====================================================================
kind          modality    x
============  ==========  =====================================================================
frame         rgb         (3, H, W): the middle frame, or a random one (``sample="random"``)
tsn           rgb         (S, 3, H, W): one frame per segment
tsn           flow        (S, 2L, H, W): L flow frames per segment, channels x1,y1,x2,y2,...
tsn           rgbdiff     (S, 3(L-1), H, W): differences of L consecutive frames per segment
clip          rgb         (3, T, H, W); at eval with ``num_clips=K > 1``: (K, 3, T, H, W)
clip          flow        (2, T, H, W); likewise (K, 2, T, H, W)
two_stream    rgb+flow    (rgb, flow): rgb (3, H, W) middle frame (or (3, T, H, W) with
                          ``rgb="clip"``), flow (2, T, H, W) (or (2T, H, W) with
                          ``flow_layout="stack"``), centred on the same frame
============  ==========  =====================================================================

Labels are ints. Training samples are random (indices and augmentation) from torch's RNG,
which DataLoader seeds per worker; evaluation samples are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from actionlab.data import sampling
from actionlab.data.cache import Cache
from actionlab.data.manifest import Record
from actionlab.data.transforms import default_transform
from actionlab.errors import InputError

Transform = Callable[..., torch.Tensor]


def _planar(a: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, C) -> contiguous uint8 (T, C, H, W).

    The copy is made while the values are one byte each; a merely permuted (channels-last
    strided) float tensor made the antialiased resize 1.8x and the normalisation 9x slower.
    """
    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))


def rgb_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (T, 3, H, W) in [0, 1]."""
    return _planar(frames).float().div_(255.0)


def flow_tensor(q: np.ndarray) -> torch.Tensor:
    """Quantised uint8 (T, H, W, 2) -> float (T, 2, H, W) in [-1, 1] (pixels / bound)."""
    return _planar(q).float().div_(127.5).sub_(1.0)


class CacheDataset(Dataset):
    """Base: the records of one split of a cache, their labels, and the random source.

    Args:
        cache: A :class:`Cache` or its folder.
        split: ``train``, ``val``, ``test`` (or ``all``).
        train: Random sampling and training augmentation when true.
        size: Output (H, W) or int; default: the cache's shorter side, square.
        transform: Replaces the preset transform (called as ``transform(x, gen)``).
        transform_kw: Options for the preset (e.g. ``crop="corner"``, ``rotation=10``).
    """

    modality = "rgb"

    def __init__(
        self,
        cache: Cache | str | Path,
        split: str = "train",
        train: bool = False,
        size: int | tuple[int, int] | None = None,
        transform: Transform | None = None,
        transform_kw: dict[str, Any] | None = None,
    ) -> None:
        self.cache = cache if isinstance(cache, Cache) else Cache(cache)
        self.records: list[Record] = self.cache.records(None if split == "all" else split)
        self.split, self.train = split, train
        self.size = size or self._default_size()
        self.transform_kw = transform_kw or {}
        self.transform = transform or self._preset(self.modality)

    def _preset(self, modality: str) -> Transform:
        return default_transform(modality, self.train, self.size, **self.transform_kw)

    def _default_size(self) -> tuple[int, int]:
        size = self.cache.manifest.meta.get("prepare", {}).get("size")
        if size:
            s = min(size)
            return (s, s)
        short = self.cache.manifest.meta.get("prepare", {}).get("short_side") or 112
        return (short, short)

    @property
    def classes(self) -> list[str]:
        return self.cache.classes

    @property
    def num_classes(self) -> int:
        return len(self.cache.classes)

    @property
    def labels(self) -> list[int]:
        return [r.label for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def _rng(self) -> tuple[np.random.Generator | None, torch.Generator | None]:
        """Index rng and augmentation generator for one sample (None at eval)."""
        if not self.train:
            return None, None
        seed = int(torch.randint(2**62, ()))
        return np.random.default_rng(seed), torch.Generator().manual_seed(seed)

    def spec(self) -> dict[str, Any]:
        """What the samples are, for checkpoints: kind, modality, size and sampling."""
        return {"kind": self.kind, "modality": self.modality, "size": list(self.size),
                **self._spec()}

    kind = "base"

    def _spec(self) -> dict[str, Any]:
        return {}


class FrameDataset(CacheDataset):
    """One RGB frame per video: ``(3, H, W)``.

    Args:
        sample: ``middle`` (the study's choice) or ``random`` (random in training, middle at eval).
    """

    kind = "frame"

    def __init__(self, cache: Cache | str | Path, split: str = "train", train: bool = False,
                 sample: str = "middle", **kw: Any) -> None:
        if sample not in ("middle", "random"):
            raise InputError(f"frame sample must be 'middle' or 'random', got {sample!r}")
        self.sample = sample
        super().__init__(cache, split, train, **kw)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        rec = self.records[i]
        rng, gen = self._rng()
        n = int(rec.frames or 1)
        idx = sampling.random_frame(n, rng) if (self.sample == "random" and rng) else sampling.middle_frame(n)
        x = self.transform(rgb_tensor(self.cache.rgb(rec, idx)), gen)  # (1, 3, H, W)
        return x[0], rec.label

    def _spec(self) -> dict[str, Any]:
        return {"sample": self.sample}


class TSNDataset(CacheDataset):
    """Temporal Segment Network input: one snippet per segment, ``(S, C', H, W)``.

    Args:
        modality: ``rgb`` (C' = 3), ``flow`` (C' = 2L) or ``rgbdiff`` (C' = 3(L-1)).
        num_segments: S.
        length: L frames per snippet (default 1 for rgb, 5 for flow and rgbdiff).
    """

    kind = "tsn"

    def __init__(self, cache: Cache | str | Path, split: str = "train", train: bool = False,
                 modality: str = "rgb", num_segments: int = 3, length: int | None = None,
                 **kw: Any) -> None:
        if modality not in ("rgb", "flow", "rgbdiff"):
            raise InputError(f"TSN modality must be rgb, flow or rgbdiff, got {modality!r}")
        self.modality = modality
        self.num_segments = num_segments
        self.length = length or (1 if modality == "rgb" else 5)
        if modality == "rgbdiff" and self.length < 2:
            raise InputError("rgbdiff needs length >= 2 (differences of consecutive frames)")
        super().__init__(cache, split, train, **kw)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        rec = self.records[i]
        rng, gen = self._rng()
        S, L = self.num_segments, self.length
        if self.modality == "flow":
            n = self.cache.num_flow(rec)
            idx = sampling.tsn_segments(n, S, L, self.train, rng)
            x = self.transform(flow_tensor(self.cache.flow(rec, idx)), gen)  # (S*L, 2, H, W)
            return x.reshape(S, L * 2, *x.shape[-2:]), rec.label  # (S, 2L, H, W), x1,y1,x2,...
        idx = sampling.tsn_segments(int(rec.frames or 1), S, L, self.train, rng)
        x = self.transform(rgb_tensor(self.cache.rgb(rec, idx)), gen)  # (S*L, 3, H, W)
        if self.modality == "rgb":
            return x.reshape(S, L * 3, *x.shape[-2:]), rec.label  # (S, 3L, H, W)
        x = x.reshape(S, L, 3, *x.shape[-2:])
        diff = x[:, 1:] - x[:, :-1]  # (S, L-1, 3, H, W)
        return diff.reshape(S, (L - 1) * 3, *x.shape[-2:]), rec.label

    def _spec(self) -> dict[str, Any]:
        return {"num_segments": self.num_segments, "length": self.length}


class ClipDataset(CacheDataset):
    """A clip of T frames (or T flow frames): ``(C, T, H, W)``.

    Training takes a random clip; evaluation the centred clip, or with ``num_clips=K > 1``
    K clips spread over the video, ``(K, C, T, H, W)``, for test-time averaging.

    Args:
        modality: ``rgb`` (C = 3) or ``flow`` (C = 2).
        length: T.
        stride: Step between frames (falls back to 1, then loops, for short videos).
        num_clips: Clips per video at evaluation.
    """

    kind = "clip"

    def __init__(self, cache: Cache | str | Path, split: str = "train", train: bool = False,
                 modality: str = "rgb", length: int = 16, stride: int = 1, num_clips: int = 1,
                 **kw: Any) -> None:
        if modality not in ("rgb", "flow"):
            raise InputError(f"clip modality must be rgb or flow, got {modality!r}")
        self.modality, self.length, self.stride, self.num_clips = modality, length, stride, num_clips
        super().__init__(cache, split, train, **kw)

    def _frames(self, rec: Record) -> int:
        return self.cache.num_flow(rec) if self.modality == "flow" else int(rec.frames or 1)

    def _load(self, rec: Record, idx: np.ndarray, gen: torch.Generator | None) -> torch.Tensor:
        raw = self.cache.flow(rec, idx) if self.modality == "flow" else self.cache.rgb(rec, idx)
        x = flow_tensor(raw) if self.modality == "flow" else rgb_tensor(raw)
        return self.transform(x, gen).permute(1, 0, 2, 3)  # (T, C, H, W) -> (C, T, H, W)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        rec = self.records[i]
        rng, gen = self._rng()
        n = self._frames(rec)
        if self.train:
            return self._load(rec, sampling.random_clip(n, self.length, self.stride, rng), gen), rec.label
        if self.num_clips == 1:
            return self._load(rec, sampling.centered_clip(n, self.length, self.stride), None), rec.label
        clips = sampling.multi_clip(n, self.num_clips, self.length, self.stride)  # (K, T)
        return torch.stack([self._load(rec, c, None) for c in clips]), rec.label  # (K, C, T, H, W)

    def _spec(self) -> dict[str, Any]:
        return {"length": self.length, "stride": self.stride, "num_clips": self.num_clips}


class TwoStreamDataset(CacheDataset):
    """Paired appearance and motion for fusion models: ``((rgb, flow), label)``.

    Both are centred on the same frame: the middle one at evaluation, a random one in
    training (``jitter=True``). The two streams get the same crop and flip.

    Args:
        rgb: ``frame`` -> (3, H, W), or ``clip`` -> (3, T, H, W) with T = ``flow_length``.
        flow_length: T flow frames (the study: 16).
        flow_stride: Step between flow frames (the study: 2; falls back for short videos).
        flow_layout: ``clip`` -> (2, T, H, W) for 3D models, ``stack`` -> (2T, H, W) for 2D.
        jitter: Random centre frame in training.
        flow_transform: Replaces the flow preset (``transform`` replaces the RGB one).
    """

    kind = "two_stream"
    modality = "rgb+flow"

    def __init__(self, cache: Cache | str | Path, split: str = "train", train: bool = False,
                 rgb: str = "frame", flow_length: int = 16, flow_stride: int = 2,
                 flow_layout: str = "clip", jitter: bool = True,
                 flow_transform: Transform | None = None, **kw: Any) -> None:
        if rgb not in ("frame", "clip") or flow_layout not in ("clip", "stack"):
            raise InputError("two_stream: rgb must be frame|clip and flow_layout clip|stack")
        self.rgb_mode, self.flow_length, self.flow_stride = rgb, flow_length, flow_stride
        self.flow_layout, self.jitter = flow_layout, jitter
        super().__init__(cache, split, train, **kw)
        self.flow_transform = flow_transform or self._preset("flow")

    def _preset(self, modality: str) -> Transform:
        return default_transform("rgb" if modality == "rgb+flow" else modality, self.train,
                                 self.size, **self.transform_kw)

    def __getitem__(self, i: int) -> tuple[tuple[torch.Tensor, torch.Tensor], int]:
        rec = self.records[i]
        rng, gen = self._rng()
        n = int(rec.frames or 1)
        nf = self.cache.num_flow(rec)
        center = int(rng.integers(n)) if (rng is not None and self.jitter) else n // 2
        fidx = _clip_around(nf, min(center, nf - 1), self.flow_length, self.flow_stride)
        ridx = np.array([center]) if self.rgb_mode == "frame" else np.minimum(fidx, n - 1)
        seed = int(torch.randint(2**62, (), generator=gen)) if gen is not None else None
        g_rgb = torch.Generator().manual_seed(seed) if seed is not None else None
        g_flow = torch.Generator().manual_seed(seed) if seed is not None else None
        rgb = self.transform(rgb_tensor(self.cache.rgb(rec, ridx)), g_rgb)  # (T, 3, H, W)
        flow = self.flow_transform(flow_tensor(self.cache.flow(rec, fidx)), g_flow)  # (T, 2, H, W)
        rgb = rgb[0] if self.rgb_mode == "frame" else rgb.permute(1, 0, 2, 3)
        if self.flow_layout == "clip":
            flow = flow.permute(1, 0, 2, 3)  # (2, T, H, W)
        else:
            flow = flow.reshape(-1, *flow.shape[-2:])  # (2T, H, W), x1,y1,x2,y2,...
        return (rgb, flow), rec.label

    def _spec(self) -> dict[str, Any]:
        return {"rgb": self.rgb_mode, "flow_length": self.flow_length,
                "flow_stride": self.flow_stride, "flow_layout": self.flow_layout}


def _clip_around(n: int, center: int, length: int, stride: int) -> np.ndarray:
    """A clip like :func:`sampling.centered_clip` but centred on ``center``."""
    base = sampling.centered_clip(n, length, stride)
    if len(base) and np.any(np.diff(base) <= 0):  # looped: nothing to shift
        return base
    shift = center - n // 2
    lo, hi = -int(base[0]), n - 1 - int(base[-1])
    return base + min(max(shift, lo), hi)


KINDS: dict[str, type[CacheDataset]] = {
    "frame": FrameDataset,
    "tsn": TSNDataset,
    "clip": ClipDataset,
    "two_stream": TwoStreamDataset,
}


def build_dataset(cache_dir: str | Path | Cache, kind: str, split: str = "train",
                  train: bool | None = None, **params: Any) -> CacheDataset:
    """Build a dataset over a prepared cache.

    Args:
        cache_dir: The cache folder (or an open :class:`Cache`, shared between datasets).
        kind: ``frame``, ``tsn``, ``clip`` or ``two_stream``.
        split: ``train``, ``val``, ``test`` or ``all``.
        train: Training sampling/augmentation; defaults to ``split == "train"``.
        **params: The dataset's own options (``modality``, ``num_segments``, ``length``,
            ``stride``, ``num_clips``, ``size``, ``transform_kw``, ...).

    Returns:
        A :class:`CacheDataset` yielding ``(x, label)``.
    """
    if kind not in KINDS:
        raise InputError(f"unknown dataset kind {kind!r}; choose one of {', '.join(KINDS)}")
    return KINDS[kind](cache_dir, split, split == "train" if train is None else train, **params)
