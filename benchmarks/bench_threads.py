"""Training steps and a timeline run quiet and beside a busy neighbour, thread scaling and
precision, as ratios.

Each case runs in a fresh process: training steps of the demo's flow stream (the compact (2+1)D
net, batch 16 of 2x32x64x64 flow stacks) on the machine profile's precision, with the thread
budget and governor every command uses. "Loaded" runs the same beside one CPU-bound process
(``yes > /dev/null``), the goal being <= 1.6x the quiet time (two cores shared by three busy
threads are 1.5x). The timeline case runs ``actionlab timeline`` (the whole command, start-up
included) on a 30 s synthetic long video with the demo's slip-detector architecture (random
weights: the cost does not depend on them). Prints the CPU and its vector extensions.

    python benchmarks/bench_threads.py [--steps 12]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
from actionlab.runtime import ThreadGovernor, set_threads, tune_malloc
tune_malloc()
threads = int(sys.argv[2]) if sys.argv[2] != "auto" else None
n = set_threads(threads)
import torch, torch.nn.functional as F
from actionlab.models import build_model
variant = sys.argv[3]
torch.manual_seed(0)
net = build_model("r2plus1d_flow", num_classes=12, width=0.5, input_shape=(32, 64, 64))
x = torch.randn(16, 2, 32, 64, 64)
if variant.endswith("cl"):
    net = net.to(memory_format=torch.channels_last_3d)
    x = x.contiguous(memory_format=torch.channels_last_3d)
y = torch.arange(16) % 12
opt = torch.optim.SGD(net.parameters(), lr=0.01)
gov = ThreadGovernor(threads, interval=1.0)
times = []
for i in range(int(sys.argv[1]) + 1):
    t = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant.startswith("bf16")):
        out = net(x)
    F.cross_entropy(out.float(), y).backward()
    opt.step()
    opt.zero_grad()
    gov.update()
    if i:
        times.append(time.perf_counter() - t)
print(json.dumps({"seconds": sum(times), "threads_end": torch.get_num_threads()}))
"""


def run(steps: int, threads: str, variant: str, loaded: bool) -> dict:
    hog = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) if loaded else None
    try:
        time.sleep(0.2 if loaded else 0)
        out = subprocess.run([sys.executable, "-c", CHILD, str(steps), threads, variant],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()


def timeline_case(work: Path) -> tuple[float, float]:
    """Wall seconds of ``actionlab timeline`` quiet and beside ``yes`` (best of 2 each)."""
    from bench_live import slip_checkpoint

    from actionlab.synth.api import synth

    synth(work / "synth", products="long", long_videos=1, long_duration=30.0, long_size=(160, 120),
          seed=0, workers=1, progress=False)
    video = next((work / "synth" / "long").glob("*.mp4"))
    ckpt = slip_checkpoint(work / "slip" / "best.safetensors")
    cmd = [sys.executable, "-m", "actionlab.cli", "timeline", str(ckpt), str(video),
           "--out", str(work / "tl")]

    def once(loaded: bool) -> float:
        hog = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) if loaded else None
        try:
            t = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            return time.perf_counter() - t
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()

    once(False)  # warm the page cache and the machine profile
    return min(once(False) for _ in range(2)), min(once(True) for _ in range(2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12)
    args = ap.parse_args()
    from actionlab.machine import describe, profile
    from actionlab.train.precision import cpu_choice

    prof = profile()
    bf16, cl, _ = cpu_choice(prof)
    variant = "bf16_cl" if bf16 else ("fp32_cl" if cl else "fp32")
    print(describe())
    print(f"precision chosen by the profile: {variant}\n")
    rows = []
    quiet = run(args.steps, "auto", variant, False)
    loaded = run(args.steps, "auto", variant, True)
    rows.append(("training steps, quiet -> beside `yes` (auto threads, governor)",
                 quiet["seconds"], loaded["seconds"],
                 f"threads at the end: {quiet['threads_end']} / {loaded['threads_end']}"))
    one = run(args.steps, "1", variant, False)
    two = run(args.steps, "2", variant, False)
    rows.append(("thread scaling, 2 threads -> 1 thread (quiet)", two["seconds"], one["seconds"],
                 ""))
    fixed2 = run(args.steps, "2", variant, True)
    rows.append(("--threads 2 beside `yes` (no governor) vs quiet", quiet["seconds"],
                 fixed2["seconds"], ""))
    for v in ("fp32", "fp32_cl", "bf16_cl"):
        if v != "fp32":
            t = run(args.steps, "auto", v, False)
            rows.append((f"precision fp32 -> {v} (quiet)", base["seconds"], t["seconds"], ""))
        else:
            base = run(args.steps, "auto", v, False)
    with tempfile.TemporaryDirectory() as tmp:
        q, l = timeline_case(Path(tmp))
    rows.append(("`actionlab timeline`, 30 s video, quiet -> beside `yes` (auto threads)", q, l, ""))
    print(f"{'case':70s} {'a (s)':>8s} {'b (s)':>8s} {'b / a':>7s}")
    for name, a, b, note in rows:
        print(f"{name:70s} {a:8.2f} {b:8.2f} {b / a:7.2f}  {note}")


if __name__ == "__main__":
    main()
