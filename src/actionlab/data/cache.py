"""The prepared cache: one HDF5 file per video plus ``manifest.json``.

Layout of a cache folder::

    manifest.json            records actually prepared (frames, fps, size filled) + settings
    skipped.json             [{"path", "key", "reason"}] for what could not be prepared
    prepare.json             the settings, checked when a run resumes
    videos/<key>.h5          one file per video, written atomically (temp file + rename)
    parts/manifest-K-of-N.json, parts/skipped-K-of-N.json   one pair per shard, merged

Inside ``videos/<key>.h5``:

- ``rgb``: (T, H, W, 3) uint8 frames at the working size (contiguous; with compression,
  one frame per chunk);
- ``flow``: (T-1, H, W, 2) uint8 flow quantised with ``attrs["flow_bound"]`` (absent for stills);
- attrs: ``frames``, ``fps``, ``src_width``, ``src_height``, ``flow_method``, ``flow_bound``.

Either way a reader pulls exactly the frames it samples and nothing else.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from actionlab.data.manifest import Manifest, Record, merge_records
from actionlab.errors import DatasetError
from actionlab.io import atomic_path, write_json_atomic

log = logging.getLogger(__name__)

COMPRESSIONS = ("none", "lzf", "gzip")


def video_file(cache_dir: str | Path, key: str) -> Path:
    """Path of a record's HDF5 file in a cache."""
    return Path(cache_dir) / "videos" / f"{key}.h5"


def write_entry(
    path: Path,
    rgb: np.ndarray | None,
    flow_q: np.ndarray | None,
    attrs: dict[str, Any],
    compression: str = "none",
) -> None:
    """Write one video's arrays atomically (a crash leaves no half-written file)."""
    comp = None if compression == "none" else compression
    with atomic_path(path, suffix=".h5") as tmp:
        with h5py.File(tmp, "w", libver="latest") as f:
            for name, arr in (("rgb", rgb), ("flow", flow_q)):
                if arr is None or not len(arr):
                    continue
                # Uncompressed: contiguous (a frame is one hyperslab read, and writing is
                # fastest). Compressed: one chunk per frame, so a read inflates only its frames.
                chunks = (1, *arr.shape[1:]) if comp else None
                f.create_dataset(name, data=arr, chunks=chunks, compression=comp)
            for k, v in attrs.items():
                f.attrs[k] = v


