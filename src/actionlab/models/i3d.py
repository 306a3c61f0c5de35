"""I3D: a 2D ResNet inflated over time, and :func:`inflate_state_dict` to bring 2D weights in.

The parameter names are the 2D ResNet's (``conv1``, ``bn1``, ``layer1.0.conv1`` ...), so a
torchvision ResNet-18..152 state dict inflates key by key. Temporal kernels pad by repeating the
first and last frames rather than with zeros: with mean inflation a clip of identical frames then
gives exactly the 2D network's output, also at the clip's ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from actionlab.errors import ModelError
from actionlab.models.base import scaled
from actionlab.models.registry import register_model
from actionlab.models.video import _VideoTrunk


class TConv3d(nn.Conv3d):
    """A Conv3d whose temporal padding repeats the edge frames (spatial padding stays zeros)."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int, int],
                 stride: tuple[int, int, int] = (1, 1, 1)) -> None:
        kt, kh, kw = kernel
        super().__init__(cin, cout, kernel, stride, (0, kh // 2, kw // 2), bias=False)
        self.tpad = kt // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.tpad:
            x = F.pad(x, (0, 0, 0, 0, self.tpad, self.tpad), mode="replicate")  # (B, C, T+2p, H, W)
        return super().forward(x)


class Basic3d(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int, kt: int, down: nn.Module | None) -> None:
        super().__init__()
        self.conv1 = TConv3d(cin, planes, (kt, 3, 3), (1, stride, stride))
        self.bn1 = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = TConv3d(planes, planes, (1, 3, 3))
        self.bn2 = nn.BatchNorm3d(planes)
        self.downsample = down

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + skip)


class Bottleneck3d(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int, kt: int, down: nn.Module | None) -> None:
        super().__init__()
        self.conv1 = TConv3d(cin, planes, (kt, 1, 1))
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = TConv3d(planes, planes, (1, 3, 3), (1, stride, stride))
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = TConv3d(planes, planes * 4, (1, 1, 1))
        self.bn3 = nn.BatchNorm3d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = down

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + skip)


_DEPTHS = {18: (Basic3d, (2, 2, 2, 2)), 34: (Basic3d, (3, 4, 6, 3)),
           50: (Bottleneck3d, (3, 4, 6, 3)), 101: (Bottleneck3d, (3, 4, 23, 3)),
           152: (Bottleneck3d, (3, 8, 36, 3))}


def _pattern(n: int, stage: int) -> list[int]:
    """Which blocks of a stage get a temporal kernel: all in stage 1, then every other one
    (I3D ResNet-50 of the non-local paper: 3/3, 2/4, 3/6, 1/3 blocks)."""
    if stage == 1:
        return [1] * n
    if stage == 4:
        return [i % 2 for i in range(n)]
    return [1 - i % 2 for i in range(n)]


