"""The shipped fall detector, measured: UP-Fall leave-one-trial-out, GMDCSA24, other person.

1. UP-Fall subject 1, leave one trial out (3 folds; both cameras of a trial together, as the
   trial number is the fold): train the shipped config on the clips of the other two trials,
   run ``timeline`` on every held-out clip; a clip is called a fall when it has a fall event.
   Reported: fall / no-fall accuracy over the 66 subject-1 clips.
2. The shipped config trained on all of subject 1 (``--run``, or trained here): ``timeline``
   on GMDCSA24 subjects 1-2 (never seen in training) and on UP-Fall's other-person clip;
   ``evaluate-timeline``'s event scores at +-1 s (falls found, false alarms on ADL clips).

Everything goes through the ``actionlab`` command line. Settings are the shipped config's;
nothing is tuned on the clips scored here.

Run:  python benchmarks/bench_falls.py --out /tmp/falls-bench [--run runs/fall] [--folds 1,2,3]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "motionhist_8seg_adamw_upfall-fall-flow.yaml"
UPFALL = ROOT.parent / "shared" / "data" / "videos" / "upfall_subject1"
GMD = ROOT.parent / "shared" / "data" / "videos" / "falls_gmdcsa24"


def actionlab(*args: object) -> str:
    cmd = [sys.executable, "-c", "from actionlab.cli import run; run()", *map(str, args)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{res.stderr[-3000:]}")
    return res.stdout


def train(root: Path, out: Path, *extra: str) -> tuple[Path, float]:
    t0 = time.perf_counter()
    if not (out / "run" / "model.safetensors").exists() and not list(out.glob("run/*.safetensors")):
        actionlab("train", CONFIG, f"data.root={root}", f"data.cache_dir={out / 'cache'}",
                  f"train.out_dir={out / 'run'}", *extra)
    return out / "run", time.perf_counter() - t0


def timeline(run: Path, video: Path, out: Path) -> dict:
    if not (out / "timeline.json").exists():
        actionlab("timeline", run, video, "--out", out, "--no-video")
    return json.loads((out / "timeline.json").read_text())


def falls(doc: dict) -> list[dict]:
    return [e for e in doc["events"] if "fall" in e["label"]]


def upfall_rows() -> list[dict]:
    with (UPFALL / "manifest.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def loto(out: Path, folds: list[str]) -> dict:
    rows = [r for r in upfall_rows() if r["fold_leave_one_trial_out"] != "extra"]
    right = total = 0
    per_fold = {}
    for k in folds:
        fold = out / f"loto{k}"
        fold.mkdir(parents=True, exist_ok=True)
        train_rows = [r for r in rows if r["fold_leave_one_trial_out"] != k]
        with (fold / "manifest.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            for r in train_rows:
                w.writerow({**r, "path": str(UPFALL / r["path"])})
        run, secs = train(fold, fold)
        ok = []
        for r in rows:
            if r["fold_leave_one_trial_out"] != k:
                continue
            doc = timeline(run, UPFALL / r["path"], fold / "tl" / Path(r["path"]).with_suffix(""))
            ok.append((len(falls(doc)) > 0) == (r["is_fall"] == "1"))
        per_fold[k] = {"clips": len(ok), "right": sum(ok), "train_s": round(secs, 1)}
        right, total = right + sum(ok), total + len(ok)
        print(f"fold {k}: {sum(ok)}/{len(ok)} clips right (fall/no fall), trained in {secs:.0f} s",
              flush=True)
    return {"folds": per_fold, "right": right, "clips": total,
            "accuracy": right / total if total else None}


def held_out(run: Path, out: Path) -> dict:
    with (GMD / "manifest.csv").open(newline="") as f:
        gm = list(csv.DictReader(f))
    tl = out / "gmdcsa24"
    for r in gm:
        timeline(run, GMD / r["path"], tl / Path(r["path"]).with_suffix(""))
    text = actionlab("evaluate-timeline", tl, GMD, "--label", "fall", "--tolerance", "1.0",
                     "--out", out / "gmdcsa24_scores.json")
    scores = json.loads((out / "gmdcsa24_scores.json").read_text())["events"]
    extra = [r for r in upfall_rows() if r["fold_leave_one_trial_out"] == "extra"][0]
    doc = timeline(run, UPFALL / extra["path"], out / "upfall_other_person")
    return {"gmdcsa24": scores, "gmdcsa24_text": text.strip().splitlines()[-1],
            "other_person_fall_events": falls(doc)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--run", type=Path, help="The shipped detector, trained (else trained here).")
    ap.add_argument("--folds", default="1,2,3", help="UP-Fall trials to hold out ('' for none).")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    res: dict = {}
    run = a.run
    if run is None:
        run, secs = train(UPFALL, a.out / "full")
        res["train_s"] = round(secs, 1)
    res["held_out"] = held_out(run, a.out)
    print(res["held_out"]["gmdcsa24_text"], flush=True)
    print("other person:", res["held_out"]["other_person_fall_events"], flush=True)
    if a.folds:
        res["loto"] = loto(a.out, a.folds.split(","))
    (a.out / "results.json").write_text(json.dumps(res, indent=1, default=str))
    print(json.dumps({k: v for k, v in res.items() if k != "held_out"}, indent=1, default=str))


if __name__ == "__main__":
    main()
