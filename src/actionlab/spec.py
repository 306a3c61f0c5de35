"""The input contract: what a model eats, described once.

An :class:`InputSpec` is built once from a run's data config and its prepared cache
(:meth:`InputSpec.from_config`), stored in every checkpoint (:meth:`InputSpec.to_dict`, the
checkpoint's ``input`` entry) and read back by every consumer (:meth:`InputSpec.from_dict`): the
cached datasets, inference on a video, export, explanation and the web page all turn frames into
model inputs through :func:`actionlab.data.inputs.make_input` driven by this one object.

This module is the bottom layer: it imports nothing else from actionlab but the errors, so the
vocabulary (kinds, modalities, the default RGB statistics, the flow bound) is defined here once.

========== ========= ====================================================================
kind       modality  one sample (the DataLoader adds B in front)
========== ========= ====================================================================
frame      rgb       (3, H, W): the middle frame (or a random one in training)
clip       rgb|flow  (C, T, H, W): T frames every ``stride``
tsn        rgb|flow| (S, C', H, W): one snippet of L = ``frames`` per segment; C' = 3L, 2L
           rgbdiff   (flow x1,y1,x2,y2,...) or 3(L-1) (differences)
clip, tsn  pose      (4, T, J): keypoints of T frames (a clip, or S*L frames of the segments in
                     time order), J = 33 joints, channels x, y (by the frame's shorter side),
                     visibility, person present (0: no person in that frame)
two_stream rgb+flow  (rgb, flow): the middle frame (3, H, W) or a clip (3, T, H, W), and flow
                     (2, T, H, W) or stacked (2T, H, W), centred on the same frame
sequence   features  (T, F): per-frame CNN features (LRCN; run on a features file)
========== ========= ====================================================================
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from actionlab.errors import InputError

KINDS = ("frame", "clip", "tsn", "two_stream", "sequence")
CACHE_KINDS = KINDS[:4]  # sampled from a prepared cache (sequence runs on a features file)
MODALITIES = ("rgb", "flow", "rgbdiff", "rgb+flow", "pose", "features")
RGB_MODALITIES = ("rgb", "rgbdiff", "rgb+flow")  # read the cache's frames
FLOW_MODALITIES = ("flow", "rgb+flow")  # read the cache's flow
POSE_MODALITIES = ("pose",)  # read the cache's keypoints
POSE_CHANNELS = 4  # x, y, visibility, present
FLOW_METHODS = ("farneback", "tvl1", "tvl1_fast", "dis", "dis_fast")
COMPENSATIONS = ("homography",)  # written METHOD+COMPENSATION, e.g. dis+homography
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_FLOW_BOUND = 20.0

_SPEC = "input spec"  # how a spec's own check names it; _build puts the caller's name there
# Which modalities each kind takes.
_KIND_MODALITIES = {
    "frame": ("rgb",),
    "clip": ("rgb", "flow", "pose"),
    "tsn": ("rgb", "flow", "rgbdiff", "pose"),
    "two_stream": ("rgb+flow",),
    "sequence": ("features",),
}
# Dataset options a config passes through ``data.params`` and the spec field each sets.
PARAM_FIELDS = {
    "sample": "sample",
    "rgb": "rgb",
    "flow_layout": "flow_layout",
    "jitter": "jitter",
    "num_clips": "num_clips",
    "transform_kw": "transform",
    # the datasets' own spelling of the sampling keys (old checkpoints and data.params)
    "length": "frames",
    "num_segments": "segments",
    "flow_length": "frames",
    "flow_stride": "stride",
}


def check_flow_method(method: str) -> tuple[str, str | None]:
    """``(base method, compensation or None)`` of a flow method name such as ``dis`` or
    ``dis+homography``; a clear :class:`InputError` for anything else (here, below the data
    layer, so that configs and specs check it without importing OpenCV)."""
    base, plus, comp = str(method).partition("+")
    if base not in FLOW_METHODS or (plus and comp not in COMPENSATIONS):
        raise InputError(f"unknown flow method {method!r}; choose one of "
                         f"{', '.join(FLOW_METHODS)}, optionally with camera-motion "
                         "compensation: dis+homography")
    return base, comp or None


def cache_inputs(modalities: Any) -> tuple[str, ...]:
    """What a cache must store (``rgb``, ``flow``, ``pose``) for models of these modalities."""
    wanted = set(modalities)
    return tuple(name for name, users in (("rgb", RGB_MODALITIES), ("flow", FLOW_MODALITIES),
                                          ("pose", POSE_MODALITIES)) if wanted & set(users))


def _freeze(value: Any) -> Any:
    """A hashable copy of plain data (dicts become sorted item tuples, lists tuples)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


