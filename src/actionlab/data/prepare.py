"""``prepare``: decode every video once and write the cache (frames and/or quantised flow).

The work is a pool of processes, one video per task; each finished video is an atomically
renamed HDF5 file, so an interrupted run resumes by skipping the files already there. A video
that cannot be read is recorded in ``skipped.json`` with the reason and the run carries on.
``shard=(k, n)`` takes every n-th video (k-th of n), so array jobs split one dataset; each
shard writes ``parts/*-k-of-n.json`` and the last to finish merges them.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from actionlab.data import flow as flowlib
from actionlab.data.cache import COMPRESSIONS, merge_shards, read_attrs, video_file, write_entry
from actionlab.data.cache import write_part
from actionlab.data.manifest import Manifest, Record
from actionlab.data.video import is_image, read_video
from actionlab.errors import ActionlabError, InputError, VideoError
from actionlab.io import write_json_atomic

log = logging.getLogger(__name__)

INPUTS = ("rgb", "flow")


@dataclass(frozen=True)
class PrepareConfig:
    """What to write for each video.

    Attributes:
        size: Working size (W, H) every frame is resized to (``INTER_AREA``).
        short_side: Or: resize so the shorter side has this length (aspect kept).
        inputs: ``("rgb",)``, ``("flow",)`` or both.
        flow_method: One of :data:`actionlab.data.flow.FLOW_METHODS`.
        flow_bound: Quantisation bound in pixels (TSN: 20).
        compression: HDF5 filter: ``none``, ``lzf`` or ``gzip``.
    """

    size: tuple[int, int] | None = (112, 112)
    short_side: int | None = None
    inputs: tuple[str, ...] = ("rgb", "flow")
    flow_method: str = "dis"
    flow_bound: float = flowlib.DEFAULT_BOUND
    compression: str = "none"

    def __post_init__(self) -> None:
        bad = set(self.inputs) - set(INPUTS)
        if bad or not self.inputs:
            raise InputError(f"--inputs must be a subset of {INPUTS}, got {self.inputs}")
        if self.flow_method not in flowlib.FLOW_METHODS:
            raise InputError(f"unknown flow method {self.flow_method!r}; one of {flowlib.FLOW_METHODS}")
        if self.compression not in COMPRESSIONS:
            raise InputError(f"--compression must be one of {COMPRESSIONS}")
        if self.size is not None and min(self.size) < 8:
            raise InputError(f"--size {self.size} is too small")

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
    """

    out_dir: Path
    done: int = 0
    reused: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    manifest: Manifest | None = None
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """0 when everything was prepared, 3 when anything was skipped."""
        return 3 if self.skipped else 0


def prepare_video(path: Path, out: Path, cfg: PrepareConfig) -> dict[str, Any]:
    """Decode one video once and write its cache entry; returns the entry's attributes.

    Raises:
        VideoError: The video cannot be read (or is too short for flow).
    """
    frames, info = read_video(path, size=cfg.size, short_side=cfg.short_side, threads=1)
    still = is_image(path)
    flow_q = None
    if "flow" in cfg.inputs and not still:
        if len(frames) < 2:
            raise VideoError(path, f"only {len(frames)} frame decodes; flow needs at least 2")
        flow_q = flowlib.compute_flow(frames, cfg.flow_method, bound=cfg.flow_bound)
    attrs = dict(frames=info.frames, fps=info.fps, src_width=info.width, src_height=info.height,
                 flow_method=cfg.flow_method, flow_bound=cfg.flow_bound)
    rgb = frames if ("rgb" in cfg.inputs or still) else None
    write_entry(out, rgb, flow_q, attrs, cfg.compression)
    return attrs


def _work(task: tuple[int, str, str, PrepareConfig]) -> tuple[int, dict[str, Any] | None, str | None]:
    """Pool task: (record index, source, target, config) -> (index, attrs or None, reason)."""
    i, src, dst, cfg = task
    try:
        return i, prepare_video(Path(src), Path(dst), cfg), None
    except ActionlabError as exc:
        return i, None, getattr(exc, "reason", str(exc))
    except Exception as exc:  # a batch job must finish: report anything unexpected too
        return i, None, f"unexpected {type(exc).__name__}: {exc}"


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


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


