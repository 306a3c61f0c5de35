"""C3D (Tran et al. 2015): eight 3x3x3 convolutions, five max-pools, two FC layers of 4096.

The published network takes 3x16x112x112 clips; its last map is 512x1x4x4 (8192 values) before
``fc6``. ``width`` scales the convolutions and ``hidden`` the FC layers for small inputs.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from actionlab.models.base import ActionModel, adaptive_avg_pool, scaled
from actionlab.models.registry import register_model

# (name, output channels) per convolution; a pool follows the names in _POOL_AFTER
_CONVS = (("conv1a", 64), ("conv2a", 128), ("conv3a", 256), ("conv3b", 256),
          ("conv4a", 512), ("conv4b", 512), ("conv5a", 512), ("conv5b", 512))
_POOL_AFTER = {"conv1a": (1, 2, 2), "conv2a": (2, 2, 2), "conv3b": (2, 2, 2), "conv4b": (2, 2, 2),
               "conv5b": (2, 2, 2)}


class C3D(ActionModel):
    """C3D as published, with ``in_channels``, ``width`` and ``hidden`` options.

    Args:
        num_classes: Outputs (487 for Sports-1M).
        in_channels: Input channels.
        width: Multiplier of the convolution widths.
        hidden: Width of fc6 and fc7 (4096).
        drop_rate: Dropout after fc6 and fc7 (0.5).
        head_grid: (T', H', W') the last map is average-pooled to before fc6 when it differs
            ((1, 4, 4): the published 16x112x112 input).
        input_shape: Default (T, H, W).
    """

    layout = "(B, C, T, H, W)"
    head_modules = ("fc6", "fc7", "fc8")
    classifier_name = "fc8"

    def __init__(self, num_classes: int = 487, in_channels: int = 3, width: float = 1.0,
                 hidden: int = 4096, drop_rate: float = 0.5,
                 head_grid: tuple[int, int, int] = (1, 4, 4),
                 input_shape: tuple[int, int, int] = (16, 112, 112)) -> None:
        super().__init__()
        self.in_channels, self.num_classes, self.drop_rate = in_channels, num_classes, drop_rate
        self.input_shape = (in_channels, *input_shape)
        cin = in_channels
        for name, c in _CONVS:
            setattr(self, name, nn.Conv3d(cin, scaled(c, width), 3, padding=1))
            cin = scaled(c, width)
        self.channels = cin
        self.head_grid = tuple(head_grid)
        self.fc6 = nn.Linear(cin * self.head_grid[0] * self.head_grid[1] * self.head_grid[2], hidden)
        self.fc7 = nn.Linear(hidden, hidden)
        self.num_features = hidden
        self.fc8 = nn.Linear(hidden, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        for name, _ in _CONVS:
            x = F.relu(getattr(self, name)(x))
            if name in _POOL_AFTER:
                kt, kh, kw = _POOL_AFTER[name]
                kt = kt if x.shape[2] >= kt else 1  # short clips: stop pooling time at 1
                pad = (0, 1, 1) if name == "conv5b" else 0
                x = F.max_pool3d(x, (kt, kh, kw), (kt, kh, kw), pad)
        return x  # (B, 512w, T/16, H/32 + 1, W/32 + 1): (B, 512, 1, 4, 4) at 16x112x112

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = adaptive_avg_pool(x, self.head_grid)  # (B, 512w, 1, 4, 4)
        x = F.dropout(F.relu(self.fc6(torch.flatten(x, 1))), self.drop_rate, self.training)
        x = F.dropout(F.relu(self.fc7(x)), self.drop_rate, self.training)  # (B, hidden)
        return x if pre_logits else self.fc8(x)


@register_model
def c3d(**kw: Any) -> C3D:
    """C3D. kwargs: num_classes, in_channels, width, hidden, drop_rate, head_grid, input_shape."""
    return C3D(**kw)
