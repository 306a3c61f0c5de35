"""The shipped fall detector, measured: UP-Fall leave-one-trial-out, GMDCSA24, other person.

1. ``loso``: GMDCSA24 leave one subject out: train on UP-Fall subject 1 and the other
   GMDCSA24 subject, ``timeline`` on the held-out subject's clips; ``evaluate-timeline``'s
   event scores at +-1 s over the 9 clips (falls found, false alarms on the 3 ADL clips).
2. ``upfall_only``: the same with UP-Fall alone in training (GMDCSA24 never seen).
3. ``full``: the shipped config (UP-Fall + GMDCSA24 subjects 1-2) on UP-Fall's other person.
4. ``fused``: GMDCSA24 leave one subject out as in 1., for the flow detector, the pose
   detector (``posetcn_24seg_adamw_upfall-fall-pose``) and the two fused over time
   (``timeline --fuse``, weight 0.5: nothing fitted on the clips scored), each scored alike.
5. ``loto``: UP-Fall subject 1, leave one trial out (3 folds; both cameras of a trial
   together, as the trial number is the fold), GMDCSA24 in training as shipped; a clip is
   called a fall when it has a fall event: fall / no-fall accuracy over the 66 clips.

Everything goes through the ``actionlab`` command line. Settings are the shipped config's;
nothing is tuned on the clips scored here.

Run:  python benchmarks/bench_falls.py --out /tmp/falls-bench [--parts loso,upfall_only,full,loto]
      (``fused`` needs the pose extra: docs/falls.md)
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
POSE = ROOT / "configs" / "posetcn_24seg_adamw_upfall-fall-pose.yaml"
UPFALL = ROOT.parent / "shared" / "data" / "videos" / "upfall_subject1"
GMD = ROOT.parent / "shared" / "data" / "videos" / "falls_gmdcsa24"


def actionlab(*args: object) -> str:
    cmd = [sys.executable, "-c", "from actionlab.cli import run; run()", *map(str, args)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{res.stderr[-3000:]}")
    return res.stdout


def train(root: Path | str, out: Path, *extra: str, config: Path = CONFIG) -> tuple[Path, float]:
    t0 = time.perf_counter()
    if not list(out.glob("run/*/last.safetensors")):
        actionlab("train", config, f"data.root={root}", f"data.cache_dir={out / 'cache'}",
                  f"train.out_dir={out / 'run'}", *extra)
    return out / "run", time.perf_counter() - t0


def timeline(run: Path, video: Path, out: Path, *extra: object) -> dict:
    if not (out / "timeline.json").exists():
        actionlab("timeline", run, video, "--out", out, "--no-video", *extra)
    return json.loads((out / "timeline.json").read_text())


def falls(doc: dict) -> list[dict]:
    return [e for e in doc["events"] if "fall" in e["label"]]


def rows_of(folder: Path) -> list[dict]:
    with (folder / "manifest.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, folder: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({**r, "path": str(folder / r["path"])})
    return path


def gmd_scores(tl: Path, out: Path, name: str) -> dict:
    text = actionlab("evaluate-timeline", tl, GMD, "--label", "fall", "--tolerance", "1.0",
                     "--out", out / f"{name}.json")
    res = json.loads((out / f"{name}.json").read_text())["events"]
    adl = [v for v in res["videos"] if "/ADL/" in v["video"]]
    res["adl_false_alarms"] = sum(v["false_alarms"] for v in adl)
    res["text"] = next(x for x in text.splitlines() if x.startswith("events"))
    print(f"{name}: {res['text']}; on the 3 ADL clips: {res['adl_false_alarms']} false alarms",
          flush=True)
    return res


def gmd_fold_root(fold: Path, gm: list[dict], subject: str) -> str:
    """``data.root`` of a GMDCSA24 fold: UP-Fall and the other subjects' clips (a manifest)."""
    other = [r for r in gm if r["group"] != subject]
    return f"{UPFALL},{write_csv(fold / 'gmd' / 'manifest.csv', GMD, other)}"


