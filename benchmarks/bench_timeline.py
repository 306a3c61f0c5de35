"""How fast ``actionlab timeline`` labels a video, against the same pipeline with TV-L1 flow.

The target: on 2 CPU cores, a 320x240, 25 fps video with the default two-stream model (the
demo's compact ResNet-like frame model + compact (2+1)D flow model, average fusion) is labelled
at 10x real time or faster (seconds of video per second of wall time). The baseline is the
same pipeline computing TV-L1 flow with OpenCV's default settings, as the study did. Weights are
random: speed does not depend on them.

Run:  .venv/bin/python benchmarks/bench_timeline.py [--seconds 12] [--video PATH] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

# The demo's two-stream input, as its config writes it (see configs/ and actionlab.demo).
DEFAULT_SPEC: dict[str, Any] = {
    "kind": "two_stream",
    "modality": "rgb+flow",
    "size": [112, 112],
    "frames": 16,
    "stride": 2,
    "segments": 1,
    "flow": {"method": "dis", "bound": 20.0},
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}
NUM_CLASSES = 12


def synthetic_video(path: Path, seconds: float, fps: int = 25, size: tuple[int, int] = (320, 240)) -> Path:
    """A textured 320x240 clip with two moving blocks (so flow has real work to do)."""
    import av

    w, h = size
    rng = np.random.default_rng(0)
    texture = rng.integers(40, 200, (h * 2, w * 2, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(int(seconds * fps)):
            img = texture[i % h : i % h + h, (2 * i) % w : (2 * i) % w + w].copy()
            x = int((w - 60) * (0.5 + 0.5 * np.sin(i / 12)))
            img[60:140, x : x + 60] = (230, 40, 40)
            img[150:200, (3 * i) % (w - 40) : (3 * i) % (w - 40) + 40] = (30, 30, 220)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def default_model(spec: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The registry's default two-stream model (random weights) and a checkpoint-style meta."""
    from actionlab.models import build_model

    kwargs = {"num_classes": NUM_CLASSES}
    model = build_model("two_stream", **kwargs).eval()
    meta = {"model": {"name": "two_stream", "kwargs": kwargs},
            "classes": [f"class_{i}" for i in range(NUM_CLASSES)], "input": spec}
    return model, meta


def run_once(model: Any, meta: dict[str, Any], video: Path, out: Path | None) -> dict[str, float]:
    """Time the timeline pipeline: decode, flow, windows through the model, segments (+ files)."""
    from actionlab.infer.outputs import save_timeline
    from actionlab.infer.runner import TorchRunner
    from actionlab.infer.timeline import run_timeline

    runner = TorchRunner(model, meta)
    t0 = time.perf_counter()
    tl, decoded = run_timeline(runner, video, keep_native=out is not None)
    t1 = time.perf_counter()
    if out is not None:
        save_timeline(tl, out, frames=decoded.native)
    t2 = time.perf_counter()
    return {"video_s": tl.duration, "core_s": t1 - t0, "total_s": t2 - t0,
            "windows": len(tl.times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="A 320x240 25 fps video (default: synthetic).")
    parser.add_argument("--seconds", type=float, default=12.0, help="Synthetic video length.")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch and OpenCV).")
    parser.add_argument("--no-baseline", action="store_true", help="Skip the TV-L1 run.")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON too.")
    args = parser.parse_args()

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or synthetic_video(Path(tmp) / "bench.mp4", args.seconds)
        model, meta = default_model(DEFAULT_SPEC)
        run_once(model, meta, video, None)  # warm-up: imports, allocator, codec
        fast = run_once(model, meta, video, Path(tmp) / "out")
        rows = [("timeline (DIS flow)", fast)]
        if not args.no_baseline:
            tvl1_spec = {**DEFAULT_SPEC, "flow": {**DEFAULT_SPEC["flow"], "method": "tvl1"}}
            slow = run_once(model, {**meta, "input": tvl1_spec}, video, Path(tmp) / "out_tvl1")
            rows.append(("same with TV-L1 flow", slow))
    print(f"video: {fast['video_s']:.1f} s at 320x240, 25 fps; {fast['windows']} windows; "
          f"{args.threads} threads; model input {DEFAULT_SPEC['size']}, "
          f"{DEFAULT_SPEC['frames']} flow frames every {DEFAULT_SPEC['stride']}")
    print(f"{'pipeline':24s} {'core s':>8s} {'x real time':>12s} {'with files s':>13s} {'x real time':>12s}")
    for name, r in rows:
        print(f"{name:24s} {r['core_s']:8.2f} {r['video_s'] / r['core_s']:11.1f}x "
              f"{r['total_s']:13.2f} {r['video_s'] / r['total_s']:11.1f}x")
    if len(rows) == 2:
        print(f"speed-up over TV-L1: {rows[1][1]['core_s'] / rows[0][1]['core_s']:.1f}x (core), "
              f"{rows[1][1]['total_s'] / rows[0][1]['total_s']:.1f}x (with files)")
    if args.json:
        print(json.dumps({name: r for name, r in rows}))


if __name__ == "__main__":
    main()
