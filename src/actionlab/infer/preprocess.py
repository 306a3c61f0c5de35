"""Turn decoded frames into model inputs, driven only by a checkpoint's input spec.

A window of a video (a run of consecutive decoded frames) becomes one sample, sampled the way
:mod:`actionlab.data.sampling` samples a whole video at test time. What a model sees, and in
which layout, depends on the spec's ``kind`` and ``modality``:

==========  ===============================================  =========================
kind        taken from a window                              one sample's layout
==========  ===============================================  =========================
frame       the middle frame, or a centred stack of T        (C', H, W)
clip        T frames every ``stride``, centred               (C, T, H, W)
sequence    as clip                                          (T, C, H, W)
tsn         S segments, one snippet at each one's centre     (S, C', H, W)
two_stream  one sample per stream spec (``spec["streams"]``)  a tuple, one per stream
==========  ===============================================  =========================

A snippet is one RGB frame (C' = 3), or T flow fields stacked on channels (C' = 2T,
``[x0, y0, x1, y1, ...]``) or T RGB differences (C' = 3T). Batches add a leading B.

Everything here is numpy (float32 out), so ONNX inference needs no torch. Flow is computed by
:mod:`actionlab.data.flow` once for the whole video (:func:`flow_for_video`) and gathered by
index; ``flow[i]`` is the motion from frame ``i`` to ``i + 1``, as in the prepared cache.

Short videos: a window longer than the video is cut to the video, and the samplers fall back
as in training (a strided clip becomes consecutive frames, then loops the video), so a video
shorter than one window still gives a prediction. :func:`window_span` is a window's length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from actionlab.errors import CheckpointError, VideoError

KINDS = ("frame", "clip", "tsn", "two_stream", "sequence")
MODALITIES = ("rgb", "flow", "rgbdiff", "rgb+flow")
DEFAULT_FLOW_BOUND = 20.0


# RGB statistics the data stage normalises with when a spec names none
# (actionlab.data.transforms.IMAGENET_MEAN/STD; repeated here so ONNX inference needs no torch).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def canonical_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A spec with the checkpoint's key names, whichever names it was written with.

    Checkpoints name sampling ``frames``/``stride``/``segments``; the datasets' own
    ``spec()`` says ``length``/``num_segments`` (and, for two-stream, ``flow_length``,
    ``flow_stride``, ``rgb``, ``flow_layout``). Both are accepted, and ``rgb``/``flow_layout``
    may also sit in ``spec["params"]`` (the config's extra dataset options).
    """
    s = dict(spec)
    # Dataset options a config passed through (data.params) that change the input layout.
    for key in ("rgb", "flow_layout"):
        if key not in s and key in (s.get("params") or {}):
            s[key] = s["params"][key]
    if s.get("segments") is None and s.get("num_segments") is not None:
        s["segments"] = s["num_segments"]
    if s.get("frames") is None and s.get("length") is not None:
        s["frames"] = s["length"]
    if s.get("kind") == "two_stream":
        if s.get("frames") is None and s.get("flow_length") is not None:
            s["frames"] = s["flow_length"]
        if s.get("stride") is None and s.get("flow_stride") is not None:
            s["stride"] = s["flow_stride"]
    return s


