"""Loading a training batch from the cache against decoding the same batch from the videos.

For each input kind the same records, the same frame indices and the same transforms are
used; the baseline decodes the frames from the source video (``read_frames``, only up to the
last needed frame, resized to 112x112 as ``prepare`` does) and, for flow, computes DIS flow
for the needed pairs. Batches are loaded in this process (``num_workers=0``), so the figures
are per-core costs; every repeat reopens the cache files, as training over a set larger than
the cache's 256 open entries does. Target: the cache is at least 5x faster.

Two clip sets: the default synthetic set (112x112 H.264, whose decoding is unusually cheap)
and the real clips of ``../shared/data/videos`` (320x240 to 640x480), linked into a
folder-per-class tree and prepared at 112x112 into their own cache next to the synthetic one.

Run:  .venv/bin/python benchmarks/bench_loading.py [--batch 16] [--repeats 3] [--real DIR]
      [--keep-open]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from actionlab.runtime import tune_malloc  # noqa: E402

tune_malloc()  # as in training: Trainer.fit sets it, and DataLoader workers fork from there

from actionlab.data.adapters import folder, ucf101  # noqa: E402
from actionlab.data.cache import Cache  # noqa: E402
from actionlab.data.datasets import build_dataset  # noqa: E402
from actionlab.data.inputs import VideoSource, make_input  # noqa: E402
from actionlab.data.prepare import PrepareConfig, prepare  # noqa: E402
from actionlab.data.video import VIDEO_EXTS  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from bench_prepare import SIZE, default_clip_set  # noqa: E402

BENCH = Path(tempfile.gettempdir()) / "actionlab-bench"
CACHE = BENCH / "cache-112"
REAL_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
KINDS: dict[str, dict] = {
    "clip rgb 16x112x112": dict(kind="clip", length=16, stride=2),
    "tsn rgb 3 segments": dict(kind="tsn", num_segments=3),
    "two-stream frame + 16 flow": dict(kind="two_stream", flow_length=16, flow_stride=2),
}


def cache_for(clips: Path) -> Path:
    if not (CACHE / "manifest.json").is_file():
        prepare(ucf101(clips), CACHE, PrepareConfig(size=SIZE), workers=2, progress=False)
    return CACHE


def real_cache(videos: Path) -> Path:
    """A 112x112 rgb+flow cache of every video under ``videos`` (made once, then reused).

    The videos are linked into a folder-per-class tree (class = the video's parent folder),
    read with the ``folder`` adapter. Tree and cache are named after the source folder, so
    another ``--real`` folder gets its own.
    """
    tag = hashlib.sha1(str(videos.resolve()).encode()).hexdigest()[:8]
    tree, out = BENCH / f"real-tree-{tag}", BENCH / f"cache-real-112-{tag}"
    if (out / "manifest.json").is_file() and tree.is_dir():
        return out
    shutil.rmtree(tree, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    for p in sorted(videos.rglob("*")):
        if p.suffix.lower() in VIDEO_EXTS and p.is_file():
            link = tree / p.parent.name / p.name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(p.resolve())
    t = time.perf_counter()
    res = prepare(folder(tree, stills=False), out, PrepareConfig(size=SIZE), workers=2,
                  progress=False)
    print(f"prepared {res.done} real videos in {time.perf_counter() - t:.1f}s"
          + (f" ({len(res.skipped)} skipped)" if res.skipped else ""))
    return out


def source_sample(ds, i: int, seed: int):
    """The sample ``ds[i]`` would give, decoded from the source video instead of the cache:
    the same make_input on a VideoSource (seeking to the frames, flow computed per pair)."""
    rec = ds.records[i]
    spec = ds.input_spec
    src = VideoSource(str(ds.cache.manifest.abspath(rec)), int(rec.frames), SIZE,
                      spec.flow_method, spec.flow_bound)
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    return make_input(spec, src, True, rng, gen, ds.transforms)


def time_batches(fn: Callable[[int, int], object], batch: list[int], repeats: int,
                 before: Callable[[], None] = lambda: None) -> float:
    """Median seconds for ``fn(i, seed)`` over the batch; ``before`` runs untimed each repeat."""
    times = []
    for r in range(repeats):
        before()
        t = time.perf_counter()
        for k, i in enumerate(batch):
            fn(i, 1000 * r + k)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def rows(cache: Cache, batch_size: int, repeats: int, keep_open: bool = False) -> None:
    """One line per input kind: cache and source time for the same batch, and their ratio."""
    for label, params in KINDS.items():
        params = dict(params)
        ds = build_dataset(cache, params.pop("kind"), "train", train=True, **params)
        if len(ds) >= batch_size:
            batch = list(range(0, len(ds), max(1, len(ds) // batch_size)))[:batch_size]
        else:  # a small set: its records in turn (each sample draws its own frames)
            batch = [k % len(ds) for k in range(batch_size)]

        def from_cache(i: int, seed: int, ds=ds) -> None:
            # The CPU generator alone: torch.manual_seed also queues CUDA seeding with a stack
            # trace (0.1 ms, a twentieth of a sample), a cost of this harness, not of loading.
            torch.default_generator.manual_seed(seed)
            ds[i]

        # Unless --keep-open, each repeat opens its files again, as training over more videos
        # than the cache keeps open does (every sample a new file). One untimed pass first takes
        # the one-off costs of a fresh process (lazy initialisation), which fell on the first row.
        time_batches(from_cache, batch, 1)
        t_cache = time_batches(from_cache, batch, repeats,
                               before=(lambda: None) if keep_open else cache.close)
        t_src = time_batches(lambda i, s, ds=ds: source_sample(ds, i, s), batch, repeats)
        print(f"  {label:28s} cache {1000 * t_cache:7.1f} ms   source videos "
              f"{1000 * t_src:7.1f} ms   -> {t_src / t_cache:5.1f}x faster from the cache")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=Path, help="A clip set in UCF101 layout (default: synthetic)")
    ap.add_argument("--real", type=Path, default=REAL_VIDEOS,
                    help=f"Folder of real videos, class = parent folder (default: {REAL_VIDEOS})")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep-open", action="store_true",
                    help="Keep cache files open between repeats (a set of at most 256 videos)")
    args = ap.parse_args()
    synthetic = Cache(cache_for(args.clips or default_clip_set()))
    real = None
    if args.real.is_dir() and any(p.suffix.lower() in VIDEO_EXTS for p in args.real.rglob("*")):
        real = Cache(real_cache(args.real))
    print(f"batch of {args.batch} training samples, median of {args.repeats}, one process, "
          + ("cache files kept open" if args.keep_open else "cache files reopened each repeat"))
    print(f"clip set {args.clips}" if args.clips else "synthetic clips (112x112 H.264: the "
          "source side decodes unusually cheaply, so this understates the cache's advantage)")
    rows(synthetic, args.batch, args.repeats, args.keep_open)
    if real is None:
        print(f"real clips: skipped, no videos under {args.real} (pass --real DIR)")
        return
    sizes = sorted((r.width * r.height, f"{r.width}x{r.height}") for r in real.records()
                   if r.width and r.height)
    span = f", {sizes[0][1]} to {sizes[-1][1]}" if sizes else ""
    print(f"real clips ({len(real.records())} videos under {args.real}{span}: decoded at "
          "their own size and resized to 112x112, as prepare does)")
    rows(real, args.batch, args.repeats, args.keep_open)


if __name__ == "__main__":
    main()
