"""``prepare``: decode every video once and write the cache (frames and/or quantised flow).

The work is a pool of processes, one video per task; each finished video is an atomically
renamed HDF5 file, so an interrupted run resumes by skipping the files already there. A video
that cannot be read is recorded in ``skipped.json`` with the reason and the run carries on.
``shard=(k, n)`` takes every n-th video (k-th of n), so array jobs split one dataset; each
shard writes ``parts/*-k-of-n.json`` and the last to finish merges them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from actionlab.data import codec
from actionlab.data import flow as flowlib
from actionlab.data.cache import CACHE_FORMAT, COMPRESSIONS, REBUILD, merge_shards, read_attrs
from actionlab.data.cache import video_file, write_entry, write_part
from actionlab.data.estimate import Estimate, check_space, estimate_from, sample_tasks
from actionlab.data.manifest import Manifest, Record, key_problem
from actionlab.data.video import is_image, read_video
from actionlab.errors import ActionlabError, DatasetError, InputError, VideoError
from actionlab.io import check_output_dir, write_json_atomic, writing
from actionlab.runtime import process_context, thread_budget

log = logging.getLogger(__name__)

INPUTS = ("rgb", "flow", "pose")


@dataclass(frozen=True)
class PrepareConfig:
    """What to write for each video.

    Attributes:
        size: Working size (W, H) every frame is resized to (``INTER_AREA``).
        short_side: Or: resize so the shorter side has this length, keeping the aspect
            ratio (when given, ``size`` is ignored); crops happen at load time.
        inputs: Any of ``rgb``, ``flow`` and ``pose`` (keypoints per frame, found on the
            frames at the working size; needs the ``pose`` extra, see :mod:`.pose`).
        flow_method: One of :data:`actionlab.data.flow.FLOW_METHODS`.
        flow_bound: Quantisation bound in pixels (TSN: 20).
        compression: ``jpeg`` (per-frame JPEG, the default), ``raw`` (uint8 arrays), or
            ``lzf`` / ``gzip`` (raw arrays under an HDF5 filter).
        quality: JPEG quality 1..100 for ``jpeg``.

    Raises:
        InputError: Any setting is out of range (checked here, before any video is read).
    """

    size: tuple[int, int] | None = (112, 112)
    short_side: int | None = None
    inputs: tuple[str, ...] = ("rgb", "flow")
    flow_method: str = "dis"
    flow_bound: float = flowlib.DEFAULT_BOUND
    compression: str = "jpeg"
    quality: int = codec.DEFAULT_QUALITY

    def __post_init__(self) -> None:
        if self.short_side is not None:  # the short side wins over the default size
            object.__setattr__(self, "size", None)
        bad = set(self.inputs) - set(INPUTS)
        if bad or not self.inputs:
            raise InputError(f"--inputs must be a subset of {INPUTS}, got {self.inputs}")
        flowlib.check_flow_method(self.flow_method)
        if self.compression not in COMPRESSIONS:
            raise InputError(f"--compression {self.compression!r}: one of "
                             f"{', '.join(COMPRESSIONS)}")
        if not (isinstance(self.quality, int) and 1 <= self.quality <= 100):
            raise InputError(f"--quality {self.quality}: a JPEG quality is 1..100")
        if self.size is None and self.short_side is None:
            raise InputError("--size is empty: give WxH such as 112x112, or --short-side N")
        if self.size is not None and (len(self.size) != 2 or min(self.size) < 8):
            raise InputError(f"--size {self.size}: each side must be at least 8 pixels")
        if self.short_side is not None and self.short_side < 8:
            raise InputError(f"--short-side {self.short_side}: must be at least 8 pixels")
        if not (math.isfinite(self.flow_bound) and self.flow_bound > 0):
            raise InputError(f"--bound {self.flow_bound}: the flow bound is a positive number "
                             "of pixels (TSN: 20)")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["size"] = list(self.size) if self.size else None
        d["inputs"] = list(self.inputs)
        return d


@dataclass
class PrepareResult:
    """Outcome of :func:`prepare`.

    Attributes:
        out_dir: The cache folder.
        done: Videos prepared in this run.
        reused: Videos already in the cache (resumed).
        skipped: ``{"path", "key", "reason"}`` for every video that could not be prepared.
        manifest: The merged manifest, or ``None`` while other shards are unfinished.
        seconds: Wall time.
        estimate: The projection made from the first videos (``None`` if none prepared).
    """

    out_dir: Path
    done: int = 0
    reused: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    manifest: Manifest | None = None
    seconds: float = 0.0
    estimate: Estimate | None = None

    @property
    def exit_code(self) -> int:
        """0 when everything was prepared, 3 when anything was skipped."""
        return 3 if self.skipped else 0


def source_attrs(path: Path, rel_path: str) -> dict[str, Any]:
    """What identifies a video's source file: its manifest path, size and modification time."""
    st = path.stat()
    return dict(src_path=str(rel_path), src_size=st.st_size, src_mtime_ns=st.st_mtime_ns)


