"""The pose stream, measured: keypoint extraction speed, UP-Fall activities, the fall detector.

1. ``fps``: MediaPipe Pose (the ``full`` model, the only one the wheel ships) over a UP-Fall
   clip at 640x480 and at 320x240 (the recipe's frames), frames per second after the
   estimator has started, the start-up time, and the share of frames with a person; against
   a baseline measured in the same run, DIS optical flow (the flow recipe's) over the same
   frames: the ratio is pose fps / flow fps. Whether the ``lite`` and ``heavy`` models run
   offline is tried and reported.
2. ``activities``: UP-Fall subject 1, 11 activities, leave one trial out (3 folds, both cameras
   of a trial together; ``actionlab crossval``): the pose config (32 frames per clip) alone,
   the flow recipe (motion histograms of 32 DIS flow frames, the UT-Interaction recipe) alone,
   and their late fusion (``fuse_crossvals``, equal weights: the mean of the two streams'
   probabilities, and with weights fitted per fold on the other folds' scores); top-1 and
   fall / no fall (the predicted activity is one of the 5 falls).
3. ``falls``: the pose fall detector (posetcn_24seg_adamw_upfall-fall-pose) under
   ``benchmarks/bench_falls.py``'s protocol: GMDCSA24 leave one subject out (fall onsets within
   +-1 s, ``evaluate-timeline``) and UP-Fall leave one trial out (a clip with a fall event is a
   fall); the windows' keypoints are prepared once and each fold trains on a view of that
   cache without the held-out clips' windows.

Settings are the shipped configs', fixed before any of these clips was scored; nothing is tuned
on a test fold.

Run:  python benchmarks/bench_pose.py --out /tmp/pose-bench [--parts fps,activities,falls]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_falls  # the fall detector's protocol, shared

ROOT = bench_falls.ROOT
UPFALL, GMD = bench_falls.UPFALL, bench_falls.GMD
POSE = ROOT / "configs" / "posetcn_24seg_adamw_upfall-fall-pose.yaml"
FLOW_RECIPE = ROOT / "configs" / "motionhist_32seg_adamw_ut_interaction-flow.yaml"
CLIP = UPFALL / "Activity1" / "Subject1" / "Trial1Cam1.mp4"
ACTIVITY_OVERRIDES = {  # the 11 activities: whole clips, 32 frames spread over each
    "pose": ["data.segments=32", "model.kwargs.num_frames=32"],
    "flow": ["data.group_pattern="],  # the CSV's groups (trials), not UT-Interaction's names
}


def cpu() -> str:
    """The CPU's model name and its vector extensions, as ``lscpu`` gives them."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown CPU"
    info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    flags = info.get("Flags", "").split()
    ext = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    return (f"{info.get('Model name', '?').strip()}, {info.get('CPU(s)', '?').strip()} CPUs, "
            f"{' '.join(ext) or 'no AVX2'}")


def measure_fps(size: tuple[int, int] | None) -> dict:
    """Pose and DIS flow over the same decoded frames (``size`` (W, H), None: as stored)."""
    from actionlab.data import pose as poselib
    from actionlab.data.flow import compute_flow
    from actionlab.data.video import read_video

    frames, _ = read_video(CLIP, size=size)
    t0 = time.perf_counter()
    tracker = poselib.PoseTracker()
    start_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    track = np.stack([tracker.push(f) for f in frames])
    pose_s = time.perf_counter() - t0
    tracker.close()
    t0 = time.perf_counter()
    compute_flow(frames, "dis", bound=12.0)
    flow_s = time.perf_counter() - t0
    n = len(frames)
    res = {"size": f"{frames.shape[2]}x{frames.shape[1]}", "frames": n,
           "pose_fps": n / pose_s, "start_s": start_s, "flow_fps": (n - 1) / flow_s,
           "person_share": poselib.present_share(track)}
    res["ratio"] = res["pose_fps"] / res["flow_fps"]
    print(f"pose {res['size']}: {res['pose_fps']:.1f} frames/s (start-up {start_s:.2f} s), "
          f"person in {res['person_share']:.0%} of {n} frames; DIS flow {res['flow_fps']:.1f} "
          f"frames/s; pose / flow {res['ratio']:.2f}x", flush=True)
    return res


