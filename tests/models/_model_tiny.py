"""Tiny builds of every registered model for tests: kwargs and one input sample's shape."""

from __future__ import annotations

from typing import Any

import torch

R18 = {"name": "resnet_like", "width": 0.125, "head_grid": 2}
FLOW = {"name": "r2plus1d_flow", "width": 0.25, "hidden": 16, "head_grid": (1, 2, 2)}
BACKBONE = {"backbone": "resnet18", "backbone_kwargs": {"width": 0.125}}

# name -> (kwargs, input shape(s) without the batch)
TINY: dict[str, tuple[dict[str, Any], Any]] = {
    **{f"resnet{d}": ({"width": 0.125}, (3, 32, 32)) for d in (18, 34, 50, 101, 152)},
    "vgg16": ({"width": 0.125, "hidden": 16}, (3, 32, 32)),
    "vgg16_bn": ({"width": 0.125, "hidden": 16}, (3, 32, 32)),
    "resnet_like": ({"width": 0.125, "head_grid": 2}, (3, 32, 32)),
    "resnetlike": ({"width": 0.125, "head_grid": 2, "in_channels": 4}, (4, 32, 32)),
    "r2plus1d_flow": ({k: v for k, v in FLOW.items() if k != "name"}, (2, 4, 32, 32)),
    "tsn": ({**BACKBONE, "num_segments": 2, "in_channels": 4}, (2, 4, 32, 32)),
    "lrcn": ({**BACKBONE, "hidden_size": 8, "num_layers": 2, "rnn_dropout": 0.1}, (3, 3, 32, 32)),
    "two_stream": ({"rgb": R18, "flow": FLOW, "fusion": "average"}, ((3, 32, 32), (2, 4, 32, 32))),
    "r3d_18": ({"width": 0.125, "non_local_stages": (3,)}, (3, 4, 32, 32)),
    "mc3_18": ({"width": 0.125}, (3, 4, 32, 32)),
    "r2plus1d_18": ({"width": 0.125}, (3, 4, 32, 32)),
    "i3d": ({"width": 0.125, "non_local_stages": (2, 3)}, (3, 4, 32, 32)),
    "c3d": ({"width": 1 / 16, "hidden": 16, "head_grid": (1, 2, 2)}, (3, 4, 32, 32)),
    "motion_histograms": ({"num_segments": 4, "grid": (2, 2, 2), "input_size": (16, 16)},
                          (4, 2, 16, 16)),
    "pose_tcn": ({"num_frames": 6, "width": 8}, (4, 6, 33)),
}


def tiny_inputs(shape: Any, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random inputs (a tuple, one tensor per model input) of the given per-sample shape(s)."""
    g = torch.Generator().manual_seed(seed)
    shapes = shape if isinstance(shape[0], tuple) else (shape,)
    return tuple(torch.randn(batch, *s, generator=g) for s in shapes)
