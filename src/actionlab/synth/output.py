"""Writing a product safely: option checks, a staging folder, and a manifest of our files.

Everything is written into a staging folder next to ``OUT`` and moved into place only when
the whole product is done, so a failure leaves nothing half-written. ``OUT/synth_manifest.json``
lists every file this tool wrote; ``--overwrite`` removes only those, never anyone else's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from actionlab.errors import InputError
from actionlab.io import write_json_atomic
from actionlab.runtime import process_context, thread_budget
from actionlab.synth.motions import CLASSES

MANIFEST = "synth_manifest.json"

# A product writer yields ``(function, tasks)`` once, receives ``[function(t) for t in tasks]``
# and then writes the product's index files, returning its annotations. Several writers can
# so share one process pool (see :func:`drive`).
Writer = Generator[tuple[Callable[[Any], Any], list], list, list]
MAX_SIDE = 1920


def check_classes(classes: Iterable[str] | None) -> list[str]:
    """Known, unique class names in :data:`CLASSES` order (all when ``None``)."""
    if classes is None:
        return list(CLASSES)
    names = [c.strip() for c in classes if c.strip()]
    unknown = [c for c in names if c not in CLASSES]
    if unknown:
        raise InputError(f"--classes: unknown class {', '.join(unknown)}; "
                         f"choose from {', '.join(CLASSES)}")  # fmt: skip
    if not names:
        raise InputError("--classes: no class given")
    return [c for c in CLASSES if c in names]


def check_count(name: str, n: int) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InputError(f"{name}: must be a positive whole number, got {n!r}")
    return n


def parse_size(size: str | Sequence[int]) -> tuple[int, int]:
    """``"WxH"`` or ``(W, H)`` -> (W, H); both even (yuv420p), 16..1920."""
    if isinstance(size, str):
        m = re.fullmatch(r"\s*(-?\d+)\s*[xX]\s*(-?\d+)\s*", size)
        if not m:
            raise InputError(f"--size: expected WxH such as 112x112, got {size!r}")
        w, h = int(m.group(1)), int(m.group(2))
    else:
        w, h = (int(v) for v in size)
    if min(w, h) < 16 or max(w, h) > MAX_SIDE:
        raise InputError(f"--size: {w}x{h} is out of range; each side must be 16..{MAX_SIDE}")
    if w % 2 or h % 2:
        raise InputError(f"--size: {w}x{h} has an odd side; H.264 yuv420p needs even sides "
                         f"(try {w + w % 2}x{h + h % 2})")  # fmt: skip
    return w, h


def check_fps(fps: float) -> float:
    if not 1 <= fps <= 120:
        raise InputError(f"--fps: must be between 1 and 120, got {fps}")
    return float(fps)


def check_difficulty(d: str) -> str:
    if d not in ("easy", "medium", "hard"):
        raise InputError(f"--difficulty: must be easy, medium or hard, got {d!r}")
    return d


def _read_manifest(out: Path) -> dict:
    p = out / MANIFEST
    if not p.is_file():
        return {"files": {}}
    try:
        data = json.loads(p.read_text())
        return data if isinstance(data.get("files"), dict) else {"files": {}}
    except (OSError, ValueError):
        return {"files": {}}


def _existing(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() or p.is_symlink()}


def check_out_dir(out: str | Path, overwrite: bool, products: Sequence[str] = ()) -> Path:
    """Refuse an ``out`` that is a file, or, unless ``overwrite``, that holds files other than
    this tool's or an earlier copy of one of ``products`` (adding another product is fine)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; choose another output folder")
    if out.is_dir() and not overwrite:
        have = _existing(out)
        listed = _read_manifest(out)["files"]
        ours = {f for fs in listed.values() for f in fs} | {MANIFEST}
        n = len(have - ours)
        again = [p for p in products if listed.get(p)]
        if n or again:
            what = (f"{n} other file{'s' * (n > 1)}" if n
                    else f"an earlier synthetic {', '.join(again)}")  # fmt: skip
            raise InputError(f"{out}: already holds {what}; pass --overwrite to replace "
                             "(only files this tool wrote are removed) or choose an empty folder")
    return out


