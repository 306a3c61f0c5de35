"""Scale by simulation: prepare UCF101-like clips in 4 shards, measure, project to real datasets.

Synthetic clips of UCF101's size and length (320x240, 7 s at 25 fps, H.264; a textured,
panning background with moving shapes and sensor noise, so JPEG sizes are not trivially
small) are prepared as an array job would: ``prepare --shard k/4`` for k = 1..4 into one
cache (each shard with every core of this machine; the last one merges), at a 112-pixel short
side with RGB and DIS flow, JPEG-coded (the default). Measured in the same run:

- throughput: videos and frames per second per core (wall time x processes);
- bytes per frame of the cache (RGB + flow) against raw uint8 at the same size;
- load throughput over 2 processes, 16-frame RGB clips (stride 2) and 16-frame flow stacks:
  from the cache, against decoding the source videos (PyAV, resized as ``prepare`` does), and
  against computing the flow on the fly (decode + DIS);
- the projection ``prepare`` printed from its first videos, against what the shard measured.

Then it projects wall time and disk for UCF101 (13,320 videos), HMDB51 (6,766) and
Kinetics-400 (~240,000) on 2, 16 and 64 cores, from the measured cost per frame (see
docs/scale.md for the frame counts assumed and what limits the projection).

Run:  .venv/bin/python benchmarks/bench_scale.py [--clips 240] [--workers 2] [--keep]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import subprocess
import tempfile
import time
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from actionlab.data import flow as flowlib  # noqa: E402
from actionlab.data.adapters import folder  # noqa: E402
from actionlab.data.cache import Cache  # noqa: E402
from actionlab.data.prepare import PrepareConfig, prepare  # noqa: E402
from actionlab.data.video import read_frames  # noqa: E402

W, H, FPS, SECONDS = 320, 240, 25, 7.0
SHORT_SIDE, CLIP, STRIDE, SHARDS = 112, 16, 2, 4
# (videos, mean frames per video, typical source) per dataset; see docs/scale.md.
DATASETS = {
    "UCF101": (13_320, 186, "320x240, 25 fps, mean 7.2 s"),
    "HMDB51": (6_766, 95, "~340x256, 30 fps, mean ~3.2 s"),
    "Kinetics-400": (240_000, 300, "10 s at ~30 fps (decoded at 340x256 or larger)"),
}
CORES = (2, 16, 64)


def make_clip(task: tuple[Path, int]) -> None:
    """One 7 s 320x240 clip: a panning texture, two moving shapes, sensor noise."""
    path, seed = task
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.integers(0, 256, (H + 160, W + 320, 3), np.uint8), (0, 0), 3)
    tex = cv2.normalize(tex, None, 30, 220, cv2.NORM_MINMAX)
    colors = rng.integers(0, 256, (2, 3)).tolist()
    n = int(SECONDS * FPS)
    speed = rng.uniform(0.5, 2.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(FPS))
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"preset": "veryfast", "crf": "23"}
        for i in range(n):
            x0 = int(i * speed) % 320
            f = tex[80 : 80 + H, x0 : x0 + W].copy()
            t = i / n
            cv2.circle(f, (int(40 + 240 * t), int(120 + 60 * np.sin(6 * t))), 28, colors[0], -1)
            cv2.rectangle(f, (int(260 - 200 * t), 40), (int(300 - 200 * t), 120), colors[1], -1)
            f = cv2.add(f, rng.integers(0, 6, f.shape, np.uint8))
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def make_set(root: Path, n: int, workers: int) -> None:
    tasks = [(root / f"class{k % 10:02d}" / f"clip{k:05d}.mp4", k) for k in range(n)]
    tasks = [t for t in tasks if not t[0].is_file()]
    with mp.get_context("forkserver").Pool(workers) as pool:
        pool.map(make_clip, tasks, chunksize=4)


_CACHES: dict[str, Cache] = {}
MODES = ("cache rgb", "decode rgb", "cache flow", "flow on the fly")


def _load_one(cache: Cache, mode: str, rec, idx: np.ndarray) -> None:
    if mode == "cache rgb":
        cache.rgb(rec, idx)
    elif mode == "cache flow":
        cache.flow(rec, idx)
    elif mode == "decode rgb":
        read_frames(cache.manifest.abspath(rec), idx, short_side=SHORT_SIDE, threads=1)
    else:  # flow on the fly: decode each sampled frame and its successor, then DIS
        pairs = np.stack([idx, idx + 1], 1).reshape(-1)
        f = read_frames(cache.manifest.abspath(rec), pairs, short_side=SHORT_SIDE, threads=1)
        for a, b in f.reshape(CLIP, 2, *f.shape[1:]):
            flowlib.compute_flow(np.stack([a, b]), "dis", bound=flowlib.DEFAULT_BOUND)


def _load_worker(args: tuple[str, list[tuple[int, int]]]) -> dict[str, list[float]]:
    """Load each (record, start) clip every way in turn; per way, the seconds per clip.

    Interleaving the ways clip by clip gives each the same share of whatever else the machine
    runs meanwhile (measured one after the other, a burst of other load lands on one of them).
    Flow on the fly, the slowest by far, runs for every 4th clip. Each cache read opens the
    video's file afresh (no entry stays open from another read): with more videos than the
    256 entries a ``Cache`` keeps open, that is what every training sample pays.
    """
    cache_dir, picks = args
    if cache_dir not in _CACHES:
        _CACHES[cache_dir] = Cache(cache_dir)  # one per worker, as in training
    cache = _CACHES[cache_dir]
    recs = cache.records()
    spent: dict[str, list[float]] = {m: [] for m in MODES}
    for k, (r, start) in enumerate(picks):
        idx = start + STRIDE * np.arange(CLIP)
        for mode in MODES if k % 4 == 0 else MODES[:3]:
            cache.close()  # every read opens its entry, as training over a large set does
            t0 = time.perf_counter()
            _load_one(cache, mode, recs[r], idx)
            spent[mode].append(time.perf_counter() - t0)
    return spent


def load_rates(cache_dir: Path, n_clips: int, procs: int) -> dict[str, float]:
    """Clips per second over ``procs`` processes, per way of loading (same clips for each)."""
    cache = Cache(cache_dir)
    recs = cache.records()
    rng = np.random.default_rng(0)
    picks = []
    for _ in range(n_clips):
        r = int(rng.integers(len(recs)))
        picks.append((r, int(rng.integers(recs[r].frames - 1 - STRIDE * CLIP))))
    with mp.get_context("forkserver").Pool(procs) as pool:
        pool.map(_load_worker, [(str(cache_dir), picks[:2])] * procs)  # warm-up: imports, codecs
        parts = pool.map(_load_worker, [(str(cache_dir), picks[k::procs]) for k in range(procs)])
    # procs processes load in parallel: the rate is procs / (mean seconds per clip).
    return {m: procs / float(np.mean([t for p in parts for t in p[m]])) for m in MODES}


def cpu_name() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if "Model name" in ln), "?")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=240, help="synthetic clips (4 shards)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--load-clips", type=int, default=96)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "actionlab-scale")
    ap.add_argument("--keep", action="store_true", help="keep the clips and the cache")
    ap.add_argument("--load-only", action="store_true",
                    help="only the loading figures, from a cache kept by --keep")
    args = ap.parse_args()
    if args.load_only:
        rates = load_rates(args.dir / "cache", args.load_clips, 2)
        _print_rates(rates)
        return
    src, out = args.dir / "clips", args.dir / "cache"
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; {args.workers} processes")
    t0 = time.perf_counter()
    make_set(src, args.clips, args.workers)
    print(f"{args.clips} synthetic clips {W}x{H}, {SECONDS:.0f} s at {FPS} fps: "
          f"{time.perf_counter() - t0:.0f} s to write")
    shutil.rmtree(out, ignore_errors=True)
    m = folder(src)
    cfg = PrepareConfig(short_side=SHORT_SIDE, inputs=("rgb", "flow"), flow_method="dis")
    walls, lines = [], []
    for k in range(1, SHARDS + 1):
        t = time.perf_counter()
        res = prepare(m, out, cfg, workers=args.workers, shard=(k, SHARDS), progress=False,
                      on_estimate=lines.append)
        walls.append(time.perf_counter() - t)
        if k == 1 and res.estimate is not None:
            shard_bytes = sum(p.stat().st_size for p in (out / "videos").glob("*.h5"))
            print(f"shard 1 projected {res.estimate.total_bytes / 1e6:.0f} MB, "
                  f"{res.estimate.seconds:.1f} s; measured {shard_bytes / 1e6:.0f} MB, "
                  f"{walls[0]:.1f} s")
    cache = Cache(out)
    recs = cache.records()
    frames = sum(r.frames for r in recs)
    disk = sum(p.stat().st_size for p in (out / "videos").glob("*.h5"))
    h, w = cache.rgb(recs[0], np.array([0])).shape[1:3]
    raw = frames * h * w * 3 + sum(r.frames - 1 for r in recs) * h * w * 2
    wall = sum(walls)
    core_s = wall * args.workers
    per_frame = core_s / frames
    print(f"prepared {len(recs)} videos, {frames} frames at {w}x{h} in {wall:.1f} s wall "
          f"({SHARDS} shards x {args.workers} processes): {len(recs) / core_s:.2f} videos/s "
          f"and {frames / core_s:.0f} frames/s per core")
    print(f"cache {disk / 1e6:.1f} MB = {disk / frames:.0f} bytes per frame (rgb+flow); raw "
          f"uint8 {raw / frames:.0f}: ratio 1/{raw / disk:.1f} (target <= 1/8)")
    _print_rates(load_rates(out, args.load_clips, 2))
    bpf = disk / frames
    print("\n| dataset | videos | frames (assumed) | cache | " + " | ".join(
        f"{c} cores" for c in CORES) + " |")
    print("|---|---|---|---|" + "---|" * len(CORES))
    for name, (n, fpv, _) in DATASETS.items():
        total = n * fpv
        times = [per_frame * total / c for c in CORES]
        print(f"| {name} | {n:,} | {total / 1e6:.2f} M | {bpf * total / 1e9:.1f} GB | "
              + " | ".join(_hours(t) for t in times) + " |")
    ucf = DATASETS["UCF101"][0] * DATASETS["UCF101"][1] * bpf / 1e9
    print(f"projected UCF101 cache {ucf:.1f} GB (target <= 20 GB); cost per frame "
          f"{per_frame * 1e3:.2f} core-ms; write rate at 64 cores "
          f"{64 / per_frame * bpf / 1e6:.0f} MB/s")
    if not args.keep:
        shutil.rmtree(args.dir, ignore_errors=True)


def _print_rates(rates: dict[str, float]) -> None:
    print(f"loading {CLIP}-frame clips (stride {STRIDE}) over 2 processes, clips/s: "
          + ", ".join(f"{k} {v:.1f}" for k, v in rates.items()))
    print(f"  cache rgb / decoding the sources: {rates['cache rgb'] / rates['decode rgb']:.1f}x "
          f"(target >= 3x); cache flow / flow on the fly: "
          f"{rates['cache flow'] / rates['flow on the fly']:.0f}x (target >= 20x)")


def _hours(s: float) -> str:
    return f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"


if __name__ == "__main__":
    main()
