"""Predict the action in a video: top-k labels, multi-clip averaging, flow on the fly.

:func:`decode_video` reads a video once (through :mod:`actionlab.data`) and returns frames at the
model's size plus, when asked, at full size for drawing; :func:`predict_video` averages the
softmax of several clips spread over the video.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from actionlab.errors import VideoError
from actionlab.infer.preprocess import (
    decode_size,
    fit_frames,
    flow_for_video,
    needed_flow,
    needs_flow,
    preprocess,
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


# Full-size frames kept for the annotated video are capped at this many bytes in all; a longer
# or larger video keeps them at a reduced size (the drawing does not need full resolution).
NATIVE_BUDGET_BYTES = 1 << 30


@dataclass
class Header:
    """What the container header says (no decoding): rate, size, an estimated frame count."""

    fps: float
    width: int
    height: int
    frames: int  # estimate: the stream's count, else duration x fps; 0 when unknown


def video_header(path: str | Path) -> Header:
    """Rate, size and estimated length from the container header, without decoding.

    :func:`actionlab.data.probe` counts frames by decoding the whole video, a second decode
    inference does not need: the frame count is whatever :func:`read_frames` returns. A
    header without a rate gives 25 fps; an unreadable one a (0, 0) size, and the decode that
    follows raises the data stage's :class:`VideoError`.
    """
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 25.0
            frames = int(stream.frames or 0)
            if not frames and container.duration:
                frames = int(container.duration / av.time_base * fps)
            return Header(fps, stream.width, stream.height, frames)
    except (av.error.FFmpegError, IndexError, OSError):
        return Header(25.0, 0, 0, 0)


def _display_size(head: Header, budget: int) -> tuple[int, int] | None:
    """A reduced (W, H) for kept frames when full size would pass ``budget`` bytes."""
    full = head.frames * head.width * head.height * 3
    if not head.frames or full <= budget:
        return None
    f = (budget / full) ** 0.5
    return max(2, int(head.width * f) // 2 * 2), max(2, int(head.height * f) // 2 * 2)


def decode_video(path: str | Path, spec: dict[str, Any], keep_native: bool = False,
                 native_budget: int = NATIVE_BUDGET_BYTES) -> Decoded:
    """Decode every frame of ``path`` once (with :func:`actionlab.data.read_frames`).

    Frames are decoded straight to the prepared cache's geometry (:func:`decode_size`), then
    cropped and resized to the model's size, as the data stage's eval transform does.

    Args:
        path: Any container PyAV reads.
        spec: The input spec (its ``size`` is the model's frame size).
        keep_native: Also keep full-size frames (for the annotated video). When they would
            take more than ``native_budget`` bytes (a long video), they are kept at a reduced
            size and the model's frames are made from those (logged).
        native_budget: See ``keep_native``.

    Raises:
        VideoError: the file is missing, not a video, or has no decodable frame.
    """
    from actionlab.data.video import read_frames

    path = Path(path)
    head = video_header(path)
    native = None
    if keep_native or not (head.width and head.height):
        shrink = _display_size(head, native_budget) if keep_native else None
        if shrink:
            log.warning("%s: long video; annotating at %dx%d to stay within %.1f GB", path,
                        *shrink, native_budget / 2**30)
        native = np.asarray(read_frames(path, size=shrink))
        frames = fit_frames(native, spec) if len(native) else native
    else:
        raw = np.asarray(read_frames(path, size=decode_size(spec, head.width, head.height)))
        frames = fit_frames(raw, spec)
    if len(frames) == 0:
        raise VideoError(path, "no decodable frames; re-encode it (e.g. ffmpeg -i IN OUT.mp4)")
    if needs_flow(spec) and len(frames) < 2:
        raise VideoError(path, f"only {len(frames)} frame decodes; a flow model needs at least 2")
    return Decoded(path=path, frames=frames, fps=head.fps, native=native if keep_native else None)


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
    """First frames of ``clips`` windows of ``span`` frames spread evenly over the video
    (:func:`actionlab.data.sampling.multi_clip`); one window at 0 for a shorter video."""
    from actionlab.data.sampling import multi_clip

    if num_frames <= span:
        return [0]
    return sorted({int(x) for x in multi_clip(num_frames, max(1, clips), span)[:, 0]})


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
    if clips <= 1 or any(s.get("kind") == "tsn" for s in stream_specs(spec)):
        # The whole video as one window: exactly the eval sample training computed (TSN's
        # segments span the whole video anyway).
        starts, length = [0], n
    else:
        starts, length = clip_starts(n, span, clips), span
    if flow is None and needs_flow(spec):
        flow = flow_for_video(frames, spec, needed_flow(spec, n, starts, length))
    inputs = preprocess(frames, spec, flow, starts=starts, length=length)
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
    stride the checkpoint's input spec names. A video shorter than one window is sampled as
    training data is (consecutive frames, then looping; ``Prediction.padded`` says so and a
    warning is logged).

    Args:
        runner: From :func:`actionlab.infer.runner.load_runner`.
        path: The video.
        k: How many labels to return.
        clips: Clips averaged, evenly spaced; 1 samples the whole video as the eval datasets do
            (TSN models: always one, their segments cover the video).
    """
    spec = input_spec(runner.meta)
    decoded = decode_video(path, spec)
    pred = predict_frames(runner, decoded, k=k, clips=clips)
    if pred.padded:
        log.warning(
            "%s: %d frames is shorter than one window (%d); sampled with looping",
            path, pred.frames, window_span(spec),
        )
    return pred
