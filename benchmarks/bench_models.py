"""Training-step speed of each model family at its default input: fp32 against bf16 + channels-last.

For one representative of each registered family (and the study's compact models) at the input
its registry entry defaults to, a training step (forward, cross-entropy, backward; no optimizer)
is timed in fp32 and under bf16 autocast with channels-last weights and inputs; the ratio is the
speed-up of bf16 + channels-last. The step's FLOPs are counted once by
``torch.utils.flop_counter.FlopCounterMode`` (matmuls and convolutions, 2 per multiply-add;
elementwise ops, norms and pooling are not counted), so the achieved GFLOP/s is a lower bound
on the work done. The baseline is this machine's matmul peak measured in the same run (a large
fp32 and a large bf16 ``torch.matmul``, before and after the models; the higher median is used):
each precision's GFLOP/s is reported as a share of its own dtype's peak. Target (issue #4): the
figures for the README's models table, the default run under ~10 minutes on 2 cores.

Run:  .venv/bin/python benchmarks/bench_models.py [--models resnet18,c3d] [--batch N]
      [--repeats 3] [--threads 2] [--json PATH] [--markdown] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

# One model per family, then the study's compact ones, each with its batch: one step takes a few
# seconds on 2 cores (a 3D net costs ~240 GFLOP per sample and step at its default input, VGG-16
# ~90, TSN's 3 and LRCN's 8 frames 70-85), which keeps the default run under ~10 minutes.
MODELS: dict[str, int] = {
    "resnet18": 4, "resnet50": 2, "vgg16": 1, "tsn": 1, "lrcn": 1,
    "r3d_18": 1, "mc3_18": 1, "r2plus1d_18": 1, "i3d": 1, "c3d": 1,
    "resnetlike": 8, "r2plus1d_flow": 8, "two_stream": 8,
}
PEAK_SIZE = {"cpu": 4096, "cuda": 8192}  # side of the square matmuls that measure the peak
FRAME_FIRST = ("(B, S, C, H, W)", "(B, T, C, H, W)")  # TSN, LRCN: a 2D net on every frame


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(dtype: torch.dtype, n: int, repeats: int = 3,
                device: torch.device | str = "cpu") -> float:
    """GFLOP/s of an (n, n) @ (n, n) matmul in ``dtype``: the median of ``repeats`` after a warm-up.

    Args:
        dtype: torch.float32 or torch.bfloat16.
        n: Matrix side.
        repeats: Timed runs.
        device: Where to run.

    Returns:
        2 n^3 / median seconds / 1e9.
    """
    device = torch.device(device)
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, generator=g, device=device).to(dtype)
    b = torch.randn(n, n, generator=g, device=device).to(dtype)
    times = []
    for i in range(repeats + 1):
        _sync(device)
        t = time.perf_counter()
        a @ b
        _sync(device)
        if i:  # the first run is the warm-up
            times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


def frame_channels_last(x: torch.Tensor) -> torch.Tensor:
    """(B, S, C, H, W) laid out so that ``x.flatten(0, 1)`` is a channels-last (B*S, C, H, W) view."""
    return x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)  # memory (B, S, H, W, C)


def channels_last(model: nn.Module, xs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """The inputs in the layout the model's convolutions see as channels-last.

    4D inputs become NHWC and 5D (B, C, T, H, W) ones NDHWC; TSN and LRCN inputs are 5D but
    carry a 2D image per segment or frame, so each (C, H, W) image is made NHWC instead.
    """
    from actionlab.models.surgery import channels_last_input

    if getattr(model, "layout", "") in FRAME_FIRST:
        return tuple(frame_channels_last(x) for x in xs)
    return tuple(channels_last_input(x) for x in xs)


def train_step(model: nn.Module, xs: Sequence[torch.Tensor], target: torch.Tensor,
               bf16: bool = False) -> None:
    """Forward, cross-entropy on float32 logits, backward (gradients are dropped first)."""
    model.zero_grad(set_to_none=True)
    with torch.autocast(target.device.type, dtype=torch.bfloat16, enabled=bf16):
        out = model(*xs)
    F.cross_entropy(out.float(), target).backward()


def count_flops(model: nn.Module, xs: Sequence[torch.Tensor], target: torch.Tensor) -> int:
    """FLOPs of one fp32 training step (forward + backward), counted by FlopCounterMode."""
    with FlopCounterMode(display=False) as counter:
        train_step(model, xs, target)
    return int(counter.get_total_flops())


def time_steps(step: Callable[[], None], repeats: int, device: torch.device,
               warmup: int = 1) -> float:
    """Median seconds of ``step`` over ``repeats`` runs after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(model: nn.Module, xs: Sequence[torch.Tensor], peaks: dict[str, float],
            repeats: int = 3, num_classes: int | None = None) -> dict[str, float]:
    """Samples/s of a training step in fp32 and in bf16 + channels-last, FLOPs and peak shares.

    The model is left in train mode with channels-last parameters.

    Args:
        model: A model taking ``model(*xs)`` and returning (B, K) logits.
        xs: Its inputs (batch first), on the device to time on.
        peaks: ``{'fp32': GFLOP/s, 'bf16': GFLOP/s}`` (see :func:`matmul_peak`).
        repeats: Timed steps per precision (the median is kept).
        num_classes: K (default: the model's ``num_classes``).

    Returns:
        batch, gflop (per sample, forward + backward), fp32_sps and bf16_sps (samples/s),
        speedup, fp32_gflops and bf16_gflops (achieved), fp32_peak_frac and bf16_peak_frac.
    """
    device = xs[0].device
    batch = int(xs[0].shape[0])
    k = num_classes or int(getattr(model, "num_classes", 2))
    target = torch.randint(0, k, (batch,), generator=torch.Generator().manual_seed(0)).to(device)
    model.train()
    flops = count_flops(model, xs, target)  # also the fp32 warm-up step
    t32 = time_steps(lambda: train_step(model, xs, target), repeats, device, warmup=0)
    from actionlab.models import surgery

    model.zero_grad(set_to_none=True)
    surgery.channels_last(model)
    xs_cl = channels_last(model, xs)
    t16 = time_steps(lambda: train_step(model, xs_cl, target, bf16=True), repeats, device)
    g32, g16 = flops / t32 / 1e9, flops / t16 / 1e9
    return {"batch": batch, "gflop": flops / batch / 1e9, "fp32_sps": batch / t32,
            "bf16_sps": batch / t16, "speedup": t32 / t16, "fp32_gflops": g32, "bf16_gflops": g16,
            "fp32_peak_frac": g32 / peaks["fp32"], "bf16_peak_frac": g16 / peaks["bf16"]}


