"""What ``timeline`` writes: the JSON, a probability plot with segments shaded, an annotated MP4."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
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
                # H.264 with yuv420p needs even dimensions.
                tw, th = int(w * scale) // 2 * 2, int(h * scale) // 2 * 2
                if (tw, th) != (w, h):
                    frame = cv2.resize(frame, (tw, th), interpolation=cv2.INTER_AREA)
                if stream is None:
                    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
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


def plot_timeline(
    tl: Timeline, path: str | Path, max_classes: int = 8, title: str | None = None
) -> Path:
    """PNG of class probabilities over time, the segments shaded in their class colour.

    Args:
        tl: The timeline.
        path: The PNG to write.
        max_classes: Classes drawn (the most probable at any time, plus segment labels).
        title: Plot title; default the video's file name.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    probs = np.asarray(tl.probs)
    # Plot the classes that matter: the most probable ones at any time, plus segment labels.
    peak = probs.max(axis=0)
    keep = list(np.argsort(-peak)[:max_classes])
    for seg in tl.segments:
        j = tl.classes.index(seg["label"]) if seg["label"] in tl.classes else None
        if j is not None and j not in keep:
            keep.append(j)
    cmap = plt.get_cmap("tab10" if len(tl.classes) <= 10 else "tab20")
    colour = {j: cmap(j % cmap.N) for j in range(len(tl.classes))}
    # One lane per class that has segments, under the curves (classes may overlap in time).
    lanes = list(dict.fromkeys(seg["label"] for seg in tl.segments))
    heights = [4, max(0.6, 0.45 * len(lanes))] if lanes else [4]
    fig, axes = plt.subplots(len(heights), 1, sharex=True, figsize=(9, 3.2 + 0.3 * len(lanes)),
                             dpi=100, gridspec_kw={"height_ratios": heights}, squeeze=False)
    ax = axes[0, 0]
    for seg in tl.segments:
        j = tl.classes.index(seg["label"]) if seg["label"] in tl.classes else 0
        ax.axvspan(seg["start"], seg["end"], color=colour[j], alpha=0.12, lw=0)
    for j in keep:
        ax.plot(tl.times, probs[:, j], color=colour[j], lw=1.5, label=tl.classes[j],
                marker="o" if len(tl.times) < 3 else None)
    ax.set_xlim(0, max(tl.duration, tl.times[-1] if tl.times else 0))
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_title(title or Path(tl.video).name, fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    if lanes:
        lane_ax = axes[1, 0]
        for row, label in enumerate(lanes):
            j = tl.classes.index(label) if label in tl.classes else 0
            for seg in (sg for sg in tl.segments if sg["label"] == label):
                lane_ax.barh(row, seg["end"] - seg["start"], left=seg["start"], height=0.7,
                             color=colour[j], alpha=0.85)
                lane_ax.text(seg["start"], row, f" {seg['score']:.2f}", va="center", fontsize=7,
                             color="white", clip_on=True)
        lane_ax.set_yticks(range(len(lanes)), lanes, fontsize=8)
        lane_ax.set_ylim(len(lanes) - 0.5, -0.5)
        lane_ax.set_ylabel("segments", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return path


def save_timeline(
    tl: Timeline,
    out_dir: str | Path,
    frames: np.ndarray | None = None,
    video: bool = True,
) -> dict[str, Path]:
    """Write ``timeline.json``, ``timeline.png`` and (with ``frames``) ``annotated.mp4``.

    Args:
        tl: The timeline.
        out_dir: Folder to write into (created).
        frames: (N, H, W, 3) uint8 frames to annotate, usually full size.
        video: Whether to write the annotated MP4.

    Returns:
        Name -> path of each file written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "timeline.json", "plot": out_dir / "timeline.png"}
    write_json_atomic(paths["json"], tl.to_dict())
    plot_timeline(tl, paths["plot"])
    if video and frames is not None:
        paths["video"] = write_annotated_mp4(
            frames, tl.fps, lambda i: label_at(tl, (i + 0.5) / tl.fps), out_dir / "annotated.mp4"
        )
    return paths