class I3DResNet(_VideoTrunk):
    """I3D ResNet with the 2D ResNet's parameter names.

    Args:
        depth: 18, 34, 50, 101 or 152: the 2D ResNet it inflates.
        num_classes, in_channels, width, drop_rate: As for the 2D ResNet.
        stem_t: Temporal size of the stem kernel (5); ``block_t`` that of inflated blocks (3).
        inflate: Per stage, per block 0/1: whether the block's first conv is temporal; default
            the non-local paper's pattern.
        non_local_stages: Stages (1..4) followed by a non-local block.
        input_shape: Default (T, H, W).
    """

    def __init__(self, depth: int = 50, num_classes: int = 400, in_channels: int = 3,
                 width: float = 1.0, drop_rate: float = 0.5, stem_t: int = 5, block_t: int = 3,
                 inflate: Sequence[Sequence[int]] | None = None,
                 non_local_stages: Sequence[int] = (), input_shape: tuple[int, int, int] = (8, 224, 224)) -> None:
        super().__init__()
        if depth not in _DEPTHS:
            raise ModelError(f"I3D depth must be one of {sorted(_DEPTHS)}; got {depth}")
        block, layers = _DEPTHS[depth]
        self.in_channels, self.num_classes, self.drop_rate = in_channels, num_classes, drop_rate
        self.input_shape = (in_channels, *input_shape)
        planes = [scaled(c, width) for c in (64, 128, 256, 512)]
        self.conv1 = TConv3d(in_channels, planes[0], (stem_t, 7, 7), (1, 2, 2))
        self.bn1 = nn.BatchNorm3d(planes[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
        cin = planes[0]
        for i, (p, n) in enumerate(zip(planes, layers), start=1):
            flags = list(inflate[i - 1]) if inflate is not None else _pattern(n, i)
            if len(flags) != n:
                raise ModelError(f"inflate[{i - 1}] needs {n} flags for depth {depth}; got {flags}")
            stride = 1 if i == 1 else 2
            out = p * block.expansion
            blocks = []
            for j, flag in enumerate(flags):
                down = None
                if j == 0 and (stride != 1 or cin != out):
                    down = nn.Sequential(TConv3d(cin, out, (1, 1, 1), (1, stride, stride)),
                                         nn.BatchNorm3d(out))
                blocks.append(block(cin, p, stride if j == 0 else 1, block_t if flag else 1, down))
                cin = out
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
        self._finish(non_local_stages, [p * block.expansion for p in planes], num_classes)

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, 64w, T, H/4, W/4)


def inflate_weight(w: torch.Tensor, kt: int, mode: str = "mean") -> torch.Tensor:
    """(O, I, kh, kw) -> (O, I, kt, kh, kw) by ``mean`` (repeat / kt) or ``center`` inflation."""
    if mode == "mean":
        return w.unsqueeze(2).repeat(1, 1, kt, 1, 1) / kt
    if mode == "center":
        out = w.new_zeros(w.shape[0], w.shape[1], kt, *w.shape[2:])
        out[:, :, kt // 2] = w
        return out
    raise ModelError(f"unknown inflation mode {mode!r}; use 'mean' or 'center'")


def inflate_state_dict(state_2d: Mapping[str, torch.Tensor],
                       time_kernels: nn.Module | Mapping[str, int] | int = 1,
                       mode: str = "mean") -> dict[str, torch.Tensor]:
    """Inflate a 2D state dict's convolution kernels over time.

    Mean inflation repeats each kernel over time and divides by its temporal size, so a
    network on a clip of identical frames reproduces the 2D network's activations; centre
    inflation puts the 2D kernel at the middle time step and zeros elsewhere.

    Args:
        state_2d: A 2D state dict (e.g. a torchvision ResNet's); every other tensor is copied.
        time_kernels: The target model (its state dict gives each kernel's temporal size), a
            mapping key -> temporal size, or one size for every 4D weight.
        mode: ``mean`` or ``center``.

    Returns:
        A state dict for the 3D model.

    Raises:
        ModelError: a target kernel's spatial shape differs from the 2D one.
    """
    if isinstance(time_kernels, nn.Module):
        target = time_kernels.state_dict()
        sizes = {k: v.shape[2] for k, v in target.items() if v.dim() == 5}
    elif isinstance(time_kernels, int):
        target, sizes = {}, {k: time_kernels for k, v in state_2d.items() if v.dim() == 4}
    else:
        target, sizes = {}, dict(time_kernels)
    out: dict[str, torch.Tensor] = {}
    for k, v in state_2d.items():
        if v.dim() == 4 and k in sizes:
            v = inflate_weight(v, sizes[k], mode)
            if k in target and target[k].shape[:2] == v.shape[:2] and target[k].shape != v.shape:
                raise ModelError(f"{k}: cannot inflate {tuple(state_2d[k].shape)} to {tuple(target[k].shape)}")
        out[k] = v
    return out


@register_model
def i3d(**kw: Any) -> I3DResNet:
    """I3D ResNet (default depth 50) with 2D-ResNet names. kwargs: depth, num_classes,
    in_channels, width, drop_rate, stem_t, block_t, inflate, non_local_stages, input_shape."""
    return I3DResNet(**kw)
