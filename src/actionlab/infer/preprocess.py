"""Decoding and windowing for inference; the sampling itself is the data stage's.

A video is decoded once, at the prepared cache's geometry (:meth:`InputSpec.decode_size`: the
short side or the exact size the training frames were stored at), into an
:class:`~actionlab.data.inputs.ArraySource` whose flow is computed on first use with the spec's
method and bound, pair by pair, as ``prepare`` computes it (and whose keypoints are found in
one tracking pass over the whole video, as ``prepare`` finds them). A window of the video (a run of
consecutive frames) becomes one sample through :func:`actionlab.data.inputs.make_input`, the
function the cached datasets call: what a checkpoint sees here is, by construction, what its
evaluation data fed it.

Short videos: a window longer than the video is cut to the video, and the samplers fall back as
in training (a strided clip becomes consecutive frames, then loops the video), so a video
shorter than one window still gives a prediction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from actionlab.data.inputs import ArraySource, make_input
from actionlab.errors import VideoError
from actionlab.spec import InputSpec

log = logging.getLogger(__name__)

# Full-size frames kept for the annotated video are capped at this many bytes in all; a longer
# or larger video keeps them at a reduced size (the drawing does not need full resolution).
NATIVE_BUDGET_BYTES = 1 << 30


@dataclass
class Decoded:
    """A video decoded once: frames at the cache's geometry (with their flow), timing.

    Attributes:
        path: The video.
        source: Frames (N, H, W, 3) uint8 at the cache geometry, flow computed on demand.
        fps: Frames per second.
        native: (N, H0, W0, 3) uint8 full-size frames for drawing, when kept.
    """

    path: Path
    source: ArraySource
    fps: float
    native: np.ndarray | None = None
    times: np.ndarray | None = None  # each frame's presentation time, s from the first

    @property
    def frames(self) -> np.ndarray:
        return self.source.frames

    @property
    def duration(self) -> float:
        return len(self.frames) / self.fps


@dataclass
class Header:
    """What the container header says (no decoding): rate, size, an estimated frame count."""

    fps: float
    width: int
    height: int
    frames: int  # estimate: the stream's count, else duration x fps; 0 when unknown


def video_header(path: str | Path) -> Header:
    """Rate, size and estimated length from the container header, without decoding.

    A header without a rate gives 25 fps; an unreadable one a (0, 0) size, and the decode that
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


def source_of(frames: np.ndarray, spec: InputSpec, flow: np.ndarray | None = None,
              pose: np.ndarray | None = None) -> ArraySource:
    """Frames already at the cache geometry (and their quantised flow and keypoints, when
    computed) as a source with the spec's flow settings and codec."""
    return ArraySource(frames, spec.flow_method, spec.flow_bound, flow, spec.jpeg_quality, pose)


def decode_video(path: str | Path, spec: InputSpec, keep_native: bool = False,
                 native_budget: int = NATIVE_BUDGET_BYTES) -> Decoded:
    """Decode every frame of ``path`` once, at the geometry the training frames were stored at.

    Args:
        path: Any container PyAV reads.
        spec: The checkpoint's input spec.
        keep_native: Also keep full-size frames (for the annotated video); reduced when they
            would take more than ``native_budget`` bytes (logged).
        native_budget: See ``keep_native``.

    Raises:
        VideoError: the file is missing, not a video, or has no decodable frame.
    """
    import cv2

    from actionlab.data.video import read_frames

    path = Path(path)
    head = video_header(path)
    native = None
    pts: list[float] = []
    if keep_native or not (head.width and head.height):
        shrink = _display_size(head, native_budget) if keep_native else None
        if shrink:
            log.warning("%s: long video; annotating at %dx%d to stay within %.1f GB", path,
                        *shrink, native_budget / 2**30)
        native = np.asarray(read_frames(path, size=shrink, times=pts))
        frames = native
        if len(native):
            w, h = spec.decode_size(native.shape[2], native.shape[1])
            if (h, w) != native.shape[1:3]:
                interp = cv2.INTER_AREA if native.shape[1] > h else cv2.INTER_LINEAR
                frames = np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in native])
    else:
        frames = np.asarray(read_frames(path, size=spec.decode_size(head.width, head.height),
                                        times=pts))
    if len(frames) == 0:
        raise VideoError(path, "no decodable frames; re-encode it (e.g. ffmpeg -i IN OUT.mp4)")
    if spec.needs_flow and len(frames) < 2:
        raise VideoError(path, f"only {len(frames)} frame decodes; a flow model needs at least 2")
    return Decoded(path=path, source=source_of(np.ascontiguousarray(frames), spec),
                   fps=head.fps, native=native if keep_native else None,
                   times=np.asarray(pts) if len(pts) == len(frames) else None)


