"""GPU check: train, evaluate, predict, label over time and explain on CUDA, beside the CPU.

On a machine with a CUDA GPU, in under 5 minutes: synthesizes a small action set, prepares its
flow, trains the compact (2+1)D flow network (the demo's 3D model) for 2 epochs on CUDA with
mixed precision (``train.bf16=auto``: bf16 where the GPU has it, else fp16 + GradScaler) and
on the CPU for a few steps, then runs evaluate, predict, timeline and explain with PyTorch on
each device and with ONNX Runtime's CUDA and CPU providers, and prints the throughput of each
step side by side. Without a CUDA GPU it says so and exits 0: nothing is measured or printed as
if it had been.

Run:  .venv/bin/python benchmarks/gpu_check.py [--devices cuda,cpu] [--quick] [--json PATH]
      (also ``./dev gpu-check``; ``--devices cpu --quick`` runs the same code on the CPU only,
      as the tests do)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

CONFIG = "r2plus1d_flow8_adam_hmdb12-flow-synth"  # a shipped config, by name


def no_gpu_reason() -> str | None:
    """Why CUDA cannot be used here, or None when it can."""
    if torch.version.cuda is None:
        return f"this PyTorch ({torch.__version__}) is a CPU-only build"
    if not torch.cuda.is_available():
        return f"PyTorch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU"
    return None


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def make_data(root: Path, quick: bool) -> dict[str, Any]:
    """Synthetic clips (flow prepared) and one long video."""
    from actionlab.data.adapters import load_manifest
    from actionlab.data.prepare import PrepareConfig, prepare
    from actionlab.synth.api import synth

    size = 32 if quick else 64
    synth(root / "data", products="clips,long", clips_per_class=4 if quick else 8,
          long_videos=1, long_duration=8.0 if quick else 12.0, difficulty="easy", seed=0,
          progress=False)
    manifest = load_manifest("ucf101", root / "data" / "clips", val_fraction=0.2, seed=0)
    prepare(manifest, root / "cache", PrepareConfig(size=(size, size), inputs=("flow",),
                                                   flow_method="dis", flow_bound=4.0),
            progress=False)
    clips = sorted((root / "data" / "clips").rglob("*.mp4"))
    long = sorted((root / "data" / "long").rglob("*.mp4"))
    return {"size": size, "clips": clips, "long": long[0], "cache": root / "cache"}


def train_on(device: str, data: dict[str, Any], out: Path, quick: bool) -> tuple[Path, float]:
    """Train the flow net on ``device``: 2 epochs on a GPU, a few steps on the CPU. Returns the
    run and its training samples per second (whole epochs, validation included)."""
    from actionlab.config import load_config
    from actionlab.evaluate.runs import read_metrics
    from actionlab.train.run import build_datasets, train

    s, frames, batch = data["size"], 8 if quick else 16, 8
    gpu = device != "cpu"
    epochs, steps = (2, 0) if gpu else (1, 2 if quick else 6)
    run = train(CONFIG, overrides=[
        f"data.cache_dir={data['cache']}", f"data.size=[{s},{s}]", f"data.frames={frames}",
        f"data.batch_size={batch}", f"train.epochs={epochs}", f"train.max_steps={steps}",
        f"train.device={device}", "train.progress=false", f"train.out_dir={out}",
        f"train.run_name=flow-{device.replace(':', '')}", "model.kwargs.width=0.5",
        f"model.kwargs.input_shape=[{frames},{s},{s}]"])
    cfg = load_config(run / "config.yaml")
    n = len(build_datasets(cfg.data, cfg.train.seed)[0])
    per_epoch = min(n, steps * batch) if steps else n
    seconds = sum(float(r["time"]) for r in read_metrics(run))
    return run, per_epoch * epochs / seconds


def measure(device: str, run: Path, data: dict[str, Any], out: Path) -> dict[str, float]:
    """Evaluate, predict, timeline and explain with PyTorch on ``device``; each as a rate."""
    from actionlab.evaluate.run_eval import evaluate_checkpoint
    from actionlab.explain.commands import explain_videos
    from actionlab.infer.runner import load_runner

    ckpt = run / "best.safetensors"
    res: dict[str, float] = {}
    doc, t = _timed(lambda: evaluate_checkpoint(ckpt, split="test", out=out / "eval.json",
                                                device=device)[0])
    res["evaluate videos/s"] = doc["metrics"]["num_samples"] / t
    runner = load_runner(ckpt, device=device)
    res.update(_inference(runner, data))
    _, t = _timed(lambda: explain_videos(ckpt, data["clips"][:2], out / "explain", tsne=False,
                                         device=device))
    res["explain videos/s"] = 2 / t
    return res


def _inference(runner: Any, data: dict[str, Any]) -> dict[str, float]:
    """Model-only clips/s on a batch, then predict and timeline end to end."""
    import numpy as np

    from actionlab.infer.predict import predict_video
    from actionlab.infer.preprocess import dummy_inputs
    from actionlab.infer.timeline import run_timeline

    x = tuple(np.ascontiguousarray(a) for a in dummy_inputs(runner.spec, batch=16))
    runner.logits(x)  # warm-up: kernels, cuDNN autotuning, onnxruntime's allocations
    reps = 5
    _, t = _timed(lambda: [runner.logits(x) for _ in range(reps)])
    videos = data["clips"][:6]
    predict_video(runner, videos[0], k=1, clips=1)  # warm-up: the decoder and flow
    _, tp = _timed(lambda: [predict_video(runner, v, k=1, clips=1) for v in videos])
    (tl, _), tt = _timed(lambda: run_timeline(runner, data["long"]))
    return {"model clips/s (batch 16)": 16 * reps / t, "predict videos/s": len(videos) / tp,
            "timeline x real time": tl.duration / tt}


def onnx_rates(run: Path, data: dict[str, Any], out: Path, device: str) -> dict[str, float] | str:
    """The same inference through onnxruntime with ``device``'s provider (or why not)."""
    from actionlab.errors import ActionlabError
    from actionlab.infer.export import export_onnx
    from actionlab.infer.runner import OnnxRunner
    from actionlab.checkpoint import load

    path = out / "model.onnx"
    if not path.is_file():
        loaded = load(run / "best.safetensors")
        export_onnx(loaded.model, loaded.meta, path)
    try:
        runner = OnnxRunner(path, device=device)
    except ActionlabError as exc:
        return str(exc)
    if device != "cpu" and "CUDAExecutionProvider" not in runner.providers:
        return f"onnxruntime fell back to {runner.providers}"
    return _inference(runner, data)


