"""Real video: UT-Interaction set 1, 10-fold leave-one-sequence-out, frame / flow / fusion.

Cross-validates the shipped UT-Interaction recipe (motion histograms of optical flow and a
linear classifier) and its frame stream (a TSN on RGB frames) with ``actionlab crossval`` (each resumed if its folder already holds
finished folds), fuses their test scores per video (late fusion, the mean of the two streams'
class probabilities, and with weights fitted for each fold on the other folds' out-of-fold
scores, so a useless stream gets none), and prints the table of the README's "Real data"
section: per model the mean top-1 ± std over the folds, the number of folds, the mean per-class accuracy, the training
and testing time summed over the folds (wall and process CPU time), and the CPU.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_ut_interaction.py \
          [--root ../shared/data/videos/ut_interaction_set1] [--out runs/ut1] [--folds logo]
      (flow in OUT, frames in OUT-rgb, fusion in OUT-fusion; ``--table-only`` prints the
      table of finished runs without training)
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
from actionlab.evaluate.folds import fuse_crossvals, summarize_dir  # noqa: E402
from actionlab.experiment.crossval import run_crossval  # noqa: E402
from actionlab.evaluate.runs import markdown_table  # noqa: E402

FLOW = "motionhist_32seg_adamw_ut_interaction-flow.yaml"
RGB = "tsn_r18x025_3seg_adamw_ut_interaction-rgb.yaml"
ROOT = Path(__file__).resolve().parents[1].parent / "shared/data/videos/ut_interaction_set1"


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


def table(docs: dict[str, dict]) -> str:
    """Markdown rows, one per cross-validated model."""
    rows = [[name, f"{d['mean']:.3f} ± {d['std']:.3f}", f"{d['n_done']} of {d['n_folds']}",
             f"{d['mean_class_accuracy']:.3f}", f"{d['seconds'] / 60:.1f}",
             f"{d['cpu_seconds'] / 60:.1f}" if d.get("cpu_seconds") else "-"]
            for name, d in docs.items()]
    return markdown_table(["Model", "Top-1 (mean ± std over folds)", "Folds",
                           "Mean per-class acc.", "Wall (min, folds summed)", "CPU (min)"],
                          rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--out", type=Path, default=Path("runs/ut1"))
    ap.add_argument("--folds", default="logo")
    ap.add_argument("--table-only", action="store_true")
    args = ap.parse_args()
    outs = {"frame (TSN, RGB)": (RGB, Path(f"{args.out}-rgb")),
            "flow (motion histograms, DIS flow)": (FLOW, args.out)}
    wall = time.perf_counter()
    if not args.table_only:
        if not args.root.is_dir():
            raise SystemExit(f"{args.root}: UT-Interaction set 1 not found (see docs/data.md)")
        for config, out in outs.values():
            run_crossval(CONFIGS / config, out, [f"data.root={args.root}"], args.folds)
    docs = {name: summarize_dir(out) for name, (_, out) in outs.items()}
    dirs = [out for _, out in outs.values()]
    docs["fusion (mean of the two streams' probabilities)"] = fuse_crossvals(
        dirs, Path(f"{args.out}-fusion"))
    fit = fuse_crossvals(dirs, Path(f"{args.out}-fusion-fit"), weights="fit")
    docs["fusion, weights fitted per fold on the other folds' scores"] = fit
    wall = time.perf_counter() - wall
    used = resource.getrusage(resource.RUSAGE_SELF)
    print(f"UT-Interaction set 1, {args.folds} folds by sequence\n")
    print(table(docs))
    print("\nfitted weights (frame, flow) per fold: "
          + ", ".join(f"{f['weights'][0]:.2f}/{f['weights'][1]:.2f}" for f in fit["per_fold"]))
    print(f"\nCPU: {cpu_name()}, {os.cpu_count()} cores"
          + ("" if args.table_only else f"; this run: {wall / 60:.1f} min wall, "
             f"{(used.ru_utime + used.ru_stime) / 60:.1f} min CPU"))


if __name__ == "__main__":
    main()