def prepare_video(path: Path, out: Path, cfg: PrepareConfig, rel_path: str = "") -> dict[str, Any]:
    """Decode one video once and write its cache entry; returns the entry's attributes.

    Args:
        path: The source file.
        out: The entry to write.
        cfg: What to write.
        rel_path: The record's path as the manifest gives it (stored to check a resume).

    Raises:
        VideoError: The video cannot be read (or is too short for flow).
    """
    src = source_attrs(path, rel_path or str(path)) if path.is_file() else {}
    frames, info = read_video(path, size=cfg.size, short_side=cfg.short_side, threads=1)
    still = is_image(path)
    flow_q = None
    if "flow" in cfg.inputs and not still:
        if len(frames) < 2:
            raise VideoError(path, f"only {len(frames)} frame decodes; flow needs at least 2")
        flow_q = flowlib.compute_flow(frames, cfg.flow_method, bound=cfg.flow_bound)
    attrs = dict(frames=info.frames, fps=info.fps, src_width=info.width, src_height=info.height,
                 flow_method=cfg.flow_method, flow_bound=cfg.flow_bound, **src)
    pose = None
    if "pose" in cfg.inputs:
        from actionlab.data import pose as poselib

        pose = poselib.keypoints(frames)
        attrs["pose_model"] = poselib.model_name()
    rgb = frames if ("rgb" in cfg.inputs or still) else None
    write_entry(out, rgb, flow_q, attrs, cfg.compression, cfg.quality, pose=pose)
    return attrs


Task = tuple[int, str, str, str, PrepareConfig]  # (record index, source, rel path, target, cfg)
Done = tuple[int, dict[str, Any] | None, str | None, float]  # (index, attrs, reason, seconds)


def _work(task: Task) -> Done:
    """Pool task -> (index, attrs or None, reason if skipped, seconds spent)."""
    i, src, rel, dst, cfg = task
    t0 = time.perf_counter()
    try:
        return i, prepare_video(Path(src), Path(dst), cfg, rel), None, time.perf_counter() - t0
    except ActionlabError as exc:
        return i, None, getattr(exc, "reason", str(exc)), time.perf_counter() - t0
    except Exception as exc:  # a batch job must finish: report anything unexpected too
        return i, None, f"unexpected {type(exc).__name__}: {exc}", time.perf_counter() - t0


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def _pose_meta(cfg: PrepareConfig) -> dict[str, str]:
    """``{"pose_model": name}`` when the cache holds keypoints (the estimator's name goes into
    the input spec); :class:`InputError` when the pose extra is missing."""
    if "pose" not in cfg.inputs:
        return {}
    from actionlab.data import pose as poselib

    poselib.load_mediapipe()
    return {"pose_model": poselib.model_name()}


def _with_attrs(rec: Record, a: dict[str, Any]) -> Record:
    return replace(rec, frames=int(a["frames"]), fps=float(a["fps"]),
                   width=int(a["src_width"]), height=int(a["src_height"]))


def shard_records(records: list[Record], shard: tuple[int, int]) -> list[Record]:
    """The k-th of n round-robin shards of records sorted by key (balanced across classes)."""
    k, n = shard
    if not 1 <= k <= n:
        raise InputError(f"--shard {k}/{n}: need 1 <= k <= n")
    ordered = sorted(records, key=lambda r: r.key)
    return ordered[k - 1 :: n]


def check_keys(records: list[Record]) -> None:
    """Refuse keys that would name a file outside the cache, or two records' one file.

    Raises:
        DatasetError: Naming the first bad or repeated key and its record.
    """
    seen: dict[str, str] = {}
    for rec in records:
        problem = key_problem(rec.key)
        if problem:
            raise DatasetError(f"{rec.path}: record key {rec.key!r}: {problem}; keys name "
                               "files inside the cache (regenerate the manifest with "
                               "`actionlab manifest`)")
        if rec.key in seen:
            raise DatasetError(f"{rec.path}: record key {rec.key!r} is also the key of "
                               f"{seen[rec.key]}; each record needs its own key")
        seen[rec.key] = rec.path


