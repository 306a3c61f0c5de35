"""The PyTorch dataset over a prepared cache, and :func:`build_dataset`.

A :class:`CacheDataset` is one split of a cache sampled as an :class:`~actionlab.spec.InputSpec`
says: each item is :func:`actionlab.data.inputs.make_input` on the record's frames, so inference
(which calls the same function on decoded frames) sees exactly what evaluation saw. What each
kind yields is in :mod:`actionlab.spec`; at evaluation a clip spec with ``num_clips=K > 1``
yields (K, C, T, H, W) for test-time averaging.

Labels are ints. Training samples are random (indices and augmentation) from torch's RNG,
which DataLoader seeds per worker; evaluation samples are deterministic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from actionlab.data.cache import Cache
from actionlab.data.inputs import (
    CacheSource,
    MixedSource,
    VideoSource,
    Transform,
    build_transforms,
    flow_tensor,
    make_input,
    rgb_tensor,
)
from actionlab.data.manifest import Record
from actionlab.errors import InputError
from actionlab.spec import CACHE_KINDS, PARAM_FIELDS, InputSpec, prepared_fields

__all__ = ["CacheDataset", "build_dataset", "flow_tensor", "rgb_tensor", "spec_for_cache"]

# The datasets' defaults where a caller names no value (a config always names them).
_DEFAULTS = {
    "clip": {"frames": 16},
    "tsn": {"segments": 3},
    "two_stream": {"frames": 16, "stride": 2},
}


class CacheDataset(Dataset):
    """One split of a cache, sampled as ``spec`` says.

    Args:
        cache: A :class:`Cache` or its folder.
        spec: The input contract (see :func:`spec_for_cache` to make one from options).
        split: ``train``, ``val``, ``test`` (or ``all``).
        train: Random sampling and training augmentation when true.
        transform: Replaces the preset of the spec's (RGB) modality (called as
            ``transform(x, gen)`` on (T, C, H, W)).
        flow_transform: Replaces the flow preset of a two-stream spec.
        source: ``cache``, or ``video``: RGB frames decoded from the source videos on demand
            (seeking to the sampled frames; for many cores and no room for an RGB cache),
            flow still from the cache.
    """

    def __init__(self, cache: Cache | str | Path, spec: InputSpec, split: str = "train",
                 train: bool = False, transform: Transform | None = None,
                 flow_transform: Transform | None = None, source: str = "cache") -> None:
        if source not in ("cache", "video"):
            raise InputError(f"data source {source!r}: use 'cache' or 'video'")
        self.source = source
        self.cache = cache if isinstance(cache, Cache) else Cache(cache)
        self.records: list[Record] = self.cache.records(None if split == "all" else split)
        self.input_spec, self.split, self.train = spec, split, train
        self.transforms = build_transforms(spec, train)
        if transform is not None:
            self.transforms["rgb" if spec.kind == "two_stream" else spec.modality] = transform
        if flow_transform is not None:
            self.transforms["flow"] = flow_transform

    kind = property(lambda self: self.input_spec.kind)
    modality = property(lambda self: self.input_spec.modality)
    size = property(lambda self: self.input_spec.size)

    @property
    def transform(self) -> Transform:
        """The transform of the spec's first modality (RGB for two-stream)."""
        return self.transforms["rgb" if self.kind == "two_stream" else self.modality]

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

    def __getitem__(self, i: int) -> tuple[Any, int]:
        rec = self.records[i]
        rng, gen = self._rng()
        x = make_input(self.input_spec, self._source(rec), self.train, rng, gen,
                       self.transforms)
        return x, rec.label

    def _source(self, rec: Record) -> CacheSource | MixedSource:
        cached = CacheSource(self.cache, rec)
        if self.source == "cache":
            return cached
        s = self.input_spec
        size = s.decode_size(rec.width, rec.height) if rec.width and rec.height else None
        video = VideoSource(str(self.cache.manifest.abspath(rec)), cached.num_frames, size,
                            s.flow_method, s.flow_bound, s.jpeg_quality)
        return MixedSource(video, cached)

    def spec(self) -> dict[str, Any]:
        """The input spec as a checkpoint stores it."""
        return self.input_spec.to_dict()


def spec_for_cache(cache: Cache, kind: str, **options: Any) -> InputSpec:
    """An :class:`InputSpec` for ``cache`` from dataset options.

    Options use the spec's names (``frames``, ``segments``, ...) or the datasets' older ones
    (``length``, ``num_segments``, ``flow_length``, ``flow_stride``, ``transform_kw``). The
    cache's geometry, flow method and bound come from its manifest; ``size`` defaults to the
    cache's shorter side, square.

    Raises:
        InputError: for an unknown kind or option.
    """
    if kind not in CACHE_KINDS:
        raise InputError(f"unknown dataset kind {kind!r}; choose one of {', '.join(CACHE_KINDS)}")
    prep = cache.manifest.meta.get("prepare", {})
    d: dict[str, Any] = {"kind": kind, **_DEFAULTS.get(kind, {})}
    if kind == "two_stream":
        d["modality"] = "rgb+flow"
    for key, value in options.items():
        name = PARAM_FIELDS.get(key, key)
        if name not in ("modality", "size", "frames", "stride", "segments", *PARAM_FIELDS.values()):
            raise InputError(f"dataset option {key!r}: unknown for kind {kind!r}")
        d[name] = value
    if kind == "tsn" and "frames" not in d:
        d["frames"] = 1 if d.get("modality", "rgb") == "rgb" else 5
    if "size" not in d:
        short = min(prep["size"]) if prep.get("size") else (prep.get("short_side") or 112)
        d["size"] = (short, short)
    d.update(prepared_fields(prep))
    return InputSpec.from_dict(d, where=f"{cache.dir}: dataset options")


def build_dataset(cache_dir: str | Path | Cache, kind: str | InputSpec, split: str = "train",
                  train: bool | None = None, transform: Transform | None = None,
                  flow_transform: Transform | None = None, source: str = "cache",
                  **options: Any) -> CacheDataset:
    """A dataset over a prepared cache.

    Args:
        cache_dir: The cache folder (or an open :class:`Cache`, shared between datasets).
        kind: An :class:`InputSpec`, or a kind (``frame``, ``tsn``, ``clip``, ``two_stream``)
            with ``options`` (see :func:`spec_for_cache`).
        split: ``train``, ``val``, ``test`` or ``all``.
        train: Training sampling/augmentation; defaults to ``split == "train"``.
        transform, flow_transform: Replace the preset transforms.
        source: ``cache`` or ``video`` (RGB decoded on the fly; see :class:`CacheDataset`).

    Returns:
        A :class:`CacheDataset` yielding ``(x, label)``.
    """
    cache = cache_dir if isinstance(cache_dir, Cache) else Cache(cache_dir)
    spec = kind if isinstance(kind, InputSpec) else spec_for_cache(cache, kind, **options)
    return CacheDataset(cache, spec, split, split == "train" if train is None else train,
                        transform, flow_transform, source)
