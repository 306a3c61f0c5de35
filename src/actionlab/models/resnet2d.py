"""2D image backbones with torchvision's parameter names: ResNet-18/34/50/101/152, VGG-16 (+BN).

A torchvision ImageNet state dict loads with ``strict=True`` when ``in_channels=3`` and
``num_classes=1000``; for other channel counts (flow stacks, RGB differences) run it through
:func:`cross_modality_init` first (TSN's cross-modality initialisation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from actionlab.models.base import ActionModel, adaptive_avg_pool, scaled, zero_init_last
from actionlab.models.registry import register_model


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """torchvision's ResNet v1.5 bottleneck: the stride sits on the 3x3 convolution."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(ActionModel):
    """ResNet with torchvision's names; ``width`` scales every channel count (1.0: torchvision).

    Args:
        block: BasicBlock or Bottleneck.
        depths: Blocks per stage.
        num_classes: Classifier outputs (0: none).
        in_channels: Input channels (3 RGB, 2L a stack of L flow frames, ...).
        width: Channel multiplier (only 1.0 loads torchvision weights).
        drop_rate: Dropout before the classifier.
    """

    layout = "(B, C, H, W)"

    def __init__(self, block: type[nn.Module], depths: tuple[int, ...], num_classes: int = 1000,
                 in_channels: int = 3, width: float = 1.0, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.in_channels, self.num_classes, self.drop_rate = in_channels, num_classes, drop_rate
        self.input_shape = (in_channels, 224, 224)
        planes = [scaled(c, width) for c in (64, 128, 256, 512)]
        self.inplanes = planes[0]
        self.conv1 = nn.Conv2d(in_channels, planes[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(planes[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._stage(block, planes[0], depths[0], 1)
        self.layer2 = self._stage(block, planes[1], depths[1], 2)
        self.layer3 = self._stage(block, planes[2], depths[2], 2)
        self.layer4 = self._stage(block, planes[3], depths[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = self.channels = planes[3] * block.expansion
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        zero_init_last(self)

    def _stage(self, block: Any, planes: int, blocks: int, stride: int) -> nn.Sequential:
        down = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                 nn.BatchNorm2d(planes * block.expansion))
        out = [block(self.inplanes, planes, stride, down)]
        self.inplanes = planes * block.expansion
        out += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*out)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, 64, H/4, W/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x  # (B, F, H/32, W/32)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # (B, F)
        x = F.dropout(x, self.drop_rate, self.training)
        return x if pre_logits else self.fc(x)


class VGG(ActionModel):
    """VGG-16 with torchvision's names (``features.N``, ``classifier.N``).

    Args:
        batch_norm: VGG-16-BN.
        width: Channel multiplier of the convolutions; ``hidden`` the two FC widths (4096).
    """

    classifier_name = "classifier.6"
    head_modules = ("classifier",)
    CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False,
                 width: float = 1.0, hidden: int = 4096, drop_rate: float = 0.5) -> None:
        super().__init__()
        self.in_channels, self.num_classes = in_channels, num_classes
        self.input_shape = (in_channels, 224, 224)
        feats: list[nn.Module] = []
        c = in_channels
        for v in self.CFG:
            if v == "M":
                feats.append(nn.MaxPool2d(2, 2))
                continue
            out = scaled(int(v), width)
            feats.append(nn.Conv2d(c, out, 3, padding=1))
            if batch_norm:
                feats.append(nn.BatchNorm2d(out))
            feats.append(nn.ReLU(inplace=True))
            c = out
        self.features = nn.Sequential(*feats)
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.num_features, self.channels = hidden, c
        self.classifier = nn.Sequential(
            nn.Linear(c * 49, hidden), nn.ReLU(True), nn.Dropout(drop_rate),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(drop_rate),
            nn.Linear(hidden, num_classes) if num_classes > 0 else nn.Identity(),
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.features(x)  # (B, 512, H/32, W/32)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(adaptive_avg_pool(x, (7, 7)), 1)  # (B, 512*7*7)
        x = self.classifier[:6](x)  # (B, hidden)
        return x if pre_logits else self.classifier[6](x)


def cross_modality_init(state_dict: Mapping[str, torch.Tensor], in_channels: int,
                        key: str | None = None) -> dict[str, torch.Tensor]:
    """TSN's cross-modality initialisation of the first convolution for ``in_channels`` inputs.

    The pretrained RGB kernel is averaged over its input channels and the average replicated
    ``in_channels`` times, so a flow stack (2L channels) or an RGB difference stack starts from
    ImageNet weights. Every other tensor is returned unchanged.

    Args:
        state_dict: A 2D or 3D state dict (e.g. torchvision's ImageNet ResNet).
        in_channels: The new input channel count.
        key: The first convolution's weight; default: the first 4D/5D weight in the dict.

    Returns:
        A new state dict.
    """
    out = dict(state_dict)
    if key is None:
        key = next(k for k, v in state_dict.items() if k.endswith("weight") and v.dim() in (4, 5))
    w = state_dict[key]
    mean = w.float().mean(dim=1, keepdim=True)  # (O, 1, [kt,] kh, kw)
    out[key] = mean.expand(-1, in_channels, *w.shape[2:]).clone().to(w.dtype)
    return out


_DEPTHS = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)),
           50: (Bottleneck, (3, 4, 6, 3)), 101: (Bottleneck, (3, 4, 23, 3)),
           152: (Bottleneck, (3, 8, 36, 3))}


def _resnet(depth: int, **kw: Any) -> ResNet:
    block, depths = _DEPTHS[depth]
    return ResNet(block, depths, **kw)


@register_model
def resnet18(**kw: Any) -> ResNet:
    """ResNet-18 (torchvision names). kwargs: num_classes, in_channels, width, drop_rate."""
    return _resnet(18, **kw)


@register_model
def resnet34(**kw: Any) -> ResNet:
    """ResNet-34 (torchvision names)."""
    return _resnet(34, **kw)


@register_model
def resnet50(**kw: Any) -> ResNet:
    """ResNet-50 (torchvision names)."""
    return _resnet(50, **kw)


@register_model
def resnet101(**kw: Any) -> ResNet:
    """ResNet-101 (torchvision names)."""
    return _resnet(101, **kw)


@register_model
def resnet152(**kw: Any) -> ResNet:
    """ResNet-152 (torchvision names)."""
    return _resnet(152, **kw)


@register_model
def vgg16(**kw: Any) -> VGG:
    """VGG-16 (torchvision names). kwargs: num_classes, in_channels, width, hidden, drop_rate."""
    return VGG(batch_norm=False, **kw)


@register_model
def vgg16_bn(**kw: Any) -> VGG:
    """VGG-16 with batch norm (torchvision names)."""
    return VGG(batch_norm=True, **kw)