def stream_specs(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-input specs of a model: one for single-input models, one per stream otherwise.

    A two-stream spec may list its streams explicitly (``spec["streams"]``: a list of specs,
    in the order the model takes its inputs). Without that list the streams follow the
    two-stream dataset: RGB ``rgb="frame"`` (the middle frame, default) or ``"clip"``; flow
    ``flow_layout="clip"`` (2, T, H, W) (default) or ``"stack"`` (2T, H, W); both centred on the
    same frame, at ``size``, T = ``frames``, every ``stride``.

    Raises:
        CheckpointError: for an unknown kind or modality.
    """
    spec = canonical_spec(spec)
    kind = spec.get("kind", "frame")
    if kind not in KINDS:
        raise CheckpointError(f"input spec: unknown kind {kind!r} (expected one of {KINDS})")
    if kind != "two_stream":
        modality = spec.get("modality", "rgb")
        if modality == "features":
            raise CheckpointError(
                "input spec: a sequence model over cached per-frame CNN features (LRCN); "
                "run it on the features file (actionlab.train.lrcn), not on a video"
            )
        if modality not in MODALITIES[:3]:
            raise CheckpointError(
                f"input spec: modality {modality!r} does not fit kind {kind!r} "
                f"(expected one of {MODALITIES[:3]})"
            )
        return [spec]
    if spec.get("streams"):
        inherited = {k: v for k, v in spec.items() if k not in ("streams", "kind", "modality")}
        return [canonical_spec({**inherited, **sub}) for sub in spec["streams"]]
    base = {k: v for k, v in spec.items() if k not in ("kind", "modality", "mean", "std")}
    rgb_kind = "clip" if spec.get("rgb") == "clip" else "frame"
    # Both streams centred on the window's middle frame, as the two-stream dataset pairs them.
    base["centre"] = "middle"
    rgb = {**base, "kind": rgb_kind, "modality": "rgb"}
    if rgb_kind == "frame":
        rgb["frames"] = 1
    for key in ("mean", "std"):  # RGB statistics only apply to the RGB stream
        if spec.get(key) is not None and len(spec[key]) == 3:
            rgb[key] = spec[key]
    flow_kind = "frame" if spec.get("flow_layout") == "stack" else "clip"
    flow = {**base, "kind": flow_kind, "modality": "flow"}
    return [rgb, flow]


def needs_flow(spec: dict[str, Any]) -> bool:
    """Whether any input of this spec is optical flow."""
    return any(s.get("modality") == "flow" for s in stream_specs(spec))


def _t(spec: dict[str, Any]) -> int:
    """Entries per snippet: frames, flow fields, or differences (L frames give L-1)."""
    t = max(1, int(spec.get("frames") or 1))
    return max(1, t - 1) if spec.get("modality") == "rgbdiff" else t


def _stride(spec: dict[str, Any]) -> int:
    return max(1, int(spec.get("stride") or 1))


def _snippet_len(spec: dict[str, Any]) -> int:
    """Frames one snippet (or clip) spans, including the partner frame of flow or differences."""
    from actionlab.data.sampling import clip_span

    modality = spec.get("modality", "rgb")
    if spec.get("kind", "frame") == "frame" and modality == "rgb":
        return 1
    # Flow and differences are between consecutive frames: T of them need one frame more.
    return clip_span(_t(spec), _stride(spec)) + (modality != "rgb")


def window_span(spec: dict[str, Any]) -> int:
    """Frames one sample needs: the natural window length for this spec."""
    spans = []
    for s in stream_specs(spec):
        n = _snippet_len(s)
        if s.get("kind") == "tsn":
            n *= max(1, int(s.get("segments") or 1))
        spans.append(n)
    return max(spans)


def flow_for_video(
    frames: np.ndarray, spec: dict[str, Any], needed: np.ndarray | None = None
) -> np.ndarray:
    """Optical flow for a whole video, once, with the method named in the spec.

    Args:
        frames: (N, H, W, 3) uint8 RGB, already at the model's size.
        spec: The input spec (``flow.method``).
        needed: Only these flow indices are computed (the rest stay zero and are never read);
            see :func:`needed_flow`. Strided flow stacks read every other field, so this
            halves the work at stride 2. Default: all of them.

    Returns:
        (N-1, H, W, 2) float32: ``flow[i]`` is the motion from frame ``i`` to ``i + 1``
        (the convention of :mod:`actionlab.data.flow` and the prepared cache).

    Raises:
        VideoError: fewer than two frames (no motion to measure).
    """
    from actionlab.data.flow import compute_flow

    method = _flow_settings(spec).get("method", "dis")
    n = len(frames)
    if n < 2:
        raise VideoError("video", f"only {n} frame decodes; flow needs at least 2")
    if needed is None:
        return np.asarray(compute_flow(frames, method=method), dtype=np.float32)
    out = np.zeros((n - 1, *frames.shape[1:3], 2), np.float32)
    idx = np.unique(np.clip(np.asarray(needed).reshape(-1), 0, n - 2))
    # Runs of consecutive indices go through compute_flow together: a..b needs frames a..b+1.
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    for run in np.split(idx, breaks):
        if len(run):
            a, b = int(run[0]), int(run[-1])
            out[a : b + 1] = compute_flow(frames[a : b + 2], method=method)
    return out


def needed_flow(spec: dict[str, Any], num_frames: int, starts: Sequence[int],
                length: int) -> np.ndarray:
    """Every flow index :func:`preprocess` reads for these windows (for :func:`flow_for_video`)."""
    parts = []
    for sub in stream_specs(spec):
        if sub.get("modality") != "flow":
            continue
        for st in starts:
            st = min(max(int(st), 0), num_frames - 1)
            idx = np.asarray(sample_indices(sub, min(length, num_frames - st))).reshape(-1)
            parts.append(st + idx)
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)


def _flow_settings(spec: dict[str, Any]) -> dict[str, Any]:
    for s in stream_specs(spec):
        if s.get("flow"):
            return s["flow"]
    return spec.get("flow") or {}


def sample_indices(spec: dict[str, Any], length: int) -> np.ndarray:
    """Indices one stream spec reads from a window of ``length`` frames.

    A window is sampled like a whole video at test time, with the samplers of
    :mod:`actionlab.data.sampling` (so short windows fall back the way training data does:
    consecutive frames, then looping). Flow and RGB-difference indices point into arrays of
    ``length - 1`` entries (entry ``i`` is frame ``i`` to ``i + 1``).

    Args:
        spec: A single-stream spec (see :func:`stream_specs`).
        length: The window's length in frames.

    Returns:
        frame: (1,) or (T,); clip and sequence: (T,); tsn: (S, 1) or (S, T).
    """
    from actionlab.data import sampling

    kind, modality = spec.get("kind", "frame"), spec.get("modality", "rgb")
    n = length if modality == "rgb" else max(1, length - 1)
    t, s = _t(spec), _stride(spec)
    if kind == "tsn":
        snippet = 1 if modality == "rgb" else t
        segments = max(1, int(spec.get("segments") or 1))
        return sampling.tsn_segments(n, segments, snippet).reshape(segments, snippet)
    if kind == "frame" and modality == "rgb":
        return sampling.middle_frame(n)
    if spec.get("centre") == "middle":
        flow_idx = _clip_around_middle(max(1, length - 1), length // 2, t, s)
        return flow_idx if modality != "rgb" else np.minimum(flow_idx, length - 1)
    return sampling.centered_clip(n, t, s)


def _clip_around_middle(n: int, centre: int, t: int, s: int) -> np.ndarray:
    """A centred clip over ``n`` entries shifted to centre on ``centre`` (clamped inside).

    The two-stream dataset's pairing (``actionlab.data.datasets._clip_around``): the flow clip
    sits around the RGB frame ``frames // 2``; a looped clip (short video) is not shifted.
    """
    from actionlab.data import sampling

    base = sampling.centered_clip(n, t, s)
    if len(base) > 1 and np.any(np.diff(base) <= 0):
        return base
    shift = min(centre, n - 1) - n // 2
    lo, hi = -int(base[0]), n - 1 - int(base[-1])
    return base + min(max(shift, lo), hi)


def _gather(
    frames: np.ndarray, flow: np.ndarray | None, spec: dict[str, Any], idx: np.ndarray
) -> np.ndarray:
    """Values at absolute indices ``idx`` (any shape), channels last, float32, as the data
    stage's eval transforms make them.

    rgb: frames in [0, 1] normalised with the spec's mean/std (ImageNet's when absent);
    flow: quantised to uint8 with the spec's bound as the cache stores it, then mapped to
    [-1, 1] (``q / 127.5 - 1``); rgbdiff: ``frame[idx + 1] - frame[idx]`` in [-1, 1].
    """
    modality = spec.get("modality", "rgb")
    if modality == "rgb":
        x = frames[idx].astype(np.float32) / 255.0
        mean = spec.get("mean") or IMAGENET_MEAN
        std = spec.get("std") or IMAGENET_STD
        return (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    if modality == "flow":
        if flow is None:
            raise ValueError("flow input needs the video's flow (flow_for_video)")
        from actionlab.data.flow import quantize

        bound = float(_flow_settings(spec).get("bound", DEFAULT_FLOW_BOUND))
        return quantize(flow[idx], bound).astype(np.float32) / 127.5 - 1.0
    # rgbdiff, from consecutive frames
    nxt = np.minimum(idx + 1, len(frames) - 1)
    return (frames[nxt].astype(np.float32) - frames[idx].astype(np.float32)) / 255.0


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
) -> tuple[np.ndarray, ...]:
    """Model inputs for a batch of windows of one video.

    Each window ``[start, start + length)`` is sampled like a whole video at test time (see
    :func:`sample_indices`); windows running past the end are cut at the last frame.

    Args:
        frames: (N, H, W, 3) uint8 RGB at the spec's ``size`` (see :func:`fit_frames`).
        spec: The checkpoint's input spec.
        flow: (N-1, H, W, 2) float32 from :func:`flow_for_video`; computed here when the spec
            needs flow and it is not given.
        starts: First frame of each window; default one window starting at 0.
        length: Window length in frames; default the whole video.

    Returns:
        One float32 array per model input, each with a leading batch axis.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be (N, H, W, 3) with N >= 1, got {frames.shape}")
    n = len(frames)
    starts = [0] if starts is None else [int(x) for x in starts]
    length = length or n
    if flow is None and needs_flow(spec):
        flow = flow_for_video(frames, spec, needed_flow(spec, n, starts, length))
    out = []
    for sub in stream_specs(spec):
        kind = sub.get("kind", "frame")
        batch = []
        for st in starts:
            st = min(max(st, 0), n - 1)
            idx = st + sample_indices(sub, min(length, n - st))
            batch.append(_layout(_gather(frames, flow, sub, idx), kind))
        out.append(np.ascontiguousarray(np.stack(batch), dtype=np.float32))
    return tuple(out)


