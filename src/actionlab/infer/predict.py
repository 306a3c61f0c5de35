"""Predict the action in a video: top-k labels, multi-clip averaging, flow on the fly.

:func:`decode_video` reads a video once (through :mod:`actionlab.data`) and returns frames at the
model's size plus, when asked, at full size for drawing; :func:`predict_video` averages the
softmax of several clips spread over the video.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from actionlab.errors import VideoError
from actionlab.infer.preprocess import (
    model_size,
    needs_flow,
    flow_for_video,
    preprocess,
    resize_frames,
    stream_specs,
    window_span,
)
from actionlab.infer.runner import Runner, classes_of, input_spec, softmax

log = logging.getLogger(__name__)


@dataclass
class Decoded:
    """A video decoded once: frames at model size, optional full-size frames, timing."""

    path: Path
    frames: np.ndarray  # (N, H, W, 3) uint8 at the model's size
    fps: float
    native: np.ndarray | None = None  # (N, H0, W0, 3) uint8, for drawing

    @property
    def duration(self) -> float:
        return len(self.frames) / self.fps


def _fps_of(info: Any) -> float:
    """Frames per second from whatever :func:`actionlab.data.probe` returns."""
    for key in ("fps", "frame_rate", "average_rate"):
        val = info.get(key) if isinstance(info, dict) else getattr(info, key, None)
        if val:
            return float(val)
    return 25.0


def decode_video(path: str | Path, spec: dict[str, Any], keep_native: bool = False) -> Decoded:
    """Decode every frame of ``path`` once.

    Args:
        path: Any container PyAV reads.
        spec: The input spec (its ``size`` is the model's frame size).
        keep_native: Also keep full-size frames (for the annotated video).

    Raises:
        VideoError: the file is missing, not a video, or has no decodable frame.
    """
    from actionlab.data import probe, read_frames

    path = Path(path)
    info = probe(path)
    h, w = model_size(spec)
    if keep_native:
        native = np.asarray(read_frames(path))
        if len(native) == 0:
            raise VideoError(path, "no decodable frames; re-encode it (e.g. ffmpeg -i IN OUT.mp4)")
        frames = resize_frames(native, (h, w))
    else:
        native = None
        frames = np.asarray(read_frames(path, size=(w, h)))
    if len(frames) == 0:
        raise VideoError(path, "no decodable frames; re-encode it (e.g. ffmpeg -i IN OUT.mp4)")
    return Decoded(path=path, frames=frames, fps=_fps_of(info), native=native)


@dataclass
class Prediction:
    """Top-k labels for one video, and the averaged class probabilities."""

    video: str
    topk: list[tuple[str, float]]
    probs: list[float]
    classes: list[str]
    clips: int
    frames: int
    fps: float
    padded: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "video": self.video,
            "top": [{"label": lab, "prob": round(p, 6)} for lab, p in self.topk],
            "clips": self.clips,
            "frames": self.frames,
            "fps": self.fps,
            "padded": self.padded,
        }


def clip_starts(num_frames: int, span: int, clips: int) -> list[int]:
    """First frames of ``clips`` windows of ``span`` frames spread evenly over the video."""
    last = max(0, num_frames - span)
    if clips <= 1 or last == 0:
        return [last // 2]
    return sorted({int(round(x)) for x in np.linspace(0, last, clips)})


def predict_frames(
    runner: Runner,
    decoded: Decoded,
    k: int = 5,
    clips: int = 3,
    flow: np.ndarray | None = None,
) -> Prediction:
    """Top-k for an already decoded video (see :func:`predict_video`)."""
    spec = input_spec(runner.meta)
    classes = classes_of(runner.meta)
    frames = decoded.frames
    n = len(frames)
    span = window_span(spec)
    if flow is None and needs_flow(spec):
        flow = flow_for_video(frames, spec)
    if any(s.get("kind") == "tsn" for s in stream_specs(spec)):
        # TSN covers the whole video; clips differ by where each snippet sits in its segment.
        offsets = [(i + 0.5) / clips for i in range(clips)]
        batches = [preprocess(frames, spec, flow, starts=[0], length=n, offset=o) for o in offsets]
        inputs = tuple(np.concatenate(parts) for parts in zip(*batches, strict=True))
    else:
        starts = clip_starts(n, span, clips)
        inputs = preprocess(frames, spec, flow, starts=starts, length=span)
    probs = softmax(runner.logits(inputs)).mean(axis=0)
    order = np.argsort(-probs)[: max(1, k)]
    return Prediction(
        video=str(decoded.path),
        topk=[(classes[i], float(probs[i])) for i in order],
        probs=[float(p) for p in probs],
        classes=classes,
        clips=len(inputs[0]),
        frames=n,
        fps=decoded.fps,
        padded=n < span,
    )


def predict_video(
    runner: Runner, path: str | Path, k: int = 5, clips: int = 3
) -> Prediction:
    """Top-k labels for a video, averaging the softmax over ``clips`` clips.

    Two-stream and flow models get their flow computed here, once, with the method, size and
    stride the checkpoint's input spec names. A video shorter than one window is padded by
    repeating its last frame (``Prediction.padded`` says so, and a warning is logged).

    Args:
        runner: From :func:`actionlab.infer.runner.load_runner`.
        path: The video.
        k: How many labels to return.
        clips: Clips averaged (evenly spaced; for TSN, snippet offsets within segments).
    """
    spec = input_spec(runner.meta)
    decoded = decode_video(path, spec)
    pred = predict_frames(runner, decoded, k=k, clips=clips)
    if pred.padded:
        log.warning(
            "%s: %d frames is shorter than one window (%d); padded by repeating the last frame",
            path, pred.frames, window_span(spec),
        )
    return pred