def input_text(model: nn.Module) -> str:
    """The default input without the batch, e.g. ``3x16x112x112``; two-stream ``rgb + flow``."""
    def dims(shape: Sequence[int]) -> str:
        return "x".join(str(d) for d in shape)

    if hasattr(model, "rgb") and hasattr(model, "flow"):
        return f"{dims(model.rgb.input_shape)} + {dims(model.flow.input_shape)}"
    shape = tuple(model.input_shape)
    if getattr(model, "layout", "") in FRAME_FIRST:
        return f"{shape[0]} x {dims(shape[1:])}"  # segments or frames x (C, H, W)
    return dims(shape)


def bench_family(name: str, batch: int, peaks: dict[str, float], repeats: int,
                 device: torch.device) -> dict[str, Any]:
    """:func:`measure` for a registered model at its default arguments and input."""
    from actionlab.models import build_model, model_info

    torch.manual_seed(0)
    model = build_model(name).to(device)
    info = model_info(model)
    xs = model.default_input(batch)
    xs = tuple(x.to(device) for x in (xs if isinstance(xs, tuple) else (xs,)))
    row = measure(model, xs, peaks, repeats)
    return {"model": name, "input": input_text(model), "layout": model.layout,
            "params_m": info["params"] / 1e6, "size_mb": info["size_mb"], **row}


def measure_peaks(device: torch.device, repeats: int = 3) -> dict[str, float]:
    n = PEAK_SIZE[device.type]
    return {"fp32": matmul_peak(torch.float32, n, repeats, device),
            "bf16": matmul_peak(torch.bfloat16, n, repeats, device)}