def _as_source(video: Decoded | ArraySource | np.ndarray, spec: InputSpec,
               flow: np.ndarray | None, pose: np.ndarray | None = None) -> ArraySource:
    if isinstance(video, Decoded):
        return video.source
    if isinstance(video, ArraySource):
        return video
    frames = np.asarray(video)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be (N, H, W, 3) with N >= 1, got {frames.shape}")
    return source_of(frames, spec, flow, pose)


def window_sources(video: Decoded | ArraySource | np.ndarray, spec: InputSpec,
                   starts: Sequence[int] | None = None, length: int | None = None,
                   flow: np.ndarray | None = None, pose: np.ndarray | None = None,
                   ) -> list[ArraySource]:
    """One source per window ``[start, start + length)`` (cut at the last frame)."""
    src = _as_source(video, spec, flow, pose)
    n = src.num_frames
    length = length or n
    out = []
    for st in [0] if starts is None else starts:
        st = min(max(int(st), 0), n - 1)
        out.append(src.window(st, min(length, n - st)))
    return out


def preprocess(video: Decoded | ArraySource | np.ndarray, spec: InputSpec,
               starts: Sequence[int] | None = None, length: int | None = None,
               flow: np.ndarray | None = None, pose: np.ndarray | None = None,
               ) -> tuple[np.ndarray, ...]:
    """Model inputs for a batch of windows of one video.

    Each window is sampled like a whole video at evaluation (see
    :func:`actionlab.data.inputs.make_input`).

    Args:
        video: A :class:`Decoded` video, a source, or (N, H, W, 3) uint8 frames at the cache's
            geometry.
        spec: The checkpoint's input spec.
        starts: First frame of each window; default one window starting at 0.
        length: Window length in frames; default the whole video.
        flow: With plain frames: their quantised flow (N-1, H, W, 2), if already computed.
        pose: With plain frames: their keypoints (N, 33, 4), if already found.

    Returns:
        One float32 array per model input, each with a leading batch axis.
    """
    import torch

    if spec.num_clips != 1:  # a window is one view; callers spread windows themselves
        spec = replace(spec, num_clips=1)
    samples = [make_input(spec, w, train=False)
               for w in window_sources(video, spec, starts, length, flow, pose)]
    parts = samples[0] if isinstance(samples[0], tuple) else (samples[0],)
    out = []
    for i in range(len(parts)):
        batch = torch.stack([s[i] if isinstance(s, tuple) else s for s in samples])
        out.append(np.ascontiguousarray(batch.numpy(), dtype=np.float32))
    return tuple(out)


def dummy_inputs(spec: InputSpec, batch: int = 1) -> tuple[np.ndarray, ...]:
    """Zero-valued inputs of the right shapes (for export and shape checks)."""
    h, w = spec.size
    n = spec.window_span()
    frames = np.zeros((n, h, w, 3), np.uint8)
    flow = np.full((max(n - 1, 1), h, w, 2), 128, np.uint8) if spec.needs_flow else None
    pose = None
    if spec.needs_pose:  # no person: the shapes without running the pose estimator
        from actionlab.data.pose import empty_track

        pose = empty_track(n)
    return preprocess(frames, spec, starts=[0] * batch, length=n, flow=flow, pose=pose)


def as_spec(meta_or_spec: Any, where: str = "checkpoint") -> InputSpec:
    """An :class:`InputSpec` from a spec or a checkpoint/ONNX meta."""
    from actionlab.checkpoint import spec_of
    from actionlab.errors import CheckpointError

    if isinstance(meta_or_spec, InputSpec):
        return meta_or_spec
    spec = spec_of(meta_or_spec, where)
    if spec is None:
        raise CheckpointError(f"{where}: a sequence model over cached per-frame CNN features "
                              "(LRCN); run it on the features file, not on a video")
    return spec
