"""The synthetic benchmark: how fast the default set is made, and how motion-only the pairs are.

1. Generation time of the default set (12 classes x 24 clips at 112x112, 64 frames, 25 fps;
   40 stills per class at 128x128; 4 long videos of 20-60 s at 160x120) with the default
   workers. Target: under a minute on 2 cores.
2. For each motion pair, held-out accuracy of logistic regression on single frames (baseline)
   and on a motion feature of the same pixels (see ``actionlab.synth.evidence``), on a larger
   set than the test suite uses. Expected: frames near 0.5 (chance), motion clearly above; the
   ratio motion/frame is printed. A control pair of different poses shows the frame classifier
   is not blind.

Run:  .venv/bin/python benchmarks/bench_synth.py [--clips 60] [--size 48] [--skip-generate]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from actionlab.synth import MOTION_PAIRS, synth  # noqa: E402
from actionlab.synth.evidence import pair_accuracies, render_set  # noqa: E402


def bench_generate(workers: int | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        synth(Path(tmp) / "set", workers=workers, progress=False)
        took = time.perf_counter() - t
        clips = len(list((Path(tmp) / "set" / "clips").glob("*/*.mp4")))
        stills = len(list((Path(tmp) / "set" / "stills" / "JPEGImages").glob("*.jpg")))
        longs = [json.loads(p.read_text()) for p in (Path(tmp) / "set" / "long").glob("*.json")]
    return {"seconds": round(took, 1), "clips": clips, "stills": stills,
            "long_videos": len(longs), "long_seconds": round(sum(i["duration"] for i in longs), 1)}


def bench_pairs(n: int, size: int, frames: int, seed: int) -> list[dict]:
    classes = tuple(c for p in MOTION_PAIRS for c in p) + ("riding_bike", "pouring")
    clips = render_set(classes, n, (size, size), frames, seed=seed)
    rows = []
    for pair in [*MOTION_PAIRS, ("drinking", "riding_bike"), ("waving", "pouring")]:
        acc = pair_accuracies(clips, pair)
        rows.append({"pair": "/".join(pair), "motion_only": pair in MOTION_PAIRS,
                     "frame_acc": round(acc["frame"], 3), "motion_acc": round(acc["motion"], 3),
                     "motion/frame": round(acc["motion"] / max(acc["frame"], 1e-6), 2)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=60, help="clips per class for the pair check")
    ap.add_argument("--size", type=int, default=48, help="side of the pair-check clips")
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--skip-generate", action="store_true")
    args, _ = ap.parse_known_args()  # ./dev bench passes its own arguments to every benchmark
    if not args.skip_generate:
        print("default set:", json.dumps(bench_generate(args.workers)))
    for row in bench_pairs(args.clips, args.size, args.frames, args.seed):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
