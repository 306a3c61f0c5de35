"""The prepared cache: one HDF5 file per video plus ``manifest.json``.

Layout of a cache folder::

    manifest.json            records actually prepared (frames, fps, size filled) + settings
    skipped.json             [{"path", "key", "reason"}] for what could not be prepared
    prepare.json             the settings and cache format, checked when a run resumes
    videos/<key>.h5          one file per video, written atomically (temp file + rename)
    parts/manifest-K-of-N.json, parts/skipped-K-of-N.json   one pair per shard, merged

Inside ``videos/<key>.h5`` (cache format 2), with ``--compression jpeg`` (the default):

- ``rgb_jpeg``: every frame's JPEG bytes, one contiguous uint8 run; ``rgb_index``: (T + 1,)
  int64 offsets into it; attribute ``shape`` on ``rgb_jpeg``: (T, H, W, 3);
- ``flow_jpeg`` / ``flow_index``: the same for the quantised flow (see :mod:`.codec`);

and with ``--compression raw`` (or ``lzf`` / ``gzip``, HDF5 filters over raw frames):

- ``rgb``: (T, H, W, 3) uint8 frames at the working size (contiguous; with a filter, one
  frame per chunk);
- ``flow``: (T-1, H, W, 2) uint8 flow quantised with ``attrs["flow_bound"]`` (absent for stills).

and with any compression, when keypoints were asked for (``--inputs ...,pose``):

- ``pose``: (T, 33, 4) float32 keypoints per frame (see :mod:`.pose`), contiguous, with file
  attribute ``pose_model``.

File attributes: ``cache_format``, ``frames``, ``fps``, ``src_width``, ``src_height``,
``flow_method``, ``flow_bound`` and the source's ``src_path``, ``src_size``, ``src_mtime_ns``
(a resumed run redoes an entry whose source no longer matches). Entries of format 1 (raw,
before these attributes) still read.

Either way a reader pulls exactly the frames it samples and nothing else. A contiguous
dataset is read with ``pread`` at its offset in the file (:class:`_Entry`), a chunked one
with h5py.
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

from actionlab.data import codec
from actionlab.data.manifest import Manifest, Record, key_problem, merge_records
from actionlab.errors import DatasetError
from actionlab.io import atomic_path, write_json_atomic

log = logging.getLogger(__name__)

# jpeg: per-frame JPEG (the default); raw: uint8 arrays; lzf, gzip: raw under an HDF5 filter.
COMPRESSIONS = ("jpeg", "raw", "lzf", "gzip")
CACHE_FORMAT = 2  # 1: raw arrays without cache_format / source attributes (still readable)
REBUILD = "prepare it again into a new folder (actionlab prepare ... NEW_OUT)"


def video_file(cache_dir: str | Path, key: str) -> Path:
    """Path of a record's HDF5 file in a cache.

    Raises:
        DatasetError: The key is not a plain file name (``../x``, ``/abs``, ``.hidden``), so
            it would name a file outside ``cache_dir/videos``.
    """
    problem = key_problem(key)
    if problem:
        raise DatasetError(f"record key {key!r}: {problem}; keys name files inside the cache "
                           "(regenerate the manifest with `actionlab manifest`)")
    return Path(cache_dir) / "videos" / f"{key}.h5"


def write_entry(
    path: Path,
    rgb: np.ndarray | None,
    flow_q: np.ndarray | None,
    attrs: dict[str, Any],
    compression: str = "raw",
    quality: int = codec.DEFAULT_QUALITY,
    pose: np.ndarray | None = None,
) -> None:
    """Write one video's arrays atomically (a crash leaves no half-written file).

    Args:
        path: The entry's file.
        rgb: (T, H, W, 3) uint8 frames, or ``None``.
        flow_q: (T-1, H, W, 2) quantised flow, or ``None``.
        pose: (T, 33, 4) float32 keypoints, or ``None`` (stored uncompressed: tiny).
        attrs: File attributes (``cache_format`` is added).
        compression: One of :data:`COMPRESSIONS` (``none`` is read as ``raw``).
        quality: JPEG quality for ``jpeg``.
    """
    filt = None if compression in ("raw", "none", "jpeg") else compression
    with atomic_path(path, suffix=".h5") as tmp:
        with h5py.File(tmp, "w", libver="latest") as f:
            for name, arr in (("rgb", rgb), ("flow", flow_q)):
                if arr is None or not len(arr):
                    continue
                if compression == "jpeg":
                    data, offsets = codec.encode(arr, name, quality)
                    f.create_dataset(f"{name}_jpeg", data=data).attrs["shape"] = arr.shape
                    f.create_dataset(f"{name}_index", data=offsets)
                    continue
                # Unfiltered: contiguous (a frame is one hyperslab read, and writing is
                # fastest). Filtered: one chunk per frame, so a read inflates only its frames.
                chunks = (1, *arr.shape[1:]) if filt else None
                f.create_dataset(name, data=arr, chunks=chunks, compression=filt)
            if pose is not None:  # written even when empty: "no person" is a result
                f.create_dataset("pose", data=np.asarray(pose, np.float32))
            for k, v in {**attrs, "cache_format": CACHE_FORMAT}.items():
                f.attrs[k] = v


def read_attrs(path: Path) -> dict[str, Any] | None:
    """A finished entry's attributes, or ``None`` if the file is absent or unreadable."""
    try:
        with h5py.File(path, "r") as f:
            return {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    except (OSError, KeyError):
        return None


def _take(ds: h5py.Dataset | _Contiguous | _Jpeg, idx: np.ndarray) -> np.ndarray:
    """``ds[idx]`` for any index order/repeats, as a new array of its own.

    Args:
        ds: An h5py dataset, a contiguous one read with ``pread`` (see :class:`_Entry`), or
            JPEG frames.
        idx: Frame indices along the first axis; any order, repeats allowed.
    """
    idx = np.asarray(idx, dtype=np.int64)
    if isinstance(ds, (_Contiguous, _Jpeg)):
        return ds.take(idx)
    if idx.size and np.all(np.diff(idx) == 1):  # a consecutive run: one slice
        return ds[int(idx[0]) : int(idx[-1]) + 1]
    uniq, inverse = np.unique(idx, return_inverse=True)  # h5py wants increasing unique indices
    return ds[uniq][inverse]


class _Contiguous:
    """A dataset stored in one run of bytes of an open file, read frame by frame with ``pread``.

    Reading a 16-frame clip this way costs about 0.12 ms from a freshly opened file, against
    0.27 ms through a memory map (whose pages fault in one by one) and about 2 ms through
    h5py's point selection (``np.unique`` + one hyperslab per frame).
    """

    def __init__(self, fd: int, offset: int, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.fd, self.offset, self.shape, self.dtype = fd, offset, shape, dtype
        self.frame_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def take(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx), *self.shape[1:]), self.dtype)
        flat = out.reshape(len(idx), self.frame_bytes // self.dtype.itemsize).view(np.uint8)
        k = 0
        while k < len(idx):  # one read per run of consecutive indices
            end = k + 1
            while end < len(idx) and idx[end] == idx[end - 1] + 1:
                end += 1
            want = (end - k) * self.frame_bytes
            got = os.preadv(self.fd, [memoryview(flat[k:end]).cast("B")],
                            self.offset + int(idx[k]) * self.frame_bytes)
            if got != want:
                raise OSError(f"short read ({got} of {want} bytes): the file is truncated")
            k = end
        return out


class _Jpeg:
    """JPEG-coded frames (see :mod:`.codec`): each frame's bytes read with ``pread``, decoded.

    Args:
        fd: The entry's open file descriptor.
        offset: Where the ``*_jpeg`` bytes start in the file.
        size: Their length.
        index: (T + 1,) offsets of each frame's bytes.
        shape: (T, H, W, C) of the decoded frames.
        kind: ``"rgb"`` or ``"flow"``.
    """

    def __init__(self, fd: int, offset: int, size: int, index: np.ndarray, shape: tuple,
                 kind: str) -> None:
        if len(index) != shape[0] + 1 or index[0] != 0 or index[-1] != size or np.any(
                np.diff(index) <= 0):
            raise OSError(f"{kind} frame index does not match its {size} bytes")
        self.fd, self.offset, self.index, self.shape, self.kind = fd, offset, index, shape, kind

    def __len__(self) -> int:
        return self.shape[0]

    def take(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx), *self.shape[1:]), np.uint8)
        first: dict[int, int] = {}  # a repeated index is decoded once, then copied
        for k, i in enumerate(idx.tolist()):
            if i in first:
                out[k] = out[first[i]]
                continue
            first[i] = k
            start, n = int(self.index[i]), int(self.index[i + 1] - self.index[i])
            buf = os.pread(self.fd, n, self.offset + start)
            if len(buf) != n:
                raise OSError(f"short read ({len(buf)} of {n} bytes): the file is truncated")
            if not codec.decode_into(np.frombuffer(buf, np.uint8), self.kind, out[k]):
                raise OSError(f"{self.kind} frame {i} is not a valid JPEG (damaged entry)")
        return out