def other_models() -> dict:
    """Whether MediaPipe's lite (0) and heavy (2) landmark models run here without a download."""
    from actionlab.data import pose as poselib
    from actionlab.errors import InputError

    out = {}
    for c in (0, 2):
        try:
            poselib.PoseTracker(c).close()
            out[c] = "runs"
        except InputError as exc:
            out[c] = str(exc)
        print(f"model complexity {c}: {out[c]}", flush=True)
    return out


def upfall_csv(out: Path) -> Path:
    """UP-Fall subject 1 without the other-person clip, grouped by trial (both cameras)."""
    rows = [r for r in bench_falls.rows_of(UPFALL) if r["fold_leave_one_trial_out"] != "extra"]
    path = out / "upfall_trials.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "group"])
        for r in rows:
            w.writerow([str(UPFALL / r["path"]), r["label"], f"trial{r['trial']}"])
    return path


def fall_share(doc: dict, falls: set[str]) -> tuple[int, int]:
    """(right, clips) for fall / no fall from a crossval summary's summed confusion matrix."""
    conf = np.asarray(doc["confusion"])
    is_fall = np.array([c in falls for c in doc["classes"]])
    right = conf[np.ix_(is_fall, is_fall)].sum() + conf[np.ix_(~is_fall, ~is_fall)].sum()
    return int(right), int(conf.sum())


def activities(out: Path) -> dict:
    from actionlab.evaluate.folds import fuse_crossvals, summarize_dir

    table = upfall_csv(out)
    falls = {r["label"] for r in bench_falls.rows_of(UPFALL) if r["is_fall"] == "1"}
    res = {}
    for name, config in (("pose", POSE), ("flow", FLOW_RECIPE)):
        d = out / f"activities-{name}"
        t0 = time.perf_counter()
        if not (d / "crossval.json").is_file() or summarize_dir(d)["n_done"] < 3:
            bench_falls.actionlab("crossval", config, "data.dataset=csv", f"data.root={table}",
                                  *ACTIVITY_OVERRIDES[name], "--folds", "logo", "--out", d)
        res[name] = {"wall_s": round(time.perf_counter() - t0, 1)}
    docs = {n: summarize_dir(out / f"activities-{n}") for n in ("pose", "flow")}
    docs["fusion"] = fuse_crossvals([out / "activities-pose", out / "activities-flow"],
                                    out / "activities-fusion")
    # weights fitted per fold on the other folds' scores (out of fold; never this fold's labels)
    docs["fusion-fit"] = fuse_crossvals([out / "activities-pose", out / "activities-flow"],
                                        out / "activities-fusion-fit", weights="fit")
    print("fitted weights (pose, flow) per fold: " + ", ".join(
        f"{f['weights'][0]:.2f}/{f['weights'][1]:.2f}" for f in docs["fusion-fit"]["per_fold"]))
    for name, doc in docs.items():
        right, clips = fall_share(doc, falls)
        folds = [round(r["top1"], 3) for r in doc["per_fold"] if r]
        res.setdefault(name, {}).update(top1=doc["mean"], std=doc["std"], folds=folds,
                                        fall_right=right, clips=clips)
        print(f"{name}: 11 activities top-1 {doc['mean']:.3f} +- {doc['std']:.3f} (folds "
              f"{folds}); fall / no fall {right}/{clips} = {right / clips:.3f}", flush=True)
    return res


