"""Train and eval transforms: pure functions on (T, C, H, W) float tensors, plus two presets.

Every function takes a stack of frames ``(T, C, H, W)`` (T=1 for a single frame) and applies
the *same* geometry to all T, so a clip or a flow stack stays aligned. Randomness comes from
an optional ``torch.Generator`` (the global one otherwise, which DataLoader seeds per worker).
No function changes its input, unless asked to with ``inplace=True``; the presets ask only
for tensors they made themselves (fresh allocations cost page faults, see :func:`hflip`).

Modalities:
- ``rgb``: 3 channels in [0, 1]; normalised with ImageNet mean/std at the end.
- ``flow``: 2 channels (x, y) in [-1, 1] (pixels / bound); a horizontal flip negates x, a
  rotation rotates the vectors; no colour jitter, no normalisation (already centred).
- ``rgbdiff``: RGB frames before differencing: geometry only (differences are taken after).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import cv2
import torch
import torch.nn.functional as F

from actionlab.errors import InputError
from actionlab.spec import IMAGENET_MEAN, IMAGENET_STD
TSN_SCALES = (256 / 256, 224 / 256, 192 / 256, 168 / 256)
CORNERS = ("center", "top_left", "top_right", "bottom_left", "bottom_right")

Size = tuple[int, int]  # (H, W)


def _rand(gen: torch.Generator | None) -> float:
    return float(torch.rand((), generator=gen))


def _randint(n: int, gen: torch.Generator | None) -> int:
    return int(torch.randint(n, (), generator=gen))


def _pair(size: int | Sequence[int]) -> Size:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def crop(x: torch.Tensor, top: int, left: int, h: int, w: int) -> torch.Tensor:
    """Crop every frame of (..., H, W) to rows ``top:top+h``, columns ``left:left+w``."""
    return x[..., top : top + h, left : left + w]


def center_crop(x: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """Centre crop to ``size`` (H, W)."""
    h, w = _pair(size)
    H, W = x.shape[-2:]
    return crop(x, (H - h) // 2, (W - w) // 2, h, w)


def random_crop(x: torch.Tensor, size: int | Sequence[int], gen: torch.Generator | None = None) -> torch.Tensor:
    """Crop ``size`` (H, W) at a uniformly random position."""
    h, w = _pair(size)
    H, W = x.shape[-2:]
    return crop(x, _randint(H - h + 1, gen), _randint(W - w + 1, gen), h, w)


def corner_offset(H: int, W: int, h: int, w: int, position: str) -> tuple[int, int]:
    """(top, left) of a crop at one of :data:`CORNERS` (TSN's corner cropping)."""
    offsets = {
        "center": ((H - h) // 2, (W - w) // 2),
        "top_left": (0, 0),
        "top_right": (0, W - w),
        "bottom_left": (H - h, 0),
        "bottom_right": (H - h, W - w),
    }
    if position not in offsets:
        raise ValueError(f"unknown crop position {position!r}; one of {CORNERS}")
    return offsets[position]


def corner_crop(x: torch.Tensor, size: int | Sequence[int], position: str) -> torch.Tensor:
    """Crop ``size`` at a corner or the center."""
    h, w = _pair(size)
    return crop(x, *corner_offset(*x.shape[-2:], h, w, position), h, w)


def resize(x: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """Bilinear resize of (T, C, H, W) to ``size`` (H, W), antialiased (no-op when equal)."""
    size = _pair(size)
    h, w = x.shape[-2:]
    if (h, w) == size:
        return x
    if h <= size[0] and w <= size[1]:
        return _upsample(x, size)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def letterbox(x: torch.Tensor, size: int | Sequence[int],
              fill: Sequence[float] | None = None) -> torch.Tensor:
    """The whole frame, aspect ratio kept, resized to fit inside ``size`` (H, W) and centred on
    a canvas of ``fill`` per channel (default zero; x: (T, C, H, W)).

    Zero is "no motion" for flow; RGB presets fill with the normalisation mean, which becomes
    zero after normalising. Unlike ``resize`` nothing is squashed, and unlike a crop nothing is
    cut off.
    """
    H, W = _pair(size)
    h, w = x.shape[-2:]
    f = min(H / h, W / w)
    nh, nw = min(H, max(1, round(h * f))), min(W, max(1, round(w * f)))
    y = resize(x, (nh, nw))
    if (nh, nw) == (H, W):
        return y
    out = y.new_zeros(*y.shape[:-2], H, W)
    if fill is not None:
        out += torch.tensor(fill, dtype=y.dtype).view(-1, 1, 1)
    top, left = (H - nh) // 2, (W - nw) // 2
    out[..., top:top + nh, left:left + nw] = y
    return out


def _upsample(x: torch.Tensor, size: Size) -> torch.Tensor:
    """Bilinear resize of (..., h, w) to a ``size`` at least as large in both dimensions.

    Not shrinking, the antialias filter has the one-pixel support of plain bilinear, so plain
    bilinear gives the same values up to float rounding, much faster. Upsampling a 16-frame
    RGB clip 98x84 -> 112x112: antialiased 2.0 ms, plain on (T, 3, H, W) 2.1 ms, plain on
    (T*C, 1, H, W) 0.9 ms, OpenCV plane by plane 0.5 ms. OpenCV's INTER_LINEAR has the same
    half-pixel centres and edge clamping as ``align_corners=False``; it stays within 2e-5 of
    the antialiased kernel on [-1, 1] data, and nearer a float64 reference than torch (whose
    float32 coordinates are off by up to 1.7e-5 at 73 -> 112). OpenCV resizes planes this
    small on the calling thread (CPU time = wall time up to 448x448), so DataLoader workers
    are not oversubscribed.
    """
    h, w = x.shape[-2:]
    planes = x.reshape(-1, h, w)
    if x.dtype != torch.float32 or not _numpy_ok(x) or planes.stride(-1) != 1:
        out = F.interpolate(planes[:, None], size=size, mode="bilinear", align_corners=False)
        return out.view(*x.shape[:-2], *size)
    out = torch.empty(planes.shape[0], *size)
    src, dst = planes.numpy(), out.numpy()
    for i in range(len(src)):
        cv2.resize(src[i], (size[1], size[0]), dst=dst[i], interpolation=cv2.INTER_LINEAR)
    return out.view(*x.shape[:-2], *size)


def multi_scale_crop_box(
    H: int,
    W: int,
    scales: Sequence[float] = TSN_SCALES,
    max_distort: int = 1,
    fix_crop: bool = True,
    gen: torch.Generator | None = None,
) -> tuple[int, int, int, int]:
    """TSN's multi-scale crop with aspect jitter: (top, left, h, w).

    Crop sides are drawn from ``scales`` times the shorter side (TSN: {256, 224, 192, 168}
    of 256), height and width independently but at most ``max_distort`` scale steps apart;
    the position is a corner or the centre (``fix_crop``) or uniform.
    """
    base = min(H, W)
    sides = [max(1, int(base * s)) for s in scales]
    pairs = [(h, w) for i, h in enumerate(sides) for j, w in enumerate(sides)
             if abs(i - j) <= max_distort]
    h, w = pairs[_randint(len(pairs), gen)]
    h, w = min(h, H), min(w, W)
    if fix_crop:
        top, left = corner_offset(H, W, h, w, CORNERS[_randint(len(CORNERS), gen)])
    else:
        top, left = _randint(H - h + 1, gen), _randint(W - w + 1, gen)
    return top, left, h, w


def multi_scale_crop(
    x: torch.Tensor, out_size: int | Sequence[int], scales: Sequence[float] = TSN_SCALES,
    max_distort: int = 1, fix_crop: bool = True, gen: torch.Generator | None = None,
) -> torch.Tensor:
    """Multi-scale crop (see :func:`multi_scale_crop_box`), resized to ``out_size``."""
    box = multi_scale_crop_box(*x.shape[-2:], scales, max_distort, fix_crop, gen)
    return resize(crop(x, *box), out_size)


def hflip(x: torch.Tensor, flow: bool = False, inplace: bool = False) -> torch.Tensor:
    """Mirror left-right; for flow (C=2, x first) the x component changes sign.

    Args:
        x: The frames.
        flow: Negate channel 0.
        inplace: Overwrite ``x`` (for a tensor the caller made and owns): torch's flip always
            copies, and a fresh 2.4 MB tensor costs about 0.5 ms of page faults on a VM, ten
            times the flip itself. Falls back to a copy where OpenCV cannot take the tensor.
    """
    if inplace and x.dtype == torch.float32 and _numpy_ok(x) and x.is_contiguous():
        rows = x.numpy().reshape(-1, x.shape[-1])
        cv2.flip(rows, 1, dst=rows)  # reverses every row; safe in place (it swaps pairs)
    else:
        x = x.flip(-1)  # a copy (torch has no negative strides), so ours to change below
    if flow:
        x[:, 0].neg_()
    return x


def _numpy_ok(x: torch.Tensor) -> bool:
    """Whether ``x.numpy()`` shares ``x``'s memory (a CPU tensor outside autograd)."""
    return x.device.type == "cpu" and not x.requires_grad


def rotate(x: torch.Tensor, degrees: float, flow: bool = False) -> torch.Tensor:
    """Rotate every frame by ``degrees`` (counter-clockwise on screen) about the center.

    For flow the vectors are rotated too, so the field still describes the rotated motion.
    Corners outside the source are zero (no motion for flow).
    """
    if degrees == 0:
        return x
    a = math.radians(degrees)
    cos, sin = math.cos(a), math.sin(a)
    H, W = x.shape[-2:]
    # Output pixel -> source pixel, in normalised coords with aspect correction.
    theta = torch.tensor([[cos, -sin * H / W, 0.0], [sin * W / H, cos, 0.0]], dtype=x.dtype)
    grid = F.affine_grid(theta[None].expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if flow:
        u, v = out[:, 0].clone(), out[:, 1].clone()
        # Image y points down, so a counter-clockwise turn on screen is clockwise in (x, y).
        out[:, 0] = cos * u + sin * v
        out[:, 1] = -sin * u + cos * v
    return out


def color_jitter(
    x: torch.Tensor, brightness: float = 0.0, contrast: float = 0.0, saturation: float = 0.0,
    gen: torch.Generator | None = None,
) -> torch.Tensor:
    """Random brightness, contrast and saturation factors in ``[1-v, 1+v]``, same for all T.

    Args:
        x: RGB (T, 3, H, W) in [0, 1].
    """
    def factor(v: float) -> float:
        return 1.0 + (2 * _rand(gen) - 1) * v if v else 1.0

    b, c, s = factor(brightness), factor(contrast), factor(saturation)
    x = x * b
    gray = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)  # (T, 1, H, W)
    x = (x - gray.mean(dim=(-3, -2, -1), keepdim=True)) * c + gray.mean(dim=(-3, -2, -1), keepdim=True)
    gray = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
    x = (x - gray) * s + gray
    return x.clamp(0.0, 1.0)


def normalize(
    x: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
    inplace: bool = False,
) -> torch.Tensor:
    """(x - mean) / std per channel of (T, C, H, W).

    Args:
        x: The frames.
        mean, std: Per channel.
        inplace: Overwrite ``x`` (for a tensor the caller made and owns: a fresh 2.4 MB
            tensor costs about 1 ms of page faults on a VM, more than the arithmetic).
    """
    m = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    return (x.sub_(m) if inplace else x - m).div_(s)  # the same arithmetic either way


def _owned(x: torch.Tensor, given: torch.Tensor) -> bool:
    """Whether ``x`` was made by this call, not the caller's ``given`` tensor or a view of it."""
    return x.untyped_storage().data_ptr() != given.untyped_storage().data_ptr()


@dataclass
class TrainTransform:
    """Training preset.

    Attributes:
        size: Output (H, W).
        modality: ``rgb``, ``flow`` or ``rgbdiff``.
        crop: ``multiscale`` (TSN scales + aspect jitter, corner/centre positions), ``corner``
            (a random corner or centre crop of ``size``), ``random`` (uniform crop of
            ``size``), ``resize`` (whole frame squashed to ``size``) or ``fit`` (whole frame,
            aspect kept, zero-padded to ``size``: :func:`letterbox`).
        flip: Random horizontal flip (p = 0.5).
        rotation: Random rotation in ``[-rotation, rotation]`` degrees (0 = off).
        brightness, contrast, saturation: Colour jitter strength (RGB only; 0 = off).
        mean, std: RGB normalisation.
    """

    size: Size
    modality: str = "rgb"
    crop: str = "multiscale"
    flip: bool = True
    rotation: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """Transform a (T, C, H, W) float stack."""
        flow = self.modality == "flow"
        given = x
        # Geometry first, colour last: with equal generators, two streams get equal geometry.
        if self.crop == "multiscale":
            x = multi_scale_crop(x, self.size, gen=gen)
        elif self.crop == "corner":
            x = corner_crop(x, _fit(self.size, x), CORNERS[_randint(len(CORNERS), gen)])
        elif self.crop == "random":
            x = random_crop(x, _fit(self.size, x), gen)
        elif self.crop not in ("resize", "fit"):
            raise ValueError(f"unknown crop {self.crop!r}")
        x = _whole(x, self.size, self.crop, self.modality, self.mean)
        if self.flip and _rand(gen) < 0.5:
            x = hflip(x, flow, inplace=_owned(x, given))
        if self.rotation:
            x = rotate(x, (2 * _rand(gen) - 1) * self.rotation, flow)
        if self.modality == "rgb":
            if self.brightness or self.contrast or self.saturation:
                x = color_jitter(x, self.brightness, self.contrast, self.saturation, gen)
            x = normalize(x, self.mean, self.std, inplace=_owned(x, given))  # never the caller's
        return x


@dataclass
class EvalTransform:
    """Evaluation preset: deterministic.

    Attributes:
        size: Output (H, W).
        modality: ``rgb``, ``flow`` or ``rgbdiff``.
        crop: ``center`` (centre crop of ``size``, resized if the frame is smaller),
            ``resize`` (whole frame squashed), ``fit`` (whole frame, aspect kept, zero-padded)
            or a corner name from :data:`CORNERS`.
        mean, std: RGB normalisation.
    """

    size: Size
    modality: str = "rgb"
    crop: str = "center"
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        if self.crop in CORNERS:
            x = corner_crop(x, _fit(self.size, x), self.crop)
        elif self.crop not in ("resize", "fit"):
            raise ValueError(f"unknown eval crop {self.crop!r}")
        y = _whole(x, self.size, self.crop, self.modality, self.mean)
        if self.modality != "rgb":
            return y
        return normalize(y, self.mean, self.std, inplace=_owned(y, x))


def _whole(x: torch.Tensor, size: Size, crop: str, modality: str,
           mean: Sequence[float]) -> torch.Tensor:
    """The last geometric step: letterbox for ``fit`` (RGB on its mean), else resize."""
    if crop == "fit":
        return letterbox(x, size, mean if modality == "rgb" else None)
    return resize(x, size)


def _fit(size: Size, x: torch.Tensor) -> Size:
    """``size`` shrunk to fit inside the frame, keeping its aspect ratio."""
    H, W = x.shape[-2:]
    h, w = size
    f = min(1.0, H / h, W / w)
    return max(1, int(h * f)), max(1, int(w * f))


WHOLE_FRAME_CROPS = ("resize", "fit")  # no crop: the model sees the whole frame
TRAIN_CROPS = ("multiscale", "corner", "random", *WHOLE_FRAME_CROPS)
EVAL_CROPS = (*WHOLE_FRAME_CROPS, *CORNERS)


def default_transform(
    modality: str, train: bool, size: int | Sequence[int],
    mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD, **kw: object
) -> TrainTransform | EvalTransform:
    """The preset for a modality: :class:`TrainTransform` or :class:`EvalTransform`.

    ``kw`` are the training preset's options (one ``transform_kw`` serves the training and the
    evaluation datasets of a run): evaluation keeps only ``crop``, and a training-only crop
    (``multiscale``, ``corner``, ``random``) becomes the centre crop there.
    """
    options = sorted(f.name for f in fields(TrainTransform)
                     if f.name not in ("size", "modality", "mean", "std"))
    unknown = sorted(set(kw) - set(options))
    if unknown:
        raise InputError(f"transform options {', '.join(unknown)}: unknown; valid: "
                         f"{', '.join(options)}")
    crop = kw.get("crop")
    if crop is not None and crop not in TRAIN_CROPS + EVAL_CROPS:
        raise InputError(f"transform crop {crop!r}: unknown; training crops: "
                         f"{', '.join(TRAIN_CROPS)}; evaluation crops: {', '.join(EVAL_CROPS)}")
    if train:
        if crop is not None and crop not in TRAIN_CROPS:
            raise InputError(f"transform crop {crop!r} is an evaluation crop; training crops: "
                             f"{', '.join(TRAIN_CROPS)}")
        return TrainTransform(size=_pair(size), modality=modality, mean=tuple(mean),
                              std=tuple(std), **kw)  # type: ignore[arg-type]
    eval_crop = crop if crop in EVAL_CROPS else "center"
    return EvalTransform(size=_pair(size), modality=modality, crop=eval_crop, mean=tuple(mean),
                         std=tuple(std))
