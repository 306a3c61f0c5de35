"""How fast ``actionlab timeline`` labels a video, against the same pipeline with TV-L1 flow.

The target: on 2 CPU cores, a 320x240, 25 fps video with the default two-stream model (the
demo's compact ResNet-like frame model + compact (2+1)D flow model, average fusion) is labelled
at 10x real time or faster (seconds of video per second of wall time). The baseline is the
same pipeline computing TV-L1 flow with OpenCV's default settings, as the study did. Weights are
random: speed does not depend on them.

Run:  .venv/bin/python benchmarks/bench_timeline.py [--seconds 12] [--video PATH] [--threads 2]
      [--configs demo,study] [--backend onnxruntime|torch] [--no-baseline]
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

# The default two-stream model is what `actionlab demo` trains: the synthetic twin of the
# study's two-stream experiment with the demo's settings (see demo_overrides); the study's own
# full-size setting is measured beside it.
CONFIGS = {
    "demo": "configs/twostream_avg_adam_hmdb12-rgbflow-synth.yaml",
    "study": "configs/twostream_avg_adam_hmdb12-rgbflow.yaml",
}
NUM_CLASSES = 12
REPO = Path(__file__).resolve().parents[1]


def synthetic_video(path: Path, seconds: float, fps: int = 25,
                    size: tuple[int, int] = (320, 240)) -> Path:
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


def demo_overrides() -> list[str]:
    """The config overrides `actionlab demo` trains its average-fusion two-stream model with."""
    from actionlab.studies.demo import DemoSettings

    d = DemoSettings()
    return [f"data.size=[{d.size},{d.size}]", f"data.frames={d.flow_frames}",
            f"data.stride={d.flow_stride}", f"data.flow_bound={d.flow_bound}",
            "data.flow_method=dis", "model.kwargs.fusion=average",
            f"model.kwargs.rgb.width={d.width}", f"model.kwargs.flow.width={d.width}"]


def model_from_config(config: str | Path, overrides: list[str] = ()) -> tuple[Any, dict[str, Any]]:
    """The config's model from the registry (random weights) and the meta a run would save."""
    from actionlab.config import load_config
    from actionlab.spec import InputSpec
    from actionlab.train.run import build_model_from_config

    cfg = load_config(REPO / config if not Path(config).is_absolute() else config, overrides)
    cfg.model.init.path = ""
    cfg.model.init.streams = {}
    model, spec = build_model_from_config(cfg, NUM_CLASSES)
    meta = {"model": spec, "classes": [f"class_{i}" for i in range(NUM_CLASSES)],
            "input": InputSpec.from_config(cfg.data).to_dict()}
    return model.eval(), meta


def run_once(runner: Any, video: Path, out: Path | None) -> dict[str, float]:
    """Time the timeline pipeline: decode, flow, windows through the model, segments (+ files)."""
    from actionlab.infer.outputs import save_timeline
    from actionlab.infer.timeline import run_timeline

    c0, t0 = time.process_time(), time.perf_counter()
    tl, decoded = run_timeline(runner, video, keep_native=out is not None)
    c1, t1 = time.process_time(), time.perf_counter()
    if out is not None:
        save_timeline(tl, out, frames=decoded.native)
    c2, t2 = time.process_time(), time.perf_counter()
    # CPU seconds (all threads) do not depend on what else the machine runs: on two idle
    # cores the wall time lies between cpu/2 (perfect overlap) and cpu (none).
    return {"video_s": tl.duration, "core_s": t1 - t0, "total_s": t2 - t0,
            "core_cpu_s": c1 - c0, "total_cpu_s": c2 - c0, "windows": len(tl.times)}