def markdown(rows: list[dict[str, Any]]) -> str:
    """The README's table: one line per model."""
    lines = ["| model | input | batch | params (M) | MB | fp32 samples/s | bf16+CL samples/s "
             "| speed-up | % of peak fp32 / bf16 |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['input']} | {r['batch']} | {r['params_m']:.1f} "
            f"| {r['size_mb']:.1f} | {r['fp32_sps']:.2f} | {r['bf16_sps']:.2f} "
            f"| {r['speedup']:.2f}x | {100 * r['fp32_peak_frac']:.0f}% / "
            f"{100 * r['bf16_peak_frac']:.0f}% |")
    return "\n".join(lines)


def print_row(r: dict[str, Any]) -> None:
    print(f"{r['model']:14s} {r['input']:22s} {r['batch']:5d} {r['params_m']:7.1f} "
          f"{r['size_mb']:7.1f} {r['gflop']:7.1f} {r['fp32_sps']:8.2f} {r['bf16_sps']:8.2f} "
          f"{r['speedup']:6.2f}x {r['fp32_gflops']:7.1f} {100 * r['fp32_peak_frac']:4.0f}% "
          f"{r['bf16_gflops']:7.1f} {100 * r['bf16_peak_frac']:4.0f}%", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS),
                    help="Comma-separated registered names (default: one per family).")
    ap.add_argument("--batch", type=int, help="One batch for every model (default: per model).")
    ap.add_argument("--repeats", type=int, default=3, help="Timed steps per precision (median).")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads.")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    ap.add_argument("--markdown", action="store_true", help="Print the README's markdown table.")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device is visible to torch")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    names = [n.strip() for n in args.models.split(",") if n.strip()]

    load_before = os.getloadavg()
    started = datetime.datetime.now().astimezone()
    peaks_before = measure_peaks(device)
    print(f"{started:%Y-%m-%d %H:%M}, {device.type}, {args.threads} threads, torch "
          f"{torch.__version__}; load average {load_before[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"matmul peak ({PEAK_SIZE[device.type]}^2): fp32 {peaks_before['fp32']:.0f} GFLOP/s, "
          f"bf16 {peaks_before['bf16']:.0f} GFLOP/s")
    print("training step (forward + cross-entropy + backward), median of "
          f"{args.repeats}; GFLOP per sample; GFLOP/s achieved and share of the dtype's peak")
    print(f"{'model':14s} {'input':22s} {'batch':>5s} {'params':>7s} {'MB':>7s} {'GFLOP':>7s} "
          f"{'fp32 s/s':>8s} {'bf16 s/s':>8s} {'x':>7s} {'fp32':>7s} {'peak':>5s} "
          f"{'bf16':>7s} {'peak':>5s}")
    rows = []
    for name in names:
        batch = args.batch or MODELS.get(name, 2)
        rows.append(bench_family(name, batch, peaks_before, args.repeats, device))
        print_row(rows[-1])
        if device.type == "cuda":
            torch.cuda.empty_cache()

    peaks_after = measure_peaks(device)
    peaks = {k: max(peaks_before[k], peaks_after[k]) for k in peaks_before}
    for r in rows:  # shares of the higher of the two peak measurements
        r["fp32_peak_frac"] = r["fp32_gflops"] / peaks["fp32"]
        r["bf16_peak_frac"] = r["bf16_gflops"] / peaks["bf16"]
    load_after = os.getloadavg()
    print(f"matmul peak after the models: fp32 {peaks_after['fp32']:.0f}, bf16 "
          f"{peaks_after['bf16']:.0f} GFLOP/s; shares use fp32 {peaks['fp32']:.0f}, bf16 "
          f"{peaks['bf16']:.0f}; load average {load_after[0]:.1f}; "
          f"{(datetime.datetime.now().astimezone() - started).total_seconds() / 60:.1f} min")
    if args.markdown:
        print(markdown(rows))
    if args.json:
        doc = {"date": started.isoformat(timespec="seconds"), "device": device.type,
               "threads": args.threads, "torch": torch.__version__, "repeats": args.repeats,
               "peak_size": PEAK_SIZE[device.type], "peaks_before": peaks_before,
               "peaks_after": peaks_after, "peaks": peaks, "load_before": load_before,
               "load_after": load_after, "rows": rows}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
