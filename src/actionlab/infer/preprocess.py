"""Turn decoded frames into model inputs, driven only by a checkpoint's input spec.

One window of a video (a run of consecutive decoded frames) becomes one sample. Which frames of
the window a model sees, and in which layout, depends on the spec's ``kind`` and ``modality``:

==========  ===============================================  =========================
kind        frames taken from a window of length L           one sample's layout
==========  ===============================================  =========================
frame       a snippet centred in the window                  (C', H, W)
clip        T frames every ``stride`` from the window start  (C, T, H, W)
sequence    as clip                                          (T, C, H, W)
tsn         S equal segments, one snippet per segment         (S, C', H, W)
two_stream  one sample per stream spec (``spec["streams"]``)  a tuple, one per stream
==========  ===============================================  =========================

A snippet is one RGB frame (C' = 3), or T flow fields stacked on channels (C' = 2T,
``[x0, y0, x1, y1, ...]``) or T RGB differences (C' = 3T). Batches add a leading B.

Everything here is numpy (float32 out), so ONNX inference needs no torch. Flow is computed by
:mod:`actionlab.data` once for the whole video (see :func:`flow_for_video`) and gathered by index:
``flow[i]`` is the motion from frame ``i`` to frame ``i + stride``. Windows that run past the end
of the video are padded by repeating the last frame (and zero motion), so a video shorter than
one window still gives a prediction; :func:`window_span` says how many frames a window needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from actionlab.errors import CheckpointError

KINDS = ("frame", "clip", "tsn", "two_stream", "sequence")
MODALITIES = ("rgb", "flow", "rgbdiff", "rgb+flow")
DEFAULT_FLOW_BOUND = 20.0


def stream_specs(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-input specs of a model: one for single-input models, one per stream otherwise.

    A two-stream spec may list its streams explicitly (``spec["streams"]``: a list of specs,
    in the order the model takes its inputs). Without that list, the default two-stream input
    is an RGB frame (middle of the window) plus a clip of T flow fields, both at ``size``.

    Raises:
        CheckpointError: for an unknown kind or modality.
    """
    kind = spec.get("kind", "frame")
    if kind not in KINDS:
        raise CheckpointError(f"input spec: unknown kind {kind!r} (expected one of {KINDS})")
    if kind != "two_stream":
        modality = spec.get("modality", "rgb")
        if modality not in MODALITIES[:3]:
            raise CheckpointError(
                f"input spec: modality {modality!r} does not fit kind {kind!r} "
                f"(expected one of {MODALITIES[:3]})"
            )
        return [spec]
    if spec.get("streams"):
        inherited = {k: v for k, v in spec.items() if k not in ("streams", "kind", "modality")}
        return [{**inherited, **s} for s in spec["streams"]]
    base = {k: v for k, v in spec.items() if k not in ("kind", "modality", "mean", "std")}
    rgb = {**base, "kind": "frame", "modality": "rgb", "frames": 1}
    for key in ("mean", "std"):  # RGB statistics only apply to the RGB stream
        if key in spec and len(spec[key]) == 3:
            rgb[key] = spec[key]
    flow = {**base, "kind": "clip", "modality": "flow"}
    return [rgb, flow]


def needs_flow(spec: dict[str, Any]) -> bool:
    """Whether any input of this spec is optical flow."""
    return any(s.get("modality") == "flow" for s in stream_specs(spec))


def _t(spec: dict[str, Any]) -> int:
    return max(1, int(spec.get("frames") or 1))


def _stride(spec: dict[str, Any]) -> int:
    return max(1, int(spec.get("stride") or 1))


def _snippet_len(spec: dict[str, Any]) -> int:
    """Frames one snippet (or clip) spans, including the partner frame of flow or differences."""
    modality = spec.get("modality", "rgb")
    kind = spec.get("kind", "frame")
    s, t = _stride(spec), _t(spec)
    if kind == "frame" and modality == "rgb":
        return 1
    extra = s if modality in ("flow", "rgbdiff") else 0
    return (t - 1) * s + 1 + extra