def _check_settings(out_dir: Path, manifest: Manifest, cfg: PrepareConfig) -> None:
    settings = {"cache_format": CACHE_FORMAT, "config": cfg.to_dict(),
                "dataset": manifest.dataset, "classes": manifest.classes}
    path = out_dir / "prepare.json"
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (ValueError, OSError) as exc:
            raise InputError(f"{path}: unreadable ({exc}); {REBUILD}") from None
        if not isinstance(old, dict) or old.get("cache_format") != CACHE_FORMAT:
            fmt = old.get("cache_format", 1) if isinstance(old, dict) else "unknown"
            raise InputError(f"{path}: this cache has format {fmt} (an older actionlab); it still "
                             f"loads for training, but to add to it {REBUILD}")
        if old != settings:
            raise InputError(
                f"{path}: this folder was prepared with other settings or classes; use a new "
                "output folder (or delete it) to prepare with these"
            )
    else:
        write_json_atomic(path, settings)


def _open_cache_dir(out_dir: Path, manifest: Manifest, cfg: PrepareConfig) -> None:
    """Create the folder and write (or check) ``prepare.json``: the run's first writes."""
    check_output_dir(out_dir, "cache folder")
    with writing(out_dir, "cache folder"):  # e.g. a read-only disk that os.access lets pass
        out_dir.mkdir(parents=True, exist_ok=True)
        _check_settings(out_dir, manifest, cfg)


def remove_stale_temps(out_dir: Path, keys: set[str]) -> int:
    """Remove temp files a killed run left for these keys (``videos/.<key>.tmp-*.h5``).

    Only this run's keys: another shard writing into the same folder keeps its own.

    Returns:
        How many were removed.
    """
    videos = out_dir / "videos"
    if not videos.is_dir():
        return 0
    removed = 0
    for p in videos.iterdir():
        name = p.name
        if not (name.startswith(".") and name.endswith(".h5") and ".tmp-" in name):
            continue
        if name[1:].rpartition(".tmp-")[0] in keys and p.is_file():
            p.unlink(missing_ok=True)
            removed += 1
    if removed:
        log.info("%s: removed %d temp files of an interrupted run", videos, removed)
    return removed


def _matches_source(attrs: dict[str, Any], rec: Record, src: Path) -> bool:
    """Whether a finished entry was made from the file now at the record's path."""
    try:
        now = source_attrs(src, rec.path)
    except OSError:
        return False
    return all(attrs.get(k) == v for k, v in now.items())


@contextlib.contextmanager
def _pool(workers: int, n_tasks: int) -> Iterator[Callable[[list[Task]], Iterator[Done]]]:
    """A ``run(tasks)`` that yields results as they finish, over one pool for the whole run."""
    if workers <= 1 or n_tasks <= 1:
        _init_worker()
        yield lambda tasks: map(_work, tasks)
        return
    ctx = process_context([__name__])  # never plain fork (see process_context)
    with ctx.Pool(min(workers, n_tasks), initializer=_init_worker) as pool:
        yield lambda tasks: pool.imap_unordered(_work, tasks, chunksize=1)