def model_size(spec: dict[str, Any]) -> tuple[int, int]:
    """The (H, W) frames must have for this spec (the first stream's ``size``)."""
    size = stream_specs(spec)[0].get("size") or spec.get("size")
    if not size or len(size) != 2:
        raise CheckpointError(f"input spec: size must be [H, W], got {size!r}")
    return int(size[0]), int(size[1])


def _cache_geometry(spec: dict[str, Any]) -> tuple[tuple[int, int] | None, int | None]:
    """The prepared cache's frame geometry: exact (W, H), or a short side, or neither."""
    prep = spec.get("prepare") or {}
    short = spec.get("short_side") or prep.get("short_side")
    size = prep.get("size")
    return (tuple(int(v) for v in size) if size and not short else None), (
        int(short) if short else None)


def decode_size(spec: dict[str, Any], width: int, height: int) -> tuple[int, int]:
    """The (W, H) to decode a ``width`` x ``height`` video at: the prepared cache's geometry.

    Training reads frames from a cache prepared at an exact size (``actionlab prepare
    --size WxH``, the default) or with a short side (``--short-side S``). The spec names it in
    ``prepare: {size: [W, H]}`` or ``prepare: {short_side: S}`` (or ``short_side``); without
    either, the cache is taken to be at the model's ``size`` (the datasets' default).
    """
    h, w = model_size(spec)
    exact, short = _cache_geometry(spec)
    if short:
        f = short / min(width, height)
        return max(1, int(round(width * f))), max(1, int(round(height * f)))
    return exact or (w, h)