def window_span(spec: dict[str, Any]) -> int:
    """Frames one sample needs: the natural window length for this spec."""
    spans = []
    for s in stream_specs(spec):
        n = _snippet_len(s)
        if s.get("kind") == "tsn":
            n *= max(1, int(s.get("segments") or 1))
        spans.append(n)
    return max(spans)


def flow_stride(spec: dict[str, Any]) -> int:
    """The frame step flow is computed over (the flow stream's ``stride``)."""
    for s in stream_specs(spec):
        if s.get("modality") == "flow":
            return _stride(s)
    return 1


def flow_for_video(frames: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Optical flow for a whole video, once, with the method named in the spec.

    Args:
        frames: (N, H, W, 3) uint8 RGB, already at the model's size.
        spec: The input spec (``flow.method``; the flow stream's ``stride``).

    Returns:
        (N, H, W, 2) float32: ``flow[i]`` is the motion from frame ``i`` to ``i + stride``;
        the last ``stride`` entries (no partner frame) are zero.
    """
    from actionlab.data import compute_flow

    method = (spec.get("flow") or {}).get("method", "dis")
    step = flow_stride(spec)
    n, h, w = frames.shape[:3]
    out = np.zeros((n, h, w, 2), np.float32)
    for phase in range(min(step, n)):
        sub = frames[phase::step]  # frames phase, phase+s, ...: flow between them is step s
        if len(sub) < 2:
            continue
        f = np.asarray(compute_flow(sub, method=method), dtype=np.float32)  # (len(sub)-1, H, W, 2)
        out[phase : phase + step * len(f) : step] = f
    return out


def _snippet_indices(spec: dict[str, Any], centre: float) -> np.ndarray:
    """Frame indices of one snippet centred at ``centre`` (relative to the window)."""
    t, s = _t(spec), _stride(spec)
    if spec.get("modality", "rgb") == "rgb":
        return np.array([int(round(centre))])
    first = int(round(centre - (t * s) / 2))
    return first + s * np.arange(t)


def sample_indices(
    spec: dict[str, Any], length: int, offset: float = 0.5
) -> np.ndarray:
    """Indices (relative to a window of ``length`` frames) one stream spec reads.

    Args:
        spec: A single-stream spec (see :func:`stream_specs`).
        length: The window's length in frames.
        offset: Where in the window (frame kind) or in each segment (tsn) a snippet sits,
            as a fraction; multi-clip testing varies it.

    Returns:
        frame: (T,); clip and sequence: (T,); tsn: (S, T). Indices may fall outside
        ``[0, length)``; the caller clamps them (edge padding).
    """
    kind = spec.get("kind", "frame")
    if kind in ("clip", "sequence"):
        s, t = _stride(spec), _t(spec)
        first = int(round(max(0, length - _snippet_len(spec)) * offset))  # centred by default
        return first + s * np.arange(t)
    if kind == "tsn":
        segments = max(1, int(spec.get("segments") or 1))
        bounds = np.linspace(0, length, segments + 1)
        centres = bounds[:-1] + (bounds[1:] - bounds[:-1]) * offset
        return np.stack([_snippet_indices(spec, c) for c in centres])
    # frame
    return _snippet_indices(spec, (length - 1) * offset if length > 1 else 0)


def _normalise(x: np.ndarray, spec: dict[str, Any], channels: int) -> np.ndarray:
    """Apply the spec's mean/std over the last axis when they fit the channel count."""
    mean, std = spec.get("mean"), spec.get("std")
    if mean is not None and len(mean) == channels:
        x = x - np.asarray(mean, np.float32)
    if std is not None and len(std) == channels:
        x = x / np.asarray(std, np.float32)
    return x


def _gather(
    frames: np.ndarray, flow: np.ndarray | None, spec: dict[str, Any], idx: np.ndarray
) -> np.ndarray:
    """Values at absolute indices ``idx`` (any shape), channels last, float32.

    rgb: (..., H, W, 3) in [0, 1] then normalised; flow: (..., H, W, 2) scaled to [-1, 1] by
    the bound; rgbdiff: (..., H, W, 3) differences of [0, 1] frames ``stride`` apart.
    """
    n = len(frames)
    idx = np.clip(idx, 0, n - 1)
    modality = spec.get("modality", "rgb")
    if modality == "rgb":
        x = frames[idx].astype(np.float32) / 255.0
        return _normalise(x, spec, 3)
    if modality == "flow":
        if flow is None:
            raise ValueError("flow input needs the video's flow (flow_for_video)")
        bound = float((spec.get("flow") or {}).get("bound", DEFAULT_FLOW_BOUND))
        x = np.clip(flow[idx], -bound, bound) / bound
        return _normalise(x, spec, 2)
    # rgbdiff
    nxt = np.clip(idx + _stride(spec), 0, n - 1)
    x = (frames[nxt].astype(np.float32) - frames[idx].astype(np.float32)) / 255.0
    return _normalise(x, spec, 3)


def _layout(x: np.ndarray, kind: str) -> np.ndarray:
    """From channels-last gathered values to the model's layout (see the module table)."""
    if kind == "frame":  # (T, H, W, C) -> (T*C, H, W)
        t, h, w, c = x.shape
        return x.transpose(0, 3, 1, 2).reshape(t * c, h, w)
    if kind == "clip":  # (T, H, W, C) -> (C, T, H, W)
        return x.transpose(3, 0, 1, 2)
    if kind == "sequence":  # (T, H, W, C) -> (T, C, H, W)
        return x.transpose(0, 3, 1, 2)
    # tsn: (S, T, H, W, C) -> (S, T*C, H, W)
    s, t, h, w, c = x.shape
    return x.transpose(0, 1, 4, 2, 3).reshape(s, t * c, h, w)


def preprocess(
    frames: np.ndarray,
    spec: dict[str, Any],
    flow: np.ndarray | None = None,
    starts: Sequence[int] | None = None,
    length: int | None = None,
    offset: float = 0.5,
) -> tuple[np.ndarray, ...]:
    """Model inputs for a batch of windows of one video.

    Args:
        frames: (N, H, W, 3) uint8 RGB at the spec's ``size`` (see :func:`resize_frames`).
        spec: The checkpoint's input spec.
        flow: (N, H, W, 2) float32 from :func:`flow_for_video`; computed here when the spec
            needs flow and it is not given.
        starts: First frame of each window; default one window starting at 0.
        length: Window length in frames; default the whole of ``frames`` (one window) or
            :func:`window_span` when ``starts`` is given.
        offset: Snippet position inside a window or segment, as a fraction (multi-clip).

    Returns:
        One float32 array per model input, each with a leading batch axis.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be (N, H, W, 3) with N >= 1, got {frames.shape}")
    if starts is None:
        starts = [0]
        length = length or len(frames)
    length = length or window_span(spec)
    if flow is None and needs_flow(spec):
        flow = flow_for_video(frames, spec)
    out = []
    for sub in stream_specs(spec):
        rel = sample_indices(sub, length, offset)
        batch = [
            _layout(_gather(frames, flow, sub, int(st) + rel), sub.get("kind", "frame"))
            for st in starts
        ]
        out.append(np.ascontiguousarray(np.stack(batch), dtype=np.float32))
    return tuple(out)


def model_size(spec: dict[str, Any]) -> tuple[int, int]:
    """The (H, W) frames must have for this spec (the first stream's ``size``)."""
    size = stream_specs(spec)[0].get("size") or spec.get("size")
    if not size or len(size) != 2:
        raise CheckpointError(f"input spec: size must be [H, W], got {size!r}")
    return int(size[0]), int(size[1])


def resize_frames(frames: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Resize (N, H, W, 3) uint8 frames to ``size_hw`` (area interpolation when shrinking)."""
    import cv2

    h, w = size_hw
    if frames.shape[1:3] == (h, w):
        return frames
    interp = cv2.INTER_AREA if frames.shape[1] > h else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in frames])


def dummy_inputs(spec: dict[str, Any], batch: int = 1) -> tuple[np.ndarray, ...]:
    """Zero-valued inputs of the right shapes (for export and shape checks)."""
    h, w = model_size(spec)
    n = window_span(spec)
    frames = np.zeros((n, h, w, 3), np.uint8)
    flow = np.zeros((n, h, w, 2), np.float32) if needs_flow(spec) else None
    return preprocess(frames, spec, flow=flow, starts=[0] * batch, length=n)
