"""Accuracy with a raw and a JPEG cache: the same flow model trained on each, same seeds.

Writes a small synthetic clip set (the six classes of the three motion-only pairs, where only
the flow tells classes apart), prepares it twice (``--compression raw`` and ``jpeg``, the
default quality), trains the synthetic twin of the study's (2+1)D flow network on each with
the same seeds, and evaluates on the test split. Everything goes through the ``actionlab``
command line, as a user would run it.

Run:  .venv/bin/python benchmarks/bench_cache_accuracy.py [--seeds 0,1] [--epochs 6]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLASSES = "drinking,smoking,waving,throwing,running,jumping"
CONFIG = (Path(__file__).resolve().parents[1] / "configs"
          / "r2plus1d_flow16_adam_hmdb12-flow-synth.yaml")


def actionlab(*args: object) -> str:
    cmd = [sys.executable, "-c", "from actionlab.cli import run; run()", *map(str, args)]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})
    if res.returncode not in (0, 3):
        raise SystemExit(f"actionlab {' '.join(map(str, args))} failed:\n{res.stderr[-2000:]}")
    return res.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--clips-per-class", type=int, default=20)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "actionlab-acc")
    args = ap.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    t0 = time.perf_counter()
    actionlab("synth", args.dir / "synth", "--only", "clips", "--classes", CLASSES,
              "--clips-per-class", args.clips_per_class, "--size", "64x64", "--frames", "32",
              "--difficulty", "easy", "--workers", "2")
    sizes = {}
    for comp in ("raw", "jpeg"):
        cache = args.dir / f"cache-{comp}"
        actionlab("prepare", "ucf101", args.dir / "synth" / "clips", cache, "--size", "32x32",
                  "--inputs", "flow", "--flow", "farneback", "--compression", comp,
                  "--workers", "2", "--no-progress")
        sizes[comp] = sum(p.stat().st_size for p in (cache / "videos").glob("*.h5"))
    print(f"set and caches ready in {time.perf_counter() - t0:.0f} s; flow cache raw "
          f"{sizes['raw'] / 1e6:.2f} MB, jpeg {sizes['jpeg'] / 1e6:.2f} MB")
    print("| seed | raw cache top-1 | jpeg cache top-1 |\n|---|---|---|")
    results: dict[str, list[float]] = {"raw": [], "jpeg": []}
    for seed in args.seeds.split(","):
        row = []
        for comp in ("raw", "jpeg"):
            run = f"{comp}-s{seed}"
            actionlab("train", CONFIG, f"data.cache_dir={args.dir / f'cache-{comp}'}",
                      f"data.root={args.dir / 'synth' / 'clips'}", f"train.epochs={args.epochs}",
                      f"train.seed={seed}", f"train.out_dir={args.dir / 'runs'}",
                      f"train.run_name={run}")
            actionlab("evaluate", args.dir / "runs" / run)
            doc = json.loads((args.dir / "runs" / run / "eval.json").read_text())
            top1 = doc["metrics"]["top1"]
            results[comp].append(top1)
            row.append(f"{top1:.3f}")
        print(f"| {seed} | {row[0]} | {row[1]} |")
    mean = {k: sum(v) / len(v) for k, v in results.items()}
    print(f"mean top-1: raw {mean['raw']:.3f}, jpeg {mean['jpeg']:.3f} "
          f"({time.perf_counter() - t0:.0f} s in all)")


if __name__ == "__main__":
    main()
