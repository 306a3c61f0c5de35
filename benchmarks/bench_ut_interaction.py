"""Real video: UT-Interaction set 1, 10-fold leave-one-sequence-out, frame / flow / fusion.

Runs ``actionlab crossval`` on the shipped UT-Interaction recipe (a two-stream config whose
frame and flow streams are trained inside every fold, so one run reports all three), resumed
if ``--out`` already holds finished folds, and prints the table of the README's "Real data"
section: per stream the mean top-1 ± std over the folds, the number of folds, the mean
per-class accuracy, the wall time and the process CPU time, with the CPU's name.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_ut_interaction.py \
          [--root ../shared/data/videos/ut_interaction_set1] [--out runs/ut1] [--folds logo]
      (``--table-only`` prints the table of an existing ``--out`` without training)
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from actionlab.config import CONFIGS  # noqa: E402
from actionlab.evaluate.crossval import run_crossval, summarize_dir  # noqa: E402
from actionlab.evaluate.runs import markdown_table  # noqa: E402

RECIPE = "twostream_avg_adam_ut_interaction-rgbflow.yaml"
ROOT = Path(__file__).resolve().parents[1].parent / "shared/data/videos/ut_interaction_set1"
STAGE_NAMES = {"rgb": "frame (RGB)", "flow": "flow", "run": "fusion (average)"}


def cpu_name() -> str:
    """``lscpu``'s model name (the platform's processor string without lscpu)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def table(doc: dict) -> str:
    """Markdown rows: each stream of the crossval document, then the recipe's own model."""
    rows = []
    for stage, s in doc["stages"].items():
        rows.append([STAGE_NAMES.get(stage, stage), f"{s['mean']:.3f} ± {s['std']:.3f}",
                     str(len(s["top1"])), "-"])
    rows.append([STAGE_NAMES["run"] if doc["stages"] else doc["model"],
                 f"{doc['mean']:.3f} ± {doc['std']:.3f}", str(doc["n_done"]),
                 f"{doc['mean_class_accuracy']:.3f}"])
    return markdown_table(["Model", "Top-1 (mean ± std over folds)", "Folds",
                           "Mean per-class acc."], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--out", type=Path, default=Path("runs/ut1"))
    ap.add_argument("--config", type=Path, default=CONFIGS / RECIPE)
    ap.add_argument("--folds", default="logo")
    ap.add_argument("--table-only", action="store_true")
    args = ap.parse_args()
    wall = time.perf_counter()
    if not args.table_only:
        if not args.root.is_dir():
            raise SystemExit(f"{args.root}: UT-Interaction set 1 not found (see docs/data.md)")
        run_crossval(args.config, args.out, [f"data.root={args.root}"], args.folds)
    doc = summarize_dir(args.out)
    wall = time.perf_counter() - wall
    used = resource.getrusage(resource.RUSAGE_SELF)
    print(f"UT-Interaction set 1, {doc['folds']} folds ({doc['n_done']} of {doc['n_folds']} "
          f"done), recipe {Path(doc['config']).name}\n")
    print(table(doc))
    print(f"\ntraining + testing time summed over the folds: {doc['seconds'] / 60:.1f} min"
          + ("" if args.table_only else f"; this run: {wall / 60:.1f} min wall, "
             f"{(used.ru_utime + used.ru_stime) / 60:.1f} min CPU")
          + f"; CPU: {cpu_name()}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