def _read_small(fid: h5py.h5f.FileID, name: bytes) -> np.ndarray:
    """A whole small dataset (an index) through the low-level API."""
    ds = h5py.h5d.open(fid, name)
    out = np.empty(ds.shape, ds.dtype)
    ds.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
    return out


def _read_attr(obj: Any, name: bytes) -> np.ndarray | None:
    if not h5py.h5a.exists(obj, name):
        return None
    attr = h5py.h5a.open(obj, name)
    out = np.empty(attr.shape, attr.dtype)
    attr.read(out)
    return out


def _layout(dsid: h5py.h5d.DatasetID, file_size: int) -> tuple[int, tuple, np.dtype] | None:
    """``(offset, shape, dtype)`` of a dataset :class:`_Contiguous` can read, or ``None``.

    Only a contiguous dataset stored in the file itself qualifies: its bytes lie in one run
    at ``get_offset()``. Chunked (and so any compressed) data, external storage, a dataset
    with no space allocated yet (offset ``None``, e.g. empty) and a file shorter than the
    dataset claims all stay with h5py, which handles or reports them.
    """
    plist = dsid.get_create_plist()
    if plist.get_layout() != h5py.h5d.CONTIGUOUS or plist.get_external_count():
        return None
    dtype, offset, shape = dsid.dtype, dsid.get_offset(), dsid.shape
    if dtype.kind not in "biuf" or offset is None or not shape:
        return None
    if offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize > file_size:
        return None
    return offset, shape, dtype