def read_attrs(path: Path) -> dict[str, Any] | None:
    """A finished entry's attributes, or ``None`` if the file is absent or unreadable."""
    try:
        with h5py.File(path, "r") as f:
            return {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    except (OSError, KeyError):
        return None


def _take(ds: h5py.Dataset, idx: np.ndarray) -> np.ndarray:
    """``ds[idx]`` for any index order/repeats (h5py wants increasing unique indices)."""
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size and np.all(np.diff(idx) == 1):  # a consecutive run: one slice
        return ds[int(idx[0]) : int(idx[-1]) + 1]
    uniq, inverse = np.unique(idx, return_inverse=True)
    return ds[uniq][inverse]


def load_prepared_manifest(cache_dir: str | Path) -> Manifest:
    """The cache's manifest; if only shard parts exist, their merge (read-only)."""
    cache_dir = Path(cache_dir)
    path = cache_dir / "manifest.json"
    if path.is_file():
        return Manifest.load(path)
    parts = sorted((cache_dir / "parts").glob("manifest-*-of-*.json"))
    if not parts:
        raise DatasetError(f"{cache_dir}: no manifest.json; run `actionlab prepare` into it first")
    log.info("%s: no merged manifest; reading %d shard parts", cache_dir, len(parts))
    return merge_records(Manifest.load(p) for p in parts)


class Cache:
    """Read access to a prepared cache.

    Args:
        cache_dir: A folder written by :func:`actionlab.data.prepare.prepare`.
    """

    def __init__(self, cache_dir: str | Path) -> None:
        self.dir = Path(cache_dir)
        self.manifest = load_prepared_manifest(self.dir)
        settings = self.manifest.meta.get("prepare", {})
        self.inputs: list[str] = list(settings.get("inputs", ["rgb"]))
        self.flow_bound: float = float(settings.get("flow_bound", 20.0))
        self.classes: list[str] = self.manifest.classes
        self._files: dict[str, h5py.File] = {}
        self._pid = os.getpid()

    def records(self, split: str | None = None) -> list[Record]:
        """Prepared records, of one split or all."""
        if split is None:
            return list(self.manifest.records)
        recs = self.manifest.split(split)
        if not recs:
            have = sorted(self.manifest.counts())
            raise DatasetError(f"{self.dir}: no records in split {split!r}; it has {have}")
        return recs

    def _file(self, rec: Record) -> h5py.File:
        # h5py handles must not cross a fork: DataLoader workers reopen their own.
        if os.getpid() != self._pid:
            self._files, self._pid = {}, os.getpid()
        f = self._files.get(rec.key)
        if f is None:
            path = video_file(self.dir, rec.key)
            try:
                f = h5py.File(path, "r")
            except OSError as exc:
                raise DatasetError(f"{path}: cannot open cache entry ({exc}); re-run prepare") from None
            if len(self._files) >= 256:  # bounded: close the oldest handle
                self._files.pop(next(iter(self._files))).close()
            self._files[rec.key] = f
        return f

    def rgb(self, rec: Record, indices: np.ndarray) -> np.ndarray:
        """Frames (T, H, W, 3) uint8 at the given indices."""
        return _take(self._file(rec)["rgb"], indices)

    def flow(self, rec: Record, indices: np.ndarray) -> np.ndarray:
        """Quantised flow (T, H, W, 2) uint8 at the given flow indices (0..frames-2)."""
        f = self._file(rec)
        if "flow" not in f:
            raise DatasetError(
                f"{video_file(self.dir, rec.key)}: no flow stored (a still, or prepared without "
                "flow); prepare with --inputs rgb,flow"
            )
        return _take(f["flow"], indices)

    def num_flow(self, rec: Record) -> int:
        """Number of flow frames of a record (``frames - 1``; 0 for stills)."""
        return max(int(rec.frames or 1) - 1, 0)

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}

    def __getstate__(self) -> dict[str, Any]:  # picklable for DataLoader workers
        state = dict(self.__dict__)
        state["_files"] = {}
        return state


def write_part(cache_dir: Path, shard: tuple[int, int], manifest: Manifest, skipped: list) -> None:
    """Write one shard's manifest and skip report."""
    k, n = shard
    parts = cache_dir / "parts"
    manifest.save(parts / f"manifest-{k}-of-{n}.json")
    write_json_atomic(parts / f"skipped-{k}-of-{n}.json", skipped)


def merge_shards(cache_dir: str | Path, require_all: bool = True) -> Manifest | None:
    """Merge shard parts into ``manifest.json`` and ``skipped.json``.

    Args:
        cache_dir: The cache folder holding ``parts/``.
        require_all: Only merge once every shard 1..N has written its part.

    Returns:
        The merged manifest, or ``None`` if shards are still missing.
    """
    cache_dir = Path(cache_dir)
    parts = sorted((cache_dir / "parts").glob("manifest-*-of-*.json"))
    if not parts:
        raise DatasetError(f"{cache_dir}: no shard parts to merge (parts/manifest-K-of-N.json)")
    total = {int(p.stem.rsplit("-", 1)[1]) for p in parts}
    if len(total) != 1:
        raise DatasetError(f"{cache_dir}: shard parts from runs with different N: {sorted(total)}")
    n = total.pop()
    have = {int(p.stem.split("-")[1]) for p in parts}
    if require_all and have != set(range(1, n + 1)):
        log.info("%s: %d of %d shards done; merge waits for the rest", cache_dir, len(have), n)
        return None
    merged = merge_records(Manifest.load(p) for p in parts)
    merged = replace(merged, meta={**merged.meta, "shards": n})
    skipped: list = []
    for k in sorted(have):
        sp = cache_dir / "parts" / f"skipped-{k}-of-{n}.json"
        if sp.is_file():
            skipped += json.loads(sp.read_text())
    merged.save(cache_dir / "manifest.json")
    write_json_atomic(cache_dir / "skipped.json", skipped)
    return merged
