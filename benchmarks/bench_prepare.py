"""Preparation speed: actionlab prepare against two baselines run in the same process.

1. Bound: DIS flow alone on pre-decoded 112x112 frames of the default synthetic clip set
   (12 classes x 24 clips x 64 frames), 2 processes. ``prepare`` (decode once, DIS flow,
   uint8 quantisation, RGB frames + flow into HDF5) on the same set and 2 processes is
   reported as a share of that bound. Target: >= 80%. Decoding alone is timed the same way:
   on these tiny clips it costs about twice as much as DIS ultrafast, so no pipeline that
   decodes them can pass about a third of the flow-only bound; the share of decode + flow
   says how much overhead is left on top of the unavoidable work.
2. The study's pipeline at equal resolution: every frame written as a JPEG, read back, TV-L1
   with OpenCV's defaults, flow quantised (bound 15) and written as one JPEG per component per
   frame. It runs on a subset (it is slow) and is scaled per video; the end-to-end speed-up of
   ``prepare`` is printed, with ``prepare`` using TV-L1 defaults too, to separate what the
   cache format buys from what the flow method buys.

Run:  .venv/bin/python benchmarks/bench_prepare.py [--clips DIR] [--subset 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402

from actionlab.data import flow as flowlib  # noqa: E402
from actionlab.data.adapters import ucf101  # noqa: E402
from actionlab.data.manifest import Manifest  # noqa: E402
from actionlab.data.prepare import PrepareConfig, prepare  # noqa: E402
from actionlab.data.video import read_video  # noqa: E402

SIZE = (112, 112)
DEFAULT_CLIPS = Path(tempfile.gettempdir()) / "actionlab-bench" / "synth-default"


def default_clip_set(path: Path = DEFAULT_CLIPS) -> Path:
    """The default synthetic clip set (made once, then reused)."""
    clips = path / "clips"
    if not (clips / "testlist01.txt").is_file():
        from actionlab.synth import generate_clips

        if path.exists():
            shutil.rmtree(path)
        t = time.perf_counter()
        generate_clips(path, workers=2, progress=False)
        print(f"generated the default synthetic clip set in {time.perf_counter() - t:.1f}s")
    return clips


# ---- bounds: flow alone on pre-decoded frames; decoding alone ---------------------------

def _bound_worker(paths: list[str], barrier, method: str, out) -> None:
    cv2.setNumThreads(1)
    barrier.wait()
    t0 = time.perf_counter()
    frames = [read_video(p, size=SIZE, threads=1)[0] for p in paths]  # what prepare decodes
    t1 = time.perf_counter()
    barrier.wait()  # every process starts the flow phase together
    t2 = time.perf_counter()
    for f in frames:
        flowlib.compute_flow(f, method)
    out.put((t0, t1, t2, time.perf_counter()))


def bounds(paths: list[str], workers: int, method: str = "dis") -> tuple[float, float]:
    """Wall seconds for ``workers`` processes to (decode, compute flow on pre-decoded frames)."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_bound_worker, args=(paths[k::workers], barrier, method, out))
             for k in range(workers)]
    for p in procs:
        p.start()
    spans = [out.get() for _ in procs]
    for p in procs:
        p.join()
    decode = max(s[1] for s in spans) - min(s[0] for s in spans)
    flow = max(s[3] for s in spans) - min(s[2] for s in spans)
    return decode, flow


def time_prepare(m: Manifest, workers: int, method: str, inputs=("rgb", "flow")) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = PrepareConfig(size=SIZE, inputs=inputs, flow_method=method)
        t = time.perf_counter()
        res = prepare(m, Path(tmp) / "cache", cfg, workers=workers, progress=False)
        took = time.perf_counter() - t
        assert not res.skipped, res.skipped
    return took


# ---- the study's pipeline -----------------------------------------------------------------

def _study_one(task: tuple[str, str]) -> None:
    """Frames -> JPEGs, read back, TV-L1 (defaults), flow -> 2 JPEGs per frame (bound 15)."""
    src, out = task
    cv2.setNumThreads(1)
    name = Path(src).stem
    rgb_dir, u_dir, v_dir = (Path(out) / d / name for d in ("rgb", "flow_u", "flow_v"))
    for d in (rgb_dir, u_dir, v_dir):
        d.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(src)
    i = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        bgr = cv2.resize(bgr, SIZE, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(rgb_dir / f"{i + 1:06d}.jpg"), bgr)
        i += 1
    cap.release()
    files = sorted(rgb_dir.glob("*.jpg"))
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
    prev = cv2.cvtColor(cv2.imread(str(files[0])), cv2.COLOR_BGR2GRAY)
    for k, f in enumerate(files[1:], 1):
        curr = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2GRAY)
        flow = tvl1.calc(prev, curr, None)
        q = flowlib.quantize(flow, 15.0)
        cv2.imwrite(str(u_dir / f"{k:06d}.jpg"), q[..., 0])
        cv2.imwrite(str(v_dir / f"{k:06d}.jpg"), q[..., 1])
        prev = curr


def time_study(paths: list[str], workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        with mp.get_context("spawn").Pool(workers) as pool:
            list(pool.imap_unordered(_study_one, [(p, tmp) for p in paths]))
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=Path, help="A clip set in UCF101 layout (default: synthetic)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--subset", type=int, default=8, help="Videos for the slow TV-L1 runs")
    args = ap.parse_args()

    clips = args.clips or default_clip_set()
    m = ucf101(clips)
    paths = [str(m.abspath(r)) for r in sorted(m.records, key=lambda r: r.key)]
    n = len(paths)
    print(f"{n} clips from {clips}, {args.workers} processes, {SIZE[0]}x{SIZE[1]}")

    decode, bound = bounds(paths, args.workers, "dis")
    ours = time_prepare(m, args.workers, "dis")
    ours_flow_only = time_prepare(m, args.workers, "dis", inputs=("flow",))
    print(f"flow-only bound (DIS ultrafast, pre-decoded): {bound:7.2f}s")
    print(f"decoding alone (what prepare decodes):        {decode:7.2f}s")
    for label, took in (("rgb+flow", ours), ("flow only", ours_flow_only)):
        print(f"prepare {label + ' (DIS):':37s}{took:7.2f}s  = {100 * bound / took:.0f}% of the "
              f"flow-only bound, {100 * (bound + decode) / took:.0f}% of decode + flow")
    sub = paths[:: max(1, n // args.subset)][: args.subset]
    sub_m = Manifest(m.classes, [r for r in m.records if str(m.abspath(r)) in set(sub)],
                     m.dataset, m.root)
    study = time_study(sub, args.workers) / len(sub)
    ours_tvl1 = time_prepare(sub_m, args.workers, "tvl1") / len(sub)
    ours_per = ours / n
    print(f"study pipeline (JPEG frames, TV-L1 defaults, JPEG u/v), {len(sub)} videos: "
          f"{study:.3f}s/video -> {study * n:.0f}s for all {n}")
    print(f"prepare with TV-L1 defaults into HDF5:  {ours_tvl1:.3f}s/video  "
          f"speed-up {study / ours_tvl1:.2f}x (format and single decode only)")
    print(f"prepare with DIS into HDF5:             {ours_per:.3f}s/video  "
          f"speed-up {study / ours_per:.0f}x end to end")


if __name__ == "__main__":
    main()
