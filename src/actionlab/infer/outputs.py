"""What ``timeline`` writes: the JSON, a probability plot with segments shaded (the report
stage's timeline figure), and an annotated MP4."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np

from actionlab.infer.timeline import Timeline, label_at
from actionlab.io import atomic_path, write_json_atomic

log = logging.getLogger(__name__)


def write_annotated_mp4(
    frames: Iterable[np.ndarray],
    fps: float,
    caption: Callable[[int], tuple[str, float]],
    path: str | Path,
    max_side: int = 640,
) -> Path:
    """Encode frames to H.264 MP4 with PyAV, drawing ``caption(i)`` (label, confidence) on each.

    Args:
        frames: (H, W, 3) uint8 RGB frames.
        fps: Frame rate of the output.
        caption: Frame index -> (label, confidence in [0, 1]).
        path: The .mp4 to write (atomically).
        max_side: Frames larger than this are scaled down (keeps files small).

    Returns:
        The path written.
    """
    import av
    import cv2

    path = Path(path)
    with atomic_path(path) as tmp:
        container = av.open(str(tmp), mode="w")
        stream = None
        try:
            for i, frame in enumerate(frames):
                h, w = frame.shape[:2]
                scale = min(1.0, max_side / max(h, w))
                # H.264 with yuv420p needs even dimensions (2 at least: a 1x1 video too)
                tw, th = max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2)
                if (tw, th) != (w, h):
                    frame = cv2.resize(frame, (tw, th), interpolation=cv2.INTER_AREA)
                if stream is None:
                    rate = Fraction(fps).limit_denominator(1001)
                    stream = container.add_stream("libx264", rate=rate)
                    stream.width, stream.height, stream.pix_fmt = tw, th, "yuv420p"
                    stream.options = {"preset": "ultrafast", "crf": "26"}  # a preview: speed first
                label, conf = caption(i)
                frame = draw_caption(frame, f"{label} {conf:.0%}")
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            if stream is not None:
                for packet in stream.encode():
                    container.mux(packet)
        finally:
            container.close()
    return path


def draw_caption(frame: np.ndarray, text: str) -> np.ndarray:
    """``frame`` with ``text`` in white on a dark band at the top."""
    import cv2

    out = np.ascontiguousarray(frame).copy()
    h, w = out.shape[:2]
    scale = max(0.35, min(1.0, w / 640))
    thick = 1 if scale < 0.7 else 2
    (_, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    band = th + base + 8
    out[:band] = (out[:band].astype(np.uint16) * 2 // 5).astype(np.uint8)
    cv2.putText(out, text, (6, th + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick,
                cv2.LINE_AA)
    return out


def save_timeline_plot(tl: Timeline, path: str | Path, title: str | None = None) -> Path:
    """PNG of class probabilities over time with the segments shaded
    (:func:`actionlab.infer.plots.plot_timeline`).

    Args:
        tl: The timeline.
        path: The PNG to write (atomically).
        title: Plot title; default the video's file name.
    """
    from actionlab.infer.plots import plot_timeline as report_timeline

    path = Path(path)
    with atomic_path(path) as tmp:
        report_timeline(tl.times, tl.probs, tl.classes, tmp, segments=tl.segments,
                        duration=tl.duration, title=title or Path(tl.video).name)
    return path


def save_timeline(
    tl: Timeline,
    out_dir: str | Path,
    frames: np.ndarray | None = None,
    video: bool = True,
) -> dict[str, Path]:
    """Write ``timeline.json``, ``timeline.png`` and (with ``frames``) ``annotated.mp4``.

    All or nothing: the files are written into a hidden folder inside ``out_dir`` and moved
    into place only when every one of them is complete, so a failure (a full disk, a frame
    the encoder refuses) leaves ``out_dir`` as it was.

    Args:
        tl: The timeline.
        out_dir: Folder to write into (created).
        frames: (N, H, W, 3) uint8 frames to annotate, usually full size.
        video: Whether to write the annotated MP4.

    Returns:
        Name -> path of each file written.
    """
    out_dir = Path(out_dir)
    names = {"json": "timeline.json", "plot": "timeline.png"}
    if video and frames is not None:
        names["video"] = "annotated.mp4"
    made = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".timeline-", dir=out_dir))
    try:
        write_json_atomic(stage / names["json"], tl.to_dict())
        with ThreadPoolExecutor(1) as pool:
            # The encoder releases the GIL: the MP4 is written while matplotlib draws the plot.
            mp4 = None
            if "video" in names:
                mp4 = pool.submit(write_annotated_mp4, frames, tl.fps,
                                  lambda i: label_at(tl, (i + 0.5) / tl.fps),
                                  stage / names["video"])
            save_timeline_plot(tl, stage / names["plot"], title=Path(tl.video).name)
            if mp4 is not None:
                mp4.result()
        paths = {}
        for key, name in names.items():
            os.replace(stage / name, out_dir / name)
            paths[key] = out_dir / name
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if made and not any(out_dir.iterdir()):
            out_dir.rmdir()  # a folder this call made stays only with its files in it
    return paths
