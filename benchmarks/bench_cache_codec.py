"""Choosing the cache's frame codec: bytes per frame, coding speed and error, per JPEG quality.

Frames come from real clips (``../shared/data/videos``: UCF101, HMDB51, Kinetics, UT-Interaction,
ASL; 320x240 to 720x480) resized to a 112-pixel short side as ``prepare --short-side 112``
does, and their DIS flow quantised with the default bound (20 px). For each JPEG quality the
script prints, for RGB and for flow: bytes per frame against raw uint8, encode and decode time
per frame, and the max / mean absolute error in uint8 steps (for flow also in pixels: one step
is 2 * 20 / 255 = 0.157 px). Decoding is what training pays per sampled frame.

Run:  .venv/bin/python benchmarks/bench_cache_codec.py [--clips 10] [--frames 120]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

cv2.setNumThreads(1)

from actionlab.data import codec  # noqa: E402
from actionlab.data import flow as flowlib  # noqa: E402
from actionlab.data.video import VIDEO_EXTS, read_video  # noqa: E402

REAL_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
QUALITIES = (75, 85, 90, 95)


def real_clips(n: int) -> list[Path]:
    """Up to ``n`` clips, round-robin over the dataset folders (so every source is present)."""
    groups = [sorted(p for p in d.rglob("*") if p.suffix.lower() in VIDEO_EXTS)
              for d in sorted(REAL_VIDEOS.iterdir()) if d.is_dir()]
    picked: list[Path] = []
    while len(picked) < n and any(groups):
        for g in groups:
            if g and len(picked) < n:
                picked.append(g.pop(0))
    return picked


def load(clips: list[Path], frames: int, short_side: int
         ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rgb, flow = [], []
    for p in clips:
        f, _ = read_video(p, short_side=short_side, threads=1)
        f = f[:frames]
        rgb.append(f)
        flow.append(flowlib.compute_flow(f, "dis", bound=flowlib.DEFAULT_BOUND))
    return rgb, flow


def measure(videos: list[np.ndarray], kind: str, quality: int) -> dict[str, float]:
    raw = sum(v.nbytes for v in videos)
    n = sum(len(v) for v in videos)
    t0 = time.perf_counter()
    coded = [codec.encode(v, kind, quality) for v in videos]
    t_enc = time.perf_counter() - t0
    size = sum(len(d) + o.nbytes for d, o in coded)
    t0 = time.perf_counter()
    err_max, err_sum = 0, 0.0
    decoded = []
    for (data, off), v in zip(coded, videos, strict=True):
        out = np.empty_like(v)
        for i in range(len(v)):
            codec.decode_into(data[off[i]:off[i + 1]], kind, out[i])
        decoded.append(out)
    t_dec = time.perf_counter() - t0
    for out, v in zip(decoded, videos, strict=True):
        d = np.abs(out.astype(np.int16) - v)
        err_max, err_sum = max(err_max, int(d.max())), err_sum + float(d.sum())
    return dict(bytes=size / n, raw=raw / n, enc_ms=1e3 * t_enc / n, dec_ms=1e3 * t_dec / n,
                max=err_max, mean=err_sum / sum(v.size for v in videos))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--frames", type=int, default=120, help="frames kept per clip")
    ap.add_argument("--short-side", type=int, default=112)
    args = ap.parse_args()
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpu.splitlines() if "Model name" in ln), "?")
    clips = real_clips(args.clips)
    rgb, flow = load(clips, args.frames, args.short_side)
    n = sum(len(v) for v in rgb)
    shape = rgb[0].shape[1:3]
    print(f"{len(clips)} real clips, {n} frames at short side {args.short_side} "
          f"(first clip {shape[1]}x{shape[0]}); CPU: {cpu}; one thread")
    step = 2 * flowlib.DEFAULT_BOUND / 255
    print("| stream | quality | bytes/frame | raw/frame | ratio | encode ms | decode ms | "
          "max err | mean err |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, videos in (("rgb", rgb), ("flow", flow)):
        for q in QUALITIES:
            m = measure(videos, kind, q)
            px = f" ({m['max'] * step:.2f} / {m['mean'] * step:.3f} px)" if kind == "flow" else ""
            print(f"| {kind} | {q} | {m['bytes']:.0f} | {m['raw']:.0f} | "
                  f"1/{m['raw'] / m['bytes']:.1f} | {m['enc_ms']:.3f} | {m['dec_ms']:.3f} | "
                  f"{m['max']} | {m['mean']:.2f}{px} |")


if __name__ == "__main__":
    main()
