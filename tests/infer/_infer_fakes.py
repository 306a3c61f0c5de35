"""Test helpers for the inference tests: tiny models, synthetic videos, specs.

Shared by tests/infer, tests/explain and tests/serve (their conftests put this folder on the path).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


def write_video(
    path: Path,
    frames: int = 40,
    size: tuple[int, int] = (64, 48),
    fps: int = 25,
    codec: str | None = None,
    square_from: int = 0,
) -> Path:
    """A synthetic clip: a bright square moving right on a dark background.

    Args:
        path: .mp4, .avi or .mkv.
        frames: Number of frames.
        size: (W, H).
        fps: Frame rate.
        codec: Default libx264 for mp4/mkv, mpeg4 for avi.
        square_from: First frame showing the square (earlier frames are empty).
    """
    import av

    w, h = size
    codec = codec or ("mpeg4" if path.suffix == ".avi" else "libx264")
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            img = np.full((h, w, 3), 20, np.uint8)
            if i >= square_from:
                x = (i * 2) % max(1, w - 12)
                img[h // 3 : h // 3 + 12, x : x + 12] = (230, 200, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


class TinyFrameNet(nn.Module):
    """A 2D model with the shared interface, in_channels input channels."""

    def __init__(self, num_classes: int = 3, in_channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))  # (B, 8, H, W)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean(dim=(-2, -1))
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class TinyClipNet(TinyFrameNet):
    """A 3D model: (B, C, T, H, W)."""

    def __init__(self, num_classes: int = 3, in_channels: int = 3) -> None:
        super().__init__(num_classes, in_channels)
        self.conv = nn.Conv3d(in_channels, 8, 3, padding=1)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean(dim=(-3, -2, -1))
        return x if pre_logits else self.fc(x)


class TinyTSN(TinyFrameNet):
    """TSN over a frame net: (B, S, C, H, W), average consensus of segment logits."""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        b, s = x.shape[:2]
        f = super().forward_features(x.flatten(0, 1))  # (B*S, 8, H, W)
        return f.view(b, s, *f.shape[1:])

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean(dim=(-2, -1)).mean(1)  # (B, 8)
        return x if pre_logits else self.fc(x)


class TinyTwoStream(nn.Module):
    """RGB frame net + flow clip net, logits averaged: ``model(rgb, flow)``."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.rgb = TinyFrameNet(num_classes, 3)
        self.flow = TinyClipNet(num_classes, 2)

    def forward_features(self, rgb: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.rgb.forward_features(rgb), self.flow.forward_features(flow)

    def forward_head(self, feats: tuple[torch.Tensor, ...], pre_logits: bool = False) -> torch.Tensor:
        a = self.rgb.forward_head(feats[0], pre_logits)
        b = self.flow.forward_head(feats[1], pre_logits)
        return torch.cat([a, b], 1) if pre_logits else (a + b) / 2

    def forward(self, rgb: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(rgb, flow))


CLASSES = ["idle", "move", "wave"]


def spec(kind: str = "frame", modality: str = "rgb", **kw: Any) -> dict[str, Any]:
    """An input spec at 32x32."""
    base = {
        "kind": kind,
        "modality": modality,
        "size": [32, 32],
        "frames": 4,
        "stride": 1,
        "segments": 3,
        "flow": {"method": "farneback", "bound": 20.0},
        "mean": [0.45, 0.45, 0.45],
        "std": [0.225, 0.225, 0.225],
    }
    base.update(kw)
    return base


def meta(name: str, input_spec: dict[str, Any], classes: list[str] = CLASSES) -> dict[str, Any]:
    return {
        "model": {"name": name, "kwargs": {"num_classes": len(classes)}},
        "classes": classes,
        "input": input_spec,
    }


# A small real two-stream model from the registry (the demo's architecture, narrower).
TWO_STREAM_KWARGS: dict[str, Any] = {
    "num_classes": len(CLASSES),
    "fusion": "average",
    "rgb": {"name": "resnetlike", "width": 0.125, "head_grid": 2, "input_size": 32},
    "flow": {"name": "r2plus1d_flow", "width": 0.25, "head_grid": (1, 2, 2),
             "input_shape": (8, 32, 32)},
}
TWO_STREAM_INPUT: dict[str, Any] = {
    "kind": "two_stream", "modality": "rgb+flow", "size": [32, 32], "frames": 8, "stride": 1,
    "segments": 1, "flow": {"method": "dis", "bound": 20.0},
    "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
}


def registry_checkpoint(path: Path) -> Path:
    """Save a randomly initialised registry ``two_stream`` model as a real checkpoint."""
    from actionlab.models import build_model
    from actionlab.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model("two_stream", **TWO_STREAM_KWARGS)
    meta_ = {"model": {"name": "two_stream", "kwargs": TWO_STREAM_KWARGS}, "classes": CLASSES,
             "input": TWO_STREAM_INPUT, "epoch": 0, "metrics": {}}
    return save_checkpoint(path, model, meta_)