def _fit(size_hw: tuple[int, int], frame_hw: tuple[int, int]) -> tuple[int, int]:
    """``size_hw`` shrunk to fit inside a frame, keeping its aspect (the eval transform's crop)."""
    (h, w), (fh, fw) = size_hw, frame_hw
    f = min(1.0, fh / h, fw / w)
    return max(1, int(h * f)), max(1, int(w * f))


def fit_frames(frames: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Frames as the data stage's eval transform makes them from its cache.

    Resize to the cache geometry (:func:`decode_size`), centre-crop the largest region with
    the model's aspect (at most the model's size), resize that to the model's size.
    ``crop: resize`` in the spec skips the crop (the whole frame squashed to ``size``).

    Args:
        frames: (N, H0, W0, 3) uint8 at any size.
        spec: The input spec.

    Returns:
        (N, H, W, 3) uint8.
    """
    import cv2

    h, w = model_size(spec)

    def resize(x: np.ndarray, tw: int, th: int) -> np.ndarray:
        if x.shape[1:3] == (th, tw):
            return x
        interp = cv2.INTER_AREA if x.shape[1] > th else cv2.INTER_LINEAR
        return np.stack([cv2.resize(f, (tw, th), interpolation=interp) for f in x])

    if spec.get("crop") == "resize":
        return resize(frames, w, h)
    frames = resize(frames, *decode_size(spec, frames.shape[2], frames.shape[1]))
    ch, cw = _fit((h, w), frames.shape[1:3])
    top, left = (frames.shape[1] - ch) // 2, (frames.shape[2] - cw) // 2
    return np.ascontiguousarray(resize(frames[:, top : top + ch, left : left + cw], w, h))


def dummy_inputs(spec: dict[str, Any], batch: int = 1) -> tuple[np.ndarray, ...]:
    """Zero-valued inputs of the right shapes (for export and shape checks)."""
    h, w = model_size(spec)
    n = window_span(spec)
    frames = np.zeros((n, h, w, 3), np.uint8)
    flow = np.zeros((max(n - 1, 1), h, w, 2), np.float32) if needs_flow(spec) else None
    return preprocess(frames, spec, flow=flow, starts=[0] * batch, length=n)
