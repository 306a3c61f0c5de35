"""An hour of stream through ``actionlab live``: does its memory stay flat?

Writes one 60 s synthetic long video and an ``.ffconcat`` playlist that plays it ``--minutes``
times in a row (FFmpeg's concat demuxer keeps the timestamps running), then runs
:class:`actionlab.infer.live.LiveSession` on it as fast as it can decode (``speed=0``: an hour
of stream in minutes, with every frame classified as live would) with the demo's slip-detector
architecture (random weights: memory does not depend on them; onnxruntime, as ``live`` runs it).
Resident memory is read from ``/proc/self/statm`` every stream minute. Prints the CPU, the
memory after the first and the last minute and the growth per stream hour after a warm-up of
5 minutes; the goal is flat (a few MB at most, not growing with the stream).

    python benchmarks/bench_live_memory.py [--minutes 60] [--out bench_live_memory_out]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from bench_live import cpu_name, slip_checkpoint


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=int, default=60, help="minutes of stream")
    ap.add_argument("--out", type=Path, default=Path("bench_live_memory_out"))
    args = ap.parse_args()

    from actionlab.api import load
    from actionlab.infer.live import LiveSession
    from actionlab.synth.api import generate_long_videos

    args.out.mkdir(parents=True, exist_ok=True)
    if not sorted((args.out / "long").glob("*.mp4")):
        generate_long_videos(args.out, long_videos=1, duration=(60.0, 60.0), seed=7, workers=1,
                             overwrite=True, progress=False)
    video = sorted((args.out / "long").glob("*.mp4"))[0]
    playlist = args.out / "hour.ffconcat"
    entry = f"file '{video.relative_to(args.out).as_posix()}'\n"
    playlist.write_text("ffconcat version 1.0\n" + entry * args.minutes)
    rec = load(slip_checkpoint(args.out / "slip" / "best.safetensors"), fast=True)
    samples: list[tuple[float, float]] = []  # (stream minute, MB)
    next_minute = [1.0]

    def on_frame(fr, _label) -> None:
        minute = session.stats.stream_time / 60
        if minute >= next_minute[0]:
            samples.append((round(minute, 2), round(rss_mb(), 1)))
            next_minute[0] += 1.0

    session = LiveSession(rec, str(playlist), step="0.5s", speed=0, on_frame=on_frame)
    t = time.perf_counter()
    events = sum(1 for _ in session.events())
    wall = time.perf_counter() - t
    stats = session.stats.to_dict()
    warm = [mb for m, mb in samples if m >= 5] or [mb for _, mb in samples]
    hours = max(1e-9, (samples[-1][0] - 5) / 60) if len(samples) > 5 else None
    print(json.dumps({
        "cpu": cpu_name(), "stream_minutes": round(stats["stream_time"] / 60, 2),
        "wall_s": round(wall, 1), "frames_read": stats["frames_read"],
        "frames_dropped": stats["frames_dropped"], "windows": stats["windows"], "events": events,
        "rss_mb_after_minute_1": samples[0][1] if samples else None,
        "rss_mb_at_end": round(rss_mb(), 1),
        "rss_mb_min_max_after_warmup": [min(warm), max(warm)] if warm else None,
        "growth_mb_per_stream_hour_after_warmup":
            round((warm[-1] - warm[0]) / hours, 1) if hours else None,
        "samples": samples,
    }, indent=1))


if __name__ == "__main__":
    main()