def loso(out: Path, with_gmd: bool) -> dict:
    """GMDCSA24 leave one subject out: train on UP-Fall (+ the other GMDCSA24 subject)."""
    gm = rows_of(GMD)
    tl = out / ("gmd_loso" if with_gmd else "gmd_upfall_only") / "timelines"
    for subject in sorted({r["group"] for r in gm}):
        fold = out / ("gmd_loso" if with_gmd else "gmd_upfall_only") / subject
        root = gmd_fold_root(fold, gm, subject) if with_gmd else str(UPFALL)
        run, secs = train(root, fold)
        print(f"  {subject} held out: trained in {secs:.0f} s", flush=True)
        for r in gm:
            if r["group"] == subject:
                timeline(run, GMD / r["path"], tl / Path(r["path"]).with_suffix(""))
        if not with_gmd:  # the same model for both subjects
            for r in gm:
                timeline(run, GMD / r["path"], tl / Path(r["path"]).with_suffix(""))
            break
    return gmd_scores(tl, out, "gmd_loso" if with_gmd else "gmd_upfall_only")


def loso_fused(out: Path, weight: float = 0.5) -> dict:
    """GMDCSA24 leave one subject out: flow, pose, and the two fused over time."""
    gm = rows_of(GMD)
    base = out / "gmd_loso"
    tls = {k: base / f"timelines-{k}" for k in ("flow", "pose", "fused")}
    for subject in sorted({r["group"] for r in gm}):
        fold = base / subject
        root = gmd_fold_root(fold, gm, subject)
        flow_run, s1 = train(root, fold)
        pose_run, s2 = train(root, fold / "pose", config=POSE)
        print(f"  {subject} held out: flow trained in {s1:.0f} s, pose in {s2:.0f} s", flush=True)
        for r in gm:
            if r["group"] == subject:
                name, video = Path(r["path"]).with_suffix(""), GMD / r["path"]
                timeline(flow_run, video, tls["flow"] / name)
                timeline(pose_run, video, tls["pose"] / name)
                timeline(flow_run, video, tls["fused"] / name, "--fuse", pose_run,
                         "--fuse-weight", weight)
    return {k: gmd_scores(v, out, f"gmd_loso_{k}") for k, v in tls.items()}


def loto(out: Path, folds: list[str]) -> dict:
    """UP-Fall leave one trial out, the shipped data otherwise (all of GMDCSA24 included)."""
    rows = [r for r in rows_of(UPFALL) if r["fold_leave_one_trial_out"] != "extra"]
    right = total = 0
    per_fold = {}
    for k in folds:
        fold = out / f"loto{k}"
        train_rows = [r for r in rows if r["fold_leave_one_trial_out"] != k]
        root = f"{write_csv(fold / 'upfall' / 'manifest.csv', UPFALL, train_rows)},{GMD}"
        run, secs = train(root, fold)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--parts", default="loso,upfall_only,full,loto",
                    help="Which measurements: loso, upfall_only, full, loto, fused.")
    ap.add_argument("--folds", default="1,2,3", help="UP-Fall trials to hold out.")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    parts = a.parts.split(",")
    res_path = a.out / "results.json"
    res: dict = json.loads(res_path.read_text()) if res_path.exists() else {}
    if "loso" in parts:
        res["gmd_loso"] = loso(a.out, with_gmd=True)
    if "upfall_only" in parts:
        res["gmd_upfall_only"] = loso(a.out, with_gmd=False)
    if "full" in parts:  # the shipped config as shipped: the other-person clip
        run, secs = train(f"{UPFALL},{GMD}", a.out / "full")
        extra = [r for r in rows_of(UPFALL) if r["fold_leave_one_trial_out"] == "extra"][0]
        doc = timeline(run, UPFALL / extra["path"], a.out / "upfall_other_person")
        res["full"] = {"train_s": round(secs, 1), "other_person_fall_events": falls(doc)}
        print("other person:", falls(doc), flush=True)
    if "loto" in parts:
        res["loto"] = loto(a.out, a.folds.split(","))
    if "fused" in parts:
        res["gmd_fused"] = loso_fused(a.out)
    res_path.write_text(json.dumps(res, indent=1, default=str))
    def brief(v: object) -> object:
        if not isinstance(v, dict):
            return v
        if "accuracy" in v or "text" in v:
            return v.get("accuracy", v.get("text"))
        return {k: brief(x) for k, x in v.items()}  # e.g. the fused part's three detectors

    print(json.dumps({k: brief(v) for k, v in res.items()}, indent=1, default=str))


if __name__ == "__main__":
    main()
