"""Camera-motion compensation's cost: DIS flow with ``+homography`` against DIS alone.

Both run in this process on the same decoded frames (one thread, as each ``prepare`` worker
runs): the first real UT-Interaction clips at the short side the UT recipe caches (146 px),
and a synthetic clip shaken by the camera-shake option. Printed: seconds per flow frame for
each, their ratio, and how much of the shaken background's flow the compensation removes.

Run:  .venv/bin/python benchmarks/bench_flow_compensation.py [--clips 4] [--short-side 146]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np

from actionlab.data import flow as flowlib
from actionlab.data.video import read_video
from actionlab.machine import describe

UT = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "ut_interaction_set1"


def per_frame(frames: list[np.ndarray], method: str, repeat: int = 2) -> float:
    """Best of ``repeat`` passes: seconds per flow frame."""
    n = sum(len(f) - 1 for f in frames)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for f in frames:
            flowlib.compute_flow(f, method)
        best = min(best, time.perf_counter() - t)
    return best / n


def shaken_background(strength: float = 1.0) -> tuple[float, float]:
    """Mean background |flow| of a shaken synthetic clip, raw and compensated (px)."""
    from actionlab.synth.clips import ClipTask, render_clip, shake_frames

    task = ClipTask("/tmp", "waving", 1, 0, 1, (160, 120), 25.0, 32, "medium", 0)
    frames, boxes, *_ = render_clip(task)
    frames, boxes, _ = shake_frames(frames, boxes, strength, np.random.default_rng(0))
    out = []
    for method in ("dis", "dis+homography"):
        flow = flowlib.compute_flow(frames, method)
        vals = []
        for f, (x0, y0, x1, y1) in zip(flow, boxes):
            mask = np.ones(f.shape[:2], bool)
            mask[max(0, int(y0) - 6):int(y1) + 6, max(0, int(x0) - 6):int(x1) + 6] = False
            vals.append(np.linalg.norm(f[mask], axis=1).mean())
        out.append(float(np.mean(vals)))
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=4, help="UT-Interaction clips to time")
    ap.add_argument("--short-side", type=int, default=146)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    print(describe(threads=1))
    paths = sorted(UT.rglob("*.avi"))[: args.clips]
    if not paths:
        raise SystemExit(f"{UT}: no clips (the shared data is missing)")
    frames = [read_video(p, short_side=args.short_side, threads=1)[0] for p in paths]
    h, w = frames[0].shape[1:3]
    base = per_frame(frames, "dis")
    comp = per_frame(frames, "dis+homography")
    print(f"UT-Interaction, {len(paths)} clips, {sum(len(f) - 1 for f in frames)} flow frames "
          f"at {w}x{h}, one thread")
    print(f"  DIS alone:        {base * 1e3:6.2f} ms/frame")
    print(f"  DIS + homography: {comp * 1e3:6.2f} ms/frame   ratio {comp / base:.2f}x")
    raw, fixed = shaken_background()
    print(f"shaken synthetic clip (shake 1.0): background flow {raw:.2f} px raw, {fixed:.2f} px "
          f"compensated ({1 - fixed / raw:.0%} removed)")


if __name__ == "__main__":
    main()