@dataclass(frozen=True)
class InputSpec:
    """How a video becomes one model input (or, for two-stream models, a tuple of them).

    Attributes:
        kind: ``frame``, ``clip``, ``tsn``, ``two_stream`` or ``sequence`` (see the module table).
        modality: ``rgb``, ``flow``, ``rgbdiff``, ``rgb+flow``, ``pose`` or ``features``.
        size: (H, W) the model sees.
        frames: T of a clip, L of a TSN snippet, the flow frames of a two-stream sample.
        stride: Step between the frames of a clip (falls back for short videos).
        segments: S, TSN segments.
        sample: Frame kind in training: ``middle`` or ``random``.
        rgb: Two-stream RGB input: ``frame`` or ``clip``.
        flow_layout: Two-stream flow input: ``clip`` (2, T, H, W) or ``stack`` (2T, H, W).
        jitter: Two-stream training centres both streams on a random frame.
        num_clips: Clips per video at evaluation (clip kind; averaged).
        flow_method: The optical flow the cache holds (and inference computes).
        flow_bound: Flow is clipped to [-bound, bound] pixels and quantised to 8 bits.
        mean, std: RGB normalisation.
        short_side: Frames are stored (and decoded for inference) with this shorter side,
            aspect kept; 0 when ``cache_size`` gives an exact size instead.
        cache_size: Exact stored (W, H) (the whole frame squashed to it), or None.
        jpeg_quality: The cache stores frames and flow as JPEG at this quality (0: raw);
            inference codes its frames the same way, so it sees what training read.
        pose_model: The pose estimator the cache's keypoints came from (and inference runs),
            e.g. ``mediapipe-0.10.14-full``; empty when the input is not pose.
        transform: The training transform's options (``crop``, ``flip``, ``rotation``, ...);
            evaluation keeps only the crop. Stored as sorted (key, value) pairs.
    """

    kind: str = "frame"
    modality: str = "rgb"
    size: tuple[int, int] = (112, 112)
    frames: int = 1
    stride: int = 1
    segments: int = 1
    sample: str = "middle"
    rgb: str = "frame"
    flow_layout: str = "clip"
    jitter: bool = True
    num_clips: int = 1
    flow_method: str = "dis"
    flow_bound: float = DEFAULT_FLOW_BOUND
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    short_side: int = 0
    cache_size: tuple[int, int] | None = None
    jpeg_quality: int = 0
    transform: tuple[tuple[str, Any], ...] = field(default=())
    pose_model: str = ""

    def __post_init__(self) -> None:
        self.check()

    # ------------------------------------------------------------------ checks

    def check(self, where: str = _SPEC) -> None:
        """Refuse values no sampler can use; raises :class:`InputError` naming ``where``."""
        if self.kind not in KINDS:
            raise InputError(f"{where}: unknown kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.modality not in _KIND_MODALITIES[self.kind]:
            raise InputError(f"{where}: modality {self.modality!r} does not fit kind "
                             f"{self.kind!r} (one of {', '.join(_KIND_MODALITIES[self.kind])})")
        h, w = self.size
        if not (1 <= h <= 4096 and 1 <= w <= 4096):
            raise InputError(f"{where}: size must be [H, W] between 1 and 4096, "
                             f"got {list(self.size)}")
        for name in ("frames", "stride", "segments", "num_clips"):
            value = getattr(self, name)
            if not 1 <= value <= 10_000:
                raise InputError(f"{where}: {name} must be between 1 and 10000, got {value}")
        if self.kind == "tsn" and self.modality == "rgbdiff" and self.frames < 2:
            raise InputError(f"{where}: rgbdiff needs frames >= 2 (differences of consecutive "
                             "frames)")
        choices = {"sample": ("middle", "random"), "rgb": ("frame", "clip"),
                   "flow_layout": ("clip", "stack")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise InputError(f"{where}: {name} must be one of {', '.join(allowed)}, "
                                 f"got {getattr(self, name)!r}")
        if not (math.isfinite(self.flow_bound) and self.flow_bound > 0):
            raise InputError(f"{where}: flow bound must be a positive number, "
                             f"got {self.flow_bound}")
        if len(self.mean) != len(self.std) or any(s <= 0 for s in self.std):
            raise InputError(f"{where}: mean and std need one value per channel and std > 0")
        if self.short_side < 0 or self.short_side > 4096:
            raise InputError(f"{where}: short_side must be between 0 and 4096")
        if not 0 <= self.jpeg_quality <= 100:
            raise InputError(f"{where}: jpeg_quality must be between 0 and 100")
        if self.cache_size is not None and not all(1 <= v <= 8192 for v in self.cache_size):
            raise InputError(f"{where}: cache size must be [W, H] between 1 and 8192")

    # ------------------------------------------------------------------ derived

    @property
    def transform_kw(self) -> dict[str, Any]:
        """The training transform's options as a dict."""
        return dict(self.transform)

    def streams(self) -> tuple[InputSpec, ...]:
        """One single-input spec per model input, in the order the model takes them.

        A two-stream spec gives its RGB stream (kind ``frame`` or ``clip``) and its flow stream
        (kind ``clip``; ``flow_layout`` says whether the model takes it stacked on channels).
        Both are sampled together, centred on one frame (see ``actionlab.data.inputs``).
        Single-input specs give themselves.
        """
        if self.kind != "two_stream":
            return (self,)
        rgb = dataclasses.replace(self, kind="clip" if self.rgb == "clip" else "frame",
                                  modality="rgb", frames=self.frames if self.rgb == "clip" else 1)
        flow = dataclasses.replace(self, kind="clip", modality="flow")
        return (rgb, flow)

    @property
    def needs_flow(self) -> bool:
        """Whether any input is optical flow."""
        return self.modality in FLOW_MODALITIES

    @property
    def needs_pose(self) -> bool:
        """Whether the input is keypoints."""
        return self.modality in POSE_MODALITIES

    def in_channels(self) -> int | None:
        """Input channels of a single-input model (None for two-stream and sequence)."""
        return in_channels(self.kind, self.modality, self.frames)

    def window_span(self) -> int:
        """Frames one sample naturally covers (a window when labelling a long video)."""
        spans = []
        for s in self.streams():
            if s.kind == "frame":
                n = 1
            else:
                n = (s.frames - 1) * s.stride + 1 if s.kind == "clip" else s.frames
                n += s.modality in ("flow", "rgbdiff")  # they need one frame more
            spans.append(n * (s.segments if s.kind == "tsn" else 1))
        return max(spans)

    def decode_size(self, width: int, height: int) -> tuple[int, int]:
        """The (W, H) a ``width`` x ``height`` video is decoded at: the cache's geometry.

        Without a recorded geometry the frames are taken at the model's size (what a cache
        prepared with ``--size`` equal to the model's size holds).
        """
        if self.short_side:
            f = self.short_side / min(width, height)
            return max(1, round(width * f)), max(1, round(height * f))
        if self.cache_size is not None:
            return self.cache_size
        return self.size[1], self.size[0]

    # ------------------------------------------------------------------ (de)serialising

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's ``input`` entry (plain JSON data)."""
        d = {
            "kind": self.kind, "modality": self.modality, "size": list(self.size),
            "frames": self.frames, "stride": self.stride, "segments": self.segments,
            "sample": self.sample, "rgb": self.rgb, "flow_layout": self.flow_layout,
            "jitter": self.jitter, "num_clips": self.num_clips,
            "flow": {"method": self.flow_method, "bound": self.flow_bound},
            "mean": list(self.mean), "std": list(self.std),
            "short_side": self.short_side,
            "cache_size": list(self.cache_size) if self.cache_size else None,
            "jpeg_quality": self.jpeg_quality,
            "transform": {k: _thaw(v) for k, v in self.transform},
        }
        if self.pose_model:
            d["pose_model"] = self.pose_model
        return d

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], where: str = "input spec") -> InputSpec:
        """Read a checkpoint's ``input`` entry, including the older spellings.

        Older checkpoints named sampling ``length``/``num_segments``/``flow_length``, kept
        ``rgb``/``flow_layout`` under ``params`` and the cache geometry under ``prepare``.

        Raises:
            InputError: for a value no sampler can use, naming ``where``.
        """
        if not isinstance(raw, Mapping):
            raise InputError(f"{where}: must be a mapping, got {type(raw).__name__}")
        d: dict[str, Any] = {}
        params = raw.get("params") if isinstance(raw.get("params"), Mapping) else {}
        for key, value in {**params, **raw}.items():
            name = PARAM_FIELDS.get(key, key)
            if name in _FIELDS and value is not None and name not in d:
                d[name] = value
        for key in ("frames", "stride", "segments"):  # canonical keys win over the old ones
            if raw.get(key) is not None:
                d[key] = raw[key]
        flow = raw.get("flow") if isinstance(raw.get("flow"), Mapping) else {}
        if flow.get("method"):
            d["flow_method"] = flow["method"]
        if flow.get("bound") is not None:
            d["flow_bound"] = flow["bound"]
        prep = raw.get("prepare") if isinstance(raw.get("prepare"), Mapping) else {}
        if prep.get("short_side") and not d.get("short_side"):
            d["short_side"] = prep["short_side"]
        elif prep.get("size") and not d.get("cache_size"):
            d["cache_size"] = prep["size"]
        if d.get("modality") == "rgb+flow" and "kind" not in d:
            d["kind"] = "two_stream"
        return _build(d, where)

    @classmethod
    def from_config(cls, data: Any, prepared: Mapping[str, Any] | None = None,
                    where: str = "data") -> InputSpec:
        """The spec of a run: its data config (``DataConfig``) and its cache's prepare meta.

        Args:
            data: The ``data`` section of an experiment config.
            prepared: The cache manifest's ``prepare`` entry (geometry, flow method and
                bound the frames were stored with); these win over the config's flow keys,
                since they are what the model is trained on.
            where: Names the config section in errors.
        """
        d: dict[str, Any] = {
            "kind": data.kind, "size": data.size,
            # a two-stream sample is always rgb+flow, whatever data.modality says
            "modality": "rgb+flow" if data.kind == "two_stream" else data.modality,
            "frames": data.frames, "stride": data.stride, "segments": data.segments,
            "flow_method": data.flow_method, "flow_bound": data.flow_bound,
        }
        if data.mean:
            d["mean"] = data.mean
        if data.std:
            d["std"] = data.std
        for key, value in (data.params or {}).items():
            if key not in PARAM_FIELDS:
                raise InputError(f"{where}.params.{key}: unknown; valid: "
                                 f"{', '.join(sorted(PARAM_FIELDS))}")
            d[PARAM_FIELDS[key]] = value
        d.update(prepared_fields(prepared or {}))
        return _build(d, where)


