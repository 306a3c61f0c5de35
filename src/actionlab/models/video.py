"""Video backbones (B, C, T, H, W): one VideoResNet (R3D, MC3, R(2+1)D), I3D, non-local blocks.

``VideoResNet`` follows torchvision's layout: the three presets differ only in the list of
per-stage conv builders, and their state dicts have torchvision's names, so Kinetics weights load.
``I3DResNet`` is a 2D ResNet with its kernels inflated over time: its parameter names are the
2D ResNet's, so :func:`inflate_state_dict` maps any torchvision ResNet state dict onto it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from actionlab.errors import ModelError
from actionlab.models.base import ActionModel, scaled, zero_init_last
from actionlab.models.registry import register_model

# ---------------------------------------------------------------- conv builders (torchvision)


class Conv3DSimple(nn.Conv3d):
    """A full 3x3x3 convolution (R3D)."""

    def __init__(self, cin: int, cout: int, mid: int, stride: int = 1) -> None:
        super().__init__(cin, cout, 3, stride, 1, bias=False)

    @staticmethod
    def downsample_stride(stride: int) -> tuple[int, int, int]:
        return (stride, stride, stride)


class Conv3DNoTemporal(nn.Conv3d):
    """A 1x3x3 convolution (MC3's upper stages)."""

    def __init__(self, cin: int, cout: int, mid: int, stride: int = 1) -> None:
        super().__init__(cin, cout, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False)

    @staticmethod
    def downsample_stride(stride: int) -> tuple[int, int, int]:
        return (1, stride, stride)


class TemporalConv(nn.Conv3d):
    """A (kt, 1, 1) convolution that sidesteps a CPU bf16 bug in PyTorch 2.13.

    Under CPU bf16 autocast, the weight gradient of a (3, 1, 1) Conv3d on an input two steps
    long comes out non-finite (not at other lengths, nor for 3x3x3 kernels), which made bf16
    training of the flow net NaN at its second step. Those inputs are convolved in float32.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and x.shape[2] == 2 and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float())
        return super().forward(x)


class Conv2Plus1D(nn.Sequential):
    """A (2+1)D convolution: (1, kh, kw) to ``mid`` channels, BN, ReLU, then (kt, 1, 1).

    The one (2+1)D layer of the package: R(2+1)D-18's conv builder (torchvision's names:
    ``0`` spatial conv, ``1`` BN, ``3`` temporal conv, so Kinetics weights load) and, with
    ``norm=False`` (no BN, biased convolutions, ``1`` an Identity), the compact flow net's and
    the mid-fusion path's layer. Padding keeps T, H and W at stride 1.

    Args:
        cin, cout: Input and output channels.
        mid: Channels between the two convolutions (default ``cout``).
        stride: Stride over T, H and W.
        kernel: (kt, kh, kw).
        norm: BatchNorm between the convolutions (False: none, and the convolutions get biases).
    """

    def __init__(self, cin: int, cout: int, mid: int | None = None, stride: int = 1,
                 kernel: tuple[int, int, int] = (3, 3, 3), norm: bool = True) -> None:
        kt, kh, kw = kernel
        mid = cout if mid is None else mid
        super().__init__(
            nn.Conv3d(cin, mid, (1, kh, kw), (1, stride, stride), (0, kh // 2, kw // 2),
                      bias=not norm),
            nn.BatchNorm3d(mid) if norm else nn.Identity(),
            nn.ReLU(inplace=True),
            TemporalConv(mid, cout, (kt, 1, 1), (stride, 1, 1), (kt // 2, 0, 0), bias=not norm),
        )

    @staticmethod
    def downsample_stride(stride: int) -> tuple[int, int, int]:
        return (stride, stride, stride)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any) -> None:
        # checkpoints of the compact flow net written before the two (2+1)D classes became this
        # one hold the temporal convolution as ``2.*``
        if isinstance(self[1], nn.Identity):
            for p in ("weight", "bias"):
                if f"{prefix}2.{p}" in state_dict and f"{prefix}3.{p}" not in state_dict:
                    state_dict[f"{prefix}3.{p}"] = state_dict.pop(f"{prefix}2.{p}")
        super()._load_from_state_dict(state_dict, prefix, *args)


class VideoBlock(nn.Module):
    """torchvision's video BasicBlock: two conv-builder convolutions with BN, residual."""

    def __init__(self, cin: int, planes: int, builder: Any, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        mid = (cin * planes * 27) // (cin * 9 + 3 * planes)  # (2+1)D keeps R3D's parameter count
        self.conv1 = nn.Sequential(builder(cin, planes, mid, stride), nn.BatchNorm3d(planes),
                                   nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(builder(planes, planes, mid), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv2[1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + skip)


class NonLocal3d(nn.Module):
    """Embedded-Gaussian non-local block (Wang et al. 2018) with a zero-initialised output BN.

    z = x + BN(W softmax(theta(x)^T phi(x)) g(x)); phi and g see a 1x2x2 max-pooled map
    (``sub_sample``). Starts as the identity, so it can be added to a pretrained network.
    """

    def __init__(self, channels: int, sub_sample: bool = True) -> None:
        super().__init__()
        inter = max(1, channels // 2)
        self.theta = nn.Conv3d(channels, inter, 1)
        self.phi = nn.Conv3d(channels, inter, 1)
        self.g = nn.Conv3d(channels, inter, 1)
        self.out = nn.Conv3d(inter, channels, 1, bias=False)
        self.bn = nn.BatchNorm3d(channels)
        nn.init.zeros_(self.bn.weight)
        self.sub_sample = sub_sample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t, h, w = x.shape
        kv = F.max_pool3d(x, (1, 2, 2)) if self.sub_sample and h > 1 and w > 1 else x
        q = self.theta(x).flatten(2).transpose(1, 2)  # (B, THW, C')
        k = self.phi(kv).flatten(2)  # (B, C', T'H'W')
        v = self.g(kv).flatten(2).transpose(1, 2)  # (B, T'H'W', C')
        attn = torch.softmax(q @ k, dim=-1)  # (B, THW, T'H'W')
        y = (attn @ v).transpose(1, 2).reshape(b, -1, t, h, w)  # (B, C', T, H, W)
        return x + self.bn(self.out(y))


class _VideoTrunk(ActionModel):
    """Shared forward of the video ResNets: stem, layer1..4 (non-local after chosen stages)."""

    layout = "(B, C, T, H, W)"

    def _finish(self, non_local_stages: Sequence[int], widths: Sequence[int],
                num_classes: int) -> None:
        """After the four stages (of ``widths`` output channels): the non-local blocks, the
        pooled linear head, and the initialisation."""
        for s in non_local_stages:
            if s not in (1, 2, 3, 4):
                raise ModelError(f"non_local_stages must be in 1..4; got {tuple(non_local_stages)}")
        self.non_local = nn.ModuleDict({f"layer{s}": NonLocal3d(widths[s - 1])
                                        for s in sorted(non_local_stages)})
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.num_features = self.channels = widths[-1]
        self.fc = nn.Linear(widths[-1], num_classes) if num_classes > 0 else nn.Identity()
        _init(self)

    def _stem(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self._stem(x)  # (B, 64w, T', H/4|H/2, W/4|W/2)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            if f"layer{i}" in self.non_local:
                x = self.non_local[f"layer{i}"](x)
        return x  # (B, F, T'', H/32|H/16, W/32|W/16)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # (B, F)
        x = F.dropout(x, self.drop_rate, self.training)
        return x if pre_logits else self.fc(x)


class VideoResNet(_VideoTrunk):
    """torchvision's VideoResNet with any ``in_channels``, a width multiplier and non-local blocks.

    Args:
        builders: One conv builder per stage (Conv3DSimple, Conv3DNoTemporal, Conv2Plus1D).
        stem: ``basic`` (3x7x7) or ``r2plus1d`` (1x7x7 then 3x1x1).
        layers: Blocks per stage ((2, 2, 2, 2) for the -18 models).
        num_classes, in_channels, width, drop_rate: As for the 2D ResNet.
        non_local_stages: Stages (1..4) followed by a non-local block, e.g. (2, 3).
        input_shape: Default (T, H, W).
    """

    def __init__(self, builders: Sequence[Any], stem: str = "basic",
                 layers: Sequence[int] = (2, 2, 2, 2), num_classes: int = 400, in_channels: int = 3,
                 width: float = 1.0, drop_rate: float = 0.0, non_local_stages: Sequence[int] = (),
                 input_shape: tuple[int, int, int] = (16, 112, 112)) -> None:
        super().__init__()
        self.in_channels, self.num_classes, self.drop_rate = in_channels, num_classes, drop_rate
        self.input_shape = (in_channels, *input_shape)
        widths = [scaled(c, width) for c in (64, 128, 256, 512)]
        c0 = widths[0]
        if stem == "basic":
            self.stem = nn.Sequential(
                nn.Conv3d(in_channels, c0, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
                nn.BatchNorm3d(c0), nn.ReLU(inplace=True))
        elif stem == "r2plus1d":
            m = scaled(45, width)
            self.stem = nn.Sequential(
                nn.Conv3d(in_channels, m, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False),
                nn.BatchNorm3d(m), nn.ReLU(inplace=True),
                nn.Conv3d(m, c0, (3, 1, 1), 1, (1, 0, 0), bias=False),
                nn.BatchNorm3d(c0), nn.ReLU(inplace=True))
        else:
            raise ModelError(f"unknown stem {stem!r}; use 'basic' or 'r2plus1d'")
        cin = c0
        for i, (builder, planes, n) in enumerate(zip(builders, widths, layers), start=1):
            stride = 1 if i == 1 else 2
            down = None
            if stride != 1 or cin != planes:
                down = nn.Sequential(
                    nn.Conv3d(cin, planes, 1, builder.downsample_stride(stride), bias=False),
                    nn.BatchNorm3d(planes))
            blocks = [VideoBlock(cin, planes, builder, stride, down)]
            blocks += [VideoBlock(planes, planes, builder) for _ in range(1, n)]
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
            cin = planes
        self._finish(non_local_stages, widths, num_classes)

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(x)


def _init(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    zero_init_last(model)


@register_model
def r3d_18(**kw: Any) -> VideoResNet:
    """R3D-18 (torchvision names). kwargs: num_classes, in_channels, width, drop_rate,
    non_local_stages, input_shape."""
    return VideoResNet([Conv3DSimple] * 4, "basic", **kw)


@register_model
def mc3_18(**kw: Any) -> VideoResNet:
    """MC3-18: 3D convolutions in the first stage, 2D ones above (torchvision names)."""
    return VideoResNet([Conv3DSimple] + [Conv3DNoTemporal] * 3, "basic", **kw)


@register_model
def r2plus1d_18(**kw: Any) -> VideoResNet:
    """R(2+1)D-18 (torchvision names)."""
    return VideoResNet([Conv2Plus1D] * 4, "r2plus1d", **kw)
