"""Loading a training batch from the cache against decoding the same batch from the videos.

For each input kind the same records, the same frame indices and the same transforms are
used; the baseline decodes the frames from the source mp4 (``read_frames``, only up to the
last needed frame) and, for flow, computes DIS flow for the needed pairs. Batches are loaded
in this process (``num_workers=0``), so the figures are per-core costs. Target: the cache is
at least 5x faster.

Run:  .venv/bin/python benchmarks/bench_loading.py [--batch 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from actionlab.data import flow as flowlib  # noqa: E402
from actionlab.data import sampling  # noqa: E402
from actionlab.data.adapters import ucf101  # noqa: E402
from actionlab.data.cache import Cache  # noqa: E402
from actionlab.data.datasets import _clip_around, build_dataset, flow_tensor, rgb_tensor  # noqa: E402
from actionlab.data.prepare import PrepareConfig, prepare  # noqa: E402
from actionlab.data.video import read_frames  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from bench_prepare import SIZE, default_clip_set  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "actionlab-bench" / "cache-112"


def cache_for(clips: Path) -> Path:
    if not (CACHE / "manifest.json").is_file():
        prepare(ucf101(clips), CACHE, PrepareConfig(size=SIZE), workers=2, progress=False)
    return CACHE


def source_sample(ds, i: int, seed: int):
    """The sample ``ds[i]`` would give, decoded from the source video instead of the cache."""
    rec = ds.records[i]
    path = ds.cache.manifest.abspath(rec)
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    n = int(rec.frames)
    if ds.kind == "clip":
        idx = sampling.random_clip(n, ds.length, ds.stride, rng)
        frames = read_frames(path, idx, size=SIZE, threads=1)
        return ds.transform(rgb_tensor(frames), gen).permute(1, 0, 2, 3)
    if ds.kind == "tsn":
        idx = sampling.tsn_segments(n, ds.num_segments, ds.length, True, rng)
        return ds.transform(rgb_tensor(read_frames(path, idx, size=SIZE, threads=1)), gen)
    # two_stream: the centre frame, and flow for the needed frame pairs
    center = int(rng.integers(n))
    fidx = _clip_around(n - 1, min(center, n - 2), ds.flow_length, ds.flow_stride)
    need = np.unique(np.concatenate([fidx, fidx + 1, [center]]))
    frames = dict(zip(need.tolist(), read_frames(path, need, size=SIZE, threads=1)))
    flows = np.stack([flowlib.compute_flow(np.stack([frames[k], frames[k + 1]]), "dis")[0]
                      for k in fidx.tolist()])
    q = flowlib.quantize(flows, ds.cache.flow_bound)
    rgb = ds.transform(rgb_tensor(frames[center][None]), gen)
    return rgb[0], ds.flow_transform(flow_tensor(q), gen)


def time_batches(fn, batch: list[int], repeats: int) -> float:
    times = []
    for r in range(repeats):
        t = time.perf_counter()
        for k, i in enumerate(batch):
            fn(i, 1000 * r + k)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=Path, help="A clip set in UCF101 layout (default: synthetic)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cache = Cache(cache_for(args.clips or default_clip_set()))
    kinds = {
        "clip rgb 16x112x112": dict(kind="clip", length=16, stride=2),
        "tsn rgb 3 segments": dict(kind="tsn", num_segments=3),
        "two-stream frame + 16 flow": dict(kind="two_stream", flow_length=16, flow_stride=2),
    }
    print(f"batch of {args.batch} training samples, median of {args.repeats}, one process")
    for label, params in kinds.items():
        ds = build_dataset(cache, params.pop("kind"), "train", train=True, **params)
        batch = list(range(0, len(ds), max(1, len(ds) // args.batch)))[: args.batch]

        def from_cache(i: int, seed: int, ds=ds) -> None:
            torch.manual_seed(seed)
            ds[i]

        t_cache = time_batches(from_cache, batch, args.repeats)
        t_src = time_batches(lambda i, s, ds=ds: source_sample(ds, i, s), batch, args.repeats)
        print(f"{label:28s} cache {1000 * t_cache:7.1f} ms   source videos "
              f"{1000 * t_src:7.1f} ms   -> {t_src / t_cache:5.1f}x faster from the cache")


if __name__ == "__main__":
    main()