def prepare(
    manifest: Manifest,
    out_dir: str | Path,
    config: PrepareConfig | None = None,
    workers: int | None = None,
    shard: tuple[int, int] = (1, 1),
    progress: bool = True,
    space_check: bool = True,
    on_estimate: Callable[[str], None] | None = None,
) -> PrepareResult:
    """Prepare a dataset's cache: decode each video once, write frames and/or flow.

    A few videos spread over the list are prepared first; the rest is projected from them
    (:mod:`.estimate`), reported through ``on_estimate``, and checked against the free space.

    Args:
        manifest: Records to prepare (from an adapter or a saved manifest).
        out_dir: Cache folder (created; resumed if it holds a previous run's files).
        config: What to write; :class:`PrepareConfig` defaults if ``None``.
        workers: Processes (default: all cores).
        shard: ``(k, n)``: prepare only the k-th of n shards.
        progress: Show a rich progress bar.
        space_check: Refuse when the projection exceeds the free disk space.
        on_estimate: Receives the projection's line (default: the log).

    Returns:
        A :class:`PrepareResult`; ``exit_code`` is 3 when anything was skipped.

    Raises:
        DatasetError: A record key is unsafe or repeated (before anything is written).
        InputError: The folder cannot be written, holds another run's settings or an older
            cache format, or the projection does not fit on the disk.
    """
    t0 = time.perf_counter()
    cfg = config or PrepareConfig()
    out_dir = Path(out_dir)
    records = shard_records(manifest.records, shard)
    check_keys(manifest.records)
    _pose_meta(cfg)  # a missing pose extra is one line before anything is written
    _open_cache_dir(out_dir, manifest, cfg)
    remove_stale_temps(out_dir, {r.key for r in records})
    result = PrepareResult(out_dir)
    finished: dict[int, Record] = {}
    tasks: list[Task] = []
    for i, rec in enumerate(records):
        target, src = video_file(out_dir, rec.key), manifest.abspath(rec)
        attrs = read_attrs(target) if target.exists() else None
        if attrs is not None and _matches_source(attrs, rec, src):
            finished[i] = _with_attrs(rec, attrs)
            result.reused += 1
        else:  # absent, unreadable, or made from another file that had this path: (re)do
            tasks.append((i, str(src), rec.path, str(target), cfg))
    if result.reused:
        log.info("resuming: %d of %d videos already prepared", result.reused, len(records))

    def record(done: Done) -> None:
        i, attrs, reason, _ = done
        if attrs is None:
            rec = records[i]
            result.skipped.append({"path": str(manifest.abspath(rec)), "key": rec.key,
                                   "reason": str(reason)})
            log.warning("skipped %s: %s", manifest.abspath(rec), reason)
        else:
            finished[i] = _with_attrs(records[i], attrs)
            result.done += 1

    n_workers = workers or thread_budget()  # the usable cores, or --threads / $ACTIONLAB_THREADS
    first = set(sample_tasks(len(tasks)))
    with _pool(n_workers, len(tasks)) as run:
        sample = list(run([t for k, t in enumerate(tasks) if k in first]))
        for d in sample:
            record(d)
        target = {t[0]: t[3] for t in tasks}
        sizes = [(Path(target[d[0]]).stat().st_size, d[3]) for d in sample if d[1] is not None]
        result.estimate = estimate_from(sizes, len(tasks), n_workers, out_dir)
        if result.estimate is not None:
            (on_estimate or log.info)(result.estimate.line(out_dir))
            if space_check:
                check_space(result.estimate, out_dir, sum(b for b, _ in sizes))
        rest = [t for k, t in enumerate(tasks) if k not in first]
        with _progress(progress, len(rest), f"prepare {manifest.dataset or 'dataset'}") as advance:
            for d in run(rest):
                record(d)
                advance()

    meta = {**manifest.meta, "prepare": {**cfg.to_dict(), "flow_bound": cfg.flow_bound,
                                         **_pose_meta(cfg)}}
    part = Manifest(manifest.classes, [finished[i] for i in sorted(finished)], manifest.dataset,
                    manifest.root, meta)
    result.skipped.sort(key=lambda s: s["key"])
    write_part(out_dir, shard, part, result.skipped)
    result.manifest = merge_shards(out_dir)
    result.seconds = time.perf_counter() - t0
    return result


def estimate(
    manifest: Manifest,
    out_dir: str | Path,
    config: PrepareConfig | None = None,
    workers: int | None = None,
    shard: tuple[int, int] = (1, 1),
) -> Estimate | None:
    """``prepare --estimate``: prepare a sample into a temporary folder and project the rest.

    Nothing is written to ``out_dir``; its disk's free space is what the projection is
    checked against by the caller (:func:`~actionlab.data.estimate.check_space`).

    Returns:
        The projection, or ``None`` when no sampled video could be prepared.
    """
    import tempfile

    cfg = config or PrepareConfig()
    records = shard_records(manifest.records, shard)
    check_keys(manifest.records)
    _pose_meta(cfg)
    n_workers = workers or thread_budget()  # the usable cores, or --threads / $ACTIONLAB_THREADS
    picked = [records[k] for k in sample_tasks(len(records))]
    with tempfile.TemporaryDirectory(prefix="actionlab-estimate-") as tmp:
        tasks: list[Task] = [(i, str(manifest.abspath(r)), r.path, str(video_file(tmp, r.key)), cfg)
                             for i, r in enumerate(picked)]
        with _pool(n_workers, len(tasks)) as run:
            done = [d for d in run(tasks) if d[1] is not None]
        sizes = [(Path(tasks[d[0]][3]).stat().st_size, d[3]) for d in done]
    return estimate_from(sizes, len(records), n_workers, Path(out_dir))


class _progress:
    """A rich progress bar as a context manager yielding an ``advance()`` callable."""

    def __init__(self, enabled: bool, total: int, label: str) -> None:
        self.enabled, self.total, self.label = enabled and total > 0, total, label

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
        from rich.progress import TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TimeRemainingColumn(), transient=False)
        self.bar.start()
        task = self.bar.add_task(self.label, total=self.total)
        return lambda: self.bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.stop()


def probe_manifest(manifest: Manifest) -> tuple[Manifest, list[dict]]:
    """Fill frames/fps/size of every record by decoding (for manifests used without a cache).

    Returns:
        The probed manifest (unreadable videos dropped) and the skip list.
    """
    from actionlab.data.video import probe

    recs, skipped = [], []
    for rec in manifest.records:
        try:
            info = probe(manifest.abspath(rec), threads=1)
        except ActionlabError as exc:
            skipped.append({"path": str(manifest.abspath(rec)), "key": rec.key,
                            "reason": getattr(exc, "reason", str(exc))})
            continue
        recs.append(replace(rec, frames=info.frames, fps=info.fps, width=info.width,
                            height=info.height))
    return replace(manifest, records=recs), skipped