def shared_windows(out: Path) -> tuple[Path, object]:
    """The fall windows of UP-Fall + GMDCSA24 with their keypoints, prepared once for every
    fold (the folds are views of this cache, as ``crossval`` makes them)."""
    from actionlab.config import load_config
    from actionlab.data.adapters import load_manifest
    from actionlab.data.prepare import PrepareConfig, prepare
    from actionlab.spec import cache_inputs

    data = load_config(POSE).data
    cache = out / "falls" / "cache"
    t0 = time.perf_counter()
    m = load_manifest("fall_windows", f"{UPFALL},{GMD}")
    pc = PrepareConfig(size=None, short_side=round(max(data.size) * 8 / 7),
                       inputs=cache_inputs([data.modality]))
    res = prepare(m, cache, pc, progress=False)
    print(f"fall windows: {len(res.manifest.records)} prepared with keypoints in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    return cache, res.manifest


def train_fold(cache: Path, prepared, test_groups: set[str], fold: Path) -> tuple[Path, float]:
    """Train the pose detector on every window whose source clip is not held out."""
    from actionlab.experiment.crossval import fold_view

    groups = [r.group for r in prepared.records]
    test = np.array([i for i, g in enumerate(groups) if g in test_groups])
    train = np.array([i for i, g in enumerate(groups) if g not in test_groups])
    view = fold_view(cache, prepared, train, test, fold / "cache")
    t0 = time.perf_counter()
    if not list(fold.glob("run/*/last.safetensors")):
        bench_falls.actionlab("train", POSE, f"data.cache_dir={view}",
                              f"train.out_dir={fold / 'run'}")
    return fold / "run", time.perf_counter() - t0


def falls(out: Path) -> dict:
    """GMDCSA24 leave one subject out and UP-Fall leave one trial out, for the pose detector."""
    cache, prepared = shared_windows(out)
    gm = bench_falls.rows_of(GMD)
    tl = out / "falls" / "gmd_loso" / "timelines"
    for subject in sorted({r["group"] for r in gm}):
        run, secs = train_fold(cache, prepared, {subject}, out / "falls" / "gmd_loso" / subject)
        print(f"  {subject} held out: trained in {secs:.0f} s", flush=True)
        for r in gm:
            if r["group"] == subject:
                bench_falls.timeline(run, GMD / r["path"], tl / Path(r["path"]).with_suffix(""))
    res = {"gmd_loso": bench_falls.gmd_scores(tl, out / "falls", "gmd_loso")}
    rows = [r for r in bench_falls.rows_of(UPFALL) if r["fold_leave_one_trial_out"] != "extra"]
    right = total = 0
    for k in ("1", "2", "3"):
        held = {r["group"] for r in rows if r["fold_leave_one_trial_out"] == k}
        fold = out / "falls" / f"loto{k}"
        run, secs = train_fold(cache, prepared, held, fold)
        ok = []
        for r in rows:
            if r["fold_leave_one_trial_out"] == k:
                doc = bench_falls.timeline(run, UPFALL / r["path"],
                                           fold / "tl" / Path(r["path"]).with_suffix(""))
                ok.append((len(bench_falls.falls(doc)) > 0) == (r["is_fall"] == "1"))
        right, total = right + sum(ok), total + len(ok)
        print(f"fold {k}: {sum(ok)}/{len(ok)} clips right (fall/no fall), trained in "
              f"{secs:.0f} s", flush=True)
    res["loto"] = {"right": right, "clips": total, "accuracy": right / total}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--parts", default="fps,activities,falls",
                    help="Which measurements: fps, activities, falls.")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    parts = a.parts.split(",")
    res_path = a.out / "results.json"
    res: dict = json.loads(res_path.read_text()) if res_path.exists() else {}
    res["cpu"] = cpu()
    print(res["cpu"], flush=True)
    if "fps" in parts:
        res["fps"] = [measure_fps(None), measure_fps((320, 240))]
        res["other_models"] = other_models()
    if "activities" in parts:
        res["activities"] = activities(a.out)
    if "falls" in parts:
        res["falls"] = falls(a.out)
    res_path.write_text(json.dumps(res, indent=1, default=str))


if __name__ == "__main__":
    main()
