"""The study's two compact models (no batch norm anywhere).

``resnet_like``: a ResNet-50-like frame model cut after the third level (stem, then two
bottleneck stages of one projection block and one identity block each), dropout 0.5 before the
output layer. At the study's 72x72 input the last map is (512, 17, 17) and the head flattens it,
which makes the ~10.3 MB of the study's table (2.6 M parameters at 12 classes).

``r2plus1d_flow``: a residual (2+1)D network for 16-frame 2-channel flow stacks at 72x72: a
(2+1)D stem, four residual (2+1)D blocks (16, 32, 64, 128 filters) each followed by a 2x max-pool,
then FC-ReLU-dropout(0.35)-FC; ~5 MB at the study's input.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from actionlab.models.base import ActionModel, adaptive_avg_pool, scaled
from actionlab.models.registry import register_model
from actionlab.models.video import Conv2Plus1D


def he_init(model: nn.Module, head: nn.Module | None = None) -> None:
    """He (fan-in, ReLU) weights and zero biases for every conv and linear layer; a small head.

    Without batch norm, PyTorch's default initialisation shrinks activations at every layer and
    these nets barely train: on the synthetic stills at 64x64, 8 epochs of Adam reached 0.19
    train accuracy with the default and 0.99 with He init. The classifier ``head`` gets weights
    of standard deviation 0.01 / sqrt(fan-in) instead, so the first loss is about ln(classes):
    with He weights there, the residual sums made logits of standard deviation 5-10 on
    unit-variance inputs and a first loss of 10-14 for 12 classes (ln 12 = 2.5), which Adam
    spent its first steps undoing.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    if isinstance(head, nn.Linear):
        nn.init.normal_(head.weight, std=0.01 / head.in_features ** 0.5)


class PlainBottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 with biases and no BN; a projection shortcut when shapes change."""

    def __init__(self, cin: int, mid: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, mid, 1, stride)
        self.conv2 = nn.Conv2d(mid, mid, 3, 1, 1)
        self.conv3 = nn.Conv2d(mid, cout, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride) if (cin != cout or stride != 1) else None

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.shortcut is None else self.shortcut(x)
        out = F.relu(self.conv1(x))
        out = F.relu(self.conv2(out))
        return F.relu(self.conv3(out) + skip)


class ResNetLike(ActionModel):
    """The study's compact ResNet-like frame model.

    Args:
        num_classes: Outputs (12 in the study).
        in_channels: Input channels.
        width: Channel multiplier (1.0: the study's 64/256, 128/512).
        identity_blocks: Identity blocks after each stage's projection block (study: 1).
        strides: Stride of the two stages' projection blocks.
        head_grid: The last map is average-pooled to head_grid x head_grid and flattened (17:
            the identity at 72x72, the study's size; use small values for small inputs).
        drop_rate: Dropout before the output layer (0.5).
        input_size: Default input side (72).
    """

    def __init__(self, num_classes: int = 12, in_channels: int = 3, width: float = 1.0,
                 identity_blocks: int = 1, strides: tuple[int, int] = (1, 1), head_grid: int = 17,
                 drop_rate: float = 0.5, input_size: int = 72) -> None:
        super().__init__()
        self.in_channels, self.num_classes, self.drop_rate = in_channels, num_classes, drop_rate
        self.input_shape = (in_channels, input_size, input_size)
        c0 = scaled(64, width)
        self.conv1 = nn.Conv2d(in_channels, c0, 7, 2, 3)
        self.maxpool = nn.MaxPool2d(3, 2)
        stages, cin = [], c0
        for mid, stride in zip((64, 128), strides):
            m = scaled(mid, width)
            blocks = [PlainBottleneck(cin, m, 4 * m, stride)]
            blocks += [PlainBottleneck(4 * m, m, 4 * m) for _ in range(identity_blocks)]
            stages.append(nn.Sequential(*blocks))
            cin = 4 * m
        self.layer1, self.layer2 = stages
        self.channels = cin
        self.head_grid = head_grid
        self.num_features = cin * head_grid * head_grid
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        he_init(self, self.fc)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.maxpool(F.relu(self.conv1(x)))  # (B, 64w, H/4, W/4)
        return self.layer2(self.layer1(x))  # (B, 512w, H', W'); 17x17 at 72x72

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = adaptive_avg_pool(x, (self.head_grid, self.head_grid))  # (B, 512w, g, g)
        x = torch.flatten(x, 1)  # (B, 512w * g * g)
        x = F.dropout(x, self.drop_rate, self.training)
        return x if pre_logits else self.fc(x)


class Residual2Plus1D(nn.Module):
    """Two (2+1)D convolutions with a ReLU between and a 1x1x1 projection when widths differ."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = Conv2Plus1D(cin, cout, norm=False)
        self.conv2 = Conv2Plus1D(cout, cout, norm=False)
        self.project = nn.Conv3d(cin, cout, 1) if cin != cout else None

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv2[3].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.project is None else self.project(x)
        return F.relu(self.conv2(F.relu(self.conv1(x))) + skip)


def pool2(x: torch.Tensor) -> torch.Tensor:
    """2x max-pool over (T, H, W); time is left alone once it is down to one step."""
    return F.max_pool3d(x, (2 if x.shape[2] > 1 else 1, 2, 2))


class R2Plus1DFlow(ActionModel):
    """The study's compact residual (2+1)D network for flow stacks (B, 2, T, H, W).

    Args:
        num_classes: Outputs.
        in_channels: 2 (x and y flow).
        width: Multiplier of the block widths 16, 32, 64, 128.
        hidden: Width of the first FC layer.
        drop_rate: Dropout between the two FC layers (0.35).
        head_grid: (T', H', W') the last map is average-pooled to before flattening; (1, 4, 4) is
            the identity at the study's 16x72x72.
        input_shape: Default (T, H, W).
    """

    layout = "(B, C, T, H, W)"
    head_modules = ("fc1", "fc")

    def __init__(self, num_classes: int = 12, in_channels: int = 2, width: float = 1.0,
                 hidden: int = 416, drop_rate: float = 0.35,
                 head_grid: tuple[int, int, int] = (1, 4, 4),
                 input_shape: tuple[int, int, int] = (16, 72, 72)) -> None:
        super().__init__()
        self.in_channels, self.num_classes, self.drop_rate = in_channels, num_classes, drop_rate
        self.input_shape = (in_channels, *input_shape)
        widths = [scaled(c, width) for c in (16, 32, 64, 128)]
        self.stem = Conv2Plus1D(in_channels, widths[0], kernel=(3, 7, 7), norm=False)
        blocks, cin = [], widths[0]
        for w in widths:
            blocks.append(Residual2Plus1D(cin, w))
            cin = w
        self.blocks = nn.ModuleList(blocks)
        self.channels = cin
        self.head_grid = tuple(head_grid)
        self.fc1 = nn.Linear(cin * self.head_grid[0] * self.head_grid[1] * self.head_grid[2], hidden)
        self.num_features = hidden
        self.fc = nn.Linear(hidden, num_classes) if num_classes > 0 else nn.Identity()
        he_init(self, self.fc)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = F.relu(self.stem(x))  # (B, 16w, T, H, W)
        for block in self.blocks:
            x = pool2(block(x))  # T, H, W halve after every block
        return x  # (B, 128w, T/16, H/16, W/16): (B, 128, 1, 4, 4) at 16x72x72

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = adaptive_avg_pool(x, self.head_grid)  # (B, 128w, 1, 4, 4)
        x = F.relu(self.fc1(torch.flatten(x, 1)))  # (B, hidden)
        x = F.dropout(x, self.drop_rate, self.training)
        return x if pre_logits else self.fc(x)


@register_model
def resnet_like(**kw: Any) -> ResNetLike:
    """The study's compact ResNet-like frame model (~10 MB at 72x72, 12 classes). kwargs:
    num_classes, in_channels, width, identity_blocks, strides, head_grid, drop_rate, input_size."""
    return ResNetLike(**kw)


@register_model
def resnetlike(**kw: Any) -> ResNetLike:
    """Alias of ``resnet_like`` (the name the experiment config defaults to)."""
    return ResNetLike(**kw)


@register_model
def r2plus1d_flow(**kw: Any) -> R2Plus1DFlow:
    """The study's compact residual (2+1)D flow network (~5 MB at 2x16x72x72). kwargs:
    num_classes, in_channels, width, hidden, drop_rate, head_grid, input_shape."""
    return R2Plus1DFlow(**kw)