_FIELDS = {f.name for f in dataclasses.fields(InputSpec)}


def prepared_fields(prepared: Mapping[str, Any]) -> dict[str, Any]:
    """The spec fields a cache's ``prepare`` meta fixes: its geometry, flow method and bound."""
    d: dict[str, Any] = {}
    if prepared.get("flow_method"):
        d["flow_method"] = prepared["flow_method"]
    if prepared.get("flow_bound") is not None:
        d["flow_bound"] = prepared["flow_bound"]
    if prepared.get("short_side"):
        d["short_side"] = prepared["short_side"]
    elif prepared.get("size"):
        d["cache_size"] = prepared["size"]
    if prepared.get("compression") == "jpeg":
        d["jpeg_quality"] = int(prepared.get("quality") or 90)
    if prepared.get("pose_model"):
        d["pose_model"] = str(prepared["pose_model"])
    return d


def in_channels(kind: str, modality: str, frames: int) -> int | None:
    """Input channels of a single-input model for this input (None: two-stream, sequence)."""
    if kind in ("two_stream", "sequence"):
        return None
    if modality == "rgb":
        return 3 * frames if kind == "tsn" else 3
    if modality == "flow":
        return 2 if kind == "clip" else 2 * frames
    if modality == "pose":
        return POSE_CHANNELS
    return 3 * (frames - 1)  # rgbdiff


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple) and value and all(
            isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in value):
        return {k: _thaw(v) for k, v in value}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _build(d: dict[str, Any], where: str) -> InputSpec:
    """An :class:`InputSpec` from loosely typed values, every problem one InputError line."""
    try:
        if "size" in d:
            size = d["size"]
            if isinstance(size, int):
                size = (size, size)
            if len(size) != 2:
                raise InputError(f"{where}: size must be [H, W], got {size!r}")
            d["size"] = (int(size[0]), int(size[1]))
        if d.get("cache_size") is not None:
            d["cache_size"] = tuple(int(v) for v in d["cache_size"])
        for key in ("frames", "stride", "segments", "num_clips", "short_side", "jpeg_quality"):
            if key in d:
                if isinstance(d[key], bool) or float(d[key]) != int(d[key]):
                    raise InputError(f"{where}: {key} must be a whole number, got {d[key]!r}")
                d[key] = int(d[key])
        if "flow_bound" in d:
            d["flow_bound"] = float(d["flow_bound"])
        for key in ("mean", "std"):
            if key in d:
                d[key] = tuple(float(v) for v in d[key])
        if "transform" in d:
            t = d["transform"]
            if not isinstance(t, (Mapping, tuple, list)):
                raise InputError(f"{where}: transform must be a mapping of options")
            d["transform"] = _freeze(dict(t))
        for key in ("jitter",):
            if key in d and not isinstance(d[key], bool):
                raise InputError(f"{where}: {key} must be true or false, got {d[key]!r}")
        try:
            return InputSpec(**d)
        except InputError as exc:  # __post_init__'s check: name the caller's file and section
            raise InputError(f"{where}{str(exc)[len(_SPEC):]}") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"{where}: malformed value ({exc})") from None