@contextlib.contextmanager
def staged(out: str | Path, products: Sequence[str], overwrite: bool) -> Iterator[Path]:
    """Yield a staging folder holding ``<product>/`` folders; on success move them into ``out``.

    The staging folder sits next to ``out`` (same file system, so moves are renames) and is
    removed whatever happens; ``out`` is touched only after every product is complete.
    """
    out = check_out_dir(out, overwrite, products)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.synth-", dir=out.parent))
    try:
        for product in products:
            (stage / product).mkdir()
        yield stage
        for product in products:  # check every product before moving anything
            _check_clashes(stage, out, product)
        for product in products:
            _commit(stage, out, product)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _staged_files(stage: Path, product: str) -> list[str]:
    files = (stage / product).rglob("*")
    return sorted(p.relative_to(stage).as_posix() for p in files if p.is_file())


def _check_clashes(stage: Path, out: Path, product: str) -> None:
    """Refuse to replace a file that this tool did not write."""
    if not out.is_dir():
        return
    ours = {f for fs in _read_manifest(out)["files"].values() for f in fs}
    clash = [f for f in _staged_files(stage, product) if (out / f).exists() and f not in ours]
    if clash:
        raise InputError(f"{out / clash[0]}: exists and was not written by actionlab synth; "
                         "move it away or choose another output folder")  # fmt: skip


def _commit(stage: Path, out: Path, product: str) -> None:
    new = _staged_files(stage, product)
    manifest = _read_manifest(out) if out.is_dir() else {"files": {}}
    old = set(manifest["files"].get(product, []))
    for f in old:  # remove only what we wrote before
        with contextlib.suppress(FileNotFoundError):
            (out / f).unlink()
    for f in new:
        dst = out / f
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / f, dst)
    for d in sorted({(out / f).parent for f in old}, key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            d.rmdir()  # only if empty
    manifest["files"][product] = new
    manifest["tool"] = "actionlab synth"
    write_json_atomic(out / MANIFEST, manifest)


def _call(job: tuple[Callable[[Any], Any], Any]) -> Any:
    fn, task = job
    return fn(task)


def drive(writers: list[Writer], workers: int | None, progress: bool) -> list[list]:
    """Run every writer's tasks in one pool (in the order given), then let each finish."""
    asks = [next(w) for w in writers]
    jobs = [(fn, t) for fn, tasks in asks for t in tasks]
    results = run_tasks(_call, jobs, workers, "synth", progress)
    out, k = [], 0
    for w, (_, tasks) in zip(writers, asks):
        try:
            w.send(results[k : k + len(tasks)])
        except StopIteration as stop:
            out.append(stop.value)
        else:
            raise RuntimeError("a product writer must yield exactly once")
        k += len(tasks)
    return out


def run_tasks(
    fn: Callable[[Any], Any], tasks: list, workers: int | None, label: str, progress: bool
) -> list:
    """``[fn(t) for t in tasks]`` in order, over ``workers`` processes, with a progress bar."""
    if workers is None:
        workers = max(1, min(len(tasks), thread_budget(), 8))  # usable cores or the budget
    if workers < 1:
        raise InputError(f"--workers: must be >= 1, got {workers}")
    cols = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*cols, disable=not progress, transient=False) as bar:
        job = bar.add_task(label, total=len(tasks))
        if workers == 1 or len(tasks) <= 1:
            results = []
            for t in tasks:
                results.append(fn(t))
                bar.advance(job)
            return results
        # never plain fork: a forked writer once hung in FFmpeg's swscale on a lock copied
        # from a test session's threads (see process_context)
        with ProcessPoolExecutor(max_workers=workers,
                                 mp_context=process_context([fn.__module__])) as pool:
            results = []
            for r in pool.map(fn, tasks, chunksize=1):
                results.append(r)
                bar.advance(job)
            return results