class SameModel:
    """The same loaded model under another meta (here: another flow method)."""

    def __init__(self, runner: Any, meta: dict[str, Any]) -> None:
        self.runner, self.meta = runner, meta

    def logits(self, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        return self.runner.logits(inputs)


def bench_config(name: str, config: str, video: Path, tmp: Path, baseline: bool,
                 backend: str) -> list[tuple[str, dict[str, float]]]:
    """The pipeline with the config's flow method, and the same with TV-L1, for one model."""
    from actionlab.infer.export import accelerate
    from actionlab.infer.runner import OnnxRunner, TorchRunner

    model, meta = model_from_config(config, demo_overrides() if name == "demo" else [])
    t0 = time.perf_counter()
    runner = TorchRunner(model, meta)
    if backend == "onnxruntime":
        runner = accelerate(runner)
    load_s = time.perf_counter() - t0
    used = "onnxruntime" if isinstance(runner, OnnxRunner) else "torch"
    spec = meta["input"]
    label = (f"{name}: {spec['size'][0]}x{spec['size'][1]}, {spec['frames']} flow frames every "
             f"{spec['stride']}, {spec['flow']['method']}, {used} (model load {load_s:.1f} s)")
    rows = []
    run_once(runner, video, tmp / f"{name}-warm")  # warm-up: imports, allocator, codec, plot
    fast = run_once(runner, video, tmp / f"{name}-fast")
    rows.append((f"{name} ({spec['flow']['method']})", fast))
    if baseline:
        tvl1 = {**meta, "input": {**spec, "flow": {**spec["flow"], "method": "tvl1"}}}
        slow = SameModel(runner, tvl1)
        rows.append((f"{name} (tvl1)", run_once(slow, video, tmp / f"{name}-tvl1")))
    print(label)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="A 320x240 25 fps video (default: synthetic).")
    parser.add_argument("--seconds", type=float, default=12.0, help="Synthetic video length.")
    parser.add_argument("--threads", type=int, default=2,
                        help="CPU threads (torch, onnxruntime, OpenCV).")
    parser.add_argument("--configs", default="demo,study", help=f"Which of {sorted(CONFIGS)}.")
    parser.add_argument("--backend", choices=("onnxruntime", "torch"), default="onnxruntime",
                        help="How timeline runs the model (its default: onnxruntime).")
    parser.add_argument("--no-baseline", action="store_true", help="Skip the TV-L1 runs.")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON too.")
    args = parser.parse_args()

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    rows: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or synthetic_video(Path(tmp) / "bench.mp4", args.seconds)
        for name in args.configs.split(","):
            rows += bench_config(name, CONFIGS[name], video, Path(tmp), not args.no_baseline,
                                 args.backend)
    r0 = rows[0][1]
    print(f"video: {r0['video_s']:.1f} s, 320x240, 25 fps; {args.threads} threads; "
          f"default window and step; 'with files' adds timeline.json, .png and annotated.mp4")
    print(f"{'pipeline':22s} {'windows':>7s} {'core s':>7s} {'x real time':>11s} "
          f"{'with files s':>12s} {'x real time':>11s} {'cpu s':>6s} {'x per cpu s':>11s}")
    for name, r in rows:
        print(f"{name:22s} {r['windows']:7d} {r['core_s']:7.2f} "
              f"{r['video_s'] / r['core_s']:10.1f}x "
              f"{r['total_s']:12.2f} {r['video_s'] / r['total_s']:10.1f}x "
              f"{r['total_cpu_s']:6.2f} {r['video_s'] / r['total_cpu_s']:10.1f}x")
    load = os.getloadavg()[0]
    print(f"load average during the run: {load:.1f} on {os.cpu_count()} CPUs (wall times above "
          "include waiting for other jobs; 'cpu s' is the process's own CPU time, with files)")
    by = dict(rows)
    for name in args.configs.split(","):
        fast = next((r for n, r in rows if n.startswith(name + " (") and "tvl1" not in n), None)
        slow = by.get(f"{name} (tvl1)")
        if fast and slow:
            print(f"{name}: speed-up over TV-L1 {slow['core_s'] / fast['core_s']:.1f}x (core), "
                  f"{slow['total_s'] / fast['total_s']:.1f}x (with files)")
    if args.json:
        print(json.dumps(dict(rows)))


if __name__ == "__main__":
    main()
