"""A small temporal network over person keypoints: the pose stream.

Keypoints ignore the room, the clothes and the camera, which is why fall detection in the field
leans on them (ST-GCN, PoseC3D). This model is deliberately small, for the tens of clips a home
or a lab provides: the keypoints of each clip are centred on the clip's mean hip centre and
divided by its mean torso length (so where the person stands and how far from the camera do
not matter, while the body's own movement, a hip dropping to the floor, stays visible), each
frame's normalised joints, their velocity, visibility and the person-present flag are
standardised, and three 1D temporal convolutions (dilations 1, 2, 4, residual) run over the
frames; the head pools mean and max over time into one linear layer.

Input (B, C, T, J), what ``actionlab.data`` yields for ``modality: pose``: C = 4 channels
(x, y by the frame's shorter side, visibility, present), T frames in time order, J = 33
MediaPipe joints. Frames without a person (present 0) give zero features.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from actionlab.errors import ModelError
from actionlab.models.base import ActionModel
from actionlab.models.registry import register_model

# MediaPipe's joint indices (actionlab.data.pose, which models may not import: it is data)
_HIPS, _SHOULDERS = (23, 24), (11, 12)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Per-frame features of a pose input: (B, 4, T, J) -> (B, 5J + 1, T).

    Joints relative to the clip's mean hip centre in units of its mean torso length (2J), their
    frame-to-frame velocity (2J, zero where either frame has no person), visibility (J) and
    the present flag (1), all zero in frames without a person.
    """
    xy, vis, present = x[:, :2], x[:, 2], x[:, 3, :, 0]  # (B, 2, T, J), (B, T, J), (B, T)
    p = present[:, None]  # (B, 1, T)
    w = p / p.sum(2, keepdim=True).clamp_min(1.0)  # each present frame's share of the clip
    hip = xy[..., list(_HIPS)].mean(-1)  # (B, 2, T)
    shoulder = xy[..., list(_SHOULDERS)].mean(-1)
    centre = (hip * w).sum(2, keepdim=True)  # (B, 2, 1)
    torso = (shoulder - hip).pow(2).sum(1, keepdim=True).add(1e-8).sqrt()  # (B, 1, T)
    scale = (torso * w).sum(2, keepdim=True).clamp_min(1e-3)  # (B, 1, 1)
    rel = (xy - centre[..., None]) / scale[..., None] * p[..., None]  # (B, 2, T, J)
    both = (p[:, :, 1:] * p[:, :, :-1])[..., None]  # (B, 1, T-1, 1)
    vel = F.pad((rel[:, :, 1:] - rel[:, :, :-1]) * both, (0, 0, 1, 0))  # (B, 2, T, J)
    B, _, T, J = x.shape
    feats = [rel.permute(0, 1, 3, 2).reshape(B, 2 * J, T),  # (B, 2J, T): x of each joint, then y
             vel.permute(0, 1, 3, 2).reshape(B, 2 * J, T),
             (vis * present[..., None]).transpose(1, 2),  # (B, J, T)
             p]
    return torch.cat(feats, 1)


class _Block(nn.Module):
    """Conv1d, batch norm, ReLU; residual when the widths match."""

    def __init__(self, cin: int, cout: int, kernel: int, dilation: int, drop: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, padding=dilation * (kernel // 2),
                              dilation=dilation, bias=False)
        self.bn = nn.BatchNorm1d(cout)
        self.drop = nn.Dropout(drop)
        self.residual = cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.drop(F.relu(self.bn(self.conv(x))))
        return x + y if self.residual else y


class PoseTCN(ActionModel):
    """Normalised keypoints, three dilated temporal convolutions, mean + max pooling, a linear
    layer.

    Args:
        num_classes: Outputs.
        in_channels: C of the input: 4 (x, y, visibility, present).
        num_frames: T of the default input (any T >= 1 runs).
        num_joints: J (MediaPipe: 33).
        width: Channels of the temporal convolutions.
        kernel: Their kernel size (odd).
        drop_rate: Dropout inside the blocks and before the classifier.
    """

    layout = "(B, C, T, J)"
    head_modules = ("fc",)

    def __init__(self, num_classes: int = 2, in_channels: int = 4, num_frames: int = 24,
                 num_joints: int = 33, width: int = 64, kernel: int = 3,
                 drop_rate: float = 0.2) -> None:
        super().__init__()
        if in_channels != 4:
            raise ModelError(f"pose_tcn reads keypoints (x, y, visibility, present): "
                             f"in_channels must be 4, got {in_channels}")
        if kernel < 1 or kernel % 2 == 0 or width < 1 or num_joints < 25:
            raise ModelError(f"pose_tcn needs an odd kernel, width >= 1 and the 33 MediaPipe "
                             f"joints; got kernel {kernel}, width {width}, joints {num_joints}")
        self.in_channels, self.num_classes, self.drop_rate = in_channels, num_classes, drop_rate
        self.input_shape = (in_channels, num_frames, num_joints)
        feats = 5 * num_joints + 1
        self.data_bn = nn.BatchNorm1d(feats)
        self.blocks = nn.Sequential(_Block(feats, width, kernel, 1, drop_rate),
                                    _Block(width, width, kernel, 2, drop_rate),
                                    _Block(width, width, kernel, 4, drop_rate))
        self.channels = width
        self.num_features = 2 * width
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, J) -> the temporal map (B, width, T)."""
        self.check_input(x)
        with torch.autocast(x.device.type, enabled=False):  # centring and scaling in float32
            z = self.data_bn(normalise(x.float()))  # (B, 5J+1, T)
        return self.blocks(z)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Mean and max over time, (B, 2 * width), then the linear layer."""
        z = torch.cat([x.mean(2), x.amax(2)], 1)
        if pre_logits:
            return z
        return self.fc(F.dropout(z, self.drop_rate, self.training))


@register_model
def pose_tcn(**kw: Any) -> PoseTCN:
    """Temporal convolutions over normalised keypoints (the pose stream). kwargs: num_classes,
    in_channels (4), num_frames, num_joints, width, kernel, drop_rate."""
    return PoseTCN(**kw)
