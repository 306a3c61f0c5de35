"""Where a model looks: Grad-CAM, activation maps and guided backpropagation.

All three work on any model with the shared interface (``forward_features`` then
``forward_head``), 2D or 3D, without reaching into its layers: the target layer is the last
convolutional block, i.e. whatever ``forward_features`` returns, (B, C, H', W') for 2D models and
(B, C, T', H', W') for 3D ones. A model whose ``forward_features`` returns several tensors (one
per stream) gets one map per tensor.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F


def _as_list(feats: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [feats] if isinstance(feats, torch.Tensor) else [f for f in feats]


def _axes(channel_axes: Sequence[int] | None, count: int) -> list[int]:
    """One channel axis per feature tensor: those given, then 1 for the rest."""
    given = list(channel_axes or [])[:count]
    return given + [1] * (count - len(given))


def _normalize(cam: torch.Tensor) -> torch.Tensor:
    """Scale each sample's map to [0, 1] (all-zero maps stay zero)."""
    flat = cam.flatten(1)
    lo = flat.min(dim=1).values.view(-1, *[1] * (cam.dim() - 1))
    hi = flat.max(dim=1).values.view(-1, *[1] * (cam.dim() - 1))
    return (cam - lo) / (hi - lo).clamp_min(1e-8)


def _target_index(logits: torch.Tensor, target: int | Sequence[int] | None) -> torch.Tensor:
    if target is None:
        return logits.argmax(dim=1)
    if isinstance(target, int):
        return torch.full((logits.shape[0],), target, dtype=torch.long)
    return torch.as_tensor(list(target), dtype=torch.long)


def grad_cam(
    model: torch.nn.Module,
    inputs: Sequence[torch.Tensor],
    target: int | Sequence[int] | None = None,
    channel_axes: Sequence[int] | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Grad-CAM maps at the output of ``forward_features``.

    Channel weights are the gradients averaged over every axis after the channel axis, so a
    3D feature map (B, C, T', H', W') gets one weight per channel for the whole clip and a
    per-frame map, and a segment-major TSN map (B, S, C, H', W') (``channel_axes=[2]``) one map
    per segment.

    Args:
        model: Any model with ``forward_features`` and ``forward_head``.
        inputs: The model's input tensors (with a batch axis).
        target: Class index (or one per sample) to explain; default the predicted class.
        channel_axes: The channel axis of each feature tensor (default 1; extra entries are
            ignored, missing ones are 1).

    Returns:
        ``(maps, logits)``: one array per feature tensor, the feature shape without its
        channel axis ((B, H', W'), (B, T', H', W') or (B, S, H', W')), each sample scaled to
        [0, 1]; and the (B, K) logits.
    """
    model.eval()
    xs = [x.detach().clone().float().requires_grad_(True) for x in inputs]
    with torch.enable_grad():
        feats = model.forward_features(*xs)
        tensors = _as_list(feats)
        logits = model.forward_head(feats)
        idx = _target_index(logits, target)
        score = logits.gather(1, idx[:, None]).sum()
        grads = torch.autograd.grad(score, tensors, allow_unused=True)
    axes = _axes(channel_axes, len(tensors))
    maps = []
    for act, grad, ax in zip(tensors, grads, axes, strict=True):
        if grad is None:  # this stream does not reach the target (e.g. frozen by fusion)
            grad = torch.zeros_like(act)
        dims = tuple(range(ax + 1, act.dim()))  # everything after the channels
        weights = grad.mean(dim=dims, keepdim=True)  # (B, [S,] C, 1, ...)
        cam = F.relu((weights * act).sum(dim=ax))  # channel axis gone
        maps.append(_normalize(cam.detach()).cpu().numpy())
    return maps, logits.detach().float().cpu().numpy()


def activation_maps(
    model: torch.nn.Module,
    inputs: Sequence[torch.Tensor],
    channel_axes: Sequence[int] | None = None,
) -> list[np.ndarray]:
    """Mean absolute activation over channels at ``forward_features``, scaled to [0, 1].

    Returns:
        One array per feature tensor, its shape without the channel axis.
    """
    model.eval()
    with torch.no_grad():
        feats = _as_list(model.forward_features(*inputs))
    axes = _axes(channel_axes, len(feats))
    return [_normalize(f.abs().mean(dim=ax)).cpu().numpy() for f, ax in zip(feats, axes, strict=True)]


class _GuidedReLU(torch.autograd.Function):
    """ReLU whose backward passes only positive gradients through positive inputs."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        ctx.save_for_backward(x)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * (x > 0).to(grad.dtype) * (grad > 0).to(grad.dtype)


@contextlib.contextmanager
def _guided_relu() -> Iterator[None]:
    """Route ``F.relu``/``torch.relu`` (and so every ``nn.ReLU``) through guided ReLU."""
    saved = (F.relu, torch.relu)

    def relu(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        return _GuidedReLU.apply(x)

    F.relu, torch.relu = relu, relu
    try:
        yield
    finally:
        F.relu, torch.relu = saved


def guided_backprop(
    model: torch.nn.Module,
    inputs: Sequence[torch.Tensor],
    target: int | Sequence[int] | None = None,
) -> list[np.ndarray]:
    """Guided backpropagation: the input gradient of the target score with guided ReLUs.

    Returns:
        One array per input, the same shape as that input.
    """
    model.eval()
    xs = [x.detach().clone().float().requires_grad_(True) for x in inputs]
    with _guided_relu(), torch.enable_grad():
        logits = model(*xs)
        idx = _target_index(logits, target)
        logits.gather(1, idx[:, None]).sum().backward()
    return [x.grad.detach().cpu().numpy() if x.grad is not None else np.zeros(x.shape, np.float32)
            for x in xs]


def upsample(cam: np.ndarray, size_hw: tuple[int, int], frames: int | None = None) -> np.ndarray:
    """Resize one sample's map to the input size.

    Args:
        cam: (H', W') or (T', H', W').
        size_hw: Target (H, W).
        frames: For 3D maps, the number of input frames to stretch T' to.

    Returns:
        (H, W) or (T, H, W) float32 in [0, 1].
    """
    t = torch.from_numpy(np.ascontiguousarray(cam, np.float32))
    if t.dim() == 2:
        out = F.interpolate(t[None, None], size=size_hw, mode="bilinear", align_corners=False)
        return out[0, 0].clamp(0, 1).numpy()
    out = F.interpolate(t[None, None], size=(frames or t.shape[0], *size_hw), mode="trilinear",
                        align_corners=False)
    return out[0, 0].clamp(0, 1).numpy()


def gradient_image(grad: np.ndarray) -> np.ndarray:
    """A (C, H, W) input gradient as an (H, W, 3) uint8 image (channels folded to RGB)."""
    g = np.asarray(grad, np.float32)
    if g.shape[0] != 3:
        g = np.abs(g).mean(axis=0, keepdims=True).repeat(3, axis=0)
    g = g.transpose(1, 2, 0)
    g = g - g.mean()
    g = g / (g.std() * 3 + 1e-8)
    return (np.clip(g + 0.5, 0, 1) * 255).astype(np.uint8)


def overlay(frame: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a [0, 1] heat map (resized to the frame) onto an RGB uint8 frame (jet colors)."""
    import cv2

    h, w = frame.shape[:2]
    if cam.shape != (h, w):
        cam = cv2.resize(cam.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap((np.clip(cam, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    return (frame.astype(np.float32) * (1 - alpha) + heat.astype(np.float32) * alpha).astype(
        np.uint8
    )
