"""The one path from stored frames to a model input, for training, evaluation and inference.

:func:`make_input` takes an :class:`~actionlab.spec.InputSpec` and a :class:`FrameSource` (the
frames, quantised flow and keypoints of one video, or of one window of a video) and returns
what the model eats. The cached datasets call it with a :class:`CacheSource`; inference calls
it with an :class:`ArraySource` over frames it decoded at the cache's geometry (and flow and
keypoints it computed the way ``prepare`` does). So what a checkpoint sees at inference is, by
construction, what its evaluation data fed it.

Sampling draws from ``rng`` (frame indices) and ``gen`` (augmentation), both None at evaluation.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Protocol

import numpy as np
import torch

from actionlab.data import sampling
from actionlab.data.transforms import default_transform
from actionlab.spec import InputSpec

Transform = Callable[..., torch.Tensor]


class FrameSource(Protocol):
    """One video's stored frames: RGB uint8 (T, H, W, 3), quantised flow uint8 (T, H, W, 2)
    and keypoints float32 (T, 33, 4) (see :mod:`actionlab.data.pose`)."""

    num_frames: int
    num_flow: int

    def rgb(self, idx: np.ndarray) -> np.ndarray: ...

    def flow(self, idx: np.ndarray) -> np.ndarray: ...

    def pose(self, idx: np.ndarray) -> np.ndarray: ...


class CacheSource:
    """A record of a prepared :class:`~actionlab.data.cache.Cache`."""

    def __init__(self, cache: object, rec: object) -> None:
        self.cache, self.rec = cache, rec
        self.num_frames = int(rec.frames or 1)  # type: ignore[attr-defined]
        self.num_flow = cache.num_flow(rec)  # type: ignore[attr-defined]

    def rgb(self, idx: np.ndarray) -> np.ndarray:
        return self.cache.rgb(self.rec, idx)  # type: ignore[attr-defined]

    def flow(self, idx: np.ndarray) -> np.ndarray:
        return self.cache.flow(self.rec, idx)  # type: ignore[attr-defined]

    def pose(self, idx: np.ndarray) -> np.ndarray:
        return self.cache.pose(self.rec, idx)  # type: ignore[attr-defined]


class ArraySource:
    """Decoded frames in memory, with flow computed on first use the way ``prepare`` does.

    Args:
        frames: (N, H, W, 3) uint8 at the cache's geometry.
        flow_method: The spec's flow method.
        flow_bound: The spec's quantisation bound.
        flow: Precomputed quantised flow (N-1, H, W, 2) uint8, or None (computed for the
            whole video when first read, then kept).
        jpeg_quality: The cache's JPEG quality (0: raw): frames and flow are coded as the
            cache codes them.
        pose: Precomputed keypoints (N, 33, 4), or None (found on the decoded frames in one
            pass over the whole video when first read, as ``prepare`` finds them).
    """

    def __init__(self, frames: np.ndarray, flow_method: str = "dis", flow_bound: float = 20.0,
                 flow: np.ndarray | None = None, jpeg_quality: int = 0,
                 pose: np.ndarray | None = None) -> None:
        self.jpeg = jpeg_quality
        self.frames = frames  # as decoded: flow is computed on these, as prepare does
        self._rgb = None if jpeg_quality else frames  # JPEG-coded on first RGB read
        self.num_frames = len(frames)
        self.num_flow = max(len(frames) - 1, 0)
        self.method, self.bound = flow_method, flow_bound
        self._flow = flow
        self._pose = pose
        self.root, self.offset = self, 0  # a window reads the root's frames and flow

    def window(self, start: int, length: int) -> ArraySource:
        """Frames ``start .. start+length-1`` as a source of their own (sharing the flow)."""
        view = copy.copy(self)
        view.offset = self.offset + start
        view.num_frames = length
        view.num_flow = max(length - 1, 0)
        return view

    def rgb(self, idx: np.ndarray) -> np.ndarray:
        return self.root.all_rgb()[self.offset + np.asarray(idx)]

    def flow(self, idx: np.ndarray) -> np.ndarray:
        return self.root.all_flow()[self.offset + np.asarray(idx)]

    def pose(self, idx: np.ndarray) -> np.ndarray:
        return self.root.all_pose()[self.offset + np.asarray(idx)]

    def all_pose(self) -> np.ndarray:
        """The whole video's keypoints (N, 33, 4), found once in one tracking pass over the
        decoded frames, as ``prepare`` finds them (the tracker carries state from frame to
        frame, so a window alone would not give the cache's values)."""
        from actionlab.data.pose import keypoints

        if self._pose is None:
            self._pose = keypoints(self.frames)
        return self._pose

    def all_rgb(self) -> np.ndarray:
        """The whole video's frames as the cache stores them (JPEG-coded when it is), coded
        once on first use: a flow-only model never pays for it."""
        from actionlab.data.codec import roundtrip

        if self._rgb is None:
            self._rgb = roundtrip(self.frames, "rgb", self.jpeg)
        return self._rgb

    def all_flow(self) -> np.ndarray:
        """The whole video's quantised flow (N-1, H, W, 2), computed once, as ``prepare`` does.

        The whole video in one pass, not just the pairs asked for: DIS carries state from one
        pair to the next, so only the same sequential pass gives the cache's values.
        """
        from actionlab.data.codec import roundtrip
        from actionlab.data.flow import compute_flow

        if self._flow is None:
            flow = compute_flow(self.frames, method=self.method, bound=self.bound)
            self._flow = roundtrip(flow, "flow", self.jpeg) if self.jpeg and len(flow) else flow
        return self._flow


class VideoSource:
    """A video file read on demand, seeking to the frames asked for (no cache).

    Frames are decoded at ``size`` (the cache's geometry: what ``prepare`` would store), so RGB
    samples equal the cached ones. Flow is computed pair by pair with the spec's method and
    bound: equal to the cache for the stateless methods (Farneback, TV-L1); DIS carries state
    from pair to pair through a video, so its on-the-fly fields differ slightly from the
    cache's sequential pass (use the cache for DIS flow).

    Args:
        path: The video.
        num_frames: Its decodable frame count (the manifest's).
        size: (W, H) to decode at.
        flow_method, flow_bound: As the cache would hold them.
        jpeg_quality: Code RGB frames as a JPEG cache of this quality would (0: raw).
    """

    def __init__(self, path: str, num_frames: int, size: tuple[int, int] | None,
                 flow_method: str = "dis", flow_bound: float = 20.0, jpeg_quality: int = 0,
                 ) -> None:
        self.path, self.size = path, size
        self.num_frames, self.num_flow = num_frames, max(num_frames - 1, 0)
        self.method, self.bound, self.jpeg = flow_method, flow_bound, jpeg_quality

    def _read(self, idx: np.ndarray) -> np.ndarray:
        from actionlab.data.video import read_frames

        idx = np.asarray(idx).reshape(-1)
        unique, inverse = np.unique(idx, return_inverse=True)
        return np.asarray(read_frames(self.path, unique, size=self.size, threads=1))[inverse]

    def rgb(self, idx: np.ndarray) -> np.ndarray:
        from actionlab.data.codec import roundtrip

        frames = self._read(idx)
        return roundtrip(frames, "rgb", self.jpeg) if self.jpeg else frames

    def flow(self, idx: np.ndarray) -> np.ndarray:
        from actionlab.data.flow import compute_flow, quantize

        idx = np.asarray(idx).reshape(-1)
        frames = self._read(np.concatenate([idx, idx + 1]))
        a, b = frames[: len(idx)], frames[len(idx):]
        return np.stack([quantize(compute_flow(np.stack([x, y]), self.method)[0], self.bound)
                         for x, y in zip(a, b, strict=True)])


class MixedSource:
    """RGB from one source (a video read on the fly), flow and keypoints from another (the
    cache)."""

    def __init__(self, rgb: FrameSource, flow: FrameSource) -> None:
        self._rgb, self._flow = rgb, flow
        self.num_frames, self.num_flow = flow.num_frames, flow.num_flow

    def rgb(self, idx: np.ndarray) -> np.ndarray:
        return self._rgb.rgb(idx)

    def flow(self, idx: np.ndarray) -> np.ndarray:
        return self._flow.flow(idx)

    def pose(self, idx: np.ndarray) -> np.ndarray:
        return self._flow.pose(idx)


class RecordingSource:
    """A source that remembers which indices each read asked for (for display: explain)."""

    def __init__(self, src: FrameSource) -> None:
        self.src = src
        self.num_frames, self.num_flow = src.num_frames, src.num_flow
        self.reads: list[tuple[str, np.ndarray]] = []  # (rgb|flow, indices), in call order

    def rgb(self, idx: np.ndarray) -> np.ndarray:
        self.reads.append(("rgb", np.asarray(idx).reshape(-1)))
        return self.src.rgb(idx)

    def flow(self, idx: np.ndarray) -> np.ndarray:
        self.reads.append(("flow", np.asarray(idx).reshape(-1)))
        return self.src.flow(idx)

    def pose(self, idx: np.ndarray) -> np.ndarray:
        self.reads.append(("pose", np.asarray(idx).reshape(-1)))
        return self.src.pose(idx)


def _planar(a: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, C) -> contiguous uint8 (T, C, H, W).

    The copy is made while the values are one byte each: a merely permuted (channels-last
    strided) float tensor makes the resize and the normalisation several times slower.
    """
    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))


def rgb_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (T, 3, H, W) in [0, 1]."""
    return _planar(frames).float().div_(255.0)


def flow_tensor(q: np.ndarray) -> torch.Tensor:
    """Quantised uint8 (T, H, W, 2) -> float (T, 2, H, W) in [-1, 1] (pixels / bound)."""
    return _planar(q).float().div_(127.5).sub_(1.0)


def build_transforms(spec: InputSpec, train: bool) -> dict[str, Transform]:
    """The preset transform of each modality the spec reads (``rgb``, ``flow``, ``rgbdiff``,
    ``pose``)."""
    kw = spec.transform_kw
    if spec.modality == "pose":
        from actionlab.data.pose import pose_transform

        return {"pose": pose_transform(train, **kw)}
    mods = {"rgb+flow": ("rgb", "flow")}.get(spec.modality, (spec.modality,))
    return {m: default_transform(m, train, spec.size, mean=spec.mean, std=spec.std, **kw)
            for m in mods if m != "features"}


def clip_around(n: int, center: int, length: int, stride: int) -> np.ndarray:
    """A clip like :func:`sampling.centered_clip` but centred on ``center`` (clamped inside).

    A looped clip (a video shorter than the clip) is not shifted.
    """
    base = sampling.centered_clip(n, length, stride)
    if len(base) > 1 and np.any(np.diff(base) <= 0):
        return base
    shift = center - n // 2
    lo, hi = -int(base[0]), n - 1 - int(base[-1])
    return base + min(max(shift, lo), hi)


def make_input(
    spec: InputSpec,
    src: FrameSource,
    train: bool = False,
    rng: np.random.Generator | None = None,
    gen: torch.Generator | None = None,
    transforms: Mapping[str, Transform] | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """One sample of ``src`` as the model described by ``spec`` takes it (see the spec table).

    Args:
        spec: The input contract.
        src: The video's frames and flow.
        train: Random sampling (needs ``rng``) and the training transforms.
        rng: Frame-index randomness (training).
        gen: Augmentation randomness (training).
        transforms: Per-modality transforms; default :func:`build_transforms`.

    Returns:
        A tensor, or an (rgb, flow) pair for two-stream specs. At evaluation a frame, clip or
        two-stream spec with ``num_clips`` K > 1 gives K views spread evenly over the video,
        stacked in front: (K, ...) (each of the pair for two-stream).
    """
    t = transforms if transforms is not None else build_transforms(spec, train)
    train = train and rng is not None
    if spec.modality == "pose":
        return _pose(spec, src, train, rng, gen, t)
    if spec.kind == "frame":
        if train and spec.sample == "random":
            idx = sampling.random_frame(src.num_frames, rng)
        elif not train and spec.num_clips > 1:  # K frames spread over the video
            idx = sampling.multi_clip(src.num_frames, spec.num_clips, 1)[:, 0]
            return t["rgb"](rgb_tensor(src.rgb(idx)), None)  # (K, 3, H, W)
        else:
            idx = sampling.middle_frame(src.num_frames)
        return t["rgb"](rgb_tensor(src.rgb(idx)), gen)[0]  # (3, H, W)
    if spec.kind == "tsn":
        return _tsn(spec, src, train, rng, gen, t)
    if spec.kind == "clip":
        return _clip(spec, src, train, rng, gen, t)
    if spec.kind == "two_stream":
        if train or spec.num_clips == 1:
            return _two_stream(spec, src, train, rng, gen, t, src.num_frames // 2)
        centers = sampling.multi_clip(src.num_frames, spec.num_clips, 1)[:, 0]
        views = [_two_stream(spec, src, False, None, None, t, int(c)) for c in centers]
        return torch.stack([v[0] for v in views]), torch.stack([v[1] for v in views])
    raise ValueError(f"{spec.kind!r} inputs are per-frame features, not frames")


def _tsn(spec: InputSpec, src: FrameSource, train: bool, rng: np.random.Generator | None,
         gen: torch.Generator | None, t: Mapping[str, Transform]) -> torch.Tensor:
    S, L = spec.segments, spec.frames
    if spec.modality == "flow":
        idx = sampling.tsn_segments(src.num_flow, S, L, train, rng)
        x = t["flow"](flow_tensor(src.flow(idx)), gen)  # (S*L, 2, H, W)
        return x.reshape(S, L * 2, *x.shape[-2:])  # (S, 2L, H, W), x1,y1,x2,y2,...
    idx = sampling.tsn_segments(src.num_frames, S, L, train, rng)
    x = t[spec.modality](rgb_tensor(src.rgb(idx)), gen)  # (S*L, 3, H, W)
    if spec.modality == "rgb":
        return x.reshape(S, L * 3, *x.shape[-2:])  # (S, 3L, H, W)
    x = x.reshape(S, L, 3, *x.shape[-2:])
    diff = x[:, 1:] - x[:, :-1]  # (S, L-1, 3, H, W)
    return diff.reshape(S, (L - 1) * 3, *x.shape[-2:])


def _pose(spec: InputSpec, src: FrameSource, train: bool, rng: np.random.Generator | None,
          gen: torch.Generator | None, t: Mapping[str, Transform]) -> torch.Tensor:
    """Keypoints of the sampled frames, (4, T, J): a clip's T frames, or the S*L frames of a
    TSN spec's segments in time order (the segments are the time axis of a pose model)."""
    from actionlab.data.pose import pose_tensor

    n = src.num_frames

    def load(idx: np.ndarray, g: torch.Generator | None) -> torch.Tensor:
        return t["pose"](pose_tensor(src.pose(idx)), g)  # (4, T, J)

    if spec.kind == "tsn":
        return load(sampling.tsn_segments(n, spec.segments, spec.frames, train, rng), gen)
    if train:
        return load(sampling.random_clip(n, spec.frames, spec.stride, rng), gen)
    if spec.num_clips == 1:
        return load(sampling.centered_clip(n, spec.frames, spec.stride), None)
    clips = sampling.multi_clip(n, spec.num_clips, spec.frames, spec.stride)  # (K, T)
    return torch.stack([load(c, None) for c in clips])  # (K, 4, T, J)


def _clip(spec: InputSpec, src: FrameSource, train: bool, rng: np.random.Generator | None,
          gen: torch.Generator | None, t: Mapping[str, Transform]) -> torch.Tensor:
    flow = spec.modality == "flow"
    n = src.num_flow if flow else src.num_frames

    def load(idx: np.ndarray, g: torch.Generator | None) -> torch.Tensor:
        x = flow_tensor(src.flow(idx)) if flow else rgb_tensor(src.rgb(idx))
        return t[spec.modality](x, g).permute(1, 0, 2, 3)  # (T, C, H, W) -> (C, T, H, W)

    if train:
        return load(sampling.random_clip(n, spec.frames, spec.stride, rng), gen)
    if spec.num_clips == 1:
        return load(sampling.centered_clip(n, spec.frames, spec.stride), None)
    clips = sampling.multi_clip(n, spec.num_clips, spec.frames, spec.stride)  # (K, T)
    return torch.stack([load(c, None) for c in clips])  # (K, C, T, H, W)


def _two_stream(spec: InputSpec, src: FrameSource, train: bool, rng: np.random.Generator | None,
                gen: torch.Generator | None, t: Mapping[str, Transform], center: int,
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Both streams centred on the same frame (``center``, or a random one when training
    with jitter), with the same crop and flip."""
    n, nf = src.num_frames, src.num_flow
    if train and spec.jitter:
        center = int(rng.integers(n))
    fidx = clip_around(nf, min(center, nf - 1), spec.frames, spec.stride)
    ridx = np.array([center]) if spec.rgb == "frame" else np.minimum(fidx, n - 1)
    seed = int(torch.randint(2**62, (), generator=gen)) if gen is not None else None
    g_rgb = torch.Generator().manual_seed(seed) if seed is not None else None
    g_flow = torch.Generator().manual_seed(seed) if seed is not None else None
    rgb = t["rgb"](rgb_tensor(src.rgb(ridx)), g_rgb)  # (T, 3, H, W)
    flow = t["flow"](flow_tensor(src.flow(fidx)), g_flow)  # (T, 2, H, W)
    rgb = rgb[0] if spec.rgb == "frame" else rgb.permute(1, 0, 2, 3)
    if spec.flow_layout == "clip":
        flow = flow.permute(1, 0, 2, 3)  # (2, T, H, W)
    else:
        flow = flow.reshape(-1, *flow.shape[-2:])  # (2T, H, W), x1,y1,x2,y2,...
    return rgb, flow
