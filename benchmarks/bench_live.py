"""``actionlab live`` on the slip detector, a synthetic long video streamed over local TCP.

Trains the slip study (its quick settings unless ``--full``), writes one synthetic long video,
serves it as MPEG-TS on 127.0.0.1 in real time from a second process, runs
:class:`actionlab.infer.live.LiveSession` on it, and prints the real-time factor (processing
time / stream time), the median model latency per window, the median latency from the arrival
of the frame that closed a window to its event, the frames dropped, the CPU, and how far the
live onsets are from ``timeline``'s segments on the same file.

    python benchmarks/bench_live.py [--full] [--duration 60] [--out bench_live_out]
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path


def serve(path: str, port: int) -> None:
    """Remux ``path`` to MPEG-TS on tcp://127.0.0.1:port, paced by its timestamps."""
    import av

    with av.open(path) as src, av.open(f"tcp://127.0.0.1:{port}?listen=1", "w",
                                       format="mpegts") as out:
        vin = src.streams.video[0]
        vout = out.add_stream_from_template(vin)
        t0 = time.monotonic()
        for packet in src.demux(vin):
            if packet.dts is None:
                continue
            if packet.pts is not None:
                time.sleep(max(0.0, t0 + float(packet.pts * vin.time_base) - time.monotonic()))
            packet.stream = vout
            out.mux(packet)


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(x.split(":", 1)[1].strip() for x in out.splitlines()
                    if x.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor()


def slip_checkpoint(path: Path) -> Path:
    """The demo's slip-detector architecture with random weights, as a real checkpoint."""
    import torch

    from actionlab.checkpoint import save_checkpoint
    from actionlab.models import build_model

    kwargs = {"num_classes": 2, "fusion": "average", "rgb": {"name": "resnetlike", "width": 0.5},
              "flow": {"name": "r2plus1d_flow", "width": 0.5}}
    spec = {"kind": "two_stream", "modality": "rgb+flow", "size": [64, 64], "frames": 8,
            "stride": 4, "segments": 1, "sample": "middle", "rgb": "frame", "flow_layout": "clip",
            "num_clips": 1, "flow": {"method": "dis", "bound": 4.0},
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    torch.manual_seed(0)
    return save_checkpoint(path, build_model("two_stream", **kwargs),
                           {"model": {"name": "two_stream", "kwargs": kwargs}, "input": spec,
                            "classes": ["not_slipping", "slipping"], "epoch": 0, "metrics": {}})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="the study's default settings")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of streamed video")
    ap.add_argument("--out", type=Path, default=Path("bench_live_out"))
    args = ap.parse_args()

    from actionlab.infer.commands import _runner
    from actionlab.infer.live import LiveSession
    from actionlab.infer.timeline import run_timeline
    from actionlab.studies.slip import SlipSettings, run_slip_study
    from actionlab.synth.api import generate_long_videos

    s = SlipSettings() if args.full else SlipSettings.quick()
    t = time.perf_counter()
    (args.out / "data").mkdir(parents=True, exist_ok=True)
    res = run_slip_study(args.out / "data", args.out / "study", s)
    train_s = time.perf_counter() - t
    stream_dir = args.out / "stream"
    if not sorted((stream_dir / "long").glob("*.mp4")):
        generate_long_videos(stream_dir, long_videos=1, duration=(args.duration, args.duration),
                             difficulty=s.difficulty, seed=s.seed + 99, workers=1,
                             overwrite=True, progress=False)
    video = sorted((stream_dir / "long").glob("*.mp4"))[0]
    from actionlab.evaluate.runs import run_checkpoint

    runner = _runner(run_checkpoint(res.run), True, s.threads)
    kw = dict(threshold=s.threshold, smooth=s.smooth, min_duration=s.min_duration,
              merge_gap=s.merge_gap)
    step = f"{s.step}s"
    tl, _ = run_timeline(runner, video, step=step, segment_kw=kw)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(video), str(port)])
    time.sleep(1.0)
    session = LiveSession(runner, f"tcp://127.0.0.1:{port}", step=step, segment_kw=kw,
                          timeout=10, reconnects=0)
    events = list(session.events())
    server.wait(30)
    stats = session.stats.to_dict()
    onsets = [e["start"] for e in events if e["event"] == "end"]
    ref = [seg["start"] for seg in tl.segments]
    gaps = [min((abs(o - r) for o in onsets), default=None) for r in ref]
    print(json.dumps({
        "cpu": cpu_name(), "settings": "default" if args.full else "quick",
        "train_s": round(train_s, 1), "video": str(video), "duration_s": round(tl.duration, 2),
        "real_time_factor": stats["real_time_factor"],
        "model_latency_ms_median": stats["latency_ms_median"],
        "event_latency_ms_median": stats["event_latency_ms_median"],
        "frames_read": stats["frames_read"], "frames_dropped": stats["frames_dropped"],
        "live_segments": len(onsets), "timeline_segments": len(ref),
        "onset_gap_s_max": max((g for g in gaps if g is not None), default=None),
        "unmatched": sum(g is None or g > 1.0 for g in gaps),
    }, indent=1))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        main()