def table(cols: dict[str, dict[str, float] | str]) -> str:
    names = list(cols)
    rows = sorted({k for c in cols.values() if isinstance(c, dict) for k in c})
    lines = [f"{'':28}" + "".join(f"{n:>20}" for n in names)]
    for r in rows:
        cells = [f"{c[r]:20.2f}" if isinstance(c, dict) and r in c else f"{'-':>20}"
                 for c in cols.values()]
        lines.append(f"{r:28}" + "".join(cells))
    lines += [f"  {n}: {c}" for n, c in cols.items() if isinstance(c, str)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", default="cuda,cpu", help="Devices to compare, GPU first.")
    ap.add_argument("--quick", action="store_true", help="Tiny sizes (a smoke run).")
    ap.add_argument("--json", type=Path, help="Also write the figures here.")
    args = ap.parse_args(argv)
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    reason = no_gpu_reason()
    if reason and any(d.startswith("cuda") for d in devices):
        print(f"gpu_check: no CUDA GPU present ({reason}); nothing was measured.")
        return 0
    from actionlab.machine import cpu_model

    t_start = time.perf_counter()
    gpu = torch.cuda.get_device_name(0) if not reason else "none"
    print(f"gpu_check: GPU {gpu}; CPU {cpu_model()} ({torch.get_num_threads()} threads); "
          f"torch {torch.__version__}; {platform.python_version()}")
    cols: dict[str, dict[str, float] | str] = {}
    with tempfile.TemporaryDirectory(prefix="actionlab-gpu-check-") as tmp:
        root = Path(tmp)
        data = make_data(root, args.quick)
        for device in devices:
            run, rate = train_on(device, data, root / "runs", args.quick)
            res = {"train samples/s": rate, **measure(device, run, data, root / device)}
            cols[f"torch {device}"] = res
            cols[f"onnxruntime {device}"] = onnx_rates(run, data, root / device, device)
    print(table(cols))
    print(f"gpu_check: {time.perf_counter() - t_start:.0f} s in all")
    if args.json:
        args.json.write_text(json.dumps({"gpu": gpu, "cpu": cpu_model(), "columns": cols},
                                        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
