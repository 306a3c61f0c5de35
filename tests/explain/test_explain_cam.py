"""Grad-CAM, activation maps and guided backprop on tiny models whose evidence is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from actionlab.explain.cam import activation_maps, grad_cam, guided_backprop, overlay, upsample


class QuadrantNet(nn.Module):
    """Brightness features everywhere; the head reads one quadrant of the feature map only."""

    def __init__(self, quadrant: str = "tl", three_d: bool = False) -> None:
        super().__init__()
        conv = nn.Conv3d if three_d else nn.Conv2d
        self.conv = conv(3, 4, 3, padding=1)
        with torch.no_grad():  # every channel: local brightness, positive
            self.conv.weight.fill_(1.0 / self.conv.weight[0].numel())
            self.conv.bias.zero_()
            self.conv.weight[1:].mul_(torch.arange(1, 4).view(3, *[1] * (self.conv.weight.dim() - 1)))
        self.relu = nn.ReLU()
        self.quadrant = quadrant
        self.fc = nn.Linear(4, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, -1.0]]))
            self.fc.bias.zero_()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        h, w = x.shape[-2:]
        rows = slice(0, h // 2) if self.quadrant[0] == "t" else slice(h // 2, h)
        cols = slice(0, w // 2) if self.quadrant[1] == "l" else slice(w // 2, w)
        pooled = x[..., rows, cols].flatten(2).mean(-1)  # (B, C)
        return pooled if pre_logits else self.fc(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _image(blobs: list[str], size: int = 32) -> torch.Tensor:
    x = torch.zeros(1, 3, size, size)
    q = size // 2
    for b in blobs:
        r0 = 4 if b[0] == "t" else q + 4
        c0 = 4 if b[1] == "l" else q + 4
        x[:, :, r0 : r0 + 8, c0 : c0 + 8] = 1.0
    return x


def _quadrant_mass(cam: np.ndarray) -> dict[str, float]:
    h, w = cam.shape[-2:]
    return {
        "tl": float(cam[..., : h // 2, : w // 2].sum()),
        "tr": float(cam[..., : h // 2, w // 2 :].sum()),
        "bl": float(cam[..., h // 2 :, : w // 2].sum()),
        "br": float(cam[..., h // 2 :, w // 2 :].sum()),
    }


@pytest.mark.parametrize("quadrant", ["tl", "br"])
def test_grad_cam_highlights_the_quadrant_the_model_reads(quadrant: str) -> None:
    model = QuadrantNet(quadrant)
    (cam,), logits = grad_cam(model, [_image([quadrant])], target=0)
    assert cam.shape == (1, 32, 32) and logits.shape == (1, 2)
    mass = _quadrant_mass(cam[0])
    assert max(mass, key=mass.get) == quadrant
    assert mass[quadrant] > 0.9 * sum(mass.values())
    assert cam.min() >= 0 and cam.max() == pytest.approx(1.0)


def test_guided_backprop_is_zero_outside_what_the_model_reads() -> None:
    model = QuadrantNet("tl")
    (grad,) = guided_backprop(model, [_image(["tl", "br"])], target=0)
    assert grad.shape == (1, 3, 32, 32)
    g = np.abs(grad[0]).sum(0)
    # The head reads feature rows/cols < 16; a 3x3 conv reaches one pixel further.
    assert g[:17, :17].sum() > 0
    assert g[18:, :].sum() == 0 and g[:, 18:].sum() == 0
    # Guided ReLU only passes positive gradients: on the evidence they are non-negative.
    assert (grad[0][:, 4:12, 4:12] >= 0).all()


def test_guided_backprop_restores_relu() -> None:
    import torch.nn.functional as F

    before = F.relu
    guided_backprop(QuadrantNet(), [_image(["tl"])])
    assert F.relu is before


def test_grad_cam_per_frame_for_a_3d_model() -> None:
    model = QuadrantNet("br", three_d=True)
    x = torch.zeros(1, 3, 4, 32, 32)
    x[:, :, 2:, 20:28, 20:28] = 1.0  # evidence in frames 2 and 3, bottom right
    (cam,), _ = grad_cam(model, [x], target=0)
    assert cam.shape == (1, 4, 32, 32)
    per_frame = cam[0].reshape(4, -1).sum(1)
    assert per_frame[2:].sum() > 5 * per_frame[:1].sum()
    mass = _quadrant_mass(cam[0])
    assert max(mass, key=mass.get) == "br"
    up = upsample(cam[0, :, ::2, ::2], (32, 32), frames=8)
    assert up.shape == (8, 32, 32)


def test_activation_maps_and_overlay() -> None:
    model = QuadrantNet("tl")
    (act,) = activation_maps(model, [_image(["br"])])
    mass = _quadrant_mass(act[0])
    assert max(mass, key=mass.get) == "br"  # activations show what is there, not what is used
    frame = np.full((64, 64, 3), 128, np.uint8)
    out = overlay(frame, act[0])
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