class _FormatError(OSError):
    """An entry this version cannot read; its message says how to rebuild."""


class _Entry:
    """One open cache file: its datasets, each a :class:`_Contiguous` reader or h5py dataset.

    When every dataset is contiguous the HDF5 file is closed again, so an entry holds one file
    descriptor (its own, for ``pread``). The file is opened with h5py's low-level calls:
    through ``h5py.File`` and its ``Dataset`` objects an entry took 0.43 ms to open, this way
    0.32 ms, and training over more videos than :attr:`Cache.max_open` opens an entry for
    every sample.

    Args:
        path: The entry's HDF5 file.

    Raises:
        OSError: The file cannot be opened or read.
    """

    def __init__(self, path: Path) -> None:
        fid = h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY)
        self.arrays: dict[str, _Contiguous | h5py.Dataset] = {}
        self.file: h5py.File | None = None  # only for datasets that cannot be read directly
        self.fd: int | None = None
        try:
            size = fid.get_filesize()
            fmt = _read_attr(h5py.h5g.open(fid, b"/"), b"cache_format")
            if fmt is not None and int(fmt) > CACHE_FORMAT:
                raise _FormatError(f"cache format {int(fmt)} is newer than this actionlab "
                                   f"reads ({CACHE_FORMAT}); upgrade actionlab or {REBUILD}")
            for name in ("rgb", "flow", "pose"):
                if f"{name}_jpeg".encode() in fid:
                    self._open_jpeg(path, fid, name, size)
                    continue
                if name.encode() not in fid:
                    continue
                layout = _layout(h5py.h5d.open(fid, name.encode()), size)
                if layout is not None:
                    if self.fd is None:
                        self.fd = os.open(path, os.O_RDONLY)
                    self.arrays[name] = _Contiguous(self.fd, *layout)
                    continue
                if self.file is None:
                    self.file = h5py.File(fid)  # takes over the handle, closes it on close()
                self.arrays[name] = self.file[name]
        except BaseException:
            h5_owns_fid = self.file is not None
            self.close()
            if not h5_owns_fid:
                fid.close()
            raise
        if self.file is None:
            fid.close()

    def _open_jpeg(self, path: Path, fid: h5py.h5f.FileID, name: str, size: int) -> None:
        dsid = h5py.h5d.open(fid, f"{name}_jpeg".encode())
        layout = _layout(dsid, size)
        shape = _read_attr(dsid, b"shape")
        if layout is None or shape is None or f"{name}_index".encode() not in fid:
            raise OSError(f"{name} JPEG data incomplete (truncated or damaged file)")
        if self.fd is None:
            self.fd = os.open(path, os.O_RDONLY)
        index = _read_small(fid, f"{name}_index".encode()).astype(np.int64)
        self.arrays[name] = _Jpeg(self.fd, layout[0], layout[1][0], index,
                                  tuple(int(x) for x in shape), name)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.fd is not None:
            os.close(self.fd)
        self.file, self.fd, self.arrays = None, None, {}


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

    max_open = 256  # entries kept open per process (each holds one or two file descriptors)

    def __init__(self, cache_dir: str | Path) -> None:
        self.dir = Path(cache_dir)
        self.manifest = load_prepared_manifest(self.dir)
        settings = self.manifest.meta.get("prepare", {})
        self.inputs: list[str] = list(settings.get("inputs", ["rgb"]))
        self.flow_bound: float = float(settings.get("flow_bound", 20.0))
        self.classes: list[str] = self.manifest.classes
        self._files: dict[str, _Entry] = {}  # open entries by key, least recently used first
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

    def _entry(self, rec: Record) -> _Entry:
        # Open handles and descriptors must not cross a fork: DataLoader workers open their own.
        if os.getpid() != self._pid:
            self._files, self._pid = {}, os.getpid()
        entry = self._files.pop(rec.key, None)
        if entry is None:
            path = video_file(self.dir, rec.key)
            try:
                entry = _Entry(path)
            except _FormatError as exc:
                raise DatasetError(f"{path}: {exc}") from None
            except OSError as exc:
                raise DatasetError(f"{path}: cannot open cache entry ({exc}); re-run prepare") from None
            if len(self._files) >= self.max_open:  # bounded: close the least recently used
                self._files.pop(next(iter(self._files))).close()
        self._files[rec.key] = entry  # (re)inserted last: the dict's order is the LRU order
        return entry

    def rgb(self, rec: Record, indices: np.ndarray) -> np.ndarray:
        """Frames (T, H, W, 3) uint8 at the given indices (any order, repeats allowed)."""
        return self._read(rec, "rgb", indices, "prepared with --inputs flow")

    def flow(self, rec: Record, indices: np.ndarray) -> np.ndarray:
        """Quantised flow (T, H, W, 2) uint8 at the given flow indices (0..frames-2)."""
        return self._read(rec, "flow", indices, "a still, or prepared without flow")

    def pose(self, rec: Record, indices: np.ndarray) -> np.ndarray:
        """Keypoints (T, 33, 4) float32 at the given frame indices (see :mod:`.pose`)."""
        return self._read(rec, "pose", indices, "prepared without pose", "rgb,flow,pose")

    def _read(self, rec: Record, name: str, indices: np.ndarray, why_absent: str,
              inputs: str = "rgb,flow") -> np.ndarray:
        arrays = self._entry(rec).arrays
        if name not in arrays:
            raise DatasetError(f"{video_file(self.dir, rec.key)}: no {name} stored ({why_absent}); "
                               f"prepare with --inputs {inputs}")
        arr = arrays[name]
        idx = np.asarray(indices, dtype=np.int64)
        # Checked here so both read paths fail alike (numpy raises IndexError, h5py OSError,
        # and a slice would quietly come back short or, from a negative start, empty).
        if idx.size and not (0 <= idx.min() and idx.max() < len(arr)):
            bad = int(idx.min() if idx.min() < 0 else idx.max())
            raise DatasetError(f"{video_file(self.dir, rec.key)}: {name} frame {bad} asked for, "
                               f"the entry holds {len(arr)}; re-run prepare if it is stale")
        try:
            return _take(arr, idx)
        except OSError as exc:  # changed on disk since opened, damaged, or a read error
            raise DatasetError(f"{video_file(self.dir, rec.key)}: cannot read {name} ({exc}); "
                               "re-run prepare") from None

    def num_flow(self, rec: Record) -> int:
        """Number of flow frames of a record (``frames - 1``; 0 for stills)."""
        return max(int(rec.frames or 1) - 1, 0)

    def close(self) -> None:
        """Close every open entry (reads reopen them)."""
        for entry in self._files.values():
            entry.close()
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