def _check_settings(out_dir: Path, manifest: Manifest, cfg: PrepareConfig) -> None:
    settings = {"config": cfg.to_dict(), "dataset": manifest.dataset, "classes": manifest.classes}
    path = out_dir / "prepare.json"
    if path.is_file():
        import json

        old = json.loads(path.read_text())
        if old != settings:
            raise InputError(
                f"{path}: this folder was prepared with other settings or classes; use a new "
                "output folder (or delete it) to prepare with these"
            )
    else:
        write_json_atomic(path, settings)


def _run_pool(tasks: list, workers: int) -> Iterator[tuple[int, dict | None, str | None]]:
    if workers <= 1 or len(tasks) <= 1:
        _init_worker()
        yield from map(_work, tasks)
        return
    # Never plain fork: a parent that already runs torch/OpenMP threads (a notebook, a test
    # session, a DataLoader) can leave a forked child deadlocked on a lock it copied.
    # forkserver forks from a clean server that has imported this module once.
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
    else:
        ctx = mp.get_context("spawn")
    with ctx.Pool(min(workers, len(tasks)), initializer=_init_worker) as pool:
        yield from pool.imap_unordered(_work, tasks, chunksize=1)


def prepare(
    manifest: Manifest,
    out_dir: str | Path,
    config: PrepareConfig | None = None,
    workers: int | None = None,
    shard: tuple[int, int] = (1, 1),
    progress: bool = True,
) -> PrepareResult:
    """Prepare a dataset's cache: decode each video once, write frames and/or flow.

    Args:
        manifest: Records to prepare (from an adapter or a saved manifest).
        out_dir: Cache folder (created; resumed if it holds a previous run's files).
        config: What to write; :class:`PrepareConfig` defaults if ``None``.
        workers: Processes (default: all cores).
        shard: ``(k, n)``: prepare only the k-th of n shards.
        progress: Show a rich progress bar.

    Returns:
        A :class:`PrepareResult`; ``exit_code`` is 3 when anything was skipped.
    """
    t0 = time.perf_counter()
    cfg = config or PrepareConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_settings(out_dir, manifest, cfg)
    records = shard_records(manifest.records, shard)
    result = PrepareResult(out_dir)
    finished: dict[int, Record] = {}
    tasks = []
    for i, rec in enumerate(records):
        target = video_file(out_dir, rec.key)
        attrs = read_attrs(target) if target.exists() else None
        if attrs is not None:
            finished[i] = _with_attrs(rec, attrs)
            result.reused += 1
        else:
            tasks.append((i, str(manifest.abspath(rec)), str(target), cfg))
    if result.reused:
        log.info("resuming: %d of %d videos already prepared", result.reused, len(records))

    with _progress(progress, len(tasks), f"prepare {manifest.dataset or 'dataset'}") as advance:
        for i, attrs, reason in _run_pool(tasks, workers or os.cpu_count() or 1):
            if attrs is None:
                rec = records[i]
                result.skipped.append({"path": str(manifest.abspath(rec)), "key": rec.key,
                                       "reason": str(reason)})
                log.warning("skipped %s: %s", manifest.abspath(rec), reason)
            else:
                finished[i] = _with_attrs(records[i], attrs)
                result.done += 1
            advance()

    meta = {**manifest.meta, "prepare": {**cfg.to_dict(), "flow_bound": cfg.flow_bound}}
    part = Manifest(manifest.classes, [finished[i] for i in sorted(finished)], manifest.dataset,
                    manifest.root, meta)
    result.skipped.sort(key=lambda s: s["key"])
    write_part(out_dir, shard, part, result.skipped)
    result.manifest = merge_shards(out_dir)
    result.seconds = time.perf_counter() - t0
    return result


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

